"""`xclient = yes` without an auth gate: the backend is told the client's address before the client's first
command; and a client's own XCLIENT gets 502 in its place among pipelined replies, never reaching the backend.
The backend is fault_backend's SMTP mode, which records every line it receives."""
import socket

import pytest

from clients import client_context
from daemon_health import Baseline, served_smtp_checksum
from fault_backend import FaultBackend


@pytest.fixture
def smtp_backend():
    fb = FaultBackend()
    fb.mode = "smtp"
    yield fb
    fb.close()


def replies(f, count: int) -> list[bytes]:
    out = []
    for _ in range(count):
        while True:
            line = f.readline()
            assert line, f"closed after {out}"
            if line[3:4] == b" ":
                out.append(line)
                break
    return out


def test_xclient_yes_without_gate_names_the_client(mailtunnel, smtp_backend, figures):
    mt = mailtunnel(connect=smtp_backend.port, protocol="smtp", extra=["--xclient", "yes"])
    health = Baseline(mt, serve=served_smtp_checksum)
    index = len(smtp_backend.seen)
    raw = socket.create_connection(("127.0.0.1", mt.accept_port), timeout=15)
    with client_context().wrap_socket(raw, server_hostname="localhost") as s:
        port = s.getsockname()[1]
        f = s.makefile("rb")
        assert replies(f, 1)[0].startswith(b"220")
        s.sendall(b"EHLO client.example\r\nQUIT\r\n")
        assert [r[:3] for r in replies(f, 2)] == [b"250", b"221"]
        f.close()                          # (a live makefile keeps the socket open past the with)
    lines = smtp_backend.connection(index).lines
    first_xclient = next((i for i, l in enumerate(lines) if l.upper().startswith(b"XCLIENT ")), None)
    assert first_xclient is not None, f"no XCLIENT sent: {lines}"
    xclient = lines[first_xclient]
    assert b"ADDR=127.0.0.1" in xclient and b"PORT=%d" % port in xclient, xclient
    client_ehlo = [i for i, l in enumerate(lines) if l.startswith(b"EHLO client.example")]
    assert client_ehlo and client_ehlo[0] > first_xclient, f"the client spoke before the hand-over: {lines}"
    health.assert_recovered(figures)


def test_client_xclient_gets_502_in_order(mailtunnel, smtp_backend, figures):
    mt = mailtunnel(connect=smtp_backend.port, protocol="smtp")
    health = Baseline(mt, serve=served_smtp_checksum)
    index = len(smtp_backend.seen)
    raw = socket.create_connection(("127.0.0.1", mt.accept_port), timeout=15)
    with client_context().wrap_socket(raw, server_hostname="localhost") as s:
        f = s.makefile("rb")
        assert replies(f, 1)[0].startswith(b"220")
        # Pipelined: the refusal must come in the XCLIENT's place, between the backend's replies.
        s.sendall(b"EHLO client.example\r\nNOOP\r\nXCLIENT ADDR=10.9.9.9 LOGIN=mallory\r\nNOOP\r\nQUIT\r\n")
        got = replies(f, 5)
        f.close()                          # (a live makefile keeps the socket open past the with)
    assert [r[:3] for r in got] == [b"250", b"250", b"502", b"250", b"221"], got
    # The backend got it as a command it does not know (its 502 is what the client read), never as XCLIENT.
    lines = smtp_backend.connection(index).lines
    assert len(lines) == 5 and not lines[2].upper().startswith(b"XCLIENT"), lines
    assert [l.split()[0] for i, l in enumerate(lines) if i != 2] == [b"EHLO", b"NOOP", b"NOOP", b"QUIT"], lines
    health.assert_recovered(figures)
