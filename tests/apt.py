"""Debian packages for the real services the tests start (Slurm, Ceph): installed with
apt-get when missing, as root, waiting up to 10 minutes for the package manager's lock (an
apt-get running beside the tests must not make them fail)."""

from __future__ import annotations

import os
import subprocess

LOCK_WAIT = ("-o", "DPkg::Lock::Timeout=600")
"""apt-get waits this long for the dpkg lock instead of failing at once."""


def apt_install(packages: tuple[str, ...]) -> str | None:
    """Install ``packages`` (the package lists are updated once when the first try fails);
    ``None`` when done, else why not (not root, or apt-get's error output)."""
    if os.geteuid() != 0:
        return "installing it needs root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", *LOCK_WAIT, "install", "-y", "--no-install-recommends", *packages]
    result = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:  # stale package lists: update once and try again
        subprocess.run(["apt-get", *LOCK_WAIT, "update"], env=env, capture_output=True, check=False)
        result = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return f"apt-get install {' '.join(packages)} failed: {result.stderr}"
    return None
