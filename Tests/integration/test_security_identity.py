"""Issue 9, items 8 and 9: one certificate identity, used consistently; logs that cannot be forged.

- A certificate admitted by `allow-subject` under its email is that email everywhere: the login Postfix gets by
  XCLIENT (the gate's certificate identity), the CN TLV of PROXY v2, the log's identity/user fields. Without
  `allow-subject` the most specific (last) CN is the identity.
- A certificate whose CN or email holds NUL or another control character is refused at the handshake.
- A user name holding CR LF and other controls ends up as exactly one log line, escaped."""
import base64
import socket
import ssl
import struct
import threading
import uuid

import pytest

from clients import client_context, recv_exact, recv_until
from fake_saslauthd import FakeSaslauthd
from gate_support import CLIENT_IP, RawSMTP, gate_ca, postfix, postfix_session_for, unique_sender  # noqa: F401
from procs import free_port


def cert_context(ident) -> ssl.SSLContext:
    ctx = client_context()
    ctx.load_cert_chain(str(ident.cert), str(ident.key))
    return ctx


# ---- item 8: the admitted identity is the one handed over ---------------------------------------------
def test_allow_subject_email_is_the_login_postfix_gets_not_the_cn(mailtunnel, postfix, gate_ca):
    email = f"alice-{uuid.uuid4().hex[:8]}@example.org"
    ident = gate_ca.issue_names("bob-with-alice-email", ["bob"], [email])
    mt = mailtunnel(connect=postfix.port, protocol="smtp",
                    extra=["--verify", "require", "--ca-file", str(gate_ca.cert), "--auth", "certificate",
                           "--xclient", "yes", "--allow-subject", email])
    mark = mt.log_mark()
    sender = unique_sender()
    c = RawSMTP(mt.accept_port, ctx=cert_context(ident))
    try:
        assert c.reply()[0] == 220
        assert c.cmd("EHLO client.example")[0] == 250
        code, text = c.cmd("AUTH EXTERNAL =")       # no authorization identity: the certificate's own
        assert code == 235, f"AUTH EXTERNAL: {code} {text}"
        c.send_message(sender)
    finally:
        c.close()
    line = postfix_session_for(postfix, sender)
    assert f"sasl_username={email}" in line, f"Postfix was handed another login than the admitted one: {line}"
    ended = mt.connection_ended(since=mark)[0]
    assert ended.get("user") == email and ended.get("identity") == email, ended.raw
    assert "CN=bob" in ended.get("peer", ""), ended.raw


class ProxyV2Backend:
    """Accepts connections, decodes each PROXY v2 header (RFC: 12-byte signature, ver/cmd, fam, length, then
    addresses and TLVs), records the SSL TLV's CN sub-TLV, answers `ok` and closes."""

    SIG = b"\r\n\r\n\x00\r\nQUIT\n"

    def __init__(self):
        self.port = free_port()
        self.sock = socket.create_server(("127.0.0.1", self.port))
        self.sock.settimeout(30)
        self.common_names: list[bytes | None] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                try:
                    head = recv_exact(conn, 16)
                    assert head[:12] == self.SIG, head
                    payload = recv_exact(conn, struct.unpack("!H", head[14:16])[0])
                except (EOFError, OSError, AssertionError):
                    continue
                self.common_names.append(self._cn(payload, head[13]))
                conn.sendall(b"ok\r\n")

    @staticmethod
    def _cn(payload: bytes, family: int) -> bytes | None:
        pos = {0x11: 12, 0x21: 36}.get(family, 0)
        while pos + 3 <= len(payload):
            kind, size = payload[pos], struct.unpack("!H", payload[pos + 1:pos + 3])[0]
            value = payload[pos + 3:pos + 3 + size]
            pos += 3 + size
            if kind == 0x20:                      # PP2_TYPE_SSL: client(1) verify(4) sub-TLVs
                sub = 5
                while sub + 3 <= len(value):
                    skind, ssize = value[sub], struct.unpack("!H", value[sub + 1:sub + 3])[0]
                    if skind == 0x22:             # PP2_SUBTYPE_SSL_CN
                        return value[sub + 3:sub + 3 + ssize]
                    sub += 3 + ssize
        return None

    def close(self):
        self.sock.close()


@pytest.fixture
def proxy_backend():
    b = ProxyV2Backend()
    yield b
    b.close()


def tls_exchange(port: int, ctx: ssl.SSLContext) -> bytes:
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname="localhost") as s:
        data, _ = recv_until(s, lambda d: d.endswith(b"\r\n"), timeout=10)
        return data


