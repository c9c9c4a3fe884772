"""Fixtures for mailtunnel's end-to-end tests: the real binary between real clients and real backends,
all on loopback with free ports. Every process started here is stopped by PID at teardown."""
from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from dovecot import Dovecot  # noqa: E402
from mailtunnel import MailTunnel, hostport  # noqa: E402
from procs import Process, free_port, port_accepts, wait_until  # noqa: E402
from procs import dead_port  # noqa: E402,F401  (tests written earlier import it from here)
from smtpsink import SmtpSink  # noqa: E402

REPO = HERE.parent.parent
CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGILL, signal.SIGABRT, signal.SIGTRAP, signal.SIGBUS, signal.SIGFPE}

# The message every Dovecot test reads back: CRLF line ends (what IMAP/POP3 send), a dot-stuffing case,
# and enough body to span several TLS records.
TEST_MESSAGE = (
    b"Return-Path: <bob@example.org>\r\n"
    b"From: Bob <bob@example.org>\r\n"
    b"To: Alice <alice@example.org>\r\n"
    b"Subject: mailtunnel integration test\r\n"
    b"Message-ID: <mailtunnel-it-1@example.org>\r\n"
    b"Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"Hello Alice, this message came through the tunnel.\r\n"
    b".a line that starts with a dot\r\n"
    + b"".join(b"line %05d the quick brown fox jumps over the lazy dog 0123456789\r\n" % i for i in range(3000))
    + b"-- \r\nBob\r\n"
)

_failed = False


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    global _failed
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)
    if report.failed and report.when in ("setup", "call"):
        _failed = True


def failed_so_far(request) -> bool:
    return any(getattr(getattr(request.node, f"report_{w}", None), "failed", False) for w in ("setup", "call"))


@pytest.fixture(scope="session")
def mailtunnel_bin() -> str:
    path = os.environ.get("MAILTUNNEL_BIN") or str(REPO / ".build" / "release" / "mailtunnel")
    if not os.access(path, os.X_OK):
        pytest.fail(f"mailtunnel binary not found at {path}: build it (swift build -c release) "
                    f"or set MAILTUNNEL_BIN", pytrace=False)
    return path


@pytest.fixture(scope="session")
def session_dir():
    """Scratch space for the whole run (kept when a test failed, for the logs)."""
    base = os.environ.get("MAILTUNNEL_TEST_TMP")
    if base:
        Path(base).mkdir(parents=True, exist_ok=True)
    d = Path(tempfile.mkdtemp(prefix="mailtunnel-it-", dir=base))
    os.chmod(d, 0o755)   # Dovecot's mail processes (uid nobody) must reach the homes inside
    yield d
    if _failed or os.environ.get("MAILTUNNEL_KEEP_TMP"):
        print(f"\n[integration] logs and scratch files kept in {d}", file=sys.stderr)
    else:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def workdir(session_dir, request) -> Path:
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.name)[:80]
    d = Path(tempfile.mkdtemp(prefix=name + "-", dir=session_dir))
    os.chmod(d, 0o755)
    return d


@pytest.fixture(scope="session")
def dovecot(session_dir):
    """A private Dovecot: user alice/secret, TEST_MESSAGE in her INBOX, IMAP and POP3 in plaintext."""
    d = Dovecot(session_dir / "dovecot", {"alice": "secret"})
    d.start()
    d.deliver("alice", TEST_MESSAGE)
    d.message = TEST_MESSAGE
    d.user, d.password = "alice", "secret"
    yield d
    d.stop()


@pytest.fixture(scope="session")
def smtp_sink_process(session_dir):
    s = SmtpSink(session_dir / "smtp-sink").start()
    yield s
    s.stop()


@pytest.fixture
def smtp_sink(smtp_sink_process):
    """The session's smtp-sink, started again on its port when it has exited since an earlier test: in a full run
    it was seen to exit once, between tests, with nothing on stderr (smtp-sink reports fatal errors to syslog
    only), and every later SMTP test then failed on a dead backend rather than on mailtunnel. The exit status
    is printed so the cause can be chased."""
    process = smtp_sink_process.process
    if process is not None and not process.running():
        print(f"\n[integration] smtp-sink had exited with status {process.popen.returncode}; starting it again "
              f"on port {smtp_sink_process.port}", file=sys.stderr)
        smtp_sink_process.start()
    return smtp_sink_process


