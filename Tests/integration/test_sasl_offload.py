"""A slow password check (saslauthd answering after seconds) must not stall other clients: libsasl2 calls run
off the event loops. The fake saslauthd speaks saslauthd's real socket protocol (four length-prefixed strings in,
one length-prefixed answer out), so libsasl2's own saslauthd client is what mailtunnel exercises."""
import base64
import socket
import threading
import time

from clients import client_context
from fake_saslauthd import FakeSaslauthd

HOLD_BOUND = 60.0   # the longest the fake saslauthd holds a check before answering anyway


def smtp_tls(port: int) -> tuple[socket.socket, object]:
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    tls = client_context().wrap_socket(raw)
    return tls, tls.makefile("rb")


def read_reply(f) -> bytes:
    lines = []
    while True:
        line = f.readline()
        assert line, "connection closed"
        lines.append(line)
        if line[3:4] == b" ":
            return b"".join(lines)


def test_slow_saslauthd_does_not_stall_other_clients(mailtunnel, smtp_sink, workdir, figures):
    # The check blocks until the test releases it (bounded): "pending while others are served" is then an
    # observed fact, not a race between two clocks.
    release = threading.Event()
    daemon = FakeSaslauthd(delay=lambda login: 0.0 if release.wait(HOLD_BOUND) else 0.0)
    try:
        mt = mailtunnel(connect=smtp_sink.port, protocol="smtp", extra=daemon.gate_flags(workdir / "sasl"))
        slow, slow_f = smtp_tls(mt.accept_port)
        assert read_reply(slow_f).startswith(b"220")
        slow.sendall(b"EHLO slow.example\r\n")
        assert b"AUTH PLAIN LOGIN" in read_reply(slow_f)
        token = base64.b64encode(b"\0alice\0secret")
        slow.sendall(b"AUTH PLAIN " + token + b"\r\n")
        daemon.wait_pending(b"alice", timeout=30)      # the check has reached saslauthd, which holds it

        # While the check is pending, several other clients (spread over every event loop) get full service.
        waits = []
        for _ in range(4):
            t0 = time.monotonic()
            other, other_f = smtp_tls(mt.accept_port)
            assert read_reply(other_f).startswith(b"220")
            other.sendall(b"EHLO other.example\r\n")
            assert read_reply(other_f).startswith(b"250")
            waits.append(time.monotonic() - t0)
            other.close()
        assert daemon.pending(b"alice") == 1, "the slow check was no longer pending when the others were served"
        assert not release.is_set()

        release.set()
        reply = read_reply(slow_f)
        assert reply.startswith(b"235"), reply
        checks = daemon.recorded()
        assert checks and checks[0].login == b"alice"
        slow.sendall(b"MAIL FROM:<alice@example.org>\r\n")
        assert read_reply(slow_f).startswith(b"250")
        slow.close()
        figures(other_clients_max_wait_s=f"{max(waits):.3f}")
    finally:
        release.set()
        daemon.close()