@pytest.mark.parametrize("common_names, emails, allow, expected", [
    (["bob"], ["alice@example.org"], "alice@example.org", b"alice@example.org"),
    (["Users", "carol"], [], None, b"carol"),          # a directory-style DN: the last CN is the specific one
], ids=["allow-subject-email", "most-specific-cn"])
def test_proxy_v2_cn_is_the_admitted_identity(mailtunnel, gate_ca, proxy_backend, common_names, emails, allow,
                                              expected):
    ident = gate_ca.issue_names(f"pp2-{'-'.join(common_names)}", common_names, emails)
    extra = ["--verify", "require", "--ca-file", str(gate_ca.cert), "--proxy-protocol", "v2"]
    if allow:
        extra += ["--allow-subject", allow]
    mt = mailtunnel(connect=proxy_backend.port, protocol="none", extra=extra)
    mark = mt.log_mark()
    assert tls_exchange(mt.accept_port, cert_context(ident)) == b"ok\r\n"
    assert proxy_backend.common_names == [expected], proxy_backend.common_names
    assert mt.connection_ended(since=mark)[0].get("identity") == expected.decode()


# ---- item 8: names holding control characters are refused at the handshake -----------------------------
@pytest.mark.parametrize("common_names, emails", [
    (["alice\x00evil"], []),
    (["alice\r\nMAIL FROM:<x@y>"], []),
    (["dave"], ["dave@example.org\x00.evil.example"]),
    (["Users\x7f", "erin"], []),
], ids=["nul-in-cn", "crlf-in-cn", "nul-in-email", "del-in-other-cn"])
def test_certificate_names_with_control_characters_refused_at_handshake(mailtunnel, postfix, gate_ca,
                                                                        common_names, emails):
    ident = gate_ca.issue_names(f"ctl-{uuid.uuid4().hex[:6]}", common_names, emails)
    mt = mailtunnel(connect=postfix.port, protocol="smtp",
                    extra=["--verify", "optional", "--ca-file", str(gate_ca.cert), "--auth", "certificate",
                           "--xclient", "yes"])
    mark = mt.log_mark()
    raw = socket.create_connection(("127.0.0.1", mt.accept_port), timeout=10)
    got = b""
    try:
        with cert_context(ident).wrap_socket(raw, server_hostname="localhost") as s:
            # TLS 1.3: the client's side of the handshake completes first; the server's alert arrives on read.
            got, _ = recv_until(s, lambda d: b"\r\n" in d, timeout=10)
    except (ssl.SSLError, OSError) as e:
        assert "certificate" in str(e).lower() or isinstance(e, (ConnectionResetError, ssl.SSLEOFError)), e
    assert not got.startswith(b"220"), f"the session started with that certificate: {got!r}"
    ended = mt.connection_ended(since=mark)
    assert len(ended) == 1, [l.raw for l in ended]
    reason = ended[0].get("reason", "")
    assert reason.startswith("handshake failed") and "control character" in reason, ended[0].raw
    assert ended[0].get("user") == "-" and ended[0].get("identity") == "-", ended[0].raw


# ---- item 9: one event, one line -----------------------------------------------------------------------
FORGED_TAIL = "2026-01-01T00:00:00.000Z info connection ended listener=x client=203.0.113.9:1 reason=forged"


def test_user_name_with_line_breaks_is_one_escaped_log_line(mailtunnel, smtp_sink, workdir):
    daemon = FakeSaslauthd(verdict=lambda login, password: password == b"pw")   # any login, whatever its bytes
    user = f"eve\r\n{FORGED_TAIL}\x1b[2J\x7f\x01"
    try:
        mt = mailtunnel(connect=smtp_sink.port, protocol="smtp",
                        extra=daemon.gate_flags(workdir / "sasl", mech_list="PLAIN"))
        mark = mt.log_mark()
        c = RawSMTP(mt.accept_port)
        try:
            assert c.reply()[0] == 220
            assert c.cmd("EHLO client.example")[0] == 250
            token = base64.b64encode(b"\0" + user.encode() + b"\0pw").decode()
            code, text = c.cmd(f"AUTH PLAIN {token}")
            assert code == 235, f"the fake saslauthd accepts any login: {code} {text}"
            c.cmd("QUIT")
        finally:
            c.close()
        ended = mt.connection_ended(since=mark)
    finally:
        daemon.close()
    logins = [check.login for check in daemon.recorded()]
    assert logins and logins[0].startswith(b"eve\r\n"), logins

    text = mt.log_text()
    lines = text.splitlines()[mark:]
    assert len(ended) == 1 and not any("203.0.113.9" in l and "reason=forged" in l and l.startswith("2026-01-01")
                                       for l in lines), "\n".join(lines)
    bad = sorted({hex(ord(ch)) for ch in text if ord(ch) < 0x20 and ch != "\n" or ord(ch) == 0x7f})
    assert not bad, f"raw control characters in the log: {bad}"
    raw = ended[0].raw
    assert 'user="eve\\r\\n2026-01-01T' in raw and "\\x1b[2J\\x7f\\x01" in raw, raw
    # the line's own fields are the real ones, not the ones inside the quoted user name
    assert ended[0].get("client", "").startswith(CLIENT_IP + ":"), raw
    assert "forged" not in ended[0].get("reason", ""), raw
