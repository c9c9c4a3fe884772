"""The organisation's main relay on port 25 (issue 13): mailtunnel with `starttls = optional`, `auth = sasl`,
`local-domains` and `trusted-networks` in front of a real Postfix that delivers example.org and relays anything
mailtunnel passes (mailtunnel's address is in its mynetworks, as with Sendmail: the gate is the whole policy).
Clients present their address through PROXY v2 headers, so one test can be untrusted and another trusted."""
import signal
import smtplib

from clients import client_context
from gate_support import PASSWORD, USER, auth_plain, gate_ca, sasl_config  # noqa: F401
from main_relay_support import (LOCAL_DOMAIN, OUTSIDE, TRUSTED_NET, TRUSTED_SOURCE, UNTRUSTED_SOURCE,  # noqa: F401
                                pipeline, plaintext_from, recipients_of, relay_postfix, send_data, unique)

DENIED = "554 5.7.1 <{}>: Relay access denied"


def mx(mailtunnel, relay_postfix, sasl_config, extra=()):
    return mailtunnel(connect=relay_postfix.port, protocol="smtp", extra=[
        "--starttls", "optional", "--auth", "sasl", "--sasl-service", "smtpd", "--sasl-config-dir", str(sasl_config),
        "--local-domains", LOCAL_DOMAIN, "--trusted-networks", TRUSTED_NET, "--accept-proxy-protocol", "yes",
        *extra])


def deliver(c, sender: str, to: str, refused: tuple[str, ...] = ()) -> None:
    """On a session after EHLO (and AUTH): MAIL, each refused RCPT (554 Relay access denied), the RCPT to `to`,
    the message and QUIT; the session is closed in any case."""
    try:
        assert c.cmd(f"MAIL FROM:<{sender}>")[0] == 250
        for address in refused:
            code, text = c.cmd(f"RCPT TO:<{address}>")
            assert (code, text) == (554, DENIED.format(address)), text
        code, text = c.cmd(f"RCPT TO:<{to}>")
        assert code == 250, text
        send_data(c, sender, to)
        c.cmd("QUIT")
    finally:
        c.close()


def test_plaintext_untrusted_client_delivers_locally_and_is_refused_outside(mailtunnel, relay_postfix, sasl_config):
    mt = mx(mailtunnel, relay_postfix, sasl_config)
    mark = mt.log_mark()
    sender, local, outside = unique("ext", "remote.example"), unique("alice", LOCAL_DOMAIN), unique("x", OUTSIDE)
    c = plaintext_from(mt.accept_port, UNTRUSTED_SOURCE)
    code, text = c.cmd("EHLO client.example")
    assert code == 250 and "STARTTLS" in text and "AUTH" not in text, text
    deliver(c, sender, local, refused=(outside,))
    assert recipients_of(relay_postfix, sender) == {local}
    line = mt.connection_ended(since=mark)[0]
    assert line.get("client", "").startswith(UNTRUSTED_SOURCE + ":"), line.raw
    assert line.get("tls") == "-", f"the session never upgraded: {line.raw}"
    assert line.get("trusted") is None, line.raw


def test_auth_after_starttls_relays_outside(mailtunnel, relay_postfix, sasl_config):
    mt = mx(mailtunnel, relay_postfix, sasl_config)
    sender, outside = unique("alice", LOCAL_DOMAIN), unique("y", OUTSIDE)
    c = plaintext_from(mt.accept_port, UNTRUSTED_SOURCE)
    assert c.cmd("EHLO client.example")[0] == 250
    assert c.cmd(auth_plain(USER, PASSWORD))[0] == 530, "AUTH must wait for TLS"
    c.starttls()
    code, text = c.cmd("EHLO client.example")
    assert code == 250 and "AUTH" in text, text
    assert c.cmd(auth_plain(USER, PASSWORD))[0] == 235
    deliver(c, sender, outside)
    assert recipients_of(relay_postfix, sender) == {outside}


def test_commands_pipelined_behind_starttls_are_discarded_and_tls_without_auth_is_local_only(
        mailtunnel, relay_postfix, sasl_config):
    mt = mx(mailtunnel, relay_postfix, sasl_config)
    sender, local, outside = unique("ext", "remote.example"), unique("alice", LOCAL_DOMAIN), unique("u", OUTSIDE)
    c = plaintext_from(mt.accept_port, UNTRUSTED_SOURCE)
    assert c.cmd("EHLO client.example")[0] == 250
    c.sock.sendall(f"STARTTLS\r\nMAIL FROM:<{sender}>\r\nRCPT TO:<{outside}>\r\n".encode())
    assert c.reply()[0] == 220
    c.sock = c.ctx.wrap_socket(c.sock, server_hostname="localhost")
    code, text = c.cmd("EHLO client.example")
    assert code == 250 and "AUTH" in text, text
    # Had the injected MAIL run, this one would get 503 (nested MAIL) from Postfix.
    deliver(c, sender, local, refused=(outside,))
    assert recipients_of(relay_postfix, sender) == {local}


