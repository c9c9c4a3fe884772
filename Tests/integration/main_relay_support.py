"""Support for the main-relay tests (issue 13): a real Postfix set up as the organisation's MTA behind mailtunnel
(it delivers example.org locally and relays anything for mailtunnel's own address, so the gate's decision is the
whole policy, as with Sendmail), PROXY v2 headers that present a trusted or an untrusted client address, and a
line-level SMTP client that can pipeline."""
from __future__ import annotations

import re
import socket
import struct
import uuid

import pytest

from gate_support import CLIENT_IP, RawSMTP, fresh_dir
from postfix import Postfix

LOCAL_DOMAIN = "example.org"
OUTSIDE = "outside.example"
TRUSTED_NET, TRUSTED_SOURCE = "192.0.2.0/24", "192.0.2.10"
UNTRUSTED_SOURCE = "198.51.100.7"

# Appended to the test Postfix's main.cf (a later setting overrides an earlier one): example.org is local,
# and mailtunnel's 127.0.0.1 is in mynetworks, so Postfix relays whatever mailtunnel lets through.
RELAY_SETTINGS = f"""
mydestination = {LOCAL_DOMAIN}
local_recipient_maps =
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
"""


class RelayPostfix(Postfix):
    def _prepare(self) -> None:
        super()._prepare()
        with open(self.config_dir / "main.cf", "a") as f:
            f.write(RELAY_SETTINGS)


@pytest.fixture(scope="session")
def relay_postfix(session_dir):
    p = RelayPostfix(fresh_dir(session_dir, "relay-postfix")).start()
    yield p
    p.stop()


def proxy_v2(source: str, source_port: int = 40000, dest_port: int = 25) -> bytes:
    body = socket.inet_aton(source) + socket.inet_aton("127.0.0.1") + struct.pack("!HH", source_port, dest_port)
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


def plaintext_from(port: int, source: str) -> RawSMTP:
    """A plaintext SMTP session whose PROXY v2 header says it comes from `source`; greeting read."""
    c = RawSMTP(port, implicit_tls=False)
    c.sock.sendall(proxy_v2(source))
    code, text = c.reply()
    assert code == 220, text
    return c


def unique(local: str, domain: str) -> str:
    return f"{local}-{uuid.uuid4().hex[:10]}@{domain}"


def pipeline(c: RawSMTP, lines: list[str]) -> list[tuple[int, str]]:
    """Sends every line in one write, then reads one reply per line, in order."""
    c.sock.sendall("".join(line + "\r\n" for line in lines).encode())
    return [c.reply() for _ in lines]


def message(sender: str, to: str) -> bytes:
    return (f"From: <{sender}>\r\nTo: <{to}>\r\nSubject: main relay test\r\nMessage-ID: <{uuid.uuid4().hex}@t>\r\n"
            f"\r\nthrough the main relay\r\n.\r\n").encode()


def send_data(c: RawSMTP, sender: str, to: str) -> None:
    code, text = c.cmd("DATA")
    assert code == 354, text
    c.sock.sendall(message(sender, to))
    code, text = c.reply()
    assert code == 250, text


def recipients_of(postfix: Postfix, sender: str, timeout: float = 15.0) -> set[str]:
    """The recipients Postfix delivered the message from `sender` to (its `to=<...>` lines)."""
    line = postfix.wait_for_log(r": from=<" + re.escape(sender) + ">", timeout)[0]
    qid = re.search(r"\]: ([0-9A-F]+): from=", line).group(1)
    postfix.wait_for_log(rf"{qid}: removed", timeout)
    return set(re.findall(rf"{qid}: to=<([^>]+)>", postfix.log_text()))


__all__ = ["CLIENT_IP", "LOCAL_DOMAIN", "OUTSIDE", "TRUSTED_NET", "TRUSTED_SOURCE", "UNTRUSTED_SOURCE",
           "relay_postfix", "proxy_v2", "plaintext_from", "unique", "pipeline", "send_data", "recipients_of"]
