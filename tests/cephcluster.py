"""A real S3 server for the tests: a one-monitor, one-OSD (memstore) Ceph with the RADOS
Gateway on 127.0.0.1 (Debian's Ceph 16).

Installs ``ceph-mon ceph-osd radosgw ceph-common`` with apt-get when missing (as root),
writes a private configuration (auth none, pools of size one with few placement groups,
``crc secure`` messenger modes, without which radosgw hangs for minutes), starts
``ceph-mon``, ``ceph-osd`` and ``radosgw`` in the foreground as children, and creates an
S3 user. The settings that work on these machines are the shared INFRA notes'. The gateway
checks SigV4 signatures and does real multipart uploads.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from tests.apt import apt_install
from tests.pgcluster import free_port

PACKAGES = ("ceph-mon", "ceph-osd", "radosgw", "ceph-common")
ACCESS_KEY = "PROSEOTESTACCESSKEY0"
SECRET_KEY = "proseo-test-secret-key-0123456789abcdef"


class CephUnavailable(RuntimeError):
    """Ceph cannot be installed or started here (the message says why, with the logs)."""


def _install() -> None:
    if all(shutil.which(t) for t in ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin")):
        return
    problem = apt_install(PACKAGES)
    if problem is not None:
        raise CephUnavailable(f"Ceph is not installed: {problem}")


class CephRGW:
    """The cluster in ``folder``; ``endpoint_url`` and the keys reach its S3 gateway."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.conf = folder / "ceph.conf"
        self.endpoint_url = ""
        self.access_key = ACCESS_KEY
        self.secret_key = SECRET_KEY
        self._daemons: list[subprocess.Popen[bytes]] = []
        self._gateway: subprocess.Popen[bytes] | None = None

    def _ceph(self, *args: str, timeout: float = 60) -> str:
        result = subprocess.run(
            [*args[:1], "-c", str(self.conf), *args[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise CephUnavailable(f"{' '.join(args)} failed: {result.stderr}\n{self._logs()}")
        return result.stdout

    def _logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}"
            for p in sorted((self.folder / "log").glob("*"))
        )

    def _daemon(self, *args: str) -> subprocess.Popen[bytes]:
        log = (self.folder / "log" / f"{Path(args[0]).name}.stderr").open("ab")
        daemon = subprocess.Popen(
            [*args, "-f", "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=log
        )
        log.close()
        self._daemons.append(daemon)
        return daemon

    def _wait_for_gateway(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.endpoint_url, timeout=2)
                return
            except urllib.error.HTTPError:
                return  # it answers (403 for an anonymous listing is fine)
            except (urllib.error.URLError, OSError):
                if any(d.poll() is not None for d in self._daemons):
                    self.stop()
                    raise CephUnavailable(f"a Ceph daemon exited:\n{self._logs()}") from None
                time.sleep(0.5)
        self.stop()
        raise CephUnavailable(f"radosgw did not answer in {timeout_s} s:\n{self._logs()}")

    def start(self, timeout_s: float = 120) -> CephRGW:
        """Install if needed, create and start mon, OSD and gateway, create the S3 user.

        :raises CephUnavailable: when that does not work (with the daemon logs).
        """
        _install()
        f = self.folder
        for sub in ("mon", "osd/ceph-0", "run", "log", "rgw"):
            (f / sub).mkdir(parents=True, exist_ok=True)
        fsid = str(uuid.uuid4())
        mon_port, rgw_port = free_port(), free_port()
        self.endpoint_url = f"http://127.0.0.1:{rgw_port}"
        self.conf.write_text(
            f"""[global]
fsid = {fsid}
mon_initial_members = a
mon_host = v1:127.0.0.1:{mon_port}
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
ms_bind_msgr2 = false
ms_mon_client_mode = crc secure
ms_client_mode = crc secure
ms_cluster_mode = crc secure
ms_service_mode = crc secure
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_max_pg_per_osd = 1000
osd_objectstore = memstore
memstore_device_bytes = 2147483648
osd_crush_chooseleaf_type = 0
osd_crush_update_on_start = false
osd_class_update_on_start = false
run_dir = {f}/run
admin_socket = {f}/run/$name.asok
log_file = {f}/log/$name.log
pid_file = {f}/run/$name.pid
mon_data = {f}/mon/$cluster-$id
osd_data = {f}/osd/$cluster-$id
keyring = {f}/keyring
[client.rgw.proseo]
rgw_frontends = beast endpoint=127.0.0.1:{rgw_port}
rgw_data = {f}/rgw
rgw_dns_name = 127.0.0.1
"""
        )
        (f / "keyring").write_text("")
        subprocess.run(
            [
                "monmaptool",
                "--create",
                "--clobber",
                "--fsid",
                fsid,
                "--addv",
                "a",
                f"[v1:127.0.0.1:{mon_port}]",
                str(f / "monmap"),
            ],
            capture_output=True,
            check=True,
        )
        self._ceph("ceph-mon", "--mkfs", "-i", "a", "--monmap", str(f / "monmap"))
        self._daemon("ceph-mon", "-i", "a")
        # Register the OSD, make its store, place it in the CRUSH map ourselves: the OSD's
        # own placement at start raced with its first monitor map ("wrong fsid").
        osd_uuid = str(uuid.uuid4())
        self._ceph("ceph", "osd", "new", osd_uuid, "0", timeout=timeout_s)
        self._ceph("ceph-osd", "-i", "0", "--mkfs", "--osd-uuid", osd_uuid, timeout=timeout_s)
        self._ceph("ceph", "osd", "crush", "add", "osd.0", "1.0", "root=default", "host=localhost")
        self._daemon("ceph-osd", "-i", "0")
        self._gateway = self._daemon("radosgw", "-n", "client.rgw.proseo")
        self._wait_for_gateway(timeout_s)
        self._ceph(
            "radosgw-admin",
            "-n",
            "client.rgw.proseo",
            "user",
            "create",
            "--uid",
            "proseo",
            "--display-name",
            "proseo tests",
            "--access-key",
            self.access_key,
            "--secret",
            self.secret_key,
            timeout=timeout_s,
        )
        return self

    def stop_gateway(self) -> None:
        """Stop the S3 gateway (radosgw) alone: S3 requests are refused until
        :meth:`start_gateway`; the stored objects stay (the monitor and OSD keep running)."""
        gateway = self._gateway
        if gateway is None or gateway.poll() is not None:
            return
        gateway.kill()
        gateway.wait(timeout=20)
        self._daemons.remove(gateway)
        self._gateway = None

    def start_gateway(self, timeout_s: float = 120) -> None:
        """Start the gateway again on the same port; returns once it answers.

        :raises CephUnavailable: when it does not answer in ``timeout_s`` seconds."""
        if self._gateway is None:
            self._gateway = self._daemon("radosgw", "-n", "client.rgw.proseo")
        self._wait_for_gateway(timeout_s)

    def stop(self) -> None:
        """Stop the daemons (memstore: the data goes with them)."""
        for daemon in reversed(self._daemons):
            daemon.terminate()
        for daemon in self._daemons:
            try:
                daemon.wait(timeout=20)
            except subprocess.TimeoutExpired:
                daemon.kill()
        self._daemons.clear()
        self._gateway = None
