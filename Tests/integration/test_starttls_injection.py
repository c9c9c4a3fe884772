"""STARTTLS command injection (CVE-2011-0411 class, issue 4): plaintext the client sends after its
STARTTLS/STLS line — in the same write, or with the STARTTLS line itself cut across writes — must be
discarded, never executed: after the handshake no reply to it ever arrives, and the session works.
Real backends: Dovecot (IMAP, POP3) and Postfix smtp-sink (SMTP)."""
import pytest

from starttls_support import (backend_ehlo, imap_command, open_plain, smtp_ehlo, smtp_reply,
                              starttls_tunnel, without_trust_extensions)  # noqa: F401

# How long a reply to the injected command would have to arrive (the backend answers in milliseconds).
QUIET = 1.5

CASES = {
    # name: (protocol, payload = STARTTLS line + injected command, the STARTTLS reply's prefix)
    "imap-noop": ("imap", b"a STARTTLS\r\nb NOOP\r\n", b"a OK"),
    "pop3-capa": ("pop3", b"STLS\r\nCAPA\r\n", b"+OK"),
    "smtp-noop": ("smtp", b"STARTTLS\r\nNOOP\r\n", b"220 "),
    "smtp-ehlo": ("smtp", b"STARTTLS\r\nEHLO x\r\n", b"220 "),
}

# Where the payload is cut into separate writes. Each cut lies inside the STARTTLS line, so that the line is
# only complete in the second write, which also carries the injected command.
SPLITS = {
    "one-write": lambda p: [p],
    "cut-in-verb": lambda p: [p[:p.index(b"ST") + 2], p[p.index(b"ST") + 2:]],   # "ST" | "ARTTLS…", "ST" | "LS…"
    "cut-in-crlf": lambda p: [p[:p.index(b"\r\n") + 1], p[p.index(b"\r\n") + 1:]],
    "three-writes": lambda p: [p[:2], p[2:p.index(b"\r\n")], p[p.index(b"\r\n"):]],
}


def check_session_after_injection(c, case, dovecot):
    """After the handshake: nothing for the injected command, then a real command's answer comes first."""
    stray = c.silence(QUIET)
    assert stray == b"", f"{case}: a reply to the injected command arrived after the handshake: {stray!r}"
    if case == "imap-noop":
        _, done = imap_command(c, "c", f"LOGIN {dovecot.user} {dovecot.password}")
        assert done.startswith(b"c OK"), done
        untagged, done = imap_command(c, "d", "NOOP")
        assert done.startswith(b"d OK") and not any(l.startswith(b"b ") for l in untagged), (untagged, done)
    elif case == "pop3-capa":
        c.send(f"USER {dovecot.user}\r\n".encode())
        first = c.line()
        assert first.startswith(b"+OK"), first
        c.send(f"PASS {dovecot.password}\r\n".encode())
        reply = c.line()
        assert reply.startswith(b"+OK"), f"{reply!r}: not the answer to PASS (a stray CAPA list?)"
        c.send(b"STAT\r\n")
        reply = c.line()
        assert reply.startswith(b"+OK ") and len(reply.split()) == 3, reply
    elif case == "smtp-noop":
        c.send(b"EHLO client.example.org\r\n")
        reply = smtp_reply(c)
        assert reply[0].startswith(b"250-"), f"first reply is not EHLO's (the injected NOOP's?): {reply}"
        c.send(b"MAIL FROM:<bob@example.org>\r\n")
        assert smtp_reply(c)[0].startswith(b"250 "), "MAIL after the upgrade"
    elif case == "smtp-ehlo":
        c.send(b"NOOP\r\n")
        reply = smtp_reply(c)
        assert len(reply) == 1 and reply[0].startswith(b"250 "), \
            f"first reply is not NOOP's (the injected EHLO's?): {reply}"
        smtp_ehlo(c)
        c.send(b"MAIL FROM:<bob@example.org>\r\n")
        assert smtp_reply(c)[0].startswith(b"250 "), "MAIL after the upgrade"
    assert c.silence(0.3) == b""


@pytest.mark.parametrize("split", list(SPLITS))
@pytest.mark.parametrize("case", list(CASES))
def test_injected_command_is_discarded(starttls_tunnel, dovecot, case, split):
    protocol, payload, ok = CASES[case]
    mt = starttls_tunnel(protocol)
    mark = mt.log_mark()
    parts = SPLITS[split](payload)
    assert b"".join(parts) == payload and all(parts)
    assert b"\r\n" not in parts[0] or split == "one-write"
    c, _ = open_plain(mt, protocol)
    with c:
        if protocol == "smtp":
            smtp_ehlo(c)
        c.send_parts(parts)
        reply = c.line()
        assert reply.startswith(ok), f"STARTTLS reply: {reply!r}"
        c.starttls()          # asserts nothing else arrived in plaintext before the handshake
        assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
        check_session_after_injection(c, case, dovecot)
    line = mt.connection_ended(since=mark)[0]
    assert line.get("tls") in ("TLSv1.2", "TLSv1.3"), line.raw
    assert line.get("backend") == f"127.0.0.1:{mt.backend_port}", line.raw


def test_smtp_injection_leaves_no_transaction(starttls_tunnel, smtp_sink):
    """A whole injected mail transaction after STARTTLS must not reach the sink."""
    mt = starttls_tunnel("smtp")
    marker = b"injected-transaction-7f3a"
    c, _ = open_plain(mt, "smtp")
    with c:
        smtp_ehlo(c)
        c.send(b"STARTTLS\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<carol@example.net>\r\nDATA\r\n"
               b"Subject: " + marker + b"\r\n\r\n" + marker + b"\r\n.\r\nQUIT\r\n")
        assert c.line().startswith(b"220 ")
        c.starttls()
        assert c.silence(QUIET) == b""
        # The session is in a fresh state: EHLO, then our own transaction is the only one.
        assert smtp_ehlo(c) == without_trust_extensions(backend_ehlo(smtp_sink))
        c.send(b"RSET\r\n")
        assert smtp_reply(c)[0].startswith(b"250")
    assert not any(marker in p.read_bytes() for p in smtp_sink.files()), "the injected mail was delivered"
