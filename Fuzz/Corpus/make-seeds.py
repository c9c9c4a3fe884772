#!/usr/bin/env python3
"""Writes the seed corpora Fuzz/Corpus/<target>/ from real transcripts and the injection payloads of the
end-to-end tests (test_starttls_injection.py, test_security_smtp_guard.py). Deterministic: re-run after editing.

Record format of the dialogue targets (FuzzInput.nextStep): header 0 = client bytes, 1 = backend bytes (each
followed by a length byte and at most 255 bytes), 3 = TLS handshake done, 0xFF = backend closed. The relay
guard target (runRelayGuard) starts with a flags byte, and its backend records carry only a count byte."""
import os, shutil, struct

HERE = os.path.dirname(os.path.abspath(__file__))
C, S, TLS, CLOSED = "C", "S", "TLS", "CLOSED"


def records(steps, cut=None):
    """steps: [(side, bytes)]. cut: split every client write at this offset too (a second read)."""
    out = bytearray()
    for side, data in steps:
        if side == TLS:
            out.append(3); continue
        if side == CLOSED:
            out.append(0xFF); continue
        parts = [data]
        if cut and side == C and len(data) > cut:
            parts = [data[:cut], data[cut:]]
        for part in parts:
            for i in range(0, max(len(part), 1), 255):
                chunk = part[i:i + 255]
                out += bytes([0 if side == C else 1, len(chunk)]) + chunk
    return bytes(out)


