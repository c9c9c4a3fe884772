"""Client mode (issue 14): a plaintext application talks to mailtunnel on loopback, and mailtunnel speaks TLS —
implicit, or the protocol's STARTTLS which it conducts itself — to a provider that requires it: a server-mode
mailtunnel (certificate from the test PKI) with the SMTP gate in front of a real Postfix, or in front of Dovecot.
Fail closed: a man in the middle that strips STARTTLS, or a certificate for another name, gives the application
the protocol's temporary error, and the provider never sees the application's credentials."""
import base64
import imaplib
import poplib
import smtplib

import pytest

from client_mode_support import ManInTheMiddle, client_flags, provider_flags
from clients import recv_until, tcp_connect
from pki import pki  # noqa: F401
from gate_support import (OUTSIDE_RCPT, PASSWORD, USER, auth_plain, message_for,  # noqa: F401
                          postfix, postfix_session_for, sasl_config, sasl_flags, swaks, unique_sender)

STARTTLS_MODES = ["starttls", "implicit-tls"]


def smtp_chain(mailtunnel, postfix, sasl_config, pki, mode: str, connect_host: str = "localhost", extra=()):
    """Provider: the SMTP gate (SASL, XCLIENT) in front of Postfix; then client mode in front of it."""
    starttls = mode == "starttls"
    provider = mailtunnel(connect=postfix.port, protocol="smtp",
                          extra=sasl_flags(sasl_config) + provider_flags(pki, starttls))
    local = mailtunnel(connect=[f"{connect_host}:{provider.accept_port}"], protocol="smtp",
                       extra=client_flags(pki, starttls, "--log-level", "debug", *extra))
    return provider, local


def assert_relayed_as_alice(postfix, sender: str):
    line = postfix_session_for(postfix, sender)
    assert f"sasl_username={USER}" in line, line


@pytest.mark.parametrize("mode", STARTTLS_MODES)
def test_swaks_without_tls_relays_through_client_mode(mailtunnel, postfix, sasl_config, pki, mode):
    provider, local = smtp_chain(mailtunnel, postfix, sasl_config, pki, mode)
    mark = local.log_mark()
    sender = unique_sender()
    r = swaks(local.accept_port, "--auth", "PLAIN", "--auth-user", USER, "--auth-password", PASSWORD,
              "--from", sender, "--to", OUTSIDE_RCPT)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "235 2.7.0" in out, out
    assert "~>" not in out, "swaks itself used TLS"
    assert_relayed_as_alice(postfix, sender)
    line = local.connection_ended(since=mark)[0]
    assert line.get("server_tls") in ("TLSv1.2", "TLSv1.3"), line.raw
    assert line.get("tls") == "-", line.raw


@pytest.mark.parametrize("mode", STARTTLS_MODES)
def test_smtplib_without_tls_relays_through_client_mode(mailtunnel, postfix, sasl_config, pki, mode):
    # 127.0.0.1: the certificate is checked for its IP address SAN.
    provider, local = smtp_chain(mailtunnel, postfix, sasl_config, pki, mode, connect_host="127.0.0.1")
    sender = unique_sender()
    with smtplib.SMTP("127.0.0.1", local.accept_port, timeout=30) as smtp:
        smtp.ehlo("app.example")
        assert not smtp.has_extn("starttls"), "the application must see the server's post-TLS capabilities"
        assert smtp.has_extn("auth"), smtp.esmtp_features
        assert smtp.login(USER, PASSWORD)[0] == 235
        assert smtp.sendmail(sender, [OUTSIDE_RCPT], message_for(sender)) == {}
    assert_relayed_as_alice(postfix, sender)


def dovecot_chain(mailtunnel, dovecot, pki, proto: str, mode: str):
    starttls = mode == "starttls"
    port = dovecot.imap_port if proto == "imap" else dovecot.pop3_port
    provider = mailtunnel(connect=port, protocol=proto, extra=provider_flags(pki, starttls))
    return mailtunnel(connect=[f"localhost:{provider.accept_port}"], protocol=proto,
                      extra=client_flags(pki, starttls))


@pytest.mark.parametrize("mode", STARTTLS_MODES)
def test_imaplib_without_tls_fetches_through_client_mode(mailtunnel, dovecot, pki, mode):
    local = dovecot_chain(mailtunnel, dovecot, pki, "imap", mode)
    with imaplib.IMAP4("127.0.0.1", local.accept_port, timeout=30) as imap:
        assert "LOGINDISABLED" not in imap.capabilities, imap.capabilities
        imap.login(dovecot.user, dovecot.password)
        imap.select("INBOX")
        typ, data = imap.fetch("1", "(BODY.PEEK[])")
        assert typ == "OK", data
        assert data[0][1] == dovecot.message


@pytest.mark.parametrize("mode", STARTTLS_MODES)
def test_poplib_without_tls_retrieves_through_client_mode(mailtunnel, dovecot, pki, mode):
    local = dovecot_chain(mailtunnel, dovecot, pki, "pop3", mode)
    pop = poplib.POP3("127.0.0.1", local.accept_port, timeout=30)
    try:
        assert pop.getwelcome().startswith(b"+OK"), pop.getwelcome()
        pop.user(dovecot.user)
        pop.pass_(dovecot.password)
        _, lines, _ = pop.retr(1)
        assert b"\r\n".join(lines) + b"\r\n" == dovecot.message
        pop.quit()
    finally:
        pop.close()


