"""STARTTLS mode (issue 4), the pre-TLS dialogue mailtunnel conducts itself in front of real Dovecot (IMAP,
POP3) and Postfix smtp-sink: what is advertised before and after the upgrade, what is refused before TLS, a
second STARTTLS, oversized lines, TLS clients on a STARTTLS port, a backend that is down."""
import socket
import ssl
import subprocess

import pytest

from clients import client_context, tcp_connect
from conftest import dead_port
from starttls_support import (HOST, LineClient, backend_ehlo, backend_imap_caps, backend_pop3_capa,
                              ehlo_keywords, imap_caps, imap_caps_from_greeting, imap_command, open_plain,
                              pop3_capa, smtp_ehlo, smtp_reply, starttls_tunnel, upgrade,  # noqa: F401
                              without_trust_extensions)


def no_dupes(tokens):
    assert len(tokens) == len({t.upper() for t in tokens}), f"duplicated capability: {tokens}"


# ---- capabilities ---------------------------------------------------------------------------------------
def test_imap_capabilities_before_and_after_tls(starttls_tunnel, dovecot):
    direct_greeting, direct_caps = backend_imap_caps(dovecot)
    assert any(t.startswith("AUTH=") for t in direct_caps), direct_caps   # else the test proves nothing
    mt = starttls_tunnel("imap")
    c, greeting = open_plain(mt, "imap")
    with c:
        def expected(backend):
            return {t.upper() for t in backend if not t.upper().startswith("AUTH=")} | {"STARTTLS", "LOGINDISABLED"}

        caps = imap_caps_from_greeting(greeting)
        no_dupes(caps)
        assert "STARTTLS" in caps and "LOGINDISABLED" in caps, greeting
        assert not [t for t in caps if t.upper().startswith("AUTH=")], greeting
        assert {t.upper() for t in caps} == expected(direct_greeting), greeting

        caps = imap_caps(c, "a1")
        no_dupes(caps)
        assert "STARTTLS" in caps and "LOGINDISABLED" in caps, caps
        assert not [t for t in caps if t.upper().startswith("AUTH=")], caps
        assert {t.upper() for t in caps} == expected(direct_caps), caps

        upgrade(c, "imap")
        caps = imap_caps(c, "a2")
        assert caps == direct_caps, f"after TLS the backend's own capabilities, got {caps}"
        assert "AUTH=PLAIN" in caps and "LOGINDISABLED" not in caps, caps
        _, done = imap_command(c, "a3", f"LOGIN {dovecot.user} {dovecot.password}")
        assert done.startswith(b"a3 OK"), done


def test_pop3_capa_before_and_after_tls(starttls_tunnel, dovecot):
    direct = backend_pop3_capa(dovecot)
    assert "USER" in direct and any(l.startswith("SASL") for l in direct), direct
    mt = starttls_tunnel("pop3")
    c, _ = open_plain(mt, "pop3")
    with c:
        capa = pop3_capa(c)
        words = [l.split()[0].upper() for l in capa if l.split()]
        no_dupes(words)
        assert "STLS" in words, capa
        assert "USER" not in words and "SASL" not in words, capa
        assert sorted(words) == sorted({l.split()[0].upper() for l in direct} - {"USER", "SASL"} | {"STLS"}), capa

        upgrade(c, "pop3")
        capa = pop3_capa(c)
        assert capa == direct, f"after TLS the backend's own CAPA, got {capa}"
        c.send(f"USER {dovecot.user}\r\n".encode())
        assert c.line().startswith(b"+OK")
        c.send(f"PASS {dovecot.password}\r\n".encode())
        assert c.line().startswith(b"+OK")


