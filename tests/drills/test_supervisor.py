"""Under `make run` (honcho and the Procfile) a worker that dies is started again and takes nobody down."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from notifications.models import Notification
from tests.factories import CustomerFactory, place_order
from tests.notifications.conftest import wait_for

from .conftest import ROOT, child_env, stop_process_group, wait_for_other_sessions_to_end

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def celery_worker_under(pid: int) -> int | None:
    """The Celery worker's main process that the Procfile's loop (a shell, somewhere below honcho) started."""
    for child in children(pid):
        if "celery" in cmdline(child) and "while" in cmdline(pid):
            return child
        found = celery_worker_under(child)
        if found:
            return found
    return None


def test_the_procfile_starts_a_killed_worker_again(drill_broker, smtp_sink, drill_settings, tmp_path):
    env = child_env(REDIS_URL=drill_broker.url, EMAIL_URL=f"smtp://127.0.0.1:{smtp_sink.port}")
    env["PATH"] = f"{Path(os.sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    log = tmp_path / "honcho.log"
    honcho = subprocess.Popen([str(Path(os.sys.executable).parent / "honcho"), "start", "--procfile", "Procfile",
                               "--no-prefix", "worker"], cwd=ROOT, env=env, stdout=log.open("w"),
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(lambda: log.read_text().count(" ready.") == 1, timeout=60)
        first = celery_worker_under(honcho.pid)
        assert first is not None
        # when the worker is killed (the kernel's OOM killer, an operator's kill -9)
        os.kill(first, signal.SIGKILL)
        # then the Procfile's loop starts another one, and honcho (so the web server beside it) keeps running
        wait_for(lambda: log.read_text().count(" ready.") == 2, timeout=60)
        assert honcho.poll() is None
        assert "worker stopped (exit 137)" in log.read_text()
        assert celery_worker_under(honcho.pid) not in (None, first)
        # and the new worker does the work
        customer = CustomerFactory()
        place_order(customer=customer)
        wait_for(lambda: Notification.objects.filter(status="sent").exists(), timeout=30)
        assert len(smtp_sink.message_ids(customer.email)) == 1
    finally:
        stop_process_group(honcho)
        wait_for_other_sessions_to_end()
