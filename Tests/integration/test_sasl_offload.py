"""A slow password check (saslauthd answering after seconds) must not stall other clients: libsasl2 calls run
off the event loops. The fake saslauthd speaks saslauthd's real socket protocol (four length-prefixed strings in,
one length-prefixed answer out), so libsasl2's own saslauthd client is what mailtunnel exercises."""
import base64
import socket
import time

from clients import client_context
from fake_saslauthd import FakeSaslauthd

SLOW = 4.0          # seconds the fake saslauthd takes per check
OTHERS_BOUND = 2.0  # other clients must be served well within the slow check


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
    daemon = FakeSaslauthd(delay=lambda login: SLOW)
    try:
        mt = mailtunnel(connect=smtp_sink.port, protocol="smtp", extra=daemon.gate_flags(workdir / "sasl"))
        slow, slow_f = smtp_tls(mt.accept_port)
        assert read_reply(slow_f).startswith(b"220")
        slow.sendall(b"EHLO slow.example\r\n")
        assert b"AUTH PLAIN LOGIN" in read_reply(slow_f)
        token = base64.b64encode(b"\0alice\0secret")
        started = time.monotonic()
        slow.sendall(b"AUTH PLAIN " + token + b"\r\n")

        # While the check is pending, several other clients (spread over every event loop) get full service.
        time.sleep(0.3)
        waits = []
        for _ in range(4):
            t0 = time.monotonic()
            other, other_f = smtp_tls(mt.accept_port)
            assert read_reply(other_f).startswith(b"220")
            other.sendall(b"EHLO other.example\r\n")
            assert read_reply(other_f).startswith(b"250")
            waits.append(time.monotonic() - t0)
            other.close()
        assert time.monotonic() - started < SLOW, "the other clients were only served after the slow check"
        assert max(waits) < OTHERS_BOUND, f"other clients waited {max(waits):.2f}s while a SASL check was pending"

        reply = read_reply(slow_f)
        elapsed = time.monotonic() - started
        assert reply.startswith(b"235"), reply
        assert elapsed >= SLOW * 0.9, f"the fake saslauthd was not consulted ({elapsed:.2f}s)"
        checks = daemon.recorded()
        assert checks and checks[0].login == b"alice"
        slow.sendall(b"MAIL FROM:<alice@example.org>\r\n")
        assert read_reply(slow_f).startswith(b"250")
        slow.close()
        figures(slow_check_s=f"{elapsed:.2f}", other_clients_max_wait_s=f"{max(waits):.3f}")
    finally:
        daemon.close()
