"""A fake saslauthd for the SASL gate tests.

It speaks saslauthd's real socket protocol (four length-prefixed strings in: login, password, service, realm;
one length-prefixed answer out: `OK` or `NO …`), so libsasl2's own saslauthd client is what mailtunnel drives.
Who is accepted and how long each check takes are functions of the test's choosing; every check is recorded
(login, password, service) under a lock, and the checks pending right now are counted per login.

    daemon = FakeSaslauthd(verdict=lambda login, password: password == b"pw", delay=lambda login: 0)
    mt = mailtunnel(..., extra=daemon.gate_flags(workdir / "sasl"))
    ...
    daemon.close()
"""
from __future__ import annotations

import os
import shutil
import socket
import struct
import tempfile
import threading
from pathlib import Path
from typing import Callable, NamedTuple

from clients import recv_exact
from procs import wait_until


class Check(NamedTuple):
    login: bytes
    password: bytes
    service: bytes


def alice_secret(login: bytes, password: bytes) -> bool:
    """The default verdict: alice/secret is accepted, nothing else."""
    return (login, password) == (b"alice", b"secret")


class FakeSaslauthd:
    def __init__(self, verdict: Callable[[bytes, bytes], bool] = alice_secret,
                 delay: Callable[[bytes], float] = lambda login: 0.0):
        self.verdict, self.delay = verdict, delay
        # A short directory of its own: a socket path must fit in 108 bytes, test names do not.
        self.dir = tempfile.mkdtemp(prefix="saslauthd-")
        os.chmod(self.dir, 0o755)
        self.path = os.path.join(self.dir, "mux")
        self.lock = threading.Lock()
        self.checks: list[Check] = []          # every check asked for, in order of arrival
        self.in_flight: dict[bytes, int] = {}  # login -> checks pending now
        self.most_in_flight: dict[bytes, int] = {}  # login -> the most ever pending at once
        self.most_overall = 0                  # the most checks ever pending at once, all logins
        self._stopping = threading.Event()
        self._answering: list[threading.Thread] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o777)
        self.sock.listen(64)
        self.sock.settimeout(0.2)              # the accept loop looks at _stopping this often
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def gate_flags(self, conf_dir: Path, mech_list: str = "PLAIN LOGIN") -> list[str]:
        """Writes `smtpd.conf` pointing libsasl2 at this daemon into conf_dir (created) and returns mailtunnel's
        flags for a SASL gate using it."""
        conf_dir.mkdir()
        (conf_dir / "smtpd.conf").write_text(
            f"pwcheck_method: saslauthd\nsaslauthd_path: {self.path}\nmech_list: {mech_list}\n")
        return ["--auth", "sasl", "--sasl-service", "smtpd", "--sasl-config-dir", str(conf_dir)]

    def recorded(self) -> list[Check]:
        with self.lock:
            return list(self.checks)

    def pending(self, login: bytes) -> int:
        with self.lock:
            return self.in_flight.get(login, 0)

    def wait_pending(self, login: bytes, count: int = 1, timeout: float = 5.0) -> None:
        """Until `count` checks for `login` are pending at once (bounded)."""
        wait_until(lambda: self.pending(login) >= count, timeout, interval=0.02,
                   what=f"saslauthd to see {count} check(s) for {login!r}")

    def _serve(self):
        while not self._stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._answer, args=(conn,), daemon=True)
            t.start()
            self._answering.append(t)

    def _answer(self, conn: socket.socket):
        with conn:
            conn.settimeout(10)
            try:
                login, password, service, _realm = (recv_exact(conn, struct.unpack("!H", recv_exact(conn, 2))[0])
                                                    for _ in range(4))
            except (EOFError, OSError):
                return
            with self.lock:
                self.checks.append(Check(login, password, service))
                self.in_flight[login] = self.in_flight.get(login, 0) + 1
                self.most_in_flight[login] = max(self.most_in_flight.get(login, 0), self.in_flight[login])
                self.most_overall = max(self.most_overall, sum(self.in_flight.values()))
            self._stopping.wait(self.delay(login))      # the slow back end being simulated; close() cuts it short
            with self.lock:
                self.in_flight[login] -= 1
            answer = b"OK" if self.verdict(login, password) else b"NO bad password"
            try:
                conn.sendall(struct.pack("!H", len(answer)) + answer)
            except OSError:
                pass

    def close(self):
        self._stopping.set()
        self._thread.join(timeout=5)
        self.sock.close()
        for t in self._answering:
            t.join(timeout=5)
        shutil.rmtree(self.dir, ignore_errors=True)