class Backends:
    """Plain TCP helper backends (own processes): echo, and echo after a greeting line."""

    def __init__(self, root: Path):
        self.root = root
        self.procs: list[Process] = []

    def echo(self, host: str = "127.0.0.1", port: int | None = None, greeting: str | None = None) -> int:
        port = port or free_port(host)
        argv = [sys.executable, str(HERE / "echo_server.py"), host, str(port)]
        if greeting is not None:
            argv.append(greeting)
        p = Process(argv, self.root, f"echo-{port}")
        self.procs.append(p)
        try:
            wait_until(lambda: not p.running() or port_accepts(host, port), 15, what="echo backend")
        except TimeoutError:
            raise RuntimeError(p.describe())
        if not p.running():
            raise RuntimeError(p.describe())
        return port

    def bulk(self, host: str = "127.0.0.1") -> int:
        """bulk_server.py: one-way transfers (SEND <path> / RECV <n>)."""
        port = free_port(host)
        p = Process([sys.executable, str(HERE / "bulk_server.py"), host, str(port)], self.root, f"bulk-{port}")
        self.procs.append(p)
        try:
            wait_until(lambda: not p.running() or port_accepts(host, port), 15, what="bulk backend")
        except TimeoutError:
            raise RuntimeError(p.describe())
        if not p.running():
            raise RuntimeError(p.describe())
        return port

    def stop_all(self) -> None:
        for p in self.procs:
            p.stop(grace=5)


@pytest.fixture(scope="session")
def session_backends(session_dir):
    b = Backends(session_dir / "backends")
    yield b
    b.stop_all()


@pytest.fixture(scope="session")
def echo_port(session_backends) -> int:
    """A shared echo backend on 127.0.0.1."""
    return session_backends.echo()


@pytest.fixture
def backends(workdir):
    b = Backends(workdir)
    yield b
    b.stop_all()


@pytest.fixture
def mailtunnel(mailtunnel_bin, workdir, request):
    """Factory: mailtunnel(connect=[...], protocol=..., extra=[...]) starts the binary and waits until its
    accept port takes connections; every instance is stopped by PID at teardown."""
    started: list[MailTunnel] = []
    crashed: list[str] = []

    def start(connect, protocol: str | None = "none", accept_host: str = "127.0.0.1",
              accept_port: int | None = None, state_dir: Path | None = None,
              extra: list[str] | None = None, nofile: int | None = None) -> MailTunnel:
        if isinstance(connect, (str, int)):
            connect = [connect]
        connect = [hostport("127.0.0.1", c) if isinstance(c, int) else c for c in connect]
        mt = MailTunnel(mailtunnel_bin, workdir, connect, protocol, accept_host, accept_port,
                        state_dir, extra, name=f"mailtunnel-{len(started) + 1}", nofile=nofile)
        started.append(mt)
        mt.start()
        return mt

    yield start
    for mt in started:
        if mt.process is not None:
            alive = mt.running()
            status = mt.stop()
            if failed_so_far(request) or not alive:
                print(f"\n--- {mt.name} (pid {mt.pid}, {'stopped' if alive else 'had exited'}, status {status}) "
                      f"argv: {' '.join(mt.argv())}\n{mt.log_text()[-4000:]}")
            if status is not None and -status in CRASH_SIGNALS:
                crashed.append(f"{mt.name} died of signal {-status} ({signal.Signals(-status).name})")
    if crashed:
        pytest.fail("mailtunnel crashed: " + "; ".join(crashed), pytrace=False)


@pytest.fixture
def figures(request):
    """report(**numbers): print measured figures (visible with -s / -rA) and append them to
    $MAILTUNNEL_FIGURES_FILE when set, so they can be quoted."""
    def report(**numbers):
        line = f"{request.node.nodeid}: " + " ".join(f"{k}={v}" for k, v in numbers.items())
        print(f"\n[figures] {line}")
        path = os.environ.get("MAILTUNNEL_FIGURES_FILE")
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a") as f:
                f.write(line + "\n")
    return report