def test_smtp_ehlo_before_and_after_tls(starttls_tunnel, smtp_sink):
    direct = backend_ehlo(smtp_sink)
    assert "AUTH" in ehlo_keywords(direct), direct
    mt = starttls_tunnel("smtp")
    c, _ = open_plain(mt, "smtp")
    with c:
        reply = smtp_ehlo(c)
        kw = ehlo_keywords(reply)
        no_dupes([k for k in kw if k])
        assert "STARTTLS" in kw, reply
        assert not [k for k in kw if k.startswith("AUTH")], reply
        # Everything else the sink offers is passed on, except XCLIENT/XFORWARD: the backend offers those to
        # mailtunnel as a trusted peer, not to the client (a documented product decision).
        assert set(kw) == set(ehlo_keywords(direct)) - {"AUTH", "XCLIENT", "XFORWARD"} | {"STARTTLS"}, reply
        assert reply[0] == direct[0], reply

        upgrade(c, "smtp")
        reply = smtp_ehlo(c)
        assert reply == without_trust_extensions(direct), f"after TLS the sink's own EHLO reply, got {reply}"


# ---- refused before TLS ---------------------------------------------------------------------------------
def test_imap_auth_refused_before_tls(starttls_tunnel, dovecot):
    mt = starttls_tunnel("imap")
    c, _ = open_plain(mt, "imap")
    with c:
        for tag, command in (("l1", f"LOGIN {dovecot.user} {dovecot.password}"),
                             ("l2", f'login "{dovecot.user}" "{dovecot.password}"'),
                             ("a1", "AUTHENTICATE PLAIN"),
                             ("a2", "AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==")):
            untagged, done = imap_command(c, tag, command)
            assert untagged == [], untagged
            assert done.startswith(f"{tag} NO [PRIVACYREQUIRED]".encode()), (command, done)
        # Still not logged in, and the session goes on.
        _, done = imap_command(c, "s1", "SELECT INBOX")
        assert done.startswith(b"s1 BAD") or done.startswith(b"s1 NO"), done
        _, done = imap_command(c, "n1", "NOOP")
        assert done.startswith(b"n1 OK"), done
        upgrade(c, "imap")
        _, done = imap_command(c, "l3", f"LOGIN {dovecot.user} {dovecot.password}")
        assert done.startswith(b"l3 OK"), done


def test_pop3_auth_refused_before_tls(starttls_tunnel, dovecot):
    mt = starttls_tunnel("pop3")
    c, _ = open_plain(mt, "pop3")
    with c:
        for command in (f"USER {dovecot.user}", f"PASS {dovecot.password}", "APOP alice c4c9334bac560ecc979e58001b3e22fb",
                        "AUTH PLAIN", "AUTH PLAIN AGFsaWNlAHNlY3JldA==", "AUTH", f"user {dovecot.user}"):
            c.send(command.encode() + b"\r\n")
            reply = c.line()
            assert reply.startswith(b"-ERR"), (command, reply)
        # Not logged in: STAT needs a mailbox.
        c.send(b"STAT\r\n")
        assert c.line().startswith(b"-ERR")
        assert "STLS" in [l.split()[0] for l in pop3_capa(c)]


def test_smtp_auth_and_mail_refused_before_tls(starttls_tunnel, smtp_sink):
    mt = starttls_tunnel("smtp")
    c, _ = open_plain(mt, "smtp")
    with c:
        smtp_ehlo(c)
        for command in ("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "AUTH LOGIN", "MAIL FROM:<bob@example.org>",
                        "RCPT TO:<carol@example.net>", "DATA", "mail from:<bob@example.org>"):
            c.send(command.encode() + b"\r\n")
            reply = smtp_reply(c)
            assert reply == [b"530 5.7.0 Must issue a STARTTLS command first\r\n"], (command, reply)
        c.send(b"NOOP\r\n")
        assert smtp_reply(c)[0].startswith(b"250"), "the session must go on"


# ---- a second STARTTLS ----------------------------------------------------------------------------------
def test_imap_second_starttls_refused(starttls_tunnel):
    mt = starttls_tunnel("imap")
    c, _ = open_plain(mt, "imap")
    with c:
        upgrade(c, "imap")
        untagged, done = imap_command(c, "s2", "STARTTLS")
        assert done.startswith(b"s2 BAD") or done.startswith(b"s2 NO"), done
        assert c.silence(0.5) == b""
        _, done = imap_command(c, "n", "NOOP")
        assert done.startswith(b"n OK"), done


