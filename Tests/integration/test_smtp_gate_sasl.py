"""The SMTP gate with Cyrus SASL (issue 6): mailtunnel in front of a real Postfix smtpd that relays only for
SASL-authenticated sessions. mailtunnel runs AUTH itself against a sasldb made with saslpasswd2 and hands the
login to Postfix with XCLIENT; Postfix's own log must name the login and the real client (127.0.0.2)."""
import re
import smtplib

import pytest

from clients import client_context
from gate_support import (CLIENT_IP, OUTSIDE_RCPT, PASSWORD, USER, RawSMTP, auth_plain, message_for,  # noqa: F401
                          postfix, postfix_session_for, sasl_config, sasl_flags, swaks, unique_sender)

MECHANISMS = ["PLAIN", "LOGIN", "CRAM-MD5"]


def gate(mailtunnel, postfix, sasl_config, starttls: bool = False, debug: bool = False):
    extra = sasl_flags(sasl_config) + (["--starttls", "yes"] if starttls else [])
    extra += ["--log-level", "debug"] if debug else []
    return mailtunnel(connect=postfix.port, protocol="smtp", extra=extra)


def assert_relayed_as_alice(postfix, sender: str):
    line = postfix_session_for(postfix, sender)
    assert f"sasl_method=XCLIENT, sasl_username={USER}" in line, line
    assert f"client=unknown[{CLIENT_IP}]" in line, f"Postfix does not see the real client address: {line}"


def assert_password_not_logged(mt):
    # The line that should be there is there (the authenticated session, by user), so the absence below is
    # about a log that was written and read, not an empty or redirected one.
    mt.wait_for_log(rf"connection ended.* user={USER} ", timeout=10)
    assert PASSWORD not in mt.log_text(), "the password reached mailtunnel's log"


@pytest.mark.parametrize("mechanism", MECHANISMS)
@pytest.mark.parametrize("mode", ["implicit-tls", "starttls"])
def test_swaks_relays_after_auth(mailtunnel, postfix, sasl_config, mode, mechanism):
    mt = gate(mailtunnel, postfix, sasl_config, starttls=(mode == "starttls"))
    mark = mt.log_mark()
    sender = unique_sender()
    r = swaks(mt.accept_port, "--tlsc" if mode == "implicit-tls" else "--tls",
              "--auth", mechanism, "--auth-user", USER, "--auth-password", PASSWORD,
              "--from", sender, "--to", OUTSIDE_RCPT)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "235 2.7.0" in out, out
    # swaks marks lines inside TLS with ~> and <~
    assert re.search(r"[~-]> RCPT TO:<" + re.escape(OUTSIDE_RCPT) + r">\n<[~-] +250 ", out), out
    assert_relayed_as_alice(postfix, sender)
    line = mt.connection_ended(since=mark)[0]
    assert line.get("user") == USER, line.raw
    assert line.get("client", "").startswith(CLIENT_IP + ":"), line.raw
    assert_password_not_logged(mt)


def test_smtplib_relays_implicit_tls(mailtunnel, postfix, sasl_config):
    mt = gate(mailtunnel, postfix, sasl_config)
    sender = unique_sender()
    with smtplib.SMTP_SSL("127.0.0.1", mt.accept_port, context=client_context(), timeout=30,
                          source_address=(CLIENT_IP, 0)) as smtp:
        smtp.ehlo("client.example")
        assert smtp.has_extn("auth"), smtp.esmtp_features
        assert set(smtp.esmtp_features["auth"].split()) == set(MECHANISMS), smtp.esmtp_features
        code, _ = smtp.login(USER, PASSWORD)
        assert code == 235
        code, _ = smtp.mail(sender)
        assert code == 250
        code, text = smtp.rcpt(OUTSIDE_RCPT)
        assert code == 250, text
        code, text = smtp.data(message_for(sender))
        assert code == 250, text
    assert_relayed_as_alice(postfix, sender)
    assert_password_not_logged(mt)


def test_smtplib_relays_starttls(mailtunnel, postfix, sasl_config):
    mt = gate(mailtunnel, postfix, sasl_config, starttls=True)
    sender = unique_sender()
    with smtplib.SMTP("127.0.0.1", mt.accept_port, timeout=30, source_address=(CLIENT_IP, 0)) as smtp:
        smtp.ehlo("client.example")
        assert not smtp.has_extn("auth"), f"AUTH offered before TLS: {smtp.esmtp_features}"
        smtp.starttls(context=client_context())
        smtp.ehlo("client.example")
        code, _ = smtp.login(USER, PASSWORD)
        assert code == 235
        refused = smtp.sendmail(sender, [OUTSIDE_RCPT], message_for(sender))
        assert refused == {}
    assert_relayed_as_alice(postfix, sender)
    assert_password_not_logged(mt)


def test_wrong_password_gets_535(mailtunnel, postfix, sasl_config):
    mt = gate(mailtunnel, postfix, sasl_config, debug=True)
    c = RawSMTP(mt.accept_port)
    try:
        assert c.reply()[0] == 220
        assert c.cmd("EHLO client.example")[0] == 250
        code, text = c.cmd(auth_plain(USER, "wrong-" + PASSWORD))
        assert code == 535, text
        assert text.startswith("535 5.7.8"), text
        code, text = c.cmd(f"MAIL FROM:<{unique_sender()}>")
        assert code == 530, text
        # The right password still works on the same connection.
        code, text = c.cmd(auth_plain(USER, PASSWORD))
        assert code == 235, text
    finally:
        c.close()
    assert_password_not_logged(mt)
    assert "wrong-" + PASSWORD not in mt.log_text()