def test_client_certificate_relays_outside_and_none_is_local_only(mailtunnel, relay_postfix, gate_ca):
    mt = mailtunnel(connect=relay_postfix.port, protocol="smtp", extra=[
        "--verify", "optional", "--ca-file", str(gate_ca.cert), "--auth", "certificate",
        "--local-domains", LOCAL_DOMAIN])
    ident = gate_ca.issue("relay-carol", "carol-relay")
    with_cert = client_context()
    with_cert.load_cert_chain(str(ident.cert), str(ident.key))
    sender, outside = unique("carol", LOCAL_DOMAIN), unique("z", OUTSIDE)
    with smtplib.SMTP_SSL("127.0.0.1", mt.accept_port, context=with_cert, timeout=30) as smtp:
        smtp.ehlo("client.example")
        assert smtp.mail(sender)[0] == 250
        assert smtp.rcpt(outside)[0] == 250
        assert smtp.data(b"Subject: cert\r\n\r\nrelayed\r\n")[0] == 250
    assert recipients_of(relay_postfix, sender) == {outside}
    with smtplib.SMTP_SSL("127.0.0.1", mt.accept_port, context=client_context(), timeout=30) as smtp:
        smtp.ehlo("client.example")
        assert smtp.mail(unique("anon", "remote.example"))[0] == 250
        code, text = smtp.rcpt(outside)
        assert (code, text.decode()) == (554, f"5.7.1 <{outside}>: Relay access denied")


def test_trusted_network_relays_without_auth(mailtunnel, relay_postfix, sasl_config):
    mt = mx(mailtunnel, relay_postfix, sasl_config)
    mark = mt.log_mark()
    sender, outside = unique("legacy", LOCAL_DOMAIN), unique("w", OUTSIDE)
    c = plaintext_from(mt.accept_port, TRUSTED_SOURCE)
    assert c.cmd("EHLO legacy.example")[0] == 250
    deliver(c, sender, outside)
    assert recipients_of(relay_postfix, sender) == {outside}
    line = mt.connection_ended(since=mark)[0]
    assert line.get("trusted") == "yes" and line.get("client", "").startswith(TRUSTED_SOURCE + ":"), line.raw


def test_pipelined_recipients_answered_in_order_and_only_allowed_reach_postfix(mailtunnel, relay_postfix, sasl_config):
    mt = mx(mailtunnel, relay_postfix, sasl_config)
    sender = unique("ext", "remote.example")
    a, b = unique("a", LOCAL_DOMAIN), unique("b", "sub." + LOCAL_DOMAIN)
    local2 = unique("c", LOCAL_DOMAIN.upper() + ".")
    hacks = [unique("d", OUTSIDE), a.split("@")[0] + f"%{OUTSIDE}@{LOCAL_DOMAIN}", f"{OUTSIDE}!e@{LOCAL_DOMAIN}"]
    c = plaintext_from(mt.accept_port, UNTRUSTED_SOURCE)
    try:
        assert c.cmd("EHLO client.example")[0] == 250
        replies = pipeline(c, [f"MAIL FROM:<{sender}>", f"RCPT TO:<{a}>", f"RCPT TO:<{hacks[0]}>",
                               f"RCPT TO:<{local2}>", f"RCPT TO:<{hacks[1]}>", f"RCPT TO:<{b}>",
                               f"RCPT TO:<@{LOCAL_DOMAIN}:{hacks[0]}>", f"RCPT TO:<{hacks[2]}>", "RSET",
                               f"MAIL FROM:<{sender}>", f"RCPT TO:<{hacks[0]}>", f"RCPT TO:<{a}>",
                               "XCLIENT ADDR=192.0.2.10", f"RCPT TO:<{local2}>"])
        codes = [code for code, _ in replies]
        # b is in sub.example.org, which local-domains (example.org only) does not cover; Postfix answers the
        # denied XCLIENT line 500 (command not recognized).
        assert codes == [250, 250, 554, 250, 554, 554, 554, 554, 250, 250, 554, 250, 500, 250], replies
        assert replies[2][1] == DENIED.format(hacks[0]), replies[2]
        send_data(c, sender, a)
        c.cmd("QUIT")
    finally:
        c.close()
    assert recipients_of(relay_postfix, sender) == {a, local2.lower().rstrip(".")}


def test_sender_login_map_refuses_forged_sender_and_reloads_on_sighup(mailtunnel, relay_postfix, sasl_config, workdir):
    senders = workdir / "senders"
    senders.write_text(f"{USER}  {USER}@{LOCAL_DOMAIN}\n")
    mt = mx(mailtunnel, relay_postfix, sasl_config, extra=["--sender-login-map", str(senders)])
    forged, outside = f"ceo@{LOCAL_DOMAIN}", unique("v", OUTSIDE)

    def authenticated_session():
        c = plaintext_from(mt.accept_port, UNTRUSTED_SOURCE)
        assert c.cmd("EHLO client.example")[0] == 250
        c.starttls()
        assert c.cmd("EHLO client.example")[0] == 250
        assert c.cmd(auth_plain(USER, PASSWORD))[0] == 235
        return c

    c = authenticated_session()
    try:
        code, text = c.cmd(f"MAIL FROM:<{forged}>")
        assert (code, text) == (553, f"553 5.7.1 <{forged}>: Sender address rejected: not owned by user {USER}")
        assert c.cmd(f"MAIL FROM:<{USER}@{LOCAL_DOMAIN}>")[0] == 250
        assert c.cmd(f"RCPT TO:<{outside}>")[0] == 250
        c.cmd("QUIT")
    finally:
        c.close()

    def reload_with(text: str, outcome: str):
        senders.write_text(text)
        mark = mt.log_mark()
        mt.process.signal(signal.SIGHUP)
        return mt.wait_for_log(outcome, since=mark)[0]

    def forged_sender_code() -> int:
        c = authenticated_session()
        try:
            code = c.cmd(f"MAIL FROM:<{forged}>")[0]
            c.cmd("QUIT")
            return code
        finally:
            c.close()

    reload_with(f"{USER}  {USER}@{LOCAL_DOMAIN}, {forged}\n", "reloaded")
    assert forged_sender_code() == 250, "the reloaded map gives alice the address"
    # A map that does not parse fails the reload; the running rules stay.
    assert "sender-login-map" in reload_with(f"{USER}\n", "reload failed").raw
    assert forged_sender_code() == 250