def test_pop3_second_stls_refused(starttls_tunnel, dovecot):
    mt = starttls_tunnel("pop3")
    c, _ = open_plain(mt, "pop3")
    with c:
        upgrade(c, "pop3")
        c.send(b"STLS\r\n")
        reply = c.line()
        assert reply.startswith(b"-ERR"), reply
        assert c.silence(0.5) == b""
        c.send(f"USER {dovecot.user}\r\n".encode())
        assert c.line().startswith(b"+OK")


def test_smtp_second_starttls_refused(starttls_tunnel):
    mt = starttls_tunnel("smtp")
    c, _ = open_plain(mt, "smtp")
    with c:
        smtp_ehlo(c)
        upgrade(c, "smtp")
        smtp_ehlo(c)
        c.send(b"STARTTLS\r\n")
        reply = smtp_reply(c)
        assert reply[-1][:1] in (b"4", b"5"), reply
        assert c.silence(0.5) == b""
        c.send(b"NOOP\r\n")
        assert smtp_reply(c)[0].startswith(b"250")


# ---- TLS ClientHello on a STARTTLS port ----------------------------------------------------------------
def assert_plain_greeting(mt, protocol):
    c, _ = open_plain(mt, protocol)
    c.close()
    assert mt.running()


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
def test_tls_client_on_starttls_port_refused(starttls_tunnel, protocol):
    mt = starttls_tunnel(protocol)
    mark = mt.log_mark()
    with tcp_connect(HOST, mt.accept_port, timeout=10) as raw:
        try:
            s = client_context().wrap_socket(raw, server_hostname="localhost")
        except (ssl.SSLError, ConnectionError, socket.timeout) as e:
            assert not isinstance(e, socket.timeout), f"the handshake hung: {e!r}"
        else:
            s.close()
            raise AssertionError(f"a TLS session ({s.version()}) on a STARTTLS port")
    line = mt.connection_ended(since=mark, reason="TLS ClientHello on a STARTTLS port")[0]
    assert line.get("client", "").startswith("127.0.0.1:"), line.raw
    assert_plain_greeting(mt, protocol)


def test_openssl_without_starttls_refused(starttls_tunnel):
    mt = starttls_tunnel("imap")
    mark = mt.log_mark()
    r = subprocess.run(["openssl", "s_client", "-connect", f"{HOST}:{mt.accept_port}", "-servername", "localhost"],
                       input=b"", capture_output=True, timeout=30)
    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    assert r.returncode != 0, out
    assert "-----BEGIN CERTIFICATE-----" not in out, out
    mt.connection_ended(since=mark, reason="TLS ClientHello on a STARTTLS port")
    assert_plain_greeting(mt, "imap")


# ---- oversized lines -----------------------------------------------------------------------------------
OVERSIZED = {
    # protocol: (line, expected reply prefix)
    "smtp": (b"NOOP " + b"x" * 600 + b"\r\n", b"500 5.5.6"),
    "imap": (b"a1 NOOP " + b"x" * 9000 + b"\r\n", b"* BAD [TOOBIG]"),
    "pop3": (b"NOOP " + b"x" * 5000 + b"\r\n", b"-ERR"),
}


@pytest.mark.parametrize("terminated", [True, False], ids=["with-crlf", "no-line-end"])
@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
def test_oversized_line_before_tls(starttls_tunnel, protocol, terminated):
    mt = starttls_tunnel(protocol)
    line, want = OVERSIZED[protocol]
    if not terminated:
        line = line[:-2]
    c, _ = open_plain(mt, protocol)
    with c:
        if protocol == "smtp":
            smtp_ehlo(c)
        c.send(line)
        rest = c.read_to_eof(timeout=10)     # the reply, then a close (raises if the server keeps it open)
    assert rest.startswith(want), f"{protocol}: want {want!r}…, got {rest[:200]!r}"
    assert rest.endswith(b"\r\n") and rest.count(b"\r\n") == 1, rest[:300]
    assert_plain_greeting(mt, protocol)


