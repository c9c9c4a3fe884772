"""The SMTP gate with `auth = certificate` (issue 6): a verified client certificate is the authentication;
its CN reaches Postfix by XCLIENT as the SASL login. Without a certificate, MAIL gets 530."""
import smtplib

from clients import client_context
from gate_support import (CLIENT_IP, OUTSIDE_RCPT, RawSMTP, gate_ca, message_for, postfix,  # noqa: F401
                          postfix_session_for, unique_sender)

CN = "carol-cert"


def cert_gate(mailtunnel, postfix, gate_ca):
    return mailtunnel(connect=postfix.port, protocol="smtp",
                      extra=["--verify", "optional", "--ca-file", str(gate_ca.cert), "--auth", "certificate",
                             "--xclient", "yes"])


def test_valid_certificate_relays_without_password(mailtunnel, postfix, gate_ca):
    ident = gate_ca.issue("carol", CN)
    mt = cert_gate(mailtunnel, postfix, gate_ca)
    mark = mt.log_mark()
    ctx = client_context()
    ctx.load_cert_chain(str(ident.cert), str(ident.key))
    sender = unique_sender()
    with smtplib.SMTP_SSL("127.0.0.1", mt.accept_port, context=ctx, timeout=30,
                          source_address=(CLIENT_IP, 0)) as smtp:
        code, _ = smtp.ehlo("client.example")
        assert code == 250
        assert "EXTERNAL" in smtp.esmtp_features.get("auth", "").split(), smtp.esmtp_features
        code, text = smtp.mail(sender)
        assert code == 250, text
        code, text = smtp.rcpt(OUTSIDE_RCPT)
        assert code == 250, text
        code, text = smtp.data(message_for(sender))
        assert code == 250, text
    line = postfix_session_for(postfix, sender)
    assert f"sasl_username={CN}" in line, line
    assert f"[{CLIENT_IP}]" in line, line
    ended = mt.connection_ended(since=mark)[0]
    assert ended.get("user") == CN, ended.raw
    assert f"CN={CN}" in ended.get("peer", ""), ended.raw


def test_auth_external_with_certificate(mailtunnel, postfix, gate_ca):
    ident = gate_ca.issue("dave", "dave-cert")
    mt = cert_gate(mailtunnel, postfix, gate_ca)
    ctx = client_context()
    ctx.load_cert_chain(str(ident.cert), str(ident.key))
    sender = unique_sender()
    c = RawSMTP(mt.accept_port, ctx=ctx)
    try:
        assert c.reply()[0] == 220
        assert c.cmd("EHLO client.example")[0] == 250
        code, text = c.cmd("AUTH EXTERNAL =")
        assert code == 235, text
        c.send_message(sender)
    finally:
        c.close()
    assert "sasl_username=dave-cert" in postfix_session_for(postfix, sender)


def test_no_certificate_gets_530(mailtunnel, postfix, gate_ca):
    mt = cert_gate(mailtunnel, postfix, gate_ca)
    mark = mt.log_mark()
    c = RawSMTP(mt.accept_port)
    try:
        assert c.reply()[0] == 220
        code, text = c.cmd("EHLO client.example")
        assert code == 250 and "EXTERNAL" not in text, text
        code, text = c.cmd(f"MAIL FROM:<{unique_sender()}>")
        assert code == 530, text
        code, text = c.cmd(f"RCPT TO:<{OUTSIDE_RCPT}>")
        assert code == 530, text
        c.cmd("QUIT")
    finally:
        c.close()
    ended = mt.connection_ended(since=mark)[0]
    assert ended.get("user") in (None, "", "-"), ended.raw
