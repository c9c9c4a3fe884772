"""Issue 12, TLS scanners: sslscan against an implicit-TLS listener and STARTTLS listeners (IMAP, SMTP) with the
default TLS settings. No SSLv2/SSLv3/TLS 1.0/1.1; AEAD suites only (no CBC, RC4, 3DES, NULL, export); forward
secrecy on every suite; no renegotiation; no Heartbleed; no compression (asked with a ClientHello offering
DEFLATE, since Debian's sslscan cannot test it). One test shows the judging catches a weakened cipher list.
testssl.sh, which is slower, runs in Scripts/scan."""
import imaplib

import pytest

from clients import client_context, tcp_connect
from starttls_support import HOST, open_plain, starttls_tunnel, upgrade  # noqa: F401
from tls_scan import accepted_suites, findings, server_compression, sslscan


def assert_clean(report, what: str) -> None:
    found = findings(report)
    assert found == [], f"sslscan findings on {what}: {found}; suites {accepted_suites(report)}"


def assert_imaps_serves(mt, dovecot) -> None:
    """After hundreds of scanner handshakes the listener still logs a user in."""
    with imaplib.IMAP4_SSL(HOST, mt.accept_port, ssl_context=client_context(), timeout=30) as imap:
        imap.login(dovecot.user, dovecot.password)
        assert imap.select("INBOX")[0] == "OK"


def test_sslscan_implicit_tls_defaults_are_clean(mailtunnel, dovecot):
    mt = mailtunnel(connect=dovecot.imap_port, protocol="imap")
    assert_clean(sslscan(mt.accept_port), "implicit TLS (imap)")
    with tcp_connect(HOST, mt.accept_port) as sock:
        assert server_compression(sock) == 0
    assert_imaps_serves(mt, dovecot)


@pytest.mark.parametrize("protocol", ["imap", "smtp"])
def test_sslscan_starttls_defaults_are_clean(starttls_tunnel, protocol):
    mt = starttls_tunnel(protocol)
    assert_clean(sslscan(mt.accept_port, starttls=protocol), f"STARTTLS {protocol}")
    c, _greeting = open_plain(mt, protocol)
    with c:
        if protocol == "smtp":
            c.send(b"EHLO scan.example.org\r\n")
            c.lines_until(lambda l: l[3:4] == b" ")
        c.send(b"st STARTTLS\r\n" if protocol == "imap" else b"STARTTLS\r\n")
        reply = c.line()
        assert reply.startswith(b"st OK" if protocol == "imap" else b"220 "), reply
        assert c.buf == b""
        assert server_compression(c.sock) == 0
    # And the upgraded listener still completes a real dialogue afterwards.
    c, _greeting = open_plain(mt, protocol)
    with c:
        if protocol == "smtp":
            c.send(b"EHLO scan.example.org\r\n")
            c.lines_until(lambda l: l[3:4] == b" ")
        upgrade(c, protocol)


def test_sslscan_judging_catches_a_cbc_suite(mailtunnel, dovecot):
    """The checks above can fail: a listener configured with a CBC suite beside an AEAD one is reported."""
    mt = mailtunnel(connect=dovecot.imap_port, protocol="imap",
                    extra=["--ciphers", "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES128-GCM-SHA256"])
    found = findings(sslscan(mt.accept_port))
    assert "TLSv1.2 ECDHE-ECDSA-AES128-SHA: not an AEAD suite (CBC or stream cipher)" in found, found
    assert all("ECDHE-ECDSA-AES128-SHA" in f for f in found), found
