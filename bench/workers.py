"""A pool of worker processes, each with its own django.setup() and its own persistent database connection.

Workers are started once and reused for every run, so process start-up never counts in a figure. A run is
started at a wall-clock instant given to every worker, which then works for a fixed duration.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import time

from .runtime import SETTINGS


def _main(index: int, commands, results) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    import django

    django.setup()
    from bench import load

    while True:
        command = commands.get()
        if command is None:
            return
        name, kwargs = command
        try:
            out = getattr(load, name)(index=index, **kwargs)
        except Exception as exc:  # noqa: BLE001 - reported to the runner, which fails the figure
            out = {"crashed": f"{type(exc).__name__}: {exc}"}
        results.put((index, out))


class WorkerPool:
    def __init__(self, size: int):
        ctx = mp.get_context("spawn")
        self.results = ctx.Queue()
        self.commands = [ctx.Queue() for _ in range(size)]
        self.processes = [
            ctx.Process(target=_main, args=(i, self.commands[i], self.results), daemon=True) for i in range(size)
        ]

    def __enter__(self) -> WorkerPool:
        for process in self.processes:
            process.start()
        try:
            self.run(len(self.processes), "warm_up")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        for commands in self.commands:
            commands.put(None)
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()

    def run(self, n: int, task: str, *, start_in: float = 0.3, **kwargs) -> list[dict]:
        """Run `task` on the first n workers, all starting at the same instant; returns their results."""
        start_at = time.time() + start_in
        for i in range(n):
            self.commands[i].put((task, {"start_at": start_at, **kwargs}))
        out = [None] * n
        deadline = time.time() + 600
        for _ in range(n):
            while True:
                try:
                    index, result = self.results.get(timeout=1)
                    break
                except queue.Empty:
                    dead = [p.exitcode for p in self.processes[:n] if not p.is_alive()]
                    if dead:
                        raise RuntimeError(f"{task}: a worker process exited (status {dead[0]}) before it answered; "
                                           "its error is above") from None
                    if time.time() > deadline:
                        raise RuntimeError(f"{task}: no answer from the workers within 600 s") from None
            out[index] = result
        crashed = [r["crashed"] for r in out if "crashed" in r]
        if crashed:
            raise RuntimeError(f"{task} failed in a worker: {crashed[0]}")
        return out
