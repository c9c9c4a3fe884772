"""Helpers for client mode (issue 14): the remote "provider" (a server-mode mailtunnel with a certificate from
the test PKI in front of Postfix or Dovecot), the client-mode mailtunnel in front of it, and a man in the middle
that records every byte sent towards the server and can rewrite the server's plaintext replies."""
from __future__ import annotations

import socket
import threading
from pathlib import Path

from procs import free_port


def provider_flags(pki, starttls: bool) -> list[str]:
    """A server-mode listener presenting `localhost` (SAN DNS:localhost, IP:127.0.0.1) with its chain."""
    return ["--cert", str(pki.server.chain), "--key", str(pki.server.key)] + (["--starttls", "yes"] if starttls else [])


def client_flags(pki, starttls: bool, *extra: str) -> list[str]:
    return ["--client", "yes", "--ca-file", str(pki.root.pem)] + (["--starttls", "yes"] if starttls else []) + list(extra)


class ManInTheMiddle:
    """A TCP relay between client mode and the provider. `rewrite`, if given, is applied to each line the server
    sends (for the plaintext phase only: it holds bytes until a line ends); `to_server` records every byte sent
    towards the server."""

    def __init__(self, target_port: int, rewrite=None):
        self.target_port = target_port
        self.rewrite = rewrite
        self.port = free_port()
        self.to_server = bytearray()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.2)
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._spawn(self._accept_loop)

    def _spawn(self, target, *args) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        t.start()
        self._threads.append(t)

    def _accept_loop(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            self._spawn(self._pump, client, server, True)
            self._spawn(self._pump, server, client, False)

    def _pump(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        pending = b""
        source.settimeout(30)
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if upstream or self.rewrite is None:
                    if upstream:
                        with self._lock:
                            self.to_server += data
                    sink.sendall(data)
                    continue
                pending += data
                *lines, pending = pending.split(b"\n")
                sink.sendall(b"".join(self.rewrite(l + b"\n") for l in lines))
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def recorded(self) -> bytes:
        with self._lock:
            return bytes(self.to_server)

    def stop(self) -> None:
        self._stopping = True
        self._listener.close()
        for t in self._threads:
            t.join(timeout=5)
