"""Support for the daemon tests (issue 5): mailtunnel started from any argv (config files, stunnel configs,
environment such as NOTIFY_SOCKET, inherited sockets), self-made key pairs, and `--check` runs.

Builds on the harness: `ArgvTunnel` is a `MailTunnel` (same log parsing, readiness probe and probe hiding),
started from a free-form argument list instead of --accept/--connect flags. Every process is stopped by PID."""
from __future__ import annotations

import hashlib
import os
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from clients import client_context, tcp_connect
from conftest import CRASH_SIGNALS, failed_so_far
from mailtunnel import MailTunnel
from procs import Process, wait_until

NOBODY_KEYS = ("Uid", "Gid")


# ---- key pairs ---------------------------------------------------------------------------------------
def make_keypair(directory: Path, name: str, cn: str | None = None) -> tuple[Path, Path]:
    """A self-signed RSA certificate and key made with `openssl req -x509`; the key is root-only (0600)."""
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / f"{name}-cert.pem", directory / f"{name}-key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "2",
                    "-subj", f"/CN={cn or name}", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    os.chmod(key, 0o600)
    os.chmod(cert, 0o644)
    return cert, key


def pem_fingerprint(cert: Path) -> str:
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    return hashlib.sha256(der).hexdigest()


def served_fingerprint(host: str, port: int, timeout: float = 10.0) -> str:
    """SHA-256 of the DER certificate a TLS server presents."""
    raw = tcp_connect(host, port, timeout)
    with client_context().wrap_socket(raw, server_hostname="localhost") as s:
        return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


# ---- --check -----------------------------------------------------------------------------------------
def run_check(binary: str, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess:
    return subprocess.run([binary, "--check", *[str(a) for a in args]], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


# ---- mailtunnel from an argument list ------------------------------------------------------------------
class FdProcess(Process):
    """procs.Process with extra environment variables and inherited file descriptors."""

    def __init__(self, argv: list[str], log_dir: Path, name: str, env: dict | None = None,
                 pass_fds: tuple[int, ...] = ()):
        self.argv = [str(a) for a in argv]
        self.name = name
        log_dir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = log_dir / f"{name}.stdout"
        self.stderr_path = log_dir / f"{name}.stderr"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                          env={**os.environ, **(env or {})}, pass_fds=pass_fds)
        self.pid = self.popen.pid


class ArgvTunnel(MailTunnel):
    """mailtunnel run as `binary *args` (e.g. `--config F`), its readiness probed on `probe_port`."""

    def __init__(self, binary: str, workdir: Path, args: list[str], probe_port: int, name: str,
                 env: dict | None = None, pass_fds: tuple[int, ...] = (), wrapper: list[str] | None = None,
                 probe_host: str = "127.0.0.1"):
        super().__init__(binary, workdir, [], None, probe_host, probe_port, None, None, name)
        self.args = [str(a) for a in args]
        self.env = dict(env or {})
        self.pass_fds = pass_fds
        self.wrapper = list(wrapper or [])

    def argv(self) -> list[str]:
        return self.wrapper + [self.binary] + self.args

    def launch(self) -> "ArgvTunnel":
        """Start the process without waiting for anything."""
        self.process = FdProcess(self.argv(), self.workdir, self.name, self.env, self.pass_fds)
        return self

    def start(self, timeout: float = 20.0) -> "ArgvTunnel":
        self.launch()

        def ready():
            if not self.running():
                return True
            return "listening" in self.log_text() and self._probe()
        try:
            wait_until(ready, timeout, what=f"mailtunnel to accept on {self.accept}")
        except TimeoutError:
            raise RuntimeError(f"mailtunnel did not accept on {self.accept} within {timeout}s\n"
                               f"{self.process.describe()}")
        if not self.running():
            raise RuntimeError(f"mailtunnel exited with status {self.process.popen.returncode} before "
                               f"accepting connections\n{self.process.describe()}")
        # let the probe's own `connection ended` line pass, so that log marks taken now come after it
        end = time.monotonic() + 3
        while time.monotonic() < end and not any(
                l.get("client") in self._probe_clients for l in self.log_lines(include_probes=True)):
            time.sleep(0.02)
        return self

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.process.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"mailtunnel still running {timeout}s later\n{self.process.describe()}")


@pytest.fixture
def tunnel(mailtunnel_bin, workdir, request):
    """Factory: tunnel(args, probe_port, env=..., wait=True) -> ArgvTunnel; stopped by PID at teardown,
    and a crash signal fails the test (as the harness's `mailtunnel` fixture does)."""
    started: list[ArgvTunnel] = []

    def start(args, probe_port: int, env: dict | None = None, wait: bool = True, **kw) -> ArgvTunnel:
        t = ArgvTunnel(mailtunnel_bin, workdir, args, probe_port, f"mailtunnel-argv-{len(started) + 1}",
                       env=env, **kw)
        started.append(t)
        return t.start() if wait else t.launch()

    yield start
    crashed = []
    for t in started:
        if t.process is None:
            continue
        alive = t.running()
        status = t.stop()
        if failed_so_far(request) or not alive:
            print(f"\n--- {t.name} (pid {t.pid}, {'stopped' if alive else 'had exited'}, status {status}) "
                  f"argv: {' '.join(t.argv())}\n{t.log_text()[-4000:]}")
        if status is not None and -status in CRASH_SIGNALS:
            crashed.append(f"{t.name} died of signal {-status} ({signal.Signals(-status).name})")
    if crashed:
        pytest.fail("mailtunnel crashed: " + "; ".join(crashed), pytrace=False)


def connect_refused_or_unserved(host: str, port: int, timeout: float = 5.0) -> str | None:
    """None if a TLS client cannot get service on host:port (refused, or closed without a handshake);
    otherwise a description of the service it got."""
    try:
        raw = tcp_connect(host, port, timeout)
    except OSError:
        return None
    try:
        with client_context().wrap_socket(raw, server_hostname="localhost") as s:
            return f"TLS handshake completed ({s.version()})"
    except (OSError, ssl.SSLError):
        return None