# ---- fail closed ----------------------------------------------------------------------------------------
STRIPPED = {
    # protocol: (what the man in the middle removes, what the application sends at once, its expected reply)
    "smtp": (b"STARTTLS", "EHLO app\r\n" + auth_plain(USER, PASSWORD) + "\r\n", b"421 4.7.0 "),
    "imap": (b"STARTTLS", f"a LOGIN {USER} {PASSWORD}\r\n", b"* BYE "),
    "pop3": (b"STLS", f"USER {USER}\r\nPASS {PASSWORD}\r\n", b"-ERR "),
}
# mailtunnel's own capability query: the only plaintext the server may see from client mode.
OWN_QUERY = {"smtp": b"EHLO ", "imap": b"C1 CAPABILITY", "pop3": b"CAPA"
}


def assert_no_credentials(recorded: bytes):
    b64 = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode())
    assert PASSWORD.encode() not in recorded and b64 not in recorded, recorded


def application_gets_refused(port: int, pipelined: str, expected: bytes) -> bytes:
    """The application sends its credentials at once (before any greeting) and reads until mailtunnel closes."""
    with tcp_connect("127.0.0.1", port) as sock:
        sock.sendall(pipelined.encode())
        data, eof = recv_until(sock, lambda d: False, timeout=15)
    assert eof, data
    assert data.startswith(expected), data
    return data


@pytest.mark.parametrize("proto", ["smtp", "imap", "pop3"])
def test_stripped_starttls_gives_temporary_error_and_no_plaintext(mailtunnel, postfix, sasl_config, dovecot, pki,
                                                                  proto):
    strip, pipelined, expected = STRIPPED[proto]
    if proto == "smtp":
        provider = mailtunnel(connect=postfix.port, protocol="smtp",
                              extra=sasl_flags(sasl_config) + provider_flags(pki, True))
    else:
        port = dovecot.imap_port if proto == "imap" else dovecot.pop3_port
        provider = mailtunnel(connect=port, protocol=proto, extra=provider_flags(pki, True))
    mitm = ManInTheMiddle(provider.accept_port, rewrite=lambda line: line.replace(strip, b"X" * len(strip)))
    try:
        local = mailtunnel(connect=[f"localhost:{mitm.port}"], protocol=proto, extra=client_flags(pki, True))
        mark = local.log_mark()
        application_gets_refused(local.accept_port, pipelined, expected)
        line = local.connection_ended(since=mark)[0]
        assert "does not offer" in line.get("reason", ""), line.raw
        assert_no_credentials(mitm.recorded())
        # Only mailtunnel's own capability query went out (once per connection), nothing of the application's.
        assert all(l.startswith(OWN_QUERY[proto]) for l in mitm.recorded().splitlines()), mitm.recorded()
    finally:
        mitm.stop()


@pytest.mark.parametrize("mode", STARTTLS_MODES)
@pytest.mark.parametrize("trust", ["other-name", "other-ca"])
def test_certificate_that_does_not_verify_gives_421(mailtunnel, postfix, sasl_config, pki, mode, trust):
    starttls = mode == "starttls"
    provider = mailtunnel(connect=postfix.port, protocol="smtp",
                          extra=sasl_flags(sasl_config) + provider_flags(pki, starttls))
    mitm = ManInTheMiddle(provider.accept_port)
    try:
        extra = ["--verify-host", "mail.other.example"] if trust == "other-name" else []
        flags = client_flags(pki, starttls, *extra)
        if trust == "other-ca":
            flags[flags.index("--ca-file") + 1] = str(pki.other_root.pem)
        local = mailtunnel(connect=[f"localhost:{mitm.port}"], protocol="smtp", extra=flags)
        mark = local.log_mark()
        _, pipelined, expected = STRIPPED["smtp"]
        application_gets_refused(local.accept_port, pipelined, expected)
        reason = local.connection_ended(since=mark)[0].get("reason", "")
        assert "certificate" in reason, reason
        assert_no_credentials(mitm.recorded())
    finally:
        mitm.stop()


def test_second_connection_resumes_the_server_session(mailtunnel, postfix, sasl_config, pki):
    provider, local = smtp_chain(mailtunnel, postfix, sasl_config, pki, "implicit-tls")
    mark = local.log_mark()
    for _ in range(2):
        with smtplib.SMTP("127.0.0.1", local.accept_port, timeout=30) as smtp:
            assert smtp.noop()[0] == 250
    lines = local.connection_ended(since=mark, count=2)
    # The readiness probe made the first, full handshake; each later connection resumes (a fresh ticket each time).
    assert [l.get("resumed") for l in lines] == ["yes", "yes"], [l.raw for l in lines]
    assert local.find_log(r"server TLS established .*resumed=no"), local.log_text()


def test_client_certificate_is_presented_when_configured(mailtunnel, dovecot, pki):
    port = dovecot.imap_port
    provider = mailtunnel(connect=port, protocol="imap",
                          extra=provider_flags(pki, False) + ["--verify", "require", "--ca-file", str(pki.root.pem)])
    mark = provider.log_mark()
    local = mailtunnel(connect=[f"localhost:{provider.accept_port}"], protocol="imap",
                       extra=client_flags(pki, False, "--cert", str(pki.alice.chain), "--key", str(pki.alice.key)))
    with imaplib.IMAP4("127.0.0.1", local.accept_port, timeout=30) as imap:
        imap.login(dovecot.user, dovecot.password)
    # Both the readiness probe's connection and the application's presented alice's certificate.
    lines = provider.connection_ended(since=mark, count=2)
    assert all(l.get("identity") == "alice" for l in lines), [l.raw for l in lines]
