"""STARTTLS mode (issue 4) with real clients: curl --ssl-reqd (imap, pop3, smtp), swaks --tls, Python's
IMAP4.starttls() / POP3.stls() / SMTP.starttls(), openssl s_client -starttls; real Dovecot and smtp-sink behind
`mailtunnel --starttls yes`. Also: the example STARTTLS config files pass `--check`."""
import imaplib
import poplib
import smtplib
import subprocess
import uuid
from pathlib import Path

import pytest

from clients import client_context
from starttls_support import HOST, starttls_tunnel  # noqa: F401
from test_smtp import assert_stored_intact, make_message

REPO = Path(__file__).resolve().parent.parent.parent


def curl(*args, timeout=60):
    return subprocess.run(["curl", "-sS", "-k", "--ssl-reqd", "--max-time", "30", *args],
                          capture_output=True, timeout=timeout)


def assert_tls_logged(mt, mark, count=1):
    lines = mt.connection_ended(since=mark, count=count)
    for line in lines:
        assert line.get("tls") in ("TLSv1.2", "TLSv1.3"), line.raw
        assert line.get("cipher"), line.raw
        assert line.get("backend") == f"127.0.0.1:{mt.backend_port}", line.raw
        assert int(line.get("in", "0")) > 0 and int(line.get("out", "0")) > 0, line.raw


# ---- curl -------------------------------------------------------------------------------------------------
def test_curl_imap_starttls_lists_and_fetches(starttls_tunnel, dovecot):
    mt = starttls_tunnel("imap")
    url = f"imap://{HOST}:{mt.accept_port}"
    auth = ["-u", f"{dovecot.user}:{dovecot.password}"]
    mark = mt.log_mark()
    r = curl(*auth, f"{url}/")
    assert r.returncode == 0, r.stderr
    assert b"INBOX" in r.stdout, r.stdout
    r = curl(*auth, f"{url}/INBOX;MAILINDEX=1")
    assert r.returncode == 0, r.stderr
    assert r.stdout == dovecot.message
    assert_tls_logged(mt, mark, count=2)


def test_curl_pop3_starttls_lists_and_retrieves(starttls_tunnel, dovecot):
    mt = starttls_tunnel("pop3")
    url = f"pop3://{HOST}:{mt.accept_port}"
    auth = ["-u", f"{dovecot.user}:{dovecot.password}"]
    mark = mt.log_mark()
    r = curl(*auth, f"{url}/")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"1 %d" % len(dovecot.message)), r.stdout
    r = curl(*auth, f"{url}/1")
    assert r.returncode == 0, r.stderr
    assert r.stdout == dovecot.message
    assert_tls_logged(mt, mark, count=2)


def test_curl_smtp_starttls_sends(starttls_tunnel, smtp_sink, workdir):
    mt = starttls_tunnel("smtp")
    tag = uuid.uuid4().hex
    message = make_message(tag)
    msg_file = workdir / "message.eml"
    msg_file.write_bytes(message)
    mark = mt.log_mark()
    r = curl(f"smtp://{HOST}:{mt.accept_port}", "--mail-from", "bob@example.org",
             "--mail-rcpt", "carol@example.net", "-T", str(msg_file))
    assert r.returncode == 0, r.stderr
    assert_stored_intact(smtp_sink, tag, message)
    assert_tls_logged(mt, mark)


def test_curl_imap_without_tls_cannot_log_in(starttls_tunnel, dovecot):
    """Without --ssl-reqd curl stays in plaintext: LOGINDISABLED / NO [PRIVACYREQUIRED] stop it, so the
    credentials get nowhere in plaintext."""
    mt = starttls_tunnel("imap")
    r = subprocess.run(["curl", "-sS", "--max-time", "20", "-u", f"{dovecot.user}:{dovecot.password}",
                        f"imap://{HOST}:{mt.accept_port}/"], capture_output=True, timeout=40)
    assert r.returncode != 0, r.stdout
    assert b"INBOX" not in r.stdout


# ---- swaks ------------------------------------------------------------------------------------------------
def test_swaks_tls_sends(starttls_tunnel, smtp_sink, workdir):
    mt = starttls_tunnel("smtp")
    tag = uuid.uuid4().hex
    message = make_message(tag)
    msg_file = workdir / "message.eml"
    msg_file.write_bytes(message)
    mark = mt.log_mark()
    r = subprocess.run(["swaks", "--tls", "--server", f"{HOST}:{mt.accept_port}", "--from", "bob@example.org",
                        "--to", "carol@example.net", "--data", str(msg_file), "--timeout", "30"],
                       capture_output=True, timeout=60)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, out + r.stderr.decode(errors="replace")
    assert "TLS started" in out, out
    assert_stored_intact(smtp_sink, tag, message)
    assert_tls_logged(mt, mark)


# ---- Python's standard library ----------------------------------------------------------------------------
def test_imaplib_starttls_login_fetch(starttls_tunnel, dovecot):
    mt = starttls_tunnel("imap")
    mark = mt.log_mark()
    with imaplib.IMAP4(HOST, mt.accept_port, timeout=30) as imap:
        assert "LOGINDISABLED" in imap.capabilities and "STARTTLS" in imap.capabilities, imap.capabilities
        typ, _ = imap.starttls(ssl_context=client_context())
        assert typ == "OK"
        assert "AUTH=PLAIN" in imap.capabilities and "LOGINDISABLED" not in imap.capabilities, imap.capabilities
        typ, _ = imap.login(dovecot.user, dovecot.password)
        assert typ == "OK"
        typ, data = imap.select("INBOX", readonly=True)
        assert typ == "OK" and int(data[0]) >= 1
        typ, data = imap.fetch("1", "(BODY.PEEK[])")
        assert typ == "OK" and data[0][1] == dovecot.message
        typ, _ = imap.logout()
        assert typ == "BYE"
    assert_tls_logged(mt, mark)


