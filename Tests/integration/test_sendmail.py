"""Sendmail 8.17 as the main relay's MTA behind mailtunnel's SMTP gate (issue 13): 465-style implicit TLS and
587-style STARTTLS with `auth = sasl` (a sasldb made with saslpasswd2, as in test_smtp_gate_sasl.py).

Sendmail relays for 127.0.0.1 only, which is mailtunnel's address, and it has no XCLIENT: it never learns who the
client is, so the gate's decision is the whole policy. `xclient = no` is the configuration for it; `xclient = yes`
fails closed."""
import re
import smtplib
import uuid

import pytest

from clients import client_context
from gate_support import (CLIENT_IP, OUTSIDE_RCPT, PASSWORD, USER, RawSMTP, auth_plain, message_for,  # noqa: F401
                          sasl_config, swaks, unique_sender)
from sendmail import LOCAL_DOMAIN, envelope_recipients, gate_flags, sendmail  # noqa: F401

MODES = ["implicit-tls", "starttls"]
LOCAL_RCPT = f"alice@{LOCAL_DOMAIN}"


def gate(mailtunnel, sendmail, sasl_config, mode: str, xclient: bool = False):
    return mailtunnel(connect=sendmail.port, protocol="smtp", extra=gate_flags(sasl_config, mode, xclient))


def session(port: int, mode: str) -> RawSMTP:
    """Greeted, EHLO'd, and (STARTTLS mode) upgraded and EHLO'd again; returns the client and the EHLO reply."""
    c = RawSMTP(port, implicit_tls=(mode == "implicit-tls"))
    code, text = c.reply()
    assert code == 220, text
    code, ehlo = c.cmd("EHLO client.example")
    assert code == 250, ehlo
    if mode == "starttls":
        c.starttls()
        code, ehlo = c.cmd("EHLO client.example")
        assert code == 250, ehlo
    c.ehlo_reply = ehlo
    return c


