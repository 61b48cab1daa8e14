"""A single-node Slurm cluster on loopback for the HPC tests: munged,
slurmctld and slurmd (Debian slurm-wlm + munge) in the foreground, with a
generated slurm.conf in a temp directory and ports chosen free by the run.

    cluster = SlurmCluster(directory).start()   # raises Unavailable(reason)
    cluster.env          {"SLURM_CONF": ...} for commands run as the user
    cluster.mpi_plugins  set of `srun --mpi=list` names (pmix, pmi2, ...)
    cluster.stop()

ProctrackType=proctrack/linuxproc and TaskPlugin=task/none: no cgroups, so
it runs in a VM or container without a delegated cgroup tree. The node
claims 32 CPUs (SlurmdParameters=config_overrides) so that 16- and 32-task
steps run at once on a small machine.
"""

import os
import shutil
import signal
import socket
import subprocess
import time

from registry import _die_with_parent, free_port

DAEMONS = {"munged": "/usr/sbin/munged", "slurmctld": "/usr/sbin/slurmctld",
           "slurmd": "/usr/sbin/slurmd"}


class Unavailable(Exception):
    """A component cannot start here; the message says which and why."""


class SlurmCluster:
    CPUS = 32

    def __init__(self, directory):
        self.dir = directory
        self.node = socket.gethostname().split(".")[0]
        self.procs = {}
        self.env = {"SLURM_CONF": os.path.join(directory, "slurm.conf")}
        self.mpi_plugins = set()

    def _log(self, name):
        return os.path.join(self.dir, f"{name}.log")

    def _tail(self, name):
        text = ""
        for path in (self._log(name), self._log(name) + ".out"):
            try:
                with open(path, errors="replace") as f:
                    text += f.read()[-1500:]
            except OSError:
                pass
        return text

    def _spawn(self, name, args, env=None):
        out = open(self._log(name) + ".out", "ab")
        self.procs[name] = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=env,
                                            preexec_fn=_die_with_parent)
        out.close()

    def _write_config(self):
        d = self.dir
        conf = f"""ClusterName=singtest
SlurmctldHost={self.node}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={d}/munge/munge.socket
CredType=cred/munge
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={self._log("slurmctld")}
SlurmdLogFile={self._log("slurmd")}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
MaxArraySize=1000
KillWait=5
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={self.CPUS} Sockets=1 CoresPerSocket={self.CPUS} ThreadsPerCore=1 RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP
"""
        with open(self.env["SLURM_CONF"], "w") as f:
            f.write(conf)
        os.chmod(self.env["SLURM_CONF"], 0o644)

    def start(self, timeout=60):
        missing = [n for n, p in DAEMONS.items() if not os.access(p, os.X_OK)]
        if missing or not shutil.which("srun"):
            raise Unavailable(f"{', '.join(missing) or 'srun'} not installed "
                              "(apt-get install slurm-wlm munge)")
        d = self.dir
        for sub in ("munge", "state", "spool"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        os.chmod(d, 0o755)
        os.chmod(os.path.join(d, "munge"), 0o755)  # users reach the socket
        key = os.path.join(d, "munge", "munge.key")
        with open(key, "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(key, 0o400)
        self._write_config()
        self._spawn("munged", [DAEMONS["munged"], "-F", "--force", f"--key-file={key}",
                               f"--socket={d}/munge/munge.socket",
                               f"--pid-file={d}/munge/munged.pid",
                               f"--log-file={self._log('munged')}",
                               f"--seed-file={d}/munge/seed"])
        self._wait(lambda: os.path.exists(f"{d}/munge/munge.socket"), "munged", 10)
        env = dict(os.environ, **self.env)
        self._spawn("slurmctld", [DAEMONS["slurmctld"], "-D", "-i"], env=env)
        self._spawn("slurmd", [DAEMONS["slurmd"], "-D"], env=env)
        self._wait(self._node_idle, "slurmctld/slurmd", timeout)
        out = subprocess.run(["srun", "--mpi=list"], env=env, capture_output=True, text=True)
        self.mpi_plugins = {l.strip() for l in (out.stdout + out.stderr).splitlines()
                            if l.startswith("\t") or l.startswith("    ")}
        return self

    def _node_idle(self):
        r = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], env=dict(os.environ, **self.env),
                           capture_output=True, text=True)
        return r.returncode == 0 and r.stdout.strip() in ("idle", "mixed", "allocated")

    def _wait(self, ready, what, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, p in self.procs.items():
                if p.poll() is not None:
                    self.stop()
                    raise Unavailable(f"{name} exited ({p.returncode}): {self._tail(name)}")
            if ready():
                return
            time.sleep(0.2)
        logs = " | ".join(f"{n}: {self._tail(n)}" for n in self.procs)
        self.stop()
        raise Unavailable(f"{what} did not get ready in {timeout} s: {logs}")

    def stop(self):
        for name in ("slurmd", "slurmctld", "munged"):
            p = self.procs.pop(name, None)
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
