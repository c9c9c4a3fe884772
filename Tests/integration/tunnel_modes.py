"""mailtunnel's two ways in front of a plaintext IMAP/POP3 backend, and a Python client for each: implicit TLS
(993/995-style, the client speaks TLS at once) and STARTTLS (143/110-style, `--starttls yes`: the client upgrades
with STARTTLS/STLS first). Used by the tests of real backends (Cyrus, APOP)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import imaplib
import poplib

from clients import client_context

MODES = ["implicit-tls", "starttls"]


def tunnel(mailtunnel, backend_port: int, protocol: str, mode: str):
    extra = ["--starttls", "yes"] if mode == "starttls" else []
    return mailtunnel(connect=backend_port, protocol=protocol, extra=extra)


def imap_client(port: int, mode: str) -> imaplib.IMAP4:
    if mode == "implicit-tls":
        return imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=client_context(), timeout=30)
    imap = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    assert "STARTTLS" in imap.capabilities and "LOGINDISABLED" in imap.capabilities, imap.capabilities
    typ, data = imap.starttls(ssl_context=client_context())
    assert typ == "OK", data
    return imap


def pop3_client(port: int, mode: str) -> poplib.POP3:
    if mode == "implicit-tls":
        return poplib.POP3_SSL("127.0.0.1", port, context=client_context(), timeout=30)
    pop = poplib.POP3("127.0.0.1", port, timeout=30)
    assert "STLS" in pop.capa(), pop.capa()
    assert pop.stls(context=client_context()).startswith(b"+OK")
    return pop


def pop3_auth_cram_md5(pop: poplib.POP3, user: str, password: str) -> bytes:
    """RFC 5034 AUTH CRAM-MD5 (poplib has no AUTH): the server's challenge, the client's HMAC-MD5 answer."""
    challenge = pop._shortcmd("AUTH CRAM-MD5")
    assert challenge.startswith(b"+ "), challenge
    digest = hmac.new(password.encode(), base64.b64decode(challenge[2:]), hashlib.md5).hexdigest()
    return pop._shortcmd(base64.b64encode(f"{user} {digest}".encode()).decode())


def pop3_message(lines: list[bytes]) -> bytes:
    """poplib's RETR lines (CRLF stripped, dots unstuffed) back as the message bytes."""
    return b"".join(line + b"\r\n" for line in lines)