def test_sendmail_relays_for_loopback_only(sendmail):
    """The harness's Sendmail itself, no mailtunnel: from 127.0.0.2 it takes mail for the local domain but refuses
    to relay; the outside recipient is relayed only for 127.0.0.1 (below, through mailtunnel)."""
    sender = unique_sender()
    r = swaks(sendmail.port, "--from", sender, "--to", OUTSIDE_RCPT)
    assert r.returncode != 0
    assert "550 5.7.1 <x@outside.example>... Relaying denied" in r.stdout, r.stdout
    r = swaks(sendmail.port, "--from", sender, "--to", LOCAL_RCPT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert envelope_recipients(sendmail.delivered(sender.encode())) == [f"<{LOCAL_RCPT}>"]


@pytest.mark.parametrize("mode", MODES)
def test_authenticated_client_relays_through_sendmail(mailtunnel, sendmail, sasl_config, mode):
    mt = gate(mailtunnel, sendmail, sasl_config, mode)
    mark = mt.log_mark()
    sender = unique_sender()
    r = swaks(mt.accept_port, "--tlsc" if mode == "implicit-tls" else "--tls", "--auth", "PLAIN",
              "--auth-user", USER, "--auth-password", PASSWORD, "--from", sender,
              "--to", f"{OUTSIDE_RCPT},{LOCAL_RCPT}")
    assert r.returncode == 0, r.stdout + r.stderr
    dump = sendmail.delivered(sender.encode())
    assert sorted(envelope_recipients(dump)) == sorted([f"<{LOCAL_RCPT}>", f"<{OUTSIDE_RCPT}>"]), dump[:600]
    # Sendmail's Received: line names the session it saw: mailtunnel's address, not the client's.
    assert re.search(rb"Received: from client\.example \(localhost \[127\.0\.0\.1\]\)\s+by mx-it\.example", dump), \
        dump[:800]
    line = mt.connection_ended(since=mark)[0]
    assert line.get("user") == USER, line.raw
    assert line.get("client", "").startswith(CLIENT_IP + ":"), line.raw


def test_without_the_gate_sendmail_relays_for_anyone(mailtunnel, sendmail):
    """Why the gate is the whole policy: a plain TLS tunnel (no `auth`) hands Sendmail sessions from 127.0.0.1,
    and Sendmail relays them, whoever the client is."""
    mt = mailtunnel(connect=sendmail.port, protocol="smtp")
    sender = unique_sender()
    r = swaks(mt.accept_port, "--tlsc", "--from", sender, "--to", OUTSIDE_RCPT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert envelope_recipients(sendmail.delivered(sender.encode())) == [f"<{OUTSIDE_RCPT}>"]


@pytest.mark.parametrize("mode", MODES)
def test_unauthenticated_mail_is_refused_by_the_gate(mailtunnel, sendmail, sasl_config, mode):
    """Sendmail would relay anything mailtunnel hands it (it comes from 127.0.0.1): the gate must stop it."""
    mt = gate(mailtunnel, sendmail, sasl_config, mode)
    sender = unique_sender()
    c = session(mt.accept_port, mode)
    try:
        for rcpt in (OUTSIDE_RCPT, LOCAL_RCPT):
            code, text = c.cmd(f"MAIL FROM:<{sender}>")
            assert code == 530, text
            code, text = c.cmd(f"RCPT TO:<{rcpt}>")
            assert code == 530, text
        assert c.cmd("QUIT")[0] == 221
    finally:
        c.close()
    assert not sendmail.ever_received(sender), "an unauthenticated MAIL FROM reached Sendmail"


@pytest.mark.parametrize("mode", MODES)
def test_no_xclient_offered_or_sent_and_pipelined_mail_delivered(mailtunnel, sendmail, sasl_config, mode):
    """Sendmail offers no XCLIENT and mailtunnel (xclient = no) sends none; the client's session is Sendmail's
    own after AUTH: its EHLO extensions (SIZE, PIPELINING, 8BITMIME) work, MAIL parameters included."""
    mt = gate(mailtunnel, sendmail, sasl_config, mode)
    mark = mt.log_mark()
    sender = unique_sender()
    c = session(mt.accept_port, mode)
    try:
        ehlo = c.ehlo_reply
        assert "XCLIENT" not in ehlo and "XFORWARD" not in ehlo, ehlo
        for extension in ("PIPELINING", "8BITMIME", "SIZE", "AUTH PLAIN"):
            assert extension in ehlo, ehlo
        assert c.cmd(auth_plain(USER, PASSWORD))[0] == 235
        # One pipelined batch (RFC 2920): MAIL with ESMTP parameters, RCPT, DATA.
        body = message_for(sender)
        c.sock.sendall(f"MAIL FROM:<{sender}> SIZE={len(body)} BODY=8BITMIME\r\nRCPT TO:<{OUTSIDE_RCPT}>\r\n"
                       f"DATA\r\n".encode())
        for expected in (250, 250, 354):
            code, text = c.reply()
            assert code == expected, text
        c.sock.sendall(body + b".\r\n")
        code, text = c.reply()
        assert code == 250 and "Message accepted for delivery" in text, text
        assert c.cmd("QUIT")[0] == 221
    finally:
        c.close()
    assert envelope_recipients(sendmail.delivered(sender.encode())) == [f"<{OUTSIDE_RCPT}>"]
    assert not [l for l in sendmail.commands_received() if l.upper().startswith("XCLIENT")]
    assert mt.connection_ended(since=mark)[0].get("user") == USER


def test_smtplib_submits_over_starttls(mailtunnel, sendmail, sasl_config):
    """A stock client library (587-style submission) against the gate in front of Sendmail."""
    mt = gate(mailtunnel, sendmail, sasl_config, "starttls")
    sender = unique_sender()
    with smtplib.SMTP("127.0.0.1", mt.accept_port, timeout=30, source_address=(CLIENT_IP, 0)) as smtp:
        smtp.ehlo("client.example")
        smtp.starttls(context=client_context())
        smtp.ehlo("client.example")
        smtp.login(USER, PASSWORD)
        assert smtp.sendmail(sender, [OUTSIDE_RCPT], message_for(sender)) == {}
    assert envelope_recipients(sendmail.delivered(sender.encode())) == [f"<{OUTSIDE_RCPT}>"]


def test_xclient_yes_fails_closed_against_sendmail(mailtunnel, sendmail, sasl_config):
    """Sendmail answers XCLIENT with 500: the hand-over fails, the client hears 421 after AUTH, and no command of
    its reaches Sendmail. This is why a Sendmail backend is configured with `xclient = no`."""
    mt = gate(mailtunnel, sendmail, sasl_config, "implicit-tls", xclient=True)
    mark = mt.log_mark()
    sender = unique_sender()
    c = session(mt.accept_port, "implicit-tls")
    try:
        # The client pipelines its transaction behind AUTH (RFC 2920 allows it); none of it may reach Sendmail.
        c.sock.sendall(f"{auth_plain(USER, PASSWORD)}\r\nMAIL FROM:<{sender}>\r\nRCPT TO:<{OUTSIDE_RCPT}>\r\n"
                       .encode())
        code, text = c.reply()
        assert code == 421 and text.startswith("421 4.3.0"), text
        c.wait_closed()
    finally:
        c.close()
    assert mt.connection_ended(since=mark, reason="backend rejected XCLIENT")
    assert not sendmail.ever_received(sender)


def test_main_relay_rules_in_front_of_sendmail(mailtunnel, sendmail, sasl_config):
    """Port 25 in front of Sendmail (Config/mx.conf's shape): `starttls = optional`, `auth = sasl`,
    `local-domains`. Sendmail relays anything mailtunnel hands it, so these rules are the whole anti-relay policy:
    a plaintext client that never upgrades delivers to the local domain and is refused elsewhere with 554; after
    STARTTLS and AUTH the same client relays out."""
    mt = mailtunnel(connect=sendmail.port, protocol="smtp",
                    extra=gate_flags(sasl_config, "plaintext", False, "--starttls", "optional",
                                     "--local-domains", LOCAL_DOMAIN))
    sender, outside = unique_sender(), f"x-{uuid.uuid4().hex[:10]}@outside.example"
    with smtplib.SMTP("127.0.0.1", mt.accept_port, timeout=30) as smtp:
        smtp.ehlo("client.example")
        assert smtp.has_extn("starttls") and not smtp.has_extn("auth"), smtp.esmtp_features
        refused = smtp.sendmail(sender, [LOCAL_RCPT, outside], message_for(sender))
    assert refused == {outside: (554, f"5.7.1 <{outside}>: Relay access denied".encode())}, refused
    assert envelope_recipients(sendmail.delivered(sender.encode())) == [f"<{LOCAL_RCPT}>"]
    assert not sendmail.ever_received(outside), "the refused recipient reached Sendmail"

    authenticated = unique_sender()
    with smtplib.SMTP("127.0.0.1", mt.accept_port, timeout=30) as smtp:
        smtp.starttls(context=client_context())
        smtp.login(USER, PASSWORD)
        assert smtp.sendmail(authenticated, [outside], message_for(authenticated)) == {}
    assert envelope_recipients(sendmail.delivered(authenticated.encode())) == [f"<{outside}>"]
