"""The test acts as systemd: a datagram socket as $NOTIFY_SOCKET (READY/RELOADING/STOPPING/WATCHDOG), and a
listening socket handed over as fd 3 ($LISTEN_FDS/$LISTEN_PID/$LISTEN_FDNAMES)."""
import imaplib
import os
import signal
import socket
import time

import pytest

from clients import client_context, echo_round_trip
from daemon_support import tunnel  # noqa: F401
from procs import free_port, port_accepts


class NotifySocket:
    """What systemd listens on: an AF_UNIX datagram socket; each datagram is newline-separated VAR=value."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages: list[tuple[float, list[str]]] = []

    def next(self, want: str, timeout: float) -> tuple[float, list[str]]:
        """Read datagrams until one contains the line `want`; returns (arrival time, its lines)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {want} within {timeout}s; got so far: {self.messages}")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            entry = (time.monotonic(), data.decode(errors="replace").split("\n"))
            self.messages.append(entry)
            if want in entry[1]:
                return entry

    def close(self):
        self.sock.close()


@pytest.fixture
def notify(workdir):
    n = NotifySocket(workdir / "notify.sock")
    yield n
    n.close()


def test_ready_reloading_stopping(tunnel, notify, echo_port, workdir):
    port = free_port()
    state = workdir / "state"
    state.mkdir()
    mt = tunnel(["--accept", f"127.0.0.1:{port}", "--connect", f"127.0.0.1:{echo_port}", "--protocol", "none",
                 "--state-dir", state], port, env={"NOTIFY_SOCKET": notify.path}, wait=False)

    _, lines = notify.next("READY=1", timeout=30)
    # READY=1 is sent only once the listener accepts: a connect right now must succeed
    assert port_accepts("127.0.0.1", port, timeout=1), "READY=1 came before the listener accepted"
    assert "listening" in mt.log_text()
    assert echo_round_trip("127.0.0.1", port, b"ready?\r\n") == b"ready?\r\n"
    status = [l for l in lines if l.startswith("STATUS=")]
    assert status, f"no STATUS= with READY=1: {lines}"

    mark = mt.log_mark()
    os.kill(mt.pid, signal.SIGHUP)
    notify.next("RELOADING=1", timeout=10)
    notify.next("READY=1", timeout=10)
    mt.wait_for_log(r"\breloaded\b", since=mark, timeout=10)
    assert echo_round_trip("127.0.0.1", port, b"after reload\r\n") == b"after reload\r\n"

    os.kill(mt.pid, signal.SIGTERM)
    notify.next("STOPPING=1", timeout=10)
    assert mt.wait_exit(20) == 0
    mt.wait_for_log(r"\bstopped\b", timeout=5)


def test_watchdog_keepalive(tunnel, notify, echo_port, workdir):
    port = free_port()
    state = workdir / "state"
    state.mkdir()
    mt = tunnel(["--accept", f"127.0.0.1:{port}", "--connect", f"127.0.0.1:{echo_port}", "--protocol", "none",
                 "--state-dir", state], port,
                env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"}, wait=False)
    ready_at, _ = notify.next("READY=1", timeout=30)
    first, _ = notify.next("WATCHDOG=1", timeout=2)
    second, _ = notify.next("WATCHDOG=1", timeout=2)
    assert second - first < 1.0, "keep-alives must come at least every WATCHDOG_USEC"
    assert mt.running()


def test_socket_activation_serves_through_inherited_socket(tunnel, dovecot, workdir):
    # systemd's part: bind and listen, hand the socket over as fd 3 with LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    inherited_port = listener.getsockname()[1]
    unused_port = free_port()   # what the config says to accept on: must NOT be bound
    state = workdir / "state"
    state.mkdir()
    conf = workdir / "mail.conf"
    conf.write_text(f"[imaps]\naccept = 127.0.0.1:{unused_port}\nconnect = 127.0.0.1:{dovecot.imap_port}\n"
                    f"protocol = imap\nstate-dir = {state}\n")
    fd = listener.fileno()
    # LISTEN_PID must be the daemon's own pid: the shell exports its $$, moves the socket to fd 3
    # (bash: dash takes only one-digit fds) and execs mailtunnel in place.
    redirect = "" if fd == 3 else f" 3<&{fd} {fd}<&-"
    wrapper = ["bash", "-c", f'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"{redirect}']
    try:
        mt = tunnel(["--config", conf], inherited_port, wrapper=wrapper, pass_fds=(fd,),
                    env={"LISTEN_FDS": "1", "LISTEN_FDNAMES": "imaps"})
    finally:
        listener.close()   # the daemon holds its own copy now

    line = mt.wait_for_log(r"listening listener=imaps\b", timeout=5)[0]
    assert line.get("socket") == "inherited", line.raw
    assert not port_accepts("127.0.0.1", unused_port), \
        f"mailtunnel bound its accept port {unused_port} although it was handed a socket"

    mark = mt.log_mark()
    with imaplib.IMAP4_SSL("127.0.0.1", inherited_port, ssl_context=client_context(), timeout=30) as imap:
        assert imap.login(dovecot.user, dovecot.password)[0] == "OK"
        typ, data = imap.select("INBOX", readonly=True)
        assert typ == "OK"
        typ, data = imap.fetch("1", "(BODY.PEEK[])")
        assert typ == "OK" and data[0][1] == dovecot.message
        imap.logout()
    ended = mt.connection_ended(since=mark)[0]
    assert ended.get("listener") == "imaps" and ended.get("backend") == f"127.0.0.1:{dovecot.imap_port}", ended.raw
    assert not port_accepts("127.0.0.1", unused_port)
    assert mt.running()
