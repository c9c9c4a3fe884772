"""PROXY protocol on both sides of mailtunnel (issue 6).

- `--proxy-protocol v2` to a real Dovecot with `haproxy_trusted_networks`: Dovecot logs the real client
  (127.0.0.2, not mailtunnel's 127.0.0.1) and sees the connection as TLS-secured.
- `--accept-proxy-protocol yes` behind HAProxy (`send-proxy-v2`): the client's address survives two hops into
  the backend's log (Dovecot via PROXY v2, Postfix via XCLIENT).
- A garbage or missing PROXY header is refused: closed, logged `bad PROXY header`."""
import os
import re

from clients import client_context, read_to_eof, tcp_connect
from gate_support import (CLIENT_IP, OUTSIDE_RCPT, PASSWORD, USER, imap_login_from, postfix,  # noqa: F401
                          postfix_session_for, proxy_dovecot, haproxy, sasl_config, sasl_flags, swaks,
                          unique_sender)
from procs import wait_until


def new_login_line(dovecot, before: int, timeout: float = 15.0) -> str:
    lines = wait_until(lambda: dovecot.login_lines()[before:], timeout, what="a new Dovecot login line")
    assert len(lines) == 1, lines
    return lines[0]


def shows_rip(line: str, ip: str) -> bool:
    return re.search(rf"\brip={re.escape(ip)}(?![\d.])", line) is not None


def shows_secured(line: str) -> bool:
    # login_log_format_elements ends in `%c secured=%c`: %c is empty for an unprotected connection and
    # "secured" (Dovecot 2.3 with a PROXY v2 SSL TLV) or "TLS" when Dovecot believes it is protected.
    # Dovecot listens on 127.0.0.3 and mailtunnel connects from 127.0.0.1, so the "same address on both
    # ends" rule cannot mark it secured: only the PROXY header's TLS facts can.
    return re.search(r"secured=(secured|TLS)\b", line) is not None


def test_proxy_v2_to_dovecot_shows_real_client_and_tls(mailtunnel, proxy_dovecot):
    backend = f"{proxy_dovecot.HOST}:{proxy_dovecot.haproxy_port}"
    mt = mailtunnel(connect=backend, protocol="imap", extra=["--proxy-protocol", "v2"])
    mark = mt.log_mark()
    before = len(proxy_dovecot.login_lines())
    imap_login_from(mt.accept_port)
    line = new_login_line(proxy_dovecot, before)
    assert f"user=<{USER}>" in line, line
    assert shows_rip(line, CLIENT_IP), f"Dovecot does not see the real client: {line}"
    assert shows_secured(line), f"Dovecot does not see the connection as secured (TLS): {line}"
    ended = mt.connection_ended(since=mark)[0]
    assert ended.get("backend") == backend, ended.raw


def test_proxy_v1_to_dovecot_real_client_but_no_tls_facts(mailtunnel, proxy_dovecot):
    """The control for the test above: v1 carries addresses only, so Dovecot must not call it secured."""
    backend = f"{proxy_dovecot.HOST}:{proxy_dovecot.haproxy_port}"
    mt = mailtunnel(connect=backend, protocol="imap", extra=["--proxy-protocol", "v1"])
    before = len(proxy_dovecot.login_lines())
    imap_login_from(mt.accept_port)
    line = new_login_line(proxy_dovecot, before)
    assert shows_rip(line, CLIENT_IP), f"Dovecot does not see the real client: {line}"
    assert not shows_secured(line), f"secured without TLS facts: the v2 check above proves nothing: {line}"


def test_haproxy_then_mailtunnel_then_dovecot_keeps_client_address(mailtunnel, proxy_dovecot, haproxy):
    mt = mailtunnel(connect=f"{proxy_dovecot.HOST}:{proxy_dovecot.haproxy_port}", protocol="imap",
                    extra=["--accept-proxy-protocol", "yes", "--proxy-protocol", "v2"])
    h = haproxy(mt.accept_port)
    mark = mt.log_mark()
    before = len(proxy_dovecot.login_lines())
    client_port = imap_login_from(h.port)
    line = new_login_line(proxy_dovecot, before)
    assert shows_rip(line, CLIENT_IP), f"the client's address was lost on the way: {line}"
    assert shows_secured(line), line
    ended = mt.wait_for_log(rf"connection ended.*client={re.escape(CLIENT_IP)}:{client_port}\b", since=mark)[0]
    assert ended.get("via", "").startswith("127.0.0.1:"), f"the balancer's address is not logged as via=: {ended.raw}"


def test_haproxy_then_mailtunnel_xclient_to_postfix(mailtunnel, postfix, sasl_config, haproxy):
    mt = mailtunnel(connect=postfix.port, protocol="smtp",
                    extra=sasl_flags(sasl_config) + ["--accept-proxy-protocol", "yes"])
    h = haproxy(mt.accept_port)
    sender = unique_sender()
    r = swaks(h.port, "--tlsc", "--auth", "PLAIN", "--auth-user", USER, "--auth-password", PASSWORD,
              "--from", sender, "--to", OUTSIDE_RCPT)
    assert r.returncode == 0, r.stdout + r.stderr
    line = postfix_session_for(postfix, sender)
    assert f"[{CLIENT_IP}]" in line and f"sasl_username={USER}" in line, line


def assert_refused(mt, payload: bytes, mark: int):
    with tcp_connect("127.0.0.1", mt.accept_port) as s:
        s.sendall(payload)
        reply = read_to_eof(s, timeout=10)   # raises unless the connection is closed in time
    assert len(reply) < 64 and b"echo" not in reply, reply
    mt.connection_ended(since=mark, reason="bad PROXY header")


def test_garbage_proxy_header_refused(mailtunnel, echo_port):
    mt = mailtunnel(connect=echo_port, protocol="none", extra=["--accept-proxy-protocol", "yes"])
    mark = mt.log_mark()
    assert_refused(mt, b"PROXY garbage\r\n", mark)
    mark = mt.log_mark()
    assert_refused(mt, b"PROXY TCP4 999.1.1.1 127.0.0.1 5555 443\r\n", mark)
    mark = mt.log_mark()
    # No header at all: a TLS ClientHello-like record followed by random bytes.
    assert_refused(mt, b"\x16\x03\x01\x00\xc8" + os.urandom(200), mark)
    mark = mt.log_mark()
    assert_refused(mt, b"\x00" + os.urandom(300), mark)
    # A well-formed v1 header, then TLS on the same socket: served, logged under the header's address.
    mark = mt.log_mark()
    raw = tcp_connect("127.0.0.1", mt.accept_port)
    raw.sendall(b"PROXY TCP4 192.0.2.9 127.0.0.1 5555 993\r\n")
    with client_context().wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(b"hello through a header\r\n")
        got = b""
        while len(got) < 24:
            chunk = s.recv(100)
            if not chunk:
                break
            got += chunk
        assert got == b"hello through a header\r\n", got
    ended = mt.connection_ended(since=mark)[0]
    assert ended.get("client") == "192.0.2.9:5555", ended.raw
    assert mt.running()
