"""The programs the scenarios run (wrk, pgbouncer, pgbench), found on PATH or installed as `.ci/run` installs them.

A missing program is installed with apt-get when that can happen unattended: as root, or with passwordless sudo
(`sudo -n`), with DEBIAN_FRONTEND=noninteractive and no stdin. `BENCH_INSTALL=0` never installs. When a program is
still missing, `ensure()` says why in one line, and the scenarios that need it report "not run: <why>".
"""

from __future__ import annotations

import os
import shutil
import subprocess

# program → the Debian package that brings it (the same names .ci/run installs)
PACKAGES = {"wrk": "wrk", "pgbouncer": "pgbouncer"}
# Debian puts pgbouncer in /usr/sbin, which an ordinary user's PATH often lacks.
EXTRA_DIRS = {"pgbouncer": ("/usr/sbin",)}
HINTS = {"pgbench": "it comes with the PostgreSQL server package (postgresql-15 on Debian)",
         "psql": "install the PostgreSQL client (postgresql-client)"}

_apt_updated = False


def find(program: str) -> str | None:
    found = shutil.which(program)
    if found:
        return found
    for directory in EXTRA_DIRS.get(program, ()):
        candidate = os.path.join(directory, program)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _installed(package: str) -> bool:
    if shutil.which("dpkg-query") is None:
        return False
    status = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True,
                            stdin=subprocess.DEVNULL).stdout
    return "install ok installed" in status


def _privilege() -> list[str] | None:
    """The prefix that runs apt-get as root without asking anyone, or None when nothing can."""
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True,
                                               stdin=subprocess.DEVNULL).returncode == 0:
        return ["sudo", "-n"]
    return None


def _apt(prefix: list[str], *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run([*prefix, "apt-get", *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=900)


def install(package: str, log=None) -> str | None:
    """apt-get install `package` unattended. None when it worked, else why not."""
    global _apt_updated
    if os.environ.get("BENCH_INSTALL", "1") == "0":
        return f"installing is switched off (BENCH_INSTALL=0): apt-get install {package}"
    if shutil.which("apt-get") is None:
        return f"apt-get is not available here: install {package} by hand"
    prefix = _privilege()
    if prefix is None:
        return f"installing {package} needs root or passwordless sudo: sudo apt-get install {package}"
    if log:
        log(f"installing the Debian package {package}")
    if not _apt_updated:
        _apt(prefix, "update", "-q")
        _apt_updated = True
    done = _apt(prefix, "install", "-y", "-q", "--no-install-recommends", package)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"apt-get install {package} failed: {last}"
    return None


def ensure(program: str, log=None) -> tuple[str | None, str | None]:
    """(path, None) when the program is there (installing it first if it can), or (None, why it is not)."""
    found = find(program)
    if found:
        return found, None
    package = PACKAGES.get(program)
    if package is None:
        hint = HINTS.get(program, "install it")
        return None, f"{program} not found on PATH ({hint})"
    if _installed(package):
        return None, f"{program} not found on PATH (the Debian package {package} is installed: check PATH)"
    refused = install(package, log)
    if refused:
        return None, f"{program} not found on PATH and {refused}"
    found = find(program)
    if found is None:
        return None, f"{program} still not found on PATH after installing {package}"
    return found, None