def test_smtp_512_octet_line_accepted(starttls_tunnel):
    """RFC 5321 4.5.3.1.4: a command line of 512 octets including CRLF is legal."""
    mt = starttls_tunnel("smtp")
    c, _ = open_plain(mt, "smtp")
    with c:
        smtp_ehlo(c)
        line = b"NOOP " + b"x" * (512 - 7) + b"\r\n"
        assert len(line) == 512
        c.send(line)
        reply = smtp_reply(c)
        assert reply[0].startswith(b"250"), reply


# ---- backend down -------------------------------------------------------------------------------------
UNAVAILABLE = {"imap": b"* BYE [UNAVAILABLE]", "pop3": b"-ERR [SYS/TEMP]", "smtp": b"421 4.3.0"}


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
def test_backend_down_plaintext_reply(mailtunnel, protocol):
    mt = mailtunnel(connect=dead_port(), protocol=protocol,
                    extra=["--starttls", "yes", "--connect-timeout", "5s"])
    mark = mt.log_mark()
    with LineClient(HOST, mt.accept_port) as c:
        reply = c.read_to_eof(timeout=15)
    assert reply.startswith(UNAVAILABLE[protocol]), f"{protocol}: got {reply!r}"
    assert reply.endswith(b"\r\n") and reply.count(b"\r\n") == 1, reply
    mt.connection_ended(since=mark, reason="backend unavailable")
    assert mt.running()


# ---- IMAP literals before TLS: consumed whole, never re-read as commands ---------------------------------
def test_imap_literals_do_not_desynchronise(starttls_tunnel, dovecot):
    mt = starttls_tunnel("imap")
    c, _ = open_plain(mt, "imap")
    with c:
        # Non-synchronising literals (LITERAL+) in a refused LOGIN: one refusal, nothing else.
        c.send(b"l1 LOGIN {5+}\r\nalice {6+}\r\nsecret\r\n")
        reply = c.line()
        assert reply.startswith(b"l1 NO [PRIVACYREQUIRED]"), reply
        # A literal whose content looks like a STARTTLS command is data, not a command: the command gets
        # exactly one tagged answer (mailtunnel may refuse literals before TLS), never "x OK Begin TLS".
        c.send(b'i1 ID ("name" {12+}\r\nx STARTTLS\r\n)\r\n')
        reply = c.line()
        assert reply.startswith(b"i1 "), reply
        # A synchronising literal: the server either invites the data ("+") or answers at once instead
        # (RFC 3501 7.5), and then the client must not send it.
        c.send(b'i2 ID ("name" {12}\r\n')
        reply = c.line()
        if reply.startswith(b"+"):
            c.send(b"y STARTTLS\r\n)\r\n")
            reply = c.lines_until(lambda l: l.startswith(b"i2 "))[-1]
        assert reply.startswith(b"i2 BAD") or reply.startswith(b"i2 NO") or reply.startswith(b"i2 OK"), reply
        stray = c.silence(1.0)
        assert stray == b"", f"a literal's content was executed: {stray!r}"
        _, done = imap_command(c, "n1", "NOOP")
        assert done.startswith(b"n1 OK"), done
        upgrade(c, "imap")
        _, done = imap_command(c, "l2", f"LOGIN {dovecot.user} {dovecot.password}")
        assert done.startswith(b"l2 OK"), done


# ---- the backend's greeting is passed through ------------------------------------------------------------
@pytest.mark.parametrize("protocol,greeting", [
    ("pop3", "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>"),   # the APOP timestamp of RFC 1939
    ("smtp", "220 mx.example.org ESMTP ready"),
])
def test_backend_greeting_passed_through(mailtunnel, backends, protocol, greeting):
    port = backends.echo(greeting=greeting)
    mt = mailtunnel(connect=port, protocol=protocol, extra=["--starttls", "yes"])
    with LineClient(HOST, mt.accept_port) as c:
        assert c.line() == greeting.encode() + b"\r\n"
