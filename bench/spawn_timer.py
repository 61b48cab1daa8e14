"""Time start-ups precisely: run CMD COUNT times back to back (posix_spawn +
waitpid, no shell) and print the wall times in seconds as a JSON list.

Run by bench/run.py as the bench user (under setpriv), so what is timed is
exactly the command, not setpriv or Python start-up.
Usage: spawn_timer.py COUNT CMD [ARGS...]   (exit 1 if any run fails)
"""
import json
import os
import sys
import time


def main():
    count = int(sys.argv[1])
    cmd = sys.argv[2:]
    devnull = os.open(os.devnull, os.O_RDWR)
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        pid = os.posix_spawnp(cmd[0], cmd, os.environ,
                              file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
        _, status = os.waitpid(pid, 0)
        times.append(time.perf_counter() - t0)
        if status != 0:
            print(json.dumps({"error": f"{' '.join(cmd)} exited with status {status}"}))
            return 1
    print(json.dumps(times))
    return 0


if __name__ == "__main__":
    sys.exit(main())
