"""Injected backend faults: the backend refuses, accepts and never greets, closes before its greeting, or greets
and dies mid-transfer. The client gets the protocol's own error when nothing was relayed yet, else every byte
the backend sent and a clean TLS close; afterwards the daemon serves, and its descriptors and memory are back
at the baseline (daemon_health)."""
import hashlib
import os
import ssl

import pytest

from clients import client_context, recv_until, tcp_connect, tls_connect
from daemon_health import Baseline, served_checksum, served_smtp_checksum
from fault_backend import FaultBackend

# What each protocol's client reads when the service is not there (IMAP untagged BYE, POP3 -ERR, SMTP 421).
REFUSAL = {"imap": b"* BYE ", "pop3": b"-ERR ", "smtp": b"421 "}
GREETING = {"imap": b"* OK fault backend ready\r\n", "pop3": b"+OK fault backend ready\r\n",
            "smtp": b"220 fault.test ESMTP\r\n"}


@pytest.fixture
def fault_backend():
    fb = FaultBackend()
    yield fb
    fb.close()


def start(mailtunnel, fb, protocol, extra=None):
    """mailtunnel on the fault backend, with the baseline taken while the backend serves normally."""
    mt = mailtunnel(connect=fb.port, protocol=protocol, extra=extra or [])
    fb.mode, fb.greeting = ("smtp", b"") if protocol == "smtp" else ("echo", b"")
    health = Baseline(mt, served_smtp_checksum if protocol == "smtp" else served_checksum)
    return mt, health


def restore(fb, protocol):
    fb.mode, fb.greeting = ("smtp", b"") if protocol == "smtp" else ("echo", b"")


def first_reply(port: int, starttls: bool, timeout: float = 15.0) -> tuple[bytes, bool]:
    """What the client reads first (through TLS unless `starttls`, where the plaintext dialogue comes first),
    and whether the connection then closed."""
    sock = tcp_connect("127.0.0.1", port, timeout) if starttls else tls_connect("127.0.0.1", port, timeout)
    with sock:
        return recv_until(sock, lambda d: d.endswith(b"\r\n"), timeout=timeout)


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
def test_backend_refuses(mailtunnel, fault_backend, protocol, figures):
    mt, health = start(mailtunnel, fault_backend, protocol)
    fault_backend.refuse()
    mark = mt.log_mark()
    reply, _ = first_reply(mt.accept_port, starttls=False)
    assert reply.startswith(REFUSAL[protocol]), reply
    mt.connection_ended(since=mark, reason="backend unavailable")
    fault_backend.listen()
    health.assert_recovered(figures)


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
def test_backend_closes_before_greeting(mailtunnel, fault_backend, protocol, figures):
    """Nothing was relayed yet: the client must learn that the service is unavailable in its own protocol,
    not see a bare close it cannot tell from a network fault."""
    mt, health = start(mailtunnel, fault_backend, protocol)
    fault_backend.mode = "close_at_once"
    mark = mt.log_mark()
    reply, eof = first_reply(mt.accept_port, starttls=False)
    assert reply.startswith(REFUSAL[protocol]), f"client got {reply!r} (eof={eof}) from a backend that closed"
    line = mt.connection_ended(since=mark)[0]
    assert line.get("reason") == "backend closed", line.raw
    restore(fault_backend, protocol)
    health.assert_recovered(figures)


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
def test_backend_never_greets_starttls(mailtunnel, fault_backend, protocol, figures):
    """A STARTTLS listener waits for the backend's greeting within handshake-timeout, then tells the client."""
    mt, health = start(mailtunnel, fault_backend, protocol)
    mt.stop()
    mt = mailtunnel(connect=fault_backend.port, protocol=protocol,
                    extra=["--starttls", "yes", "--handshake-timeout", "1s"])
    fault_backend.mode, fault_backend.greeting = "echo", GREETING[protocol]
    health = Baseline(mt, serve=lambda m: _starttls_greeting_seen(m, protocol))
    fault_backend.mode = "silent"
    mark = mt.log_mark()
    reply, _ = first_reply(mt.accept_port, starttls=True)
    assert reply.startswith(REFUSAL[protocol]), reply
    mt.connection_ended(since=mark, reason="handshake timeout")
    fault_backend.mode = "echo"
    health.assert_recovered(figures)


def _starttls_greeting_seen(mt, protocol):
    reply, _ = first_reply(mt.accept_port, starttls=True)
    assert reply == GREETING[protocol], reply


def test_backend_never_greets_implicit_tls(mailtunnel, fault_backend, figures):
    """With implicit TLS the relay starts at once; a backend that never speaks is an idle session."""
    mt, health = start(mailtunnel, fault_backend, "imap", extra=["--idle-timeout", "1s"])
    fault_backend.mode = "silent"
    mark = mt.log_mark()
    reply, eof = first_reply(mt.accept_port, starttls=False)
    assert eof, reply
    mt.connection_ended(since=mark, reason="idle timeout")
    fault_backend.mode = "echo"
    health.assert_recovered(figures)


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
def test_backend_dies_mid_transfer(mailtunnel, fault_backend, protocol, figures):
    """Something was relayed: the client gets every byte the backend sent, then a clean TLS close_notify."""
    mt, health = start(mailtunnel, fault_backend, protocol)
    fault_backend.mode, fault_backend.greeting = "greet_then_die", GREETING[protocol]
    fault_backend.payload = os.urandom(2 << 20)
    expected = GREETING[protocol] + fault_backend.payload
    mark = mt.log_mark()
    raw = tcp_connect("127.0.0.1", mt.accept_port)
    sock = client_context().wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
    with sock:
        try:
            data, eof = recv_until(sock, lambda d: False, timeout=30, limit=len(expected) + 1)
        except ssl.SSLEOFError as e:
            raise AssertionError(f"no close_notify after the backend died: {e!r}") from None
    assert eof and hashlib.sha256(data).hexdigest() == hashlib.sha256(expected).hexdigest(), (
        f"got {len(data)} of {len(expected)} bytes, or other bytes")
    line = mt.connection_ended(since=mark)[0]
    assert line.get("out") == str(len(expected)), line.raw
    restore(fault_backend, protocol)
    health.assert_recovered(figures)
