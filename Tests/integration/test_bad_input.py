"""Bad input gets a clear reply or alert and a close, a log line with the reason, and the daemon keeps
serving: garbage instead of a ClientHello, a TLS 1.0 client, a silent client, a backend that is down."""
import ssl
import subprocess
import time

import pytest

from clients import client_context, echo_round_trip, read_to_eof, tcp_connect, tls_connect
from procs import dead_port


def assert_still_serves(mt):
    assert echo_round_trip("127.0.0.1", mt.accept_port, b"still alive\r\n") == b"still alive\r\n"
    assert mt.running()


def test_garbage_instead_of_client_hello(mailtunnel, echo_port):
    mt = mailtunnel(connect=echo_port, protocol="none")
    mark = mt.log_mark()
    with tcp_connect("127.0.0.1", mt.accept_port) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n" + bytes(range(256)) * 4)
        reply = read_to_eof(s, timeout=10)      # raises if the connection is not closed in time
    # An alert at most, never the backend's bytes: nothing was relayed.
    assert b"HTTP" not in reply and len(reply) < 64, reply
    line = mt.connection_ended(since=mark, reason="handshake failed")[0]
    assert line.get("in") in ("0", None) and line.get("out") in ("0", None), line.raw
    assert_still_serves(mt)


def assert_handshake_refused(mt, ctx):
    """The server answers the client's hello with a protocol_version alert (70), as RFC 8446 asks."""
    try:
        s = tls_connect("127.0.0.1", mt.accept_port, timeout=10, ctx=ctx)
    except ssl.SSLError as e:
        # Guards against the client refusing locally (then nothing reached the server).
        assert "ALERT_PROTOCOL_VERSION" in str(e), f"not a protocol_version alert from the server: {e!r}"
        return
    version = s.version()
    s.close()
    raise AssertionError(f"the server completed a {version} handshake it should have refused")


def tls10_context() -> ssl.SSLContext:
    # OpenSSL 3 refuses TLS 1.0 at security level 1+; the client lowers its own level to really offer it.
    return client_context(minimum=ssl.TLSVersion.TLSv1, maximum=ssl.TLSVersion.TLSv1,
                          ciphers="DEFAULT:@SECLEVEL=0")


def test_tls10_client_refused(mailtunnel, echo_port):
    mt = mailtunnel(connect=echo_port, protocol="none")
    mark = mt.log_mark()
    assert_handshake_refused(mt, tls10_context())
    line = mt.connection_ended(since=mark, reason="handshake failed")[0]
    reason = line.get("reason", "").lower()
    assert "version" in reason or "protocol" in reason, f"reason does not say why: {line.raw}"
    assert_still_serves(mt)


def test_tls10_openssl_s_client_refused(mailtunnel, echo_port):
    mt = mailtunnel(connect=echo_port, protocol="none")
    mark = mt.log_mark()
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{mt.accept_port}", "-tls1",
                        "-cipher", "DEFAULT:@SECLEVEL=0"], input=b"", capture_output=True, timeout=30)
    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    assert r.returncode != 0, f"a TLS 1.0 handshake succeeded:\n{out}"
    assert "-----BEGIN CERTIFICATE-----" not in out
    assert "alert protocol version" in out, f"no protocol_version alert from the server:\n{out}"
    mt.connection_ended(since=mark, reason="handshake failed")
    assert_still_serves(mt)


def test_tls_min_13_refuses_tls12(mailtunnel, echo_port):
    mt = mailtunnel(connect=echo_port, protocol="none", extra=["--tls-min", "1.3"])
    mark = mt.log_mark()
    assert_handshake_refused(mt, client_context(maximum=ssl.TLSVersion.TLSv1_2))
    mt.connection_ended(since=mark, reason="handshake failed")
    with tls_connect("127.0.0.1", mt.accept_port) as s:
        assert s.version() == "TLSv1.3"
    assert_still_serves(mt)


def test_client_that_never_sends_times_out(mailtunnel, echo_port, figures):
    mt = mailtunnel(connect=echo_port, protocol="none", extra=["--handshake-timeout", "2s"])
    mark = mt.log_mark()
    t0 = time.monotonic()
    with tcp_connect("127.0.0.1", mt.accept_port) as s:
        reply = read_to_eof(s, timeout=15)       # raises if not closed within 15 s
    elapsed = time.monotonic() - t0
    figures(handshake_timeout_closed_after_s=f"{elapsed:.2f}")
    assert reply == b"" or len(reply) < 64, reply
    # Closed because the deadline ran out (the logged reason), by the daemon's own clock not before it.
    line = mt.connection_ended(since=mark, reason="handshake timeout")[0]
    assert float(line["duration"].rstrip("s")) >= 2.0, line.raw
    assert_still_serves(mt)


UNAVAILABLE = {
    "imap": b"* BYE [UNAVAILABLE]",
    "pop3": b"-ERR [SYS/TEMP]",
    "smtp": b"421 4.3.0",
    "none": b"",
}
# After the failure a backend comes up on the same port, talking first like a mail server does.
GREETING = {"imap": "* OK fake IMAP ready", "pop3": "+OK fake POP3 ready", "smtp": "220 fake.example ESMTP",
            "none": None}


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp", "none"])
def test_backend_down_gets_protocol_reply(mailtunnel, backends, protocol):
    port = dead_port()
    mt = mailtunnel(connect=port, protocol=protocol, extra=["--connect-timeout", "5s"])
    mark = mt.log_mark()
    expected = UNAVAILABLE[protocol]
    try:
        with tls_connect("127.0.0.1", mt.accept_port, timeout=15) as s:
            reply = read_to_eof(s, timeout=20)
    except (ssl.SSLError, ConnectionError) as e:
        # Protocol none owes the client only a close; it may come before the handshake completes.
        if expected:
            raise AssertionError(f"{protocol}: no TLS session to carry the reply: {e!r}")
        reply = b""
    if expected:
        assert reply.startswith(expected), f"{protocol}: got {reply!r}, want {expected!r}…"
        assert reply.endswith(b"\r\n") and reply.count(b"\r\n") == 1, reply
    else:
        assert reply == b"", reply
    mt.connection_ended(since=mark, reason="backend unavailable")

    # The daemon keeps serving: once the backend is up, clients get through.
    backends.echo(port=port, greeting=GREETING[protocol])
    # SMTP replies pass mailtunnel's relay guard, so what the echo backend returns must read as a reply.
    probe = b"250 2.0.0 echo\r\n" if protocol == "smtp" else b"NOOP\r\n"
    with tls_connect("127.0.0.1", mt.accept_port) as s:
        if GREETING[protocol]:
            greeting = s.recv(200)
            assert greeting == GREETING[protocol].encode() + b"\r\n"
        s.sendall(probe)
        data = b""
        while len(data) < len(probe):
            chunk = s.recv(100)
            assert chunk, "closed"
            data += chunk
        assert data == probe
    assert mt.running()
