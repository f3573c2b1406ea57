"""A real single-node Slurm on localhost for the tests (Debian's Slurm 22.05).

Installs ``slurmctld slurmd slurm-client munge`` with apt-get when they are missing (as root),
starts ``munged`` as user munge, then ``slurmctld`` and ``slurmd`` with a configuration in a
private folder (free ports, state and logs under it, 16 pretend CPUs so small jobs run side
by side, a scheduler without its 3 s rhythm). Clients find it through ``SLURM_CONF``.
The settings that work on these machines are the shared INFRA notes'.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.apt import apt_install
from tests.pgcluster import free_port

PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge")


class SlurmUnavailable(RuntimeError):
    """Slurm cannot be installed or started here (the message says why)."""


def _install() -> None:
    if all(shutil.which(tool) for tool in ("sbatch", "slurmctld", "slurmd", "munged")):
        return
    problem = apt_install(PACKAGES)
    if problem is not None:
        raise SlurmUnavailable(f"Slurm is not installed: {problem}")


def _start_munge() -> None:
    socket_path = Path("/run/munge/munge.socket.2")
    if socket_path.exists():
        probe = subprocess.run(["munge", "-n"], capture_output=True, check=False)
        if probe.returncode == 0:
            return
    Path("/run/munge").mkdir(parents=True, exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    if not Path("/etc/munge/munge.key").exists():
        subprocess.run(["mungekey", "--create"], check=True)
        shutil.chown("/etc/munge/munge.key", "munge", "munge")
    subprocess.run(["runuser", "-u", "munge", "--", "munged", "--force"], check=True)
    for _ in range(50):
        if subprocess.run(["munge", "-n"], capture_output=True, check=False).returncode == 0:
            return
        time.sleep(0.1)
    raise SlurmUnavailable("munged did not start")


class SlurmCluster:
    """One controller and one node on localhost; ``env`` holds ``SLURM_CONF``."""

    def __init__(self, folder: Path, partition: str = "proseo") -> None:
        self.folder = folder
        self.partition = partition
        self.conf = folder / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}
        self._daemons: list[subprocess.Popen[bytes]] = []

    def _write_conf(self) -> None:
        for sub in ("state", "spool", "log"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        f = self.folder
        self.conf.write_text(
            "\n".join(
                [
                    "ClusterName=proseo-test",
                    "SlurmctldHost=localhost(127.0.0.1)",
                    f"SlurmctldPort={free_port()}",
                    f"SlurmdPort={free_port()}",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    "AuthType=auth/munge",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_CPU",
                    "AccountingStorageType=accounting_storage/none",
                    "JobCompType=jobcomp/filetxt",
                    f"JobCompLoc={f / 'log' / 'jobcomp.txt'}",
                    "MpiDefault=none",
                    "ReturnToService=2",
                    "MinJobAge=300",
                    "SchedulerParameters=batch_sched_delay=0,sched_min_interval=0",
                    "SlurmdParameters=config_overrides",
                    f"StateSaveLocation={f / 'state'}",
                    f"SlurmdSpoolDir={f / 'spool'}",
                    f"SlurmctldPidFile={f / 'slurmctld.pid'}",
                    f"SlurmdPidFile={f / 'slurmd.pid'}",
                    f"SlurmctldLogFile={f / 'log' / 'slurmctld.log'}",
                    f"SlurmdLogFile={f / 'log' / 'slurmd.log'}",
                    "NodeName=localhost NodeAddr=127.0.0.1 CPUs=16 RealMemory=16000 State=UNKNOWN",
                    f"PartitionName={self.partition} Nodes=localhost Default=YES "
                    "MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )

    def start(self, timeout_s: float = 60) -> SlurmCluster:
        """Install if needed, start the daemons, wait until the node is idle. The ports are
        picked free, but another process can take one before the daemons bind it: then the
        cluster is started again on new ports (three tries).

        :raises SlurmUnavailable: when that does not work (with the daemon logs).
        """
        _install()
        _start_munge()
        for _ in range(3):
            problem = self._start_once(timeout_s)
            if problem is None:
                return self
            if "already in use" not in problem:
                break
        raise SlurmUnavailable(problem)

    def _start_once(self, timeout_s: float) -> str | None:
        """One try; ``None`` when the node is idle, else why not (with the logs)."""
        self._write_conf()
        for log in (self.folder / "log").glob("*"):
            log.unlink()
        for command in (["slurmctld", "-D", "-i"], ["slurmd", "-D", "-N", "localhost"]):
            self._daemons.append(
                subprocess.Popen(
                    command,
                    env=self.env,
                    stdout=subprocess.DEVNULL,
                    stderr=(self.folder / "log" / f"{command[0]}.stderr").open("wb"),
                )
            )
            time.sleep(0.3)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and all(d.poll() is None for d in self._daemons):
            state = subprocess.run(
                ["sinfo", "-h", "-N", "-o", "%T"],
                env=self.env,
                capture_output=True,
                text=True,
                check=False,
            ).stdout.strip()
            if state in ("idle", "mixed", "allocated"):
                return None
            time.sleep(0.3)
        self.stop()
        logs = "\n".join(
            p.read_text(errors="replace")[-2000:] for p in sorted((self.folder / "log").glob("*"))
        )
        return f"the Slurm node did not become idle in {timeout_s} s:\n{logs}"

    def restart_controller(self, down_s: float) -> None:
        """Stop slurmctld, wait ``down_s`` seconds, start it again (jobs on the node go on;
        ``sbatch`` and ``squeue`` fail meanwhile)."""
        controller = self._daemons[0]
        controller.terminate()
        try:
            controller.wait(timeout=15)
        except subprocess.TimeoutExpired:
            controller.kill()
        time.sleep(down_s)
        self._daemons[0] = subprocess.Popen(
            ["slurmctld", "-D"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=(self.folder / "log" / "slurmctld.stderr").open("ab"),
        )

    def stop(self) -> None:
        """Stop both daemons (running jobs are killed with the node)."""
        for daemon in reversed(self._daemons):
            daemon.terminate()
        for daemon in self._daemons:
            try:
                daemon.wait(timeout=15)
            except subprocess.TimeoutExpired:
                daemon.kill()
        self._daemons.clear()