def write(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


IMAP = [
    (S, b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN] Dovecot ready.\r\n"),
    (C, b"a1 CAPABILITY\r\n"),
    (S, b"* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN\r\na1 OK Pre-login capabilities listed, post-login capabilities have more.\r\n"),
    (C, b'a2 ID ("name" "Thunderbird" "version" "115.3.1")\r\n'),
    (S, b'* ID ("name" "Dovecot")\r\na2 OK ID completed.\r\n'),
    (C, b"a3 NOOP\r\n"), (S, b"a3 OK NOOP completed.\r\n"),
    (C, b"a4 STARTTLS\r\n"), (TLS, b""),
    (C, b"a5 CAPABILITY\r\n"), (S, b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\na5 OK done\r\n"),
    (C, b"a6 LOGIN alice secret\r\n"), (S, b"a6 OK Logged in\r\n"),
]
IMAP_INJECT = [(S, IMAP[0][1]), (C, b"a STARTTLS\r\nb NOOP\r\n"), (TLS, b""), (S, b"b OK stray\r\n")]
IMAP_LITERAL = [(S, IMAP[0][1]), (C, b"c LOGIN {5}\r\nalice {6}\r\nsecret\r\n"), (C, b"d ID {4}\r\nabcd\r\n"),
                (C, b"e STARTTLS\r\n"), (S, b"* ID ({4}\r\n"), (TLS, b"")]
POP3 = [
    (S, b"+OK Dovecot ready.\r\n"),
    (C, b"CAPA\r\n"), (S, b"+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nSTLS\r\nSASL PLAIN\r\n.\r\n"),
    (C, b"NOOP\r\n"), (S, b"+OK\r\n"),
    (C, b"STLS\r\n"), (TLS, b""),
    (C, b"USER alice\r\n"), (S, b"+OK\r\n"), (C, b"PASS secret\r\n"), (S, b"+OK Logged in.\r\n"),
]
POP3_INJECT = [(S, POP3[0][1]), (C, b"STLS\r\nCAPA\r\n"), (TLS, b""), (S, b"+OK\r\n")]
SMTP_GREETING = b"220 mx.example.org ESMTP Postfix (Debian/GNU)\r\n"
EHLO_REPLY = (b"250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n"
              b"250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n")
SMTP = [
    (S, SMTP_GREETING), (C, b"EHLO client.example.org\r\n"), (S, EHLO_REPLY),
    (C, b"NOOP\r\n"), (S, b"250 2.0.0 Ok\r\n"),
    (C, b"STARTTLS\r\n"), (TLS, b""),
    (C, b"EHLO client.example.org\r\n"), (S, EHLO_REPLY),
    (C, b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"), (S, b"235 2.7.0 Authentication successful\r\n"),
    (C, b"MAIL FROM:<bob@example.org>\r\n"), (S, b"250 2.1.0 Ok\r\n"),
    (C, b"RCPT TO:<alice@example.org>\r\n"), (S, b"250 2.1.5 Ok\r\n"),
    (C, b"DATA\r\n"), (S, b"354 End data with <CR><LF>.<CR><LF>\r\n"),
    (C, b"Subject: hi\r\n\r\nhello\r\n..dot\r\n.\r\n"), (S, b"250 2.0.0 Ok: queued as 4F1A2\r\n"),
    (C, b"QUIT\r\n"), (S, b"221 2.0.0 Bye\r\n"),
]
SMTP_INJECT = [
    [(S, SMTP_GREETING), (C, b"STARTTLS\r\nNOOP\r\n"), (TLS, b"")],
    [(S, SMTP_GREETING), (C, b"STARTTLS\r\nEHLO x\r\n"), (TLS, b"")],
    [(S, SMTP_GREETING), (C, b"EHLO c\r\n"), (S, EHLO_REPLY),
     (C, b"STARTTLS\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<carol@example.net>\r\nDATA\r\n"
         b"Subject: injected-transaction-7f3a\r\n\r\ninjected-transaction-7f3a\r\n.\r\nQUIT\r\n"), (TLS, b""),
     (C, b"RSET\r\n")],
    [(S, b"220-mx multi\r\n220 line greeting\r\n"), (C, b"HELO c\r\nRSET\r\nQUIT\r\n"), (S, b"250 mx\r\n250 Ok\r\n221 Bye\r\n")],
    [(S, b"421 4.3.2 shutting down\r\n"), (CLOSED, b"")],
]

for name, steps in [("imap-session", IMAP), ("imap-inject", IMAP_INJECT), ("imap-literal", IMAP_LITERAL)]:
    write("starttls-imap", name, records(steps))
    write("starttls-imap", name + "-cut", records(steps, cut=2))
for name, steps in [("pop3-session", POP3), ("pop3-inject", POP3_INJECT)]:
    write("starttls-pop3", name, records(steps))
    write("starttls-pop3", name + "-cut", records(steps, cut=2))
write("starttls-smtp", "smtp-session", records(SMTP))
write("starttls-smtp", "smtp-session-cut", records(SMTP, cut=3))
for i, steps in enumerate(SMTP_INJECT):
    write("starttls-smtp", f"smtp-inject-{i}", records(steps))
    write("starttls-smtp", f"smtp-inject-{i}-cut", records(steps, cut=2))

# ---- SMTP relay guard: flags (1 CHUNKING, 2 accept DATA, 4 awaiting greeting), client reads, deliveries ----
def guard(flags, *reads):
    out = bytearray([flags])
    for r in reads:
        if r is None:
            out.append(3); continue
        for i in range(0, max(len(r), 1), 255):
            chunk = r[i:i + 255]
            out += bytes([0, len(chunk)]) + chunk
        out.append(3)
    return bytes(out)

SMUGGLED = b"XCLIENT ADDR=10.9.9.9 LOGIN=mallory\r\n"
msg = b"Subject: x\r\n\r\nbody\r\n"
write("relay-guard", "session", guard(7, b"EHLO c\r\n", b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n", msg + b".\r\n", b"QUIT\r\n"))
write("relay-guard", "bdat-smuggle-nochunking", guard(2, b"EHLO c\r\nBDAT %d LAST\r\n" % len(SMUGGLED) + SMUGGLED, b"NOOP\r\n"))
write("relay-guard", "bdat-chunking", guard(3, b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT %d LAST\r\n" % len(msg) + msg))
write("relay-guard", "bdat-pipelined-before-ehlo-reply", guard(6, b"EHLO c\r\nBDAT %d\r\n" % len(SMUGGLED) + SMUGGLED + b"BDAT 0 LAST\r\n"))
write("relay-guard", "data-end-variants", guard(3, b"DATA\r\n", b"x\n.\nXCLIENT ADDR=1.2.3.4\r\n", b"DATA\r\n", b"y\r\n.\r\r\nXFORWARD NAME=x\r\n"))
write("relay-guard", "data-refused", guard(1, b"DATA\r\n" + SMUGGLED, b"DATA\r\nXCLIENT a\r\n.\r\n"))
write("relay-guard", "verbs", guard(3, b"xclient addr=1.1.1.1\r\n  XCLIENT x\r\n\tXFORWARD y\r\nSTARTTLS\r\nstarttlsx\r\n"
                                         b"XCLIENTFOO\r\nXCLI", b"ENT split\r\n", b"BDAT  5\r\nBDAT 5 LAST junk\r\n"))
write("relay-guard", "local-domains-rcpt-mix", guard(11, b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@example.org>\r\n"
      b"RCPT TO:<y@evil.net>\r\nrcpt to: <z%evil.net@example.org>\r\nRCPT TO:<@a:w@example.org>\r\n",
      b"RSET\r\nMAIL FROM:<>\r\nRCPT TO:<Q@EXAMPLE.ORG.>\r\nBDAT 20 LAST\r\nRCPT TO:<v@evil.net>\r\n"
      b"RCPT TO:<u@evil.net>\r\nDATA\r\n", msg + b".\r\n"))
write("relay-guard", "dot-stuffing", guard(3, b"DATA\r\n", b"..\r\n.x\r\n\r\n.\r", b"\n", SMUGGLED))

# ---- SMTP auth gate: flags (1 xclient, 2 greeting already seen), then records ----
def gate(flags, steps):
    return bytes([flags]) + records(steps)
GATE = [
    (S, SMTP_GREETING), (C, b"EHLO client.example.org\r\n"), (S, EHLO_REPLY.replace(b"250-STARTTLS\r\n", b"250-XCLIENT NAME ADDR PORT LOGIN\r\n")),
    (C, b"MAIL FROM:<a@b>\r\n"),
    (C, b"AUTH PLAIN AGFsaWNlAHBhc3M=\r\n"),
    (S, b"220 mx.example.org ESMTP\r\n"), (S, b"250-mx\r\n250 CHUNKING\r\n"),
    (C, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"),
]
write("auth-gate", "plain-xclient", gate(1, GATE))
write("auth-gate", "plain", gate(0, [(S, SMTP_GREETING), (C, b"EHLO c\r\n"), (S, EHLO_REPLY), (C, b"AUTH PLAIN\r\n"),
                                    (C, b"AGFsaWNlAHBhc3M=\r\n"), (C, b"XCLIENT ADDR=1.2.3.4\r\nMAIL FROM:<a@b>\r\n")]))
write("auth-gate", "login", gate(3, [(C, b"EHLO c\r\n"), (S, b"250 mx\r\n"), (C, b"AUTH LOGIN\r\n"), (C, b"YWxpY2U=\r\n"),
                                    (C, b"cGFzcw==\r\n"), (S, b"250 xclient ok\r\n"), (S, b"220 mx\r\n"), (S, b"250 mx\r\n")]))
# A user name with CR LF and an XCLIENT in it (authcid "a\r\nXCLIENT ADDR=6.6.6.6").
import base64
evil = base64.b64encode(b"\x00a\r\nXCLIENT ADDR=6.6.6.6\x00pass")
write("auth-gate", "crlf-user", gate(1, [(S, SMTP_GREETING), (C, b"EHLO c\r\n"), (S, EHLO_REPLY), (C, b"AUTH PLAIN " + evil + b"\r\n"),
                                        (S, b"220 mx\r\n"), (S, b"250 ok\r\n")]))
write("auth-gate", "local-domains-xclient", gate(5, [(S, SMTP_GREETING), (C, b"EHLO c\r\n"), (S, EHLO_REPLY),
      (C, b"MAIL FROM:<x@remote.net>\r\nRCPT TO:<a@example.org>\r\nRCPT TO:<b@evil.net>\r\n"), (S, b"220 mx\r\n"),
      (S, EHLO_REPLY), (S, b"250 ok\r\n250 ok\r\n")]))
write("auth-gate", "bad", gate(0, [(S, SMTP_GREETING), (C, b"AUTH PLAIN =\r\nAUTH PLAIN !!!\r\n*\r\nAUTH FOO\r\nSTARTTLS\r\nQUIT\r\n")]))

# ---- PROXY protocol: first byte = v2 payload cap / 64 ----
def p2(cmd, fam, addr, tlvs=b""):
    body = addr + tlvs
    return bytes([64]) + bytes.fromhex("0d0a0d0a000d0a515549540a") + bytes([0x20 | cmd, fam]) + struct.pack("!H", len(body)) + body
v4 = bytes([192, 0, 2, 1, 198, 51, 100, 2]) + struct.pack("!HH", 40000, 993)
v6 = bytes(15) + b"\x01" + bytes(15) + b"\x02" + struct.pack("!HH", 40000, 993)
ssl = bytes([0x20]) + struct.pack("!H", 5 + 3 + 7) + bytes([0x07]) + struct.pack("!I", 0) + bytes([0x21]) + struct.pack("!H", 4) + b"TLSv"
write("proxy-protocol", "v1-tcp4", b"\x40PROXY TCP4 192.0.2.1 198.51.100.2 40000 993\r\nEHLO x\r\n")
write("proxy-protocol", "v1-tcp6", b"\x40PROXY TCP6 2001:db8::1 ::1 40000 993\r\n")
write("proxy-protocol", "v1-unknown", b"\x40PROXY UNKNOWN\r\n")
write("proxy-protocol", "v2-tcp4", p2(1, 0x11, v4))
write("proxy-protocol", "v2-tcp6-ssl", p2(1, 0x21, v6, ssl))
write("proxy-protocol", "v2-local", p2(0, 0x00, b""))
write("proxy-protocol", "v2-unix", p2(1, 0x31, bytes(216)))

# ---- client mode's upgrade towards a server: first byte 0 SMTP, 1 IMAP, 2 POP3, then the server's records ----
CLIENT_SERVERS = {
    0: [b"220-mx.example ESMTP\r\n220 mx.example ready\r\n",
        b"250-mx.example\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n", b"220 2.0.0 Ready to start TLS\r\n"],
    1: [b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] Dovecot ready.\r\n",
        b"* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\nC1 OK done\r\n", b"C2 OK Begin TLS negotiation now.\r\n"],
    2: [b"+OK Dovecot ready.\r\n", b"+OK\r\nCAPA\r\nTOP\r\nSTLS\r\nUIDL\r\n.\r\n", b"+OK Begin TLS\r\n"],
}
for proto, replies in CLIENT_SERVERS.items():
    write("starttls-client", f"upgrade-{proto}", bytes([proto]) + records([(S, r) for r in replies]))
    injected = replies[:-1] + [replies[-1] + b"250 injected\r\n"]
    write("starttls-client", f"injected-{proto}", bytes([proto]) + records([(S, r) for r in injected]))
    stripped = [r.replace(b"STARTTLS", b"XXXXXXXX").replace(b"STLS", b"XXXX") for r in replies]
    write("starttls-client", f"stripped-{proto}", bytes([proto]) + records([(S, r) for r in stripped] + [(CLOSED, b"")]))


# ---- configs ----
for name in sorted(os.listdir(os.path.join(HERE, "../../Config"))):
    path = os.path.join(HERE, "../../Config", name)
    if os.path.isfile(path):
        os.makedirs(os.path.join(HERE, "native-config"), exist_ok=True)
        shutil.copy(path, os.path.join(HERE, "native-config", name))
write("native-config", "sections.conf", b"""# keys before the first section apply to every listener
connect = 127.0.0.1:143
idle-timeout = 30m
[imaps]
accept = 993
protocol = imap
connect = [::1]:10143   # second backend
[submission]
accept = 127.0.0.1:587
connect = 127.0.0.1:25
protocol = smtp
starttls = yes
auth = sasl
xclient = yes
proxy-protocol = v2
max-connections-per-ip = 20
""")
write("stunnel-config", "stunnel.conf", b"""; stunnel.conf for the mail services
foreground = yes
pid = /run/stunnel.pid
debug = info
output = /var/log/stunnel.log
TIMEOUTbusy = 30

[imaps]
accept = 127.0.0.1:993
connect = 127.0.0.1:143
sslVersionMin = TLSv1.2
TIMEOUTidle = 600
verify = 2
CAfile = /etc/ssl/ca.pem

[pop3s]
accept = :::995
connect = 110
verifyChain = yes
requireCert = yes
checkHost = mail.example.org

[submission]
client = no
accept = 127.0.0.1:587
connect = 127.0.0.1:25
protocol = smtp
failover = prio

[proxied]
accept = 465
connect = 25
protocol = proxy
""")

# smtp-address: a flags byte (bit 0: RCPT, else MAIL; bit 1: append CRLF), then the line (issue 13's table).
for i, (flags, line) in enumerate([
        (3, b"RCPT TO:<alice@example.org>"), (3, b"RCPT TO:<Alice@EXAMPLE.org.> NOTIFY=NEVER"),
        (3, b"RCPT TO:<bob%elsewhere.net@example.org>"), (3, b"RCPT TO:<elsewhere.net!bob@example.org>"),
        (3, b"RCPT TO:<@a,@b:bob@example.org>"), (3, b'RCPT TO:<"a>b c"@example.org>'),
        (3, b"RCPT TO:<postmaster@[192.0.2.25]>"), (3, b"RCPT TO:<bob@[IPv6:2001:db8::1]>"),
        (3, b"RCPT TO:<Postmaster>"), (3, b"RCPT TO: <x@mx.sub.example.org>"), (1, b"RCPT TO:alice@example.org"),
        (2, b"MAIL FROM:<> SIZE=100 BODY=8BITMIME"), (2, b"MAIL FROM:<alice@example.org>"),
        (2, b"MAIL FROM:<ceo@example.org> AUTH=<>"), (0, b'MAIL FROM:<"q\\"x"@sales.example.org>')]):
    write("smtp-address", f"seed-{i:02d}", bytes([flags]) + line)