def test_mail_without_auth_gets_530(mailtunnel, postfix, sasl_config):
    mt = gate(mailtunnel, postfix, sasl_config)
    mark = mt.log_mark()
    c = RawSMTP(mt.accept_port)
    try:
        assert c.reply()[0] == 220
        code, text = c.cmd("EHLO client.example")
        assert code == 250 and "AUTH " in text, text
        assert "XCLIENT" not in text, f"the backend's XCLIENT leaks to clients: {text}"
        code, text = c.cmd(f"MAIL FROM:<{unique_sender()}>")
        assert code == 530, text
        code, text = c.cmd(f"RCPT TO:<{OUTSIDE_RCPT}>")
        assert code == 530, text
        assert c.cmd("QUIT")[0] == 221
    finally:
        c.close()
    mt.connection_ended(since=mark)


def test_auth_before_starttls_gets_530(mailtunnel, postfix, sasl_config):
    mt = gate(mailtunnel, postfix, sasl_config, starttls=True)
    c = RawSMTP(mt.accept_port, implicit_tls=False)
    try:
        assert c.reply()[0] == 220
        code, text = c.cmd("EHLO client.example")
        assert code == 250 and "STARTTLS" in text and "AUTH" not in text, text
        code, text = c.cmd(auth_plain(USER, PASSWORD))
        assert code == 530, text
        code, text = c.cmd(f"MAIL FROM:<{unique_sender()}>")
        assert code == 530, text
        c.starttls()
        code, text = c.cmd("EHLO client.example")
        assert code == 250 and "AUTH " in text, text
        code, text = c.cmd(auth_plain(USER, PASSWORD))
        assert code == 235, text
    finally:
        c.close()
    assert_password_not_logged(mt)


def test_three_failures_get_421_and_close(mailtunnel, postfix, sasl_config):
    mt = gate(mailtunnel, postfix, sasl_config, debug=True)
    mark = mt.log_mark()
    c = RawSMTP(mt.accept_port)
    try:
        assert c.reply()[0] == 220
        assert c.cmd("EHLO client.example")[0] == 250
        client_port = c.local_port()
        for attempt in (1, 2):
            code, text = c.cmd(auth_plain(USER, f"wrong{attempt}-{PASSWORD}"))
            assert code == 535, text
        code, text = c.cmd(auth_plain(USER, f"wrong3-{PASSWORD}"))
        if code == 535:
            code, text = c.reply()
        assert code == 421, text
        c.wait_closed()
    finally:
        c.close()
    line = mt.connection_ended(since=mark)[0]
    assert line.get("auth_failures") == "3", line.raw
    assert line.get("client") == f"{CLIENT_IP}:{client_port}", line.raw
    assert PASSWORD not in mt.log_text(), "a password reached mailtunnel's log"


def fail_three_times(port: int) -> None:
    c = RawSMTP(port)
    try:
        assert c.reply()[0] == 220
        assert c.cmd("EHLO client.example")[0] == 250
        for attempt in range(3):
            code, text = c.cmd(auth_plain(USER, f"bad{attempt}"))
        if code == 535:
            code, text = c.reply()
        assert code == 421, text
    finally:
        c.close()


def test_failures_counted_per_client_address(mailtunnel, postfix, sasl_config):
    """Failures add up across connections from one address the moment they happen: after the 10th, that
    address's AUTH gets 454 without a password check (logged with the address) while another address is served."""
    mt = gate(mailtunnel, postfix, sasl_config)
    for _ in range(3):          # 9 failures from 127.0.0.2
        fail_three_times(mt.accept_port)
    c = RawSMTP(mt.accept_port)
    try:
        assert c.reply()[0] == 220
        assert c.cmd("EHLO client.example")[0] == 250
        code, text = c.cmd(auth_plain(USER, "bad-10"))
        assert code == 535, text
        code, text = c.cmd(auth_plain(USER, PASSWORD))
        assert code == 454, f"a client with 10 failed logins may still try passwords: {code} {text}"
    finally:
        c.close()
    mt.wait_for_log(r"authentication refused for a while .*client=" + re.escape(CLIENT_IP) + r"\b")
    # Another address is not punished for 127.0.0.2's failures.
    with smtplib.SMTP_SSL("127.0.0.1", mt.accept_port, context=client_context(), timeout=30) as smtp:
        smtp.ehlo("other.example")
        assert smtp.login(USER, PASSWORD)[0] == 235


def test_client_xclient_cannot_change_identity(mailtunnel, postfix, sasl_config):
    """After AUTH as alice, a client-sent XCLIENT must not make Postfix believe it is someone else."""
    mt = gate(mailtunnel, postfix, sasl_config)
    sender = unique_sender()
    c = RawSMTP(mt.accept_port)
    try:
        assert c.reply()[0] == 220
        assert c.cmd("EHLO client.example")[0] == 250
        assert c.cmd(auth_plain(USER, PASSWORD))[0] == 235
        code, text = c.cmd("XCLIENT LOGIN=mallory ADDR=192.0.2.66")
        if code in (0, 421):
            # Refusing by closing the session is a fair answer too: then nothing may carry mallory's name.
            assert "mallory" not in postfix.log_text(), postfix.log_text()[-2000:]
            return
        forged = code == 220
        if forged:
            c.cmd("EHLO client.example")
        c.send_message(sender)
    finally:
        c.close()
    line = postfix_session_for(postfix, sender)
    assert "mallory" not in line and "192.0.2.66" not in line, \
        f"a client's XCLIENT through the tunnel changed the identity Postfix logs (XCLIENT reply 220: {forged}): {line}"
    assert f"sasl_username={USER}" in line, line