def test_imaplib_login_without_tls_is_refused(starttls_tunnel, dovecot):
    mt = starttls_tunnel("imap")
    with imaplib.IMAP4(HOST, mt.accept_port, timeout=30) as imap:
        with pytest.raises(imaplib.IMAP4.error) as refused:
            imap.login(dovecot.user, dovecot.password)
        assert "[PRIVACYREQUIRED]" in str(refused.value), refused.value
        typ, _ = imap.noop()
        assert typ == "OK"
        imap.logout()


def test_poplib_stls_retrieves(starttls_tunnel, dovecot):
    mt = starttls_tunnel("pop3")
    mark = mt.log_mark()
    pop = poplib.POP3(HOST, mt.accept_port, timeout=30)
    try:
        caps = pop.capa()
        assert "STLS" in caps and "USER" not in caps and "SASL" not in caps, caps
        assert pop.stls(context=client_context()).startswith(b"+OK")
        caps = pop.capa()
        assert "USER" in caps and "STLS" not in caps, caps
        assert pop.user(dovecot.user).startswith(b"+OK")
        assert pop.pass_(dovecot.password).startswith(b"+OK")
        count, _ = pop.stat()
        assert count >= 1
        _, lines, _ = pop.retr(1)
        assert b"\r\n".join(lines) + b"\r\n" == dovecot.message
    finally:
        pop.quit()
    assert_tls_logged(mt, mark)


def test_smtplib_starttls_sends(starttls_tunnel, smtp_sink):
    mt = starttls_tunnel("smtp")
    tag = uuid.uuid4().hex
    message = make_message(tag)
    mark = mt.log_mark()
    with smtplib.SMTP(HOST, mt.accept_port, timeout=30) as smtp:
        code, _ = smtp.ehlo("client.example.org")
        assert code == 250
        assert smtp.has_extn("starttls") and not smtp.has_extn("auth"), smtp.esmtp_features
        code, msg = smtp.mail("bob@example.org")
        assert (code, msg) == (530, b"5.7.0 Must issue a STARTTLS command first")
        code, _ = smtp.starttls(context=client_context())
        assert code == 220
        code, _ = smtp.ehlo("client.example.org")
        assert code == 250
        assert smtp.has_extn("auth") and not smtp.has_extn("starttls"), smtp.esmtp_features
        assert smtp.sendmail("bob@example.org", ["carol@example.net"], message) == {}
    assert_stored_intact(smtp_sink, tag, message)
    assert_tls_logged(mt, mark)


# ---- openssl s_client -starttls ---------------------------------------------------------------------------
S_CLIENT = {
    # protocol: (what to type after the handshake, what the backend must answer through TLS)
    "imap": (b"a CAPABILITY\r\nb LOGIN alice secret\r\nc LOGOUT\r\n", [b"AUTH=PLAIN", b"b OK", b"* BYE"]),
    "pop3": (b"CAPA\r\nUSER alice\r\nPASS secret\r\nQUIT\r\n", [b"\r\nUSER\r\n", b"+OK Logged in", b"+OK Logging out"]),
    "smtp": (b"EHLO client.example.org\r\nMAIL FROM:<bob@example.org>\r\nQUIT\r\n",
             [b"250-AUTH PLAIN LOGIN", b"250 2.1.0 Ok", b"221 "]),
}


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
def test_openssl_s_client_starttls(starttls_tunnel, protocol):
    mt = starttls_tunnel(protocol)
    typed, expected = S_CLIENT[protocol]
    mark = mt.log_mark()
    r = subprocess.run(["openssl", "s_client", "-starttls", protocol, "-connect", f"{HOST}:{mt.accept_port}",
                        "-servername", "localhost", "-ign_eof", "-nocommands"],
                       input=typed, capture_output=True, timeout=60)
    out = r.stdout
    text = out.decode(errors="replace") + r.stderr.decode(errors="replace")
    assert r.returncode == 0, text
    assert b"-----BEGIN CERTIFICATE-----" in out and b"Cipher is " in out, text
    for want in expected:
        assert want in out, f"{want!r} not in s_client's output:\n{text}"
    assert_tls_logged(mt, mark)


# ---- example configuration files --------------------------------------------------------------------------
@pytest.mark.parametrize("name,protocol,port", [("imap-starttls.conf", "imap", 143), ("pop3-starttls.conf", "pop3", 110),
                                                ("submission-starttls.conf", "smtp", 587)])
def test_example_config_passes_check(mailtunnel_bin, name, protocol, port):
    path = REPO / "Config" / name
    r = subprocess.run([mailtunnel_bin, "--check", "--config", str(path)], capture_output=True, timeout=30)
    text = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    assert r.returncode == 0, text
    lines = {l.strip() for l in text.splitlines()}
    for want in ("starttls = yes", f"protocol = {protocol}", f"accept = {port}"):
        assert want in lines, f"--check does not show {want!r}:\n{text}"


def test_check_refuses_starttls_without_mail_protocol(mailtunnel_bin, workdir):
    """The counterpart: STARTTLS needs imap/pop3/smtp, so --check must fail (and name the key) for protocol none."""
    conf = workdir / "bad-starttls.conf"
    conf.write_text("accept = 127.0.0.1:2525\nconnect = 127.0.0.1:25\nprotocol = none\nstarttls = yes\n")
    r = subprocess.run([mailtunnel_bin, "--check", "--config", str(conf)], capture_output=True, timeout=30)
    text = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    assert r.returncode == 1, text
    assert "starttls" in text and str(conf) in text, text
