"""Time start-ups precisely: run CMD COUNT times back to back (posix_spawn +
waitpid, no shell) and print the wall times in seconds as a JSON list.

Run by bench/run.py as the bench user (under setpriv), so what is timed is
exactly the command, not setpriv or Python start-up.
Usage: spawn_timer.py COUNT CMD [ARGS...]   (exit 1 if any run fails)
       spawn_timer.py COUNT --alternate JSON
JSON: [{"argv": [...], "env": {...}}, ...]: the commands in turn (A B C A B
C ...), each with its own environment, so that load changes on a shared
machine hit all of them alike; prints one JSON list of times per command.
"""
import json
import os
import sys
import time


def timed(argv, env, devnull):
    t0 = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, env,
                          file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
    _, status = os.waitpid(pid, 0)
    if status != 0:
        print(json.dumps({"error": f"{' '.join(argv)} exited with status {status}"}))
        sys.exit(1)
    return time.perf_counter() - t0


def main():
    count = int(sys.argv[1])
    devnull = os.open(os.devnull, os.O_RDWR)
    if sys.argv[2] == "--alternate":
        cmds = json.loads(sys.argv[3])
        times = [[] for _ in cmds]
        for _ in range(count):
            for i, c in enumerate(cmds):
                times[i].append(timed(c["argv"], c["env"], devnull))
    else:
        times = [timed(sys.argv[2:], os.environ, devnull) for _ in range(count)]
    print(json.dumps(times))
    return 0


if __name__ == "__main__":
    sys.exit(main())
