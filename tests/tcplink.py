"""A TCP forwarder a test can cut (every open connection severed, new ones refused or swallowed) and restore:
the link to a private Redis or PostgreSQL in the fault drills and the worker tests."""

from __future__ import annotations

import contextlib
import socket
import threading


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class CuttableLink:
    """A TCP forwarder to host:port. `cut()` severs every open connection and then either refuses new ones
    (`blackhole=False`) or accepts them and never answers (`blackhole=True`: a network that drops packets).
    `restore()` forwards again."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.port = free_port()
        self.state = "up"
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        self.listener: socket.socket | None = None

    def start(self) -> CuttableLink:
        self._listen()
        return self

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _close_listener(self) -> None:
        listener, self.listener = self.listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()

    def cut(self, *, blackhole: bool = False) -> None:
        with self.lock:
            self.state = "blackhole" if blackhole else "down"
        if not blackhole:
            self._close_listener()
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def restore(self) -> None:
        with self.lock:
            held, self.sockets = self.sockets, []
        for sock in held:  # connections the black hole swallowed: their clients gave up long ago
            sock.close()
        if self.listener is None:
            self._listen()
        self.state = "up"

    def close(self) -> None:
        self.cut()

    def _accept(self, listener) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self.state != "up":  # the black hole: hold the connection, answer nothing
                with self.lock:
                    self.sockets.append(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                if self.state != "up":  # cut while this connection was being set up: it must not get through
                    client.close()
                    upstream.close()
                    continue
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source, destination) -> None:
        try:
            while data := source.recv(65536):
                destination.sendall(data)
        except OSError:
            pass
        finally:
            # shutdown, not only close: the other direction's thread is blocked in recv() on `destination`, and
            # a close() alone would leave the connection open (no FIN) until that recv returned
            with contextlib.suppress(OSError):
                destination.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                destination.close()
