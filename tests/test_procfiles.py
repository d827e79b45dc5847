"""The Procfiles: one worker for every queue by default (`Procfile`), or one worker per queue (`Procfile.queues`)."""

import re
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def processes(name: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in (ROOT / name).read_text().splitlines() if line.strip())


def worker_command(command: str, **env: str) -> str:
    """The celery command a Procfile line runs, as its shell expands it (`celery` replaced by `echo celery`)."""
    inner = re.search(r"(celery -A config worker [^;]*);", command).group(1)
    result = subprocess.run(["sh", "-c", f"echo {inner}"], env={"PATH": "/usr/bin:/bin", **env},
                            capture_output=True, text=True, check=True)
    return result.stdout.strip()


@pytest.mark.parametrize("procfile", ["Procfile", "Procfile.queues"])
def test_every_process_starts_with_development_settings_and_workers_restart(procfile):
    for name, command in processes(procfile).items():
        inner = command.removeprefix("while :; do ")
        assert inner.startswith("DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-config.settings.dev} "), name
        if name != "web":
            assert command.startswith("while :; do ") and command.endswith("sleep 2; done"), name


def test_the_default_worker_takes_every_queue_unless_told_otherwise():
    worker = processes("Procfile")["worker"]
    # without WAYBILL_WORKER_QUEUES no --queues: Celery consumes every queue in CELERY_TASK_QUEUES
    assert "--queues" not in worker_command(worker)
    assert worker_command(worker, WAYBILL_WORKER_QUEUES="email,webhooks").endswith("--queues email,webhooks")


def test_the_split_procfile_runs_one_worker_per_queue():
    workers = {name: worker_command(command) for name, command in processes("Procfile.queues").items()
               if name.startswith("worker")}
    consumed = [re.search(r"--queues (\S+)", command).group(1) for command in workers.values()]
    assert sorted(consumed) == sorted(settings.WAYBILL_CELERY_QUEUES)
    hostnames = [re.search(r"--hostname (\S+)", command).group(1) for command in workers.values()]
    assert len(set(hostnames)) == len(hostnames)  # two workers on one machine need names of their own
