"""Helpers for the STARTTLS tests (issue 4): a line-oriented plaintext client that can upgrade its own socket
to TLS, reply readers for IMAP/POP3/SMTP, and a fixture that starts mailtunnel with `--starttls yes` in front
of the real backends (Dovecot IMAP/POP3, Postfix smtp-sink)."""
from __future__ import annotations

import re
import socket
import ssl
import time

import pytest

from clients import client_context, tcp_connect

HOST = "127.0.0.1"


class LineClient:
    """A TCP client that reads CRLF lines without ever reading past what it asked for into the TLS handshake:
    before `starttls()` everything the server sent must have been consumed (anything left over would be
    plaintext that arrived after the STARTTLS reply — itself a failure)."""

    def __init__(self, host: str, port: int, timeout: float = 10.0):
        self.sock: socket.socket = tcp_connect(host, port, timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.tls = False

    # ---- writing ------------------------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_parts(self, parts: list[bytes], gap: float = 0.25) -> None:
        """Each part in its own write (TCP_NODELAY), with a gap so that the server reads them separately.
        The gap is the scenario under test (a command line cut across segments), not a synchronisation."""
        for i, part in enumerate(parts):
            if i:
                time.sleep(gap)
            self.sock.sendall(part)

    # ---- reading ------------------------------------------------------------------------------------
    def _fill(self, deadline: float, what: str) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no {what} in time; buffered {self.buf[:300]!r}")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError(f"no {what} in time; buffered {self.buf[:300]!r}") from None
        if not chunk:
            raise EOFError(f"connection closed while waiting for {what}; buffered {self.buf[:300]!r}")
        self.buf += chunk

    def line(self, timeout: float = 10.0) -> bytes:
        """One line including its CRLF."""
        deadline = time.monotonic() + timeout
        while b"\r\n" not in self.buf:
            self._fill(deadline, "complete line")
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line + b"\r\n"

    def lines_until(self, last, timeout: float = 10.0) -> list[bytes]:
        """Lines up to and including the first for which last(line) is true."""
        deadline = time.monotonic() + timeout
        out = []
        while True:
            line = self.line(max(0.01, deadline - time.monotonic()))
            out.append(line)
            if last(line):
                return out

    def silence(self, seconds: float = 1.5) -> bytes:
        """Everything that arrives within `seconds` (expected: nothing). EOF ends the wait early."""
        data, self.buf = self.buf, b""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return data
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError):
                return data
            if not chunk:
                return data + b"<EOF>"
            data += chunk

    def read_to_eof(self, timeout: float = 10.0) -> bytes:
        """The rest of the stream; raises TimeoutError if the server does not close within `timeout`."""
        deadline = time.monotonic() + timeout
        data, self.buf = self.buf, b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"connection not closed within {timeout}s; got {data[:300]!r}")
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLEOFError):
                return data
            except socket.timeout:
                raise TimeoutError(f"connection not closed within {timeout}s; got {data[:300]!r}") from None
            if not chunk:
                return data
            data += chunk

    # ---- TLS ----------------------------------------------------------------------------------------
    def starttls(self, ctx: ssl.SSLContext | None = None, timeout: float = 10.0) -> None:
        assert self.buf == b"", f"plaintext after the STARTTLS reply, before the handshake: {self.buf!r}"
        self.sock.settimeout(timeout)
        self.sock = (ctx or client_context()).wrap_socket(self.sock, server_hostname="localhost")
        self.tls = True

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---- protocol replies -------------------------------------------------------------------------------
def imap_command(c: LineClient, tag: str, command: str, timeout: float = 10.0) -> tuple[list[bytes], bytes]:
    """Send `tag command`; return (untagged lines, the tagged completion line)."""
    c.send(f"{tag} {command}\r\n".encode())
    lines = c.lines_until(lambda l: l.startswith(tag.encode() + b" "), timeout)
    return lines[:-1], lines[-1]


def imap_caps_from_greeting(greeting: bytes) -> list[str]:
    m = re.search(rb"\[CAPABILITY ([^\]]*)\]", greeting)
    assert m, f"no [CAPABILITY …] in the greeting {greeting!r}"
    return m.group(1).decode().split()


def imap_caps(c: LineClient, tag: str = "cap") -> list[str]:
    untagged, done = imap_command(c, tag, "CAPABILITY")
    assert done.startswith(f"{tag} OK".encode()), done
    caps = [l for l in untagged if l.upper().startswith(b"* CAPABILITY ")]
    assert len(caps) == 1, untagged
    return caps[0][len(b"* CAPABILITY "):].decode().split()


def pop3_multiline(c: LineClient, timeout: float = 10.0) -> list[bytes]:
    """The lines of a multi-line +OK reply between the status line and the terminating '.'."""
    first = c.line(timeout)
    assert first.startswith(b"+OK"), first
    lines = c.lines_until(lambda l: l == b".\r\n", timeout)
    return [l[:-2] for l in lines[:-1]]


def pop3_capa(c: LineClient) -> list[str]:
    c.send(b"CAPA\r\n")
    return [l.decode() for l in pop3_multiline(c)]


def smtp_reply(c: LineClient, timeout: float = 10.0) -> list[bytes]:
    """All lines of one (possibly multi-line) SMTP reply."""
    return c.lines_until(lambda l: len(l) >= 5 and l[3:4] != b"-", timeout)


def smtp_ehlo(c: LineClient, name: str = "client.example.org") -> list[bytes]:
    c.send(f"EHLO {name}\r\n".encode())
    reply = smtp_reply(c)
    assert all(l.startswith(b"250") for l in reply), reply
    return reply


def without_trust_extensions(reply: list[bytes]) -> list[bytes]:
    """An EHLO reply as mailtunnel's relay guard passes it on: lines offering XCLIENT, XFORWARD or STARTTLS
    dropped (the client may use none of them through the tunnel), the last line's separator kept valid."""
    kept = [reply[0]] + [l for l in reply[1:]
                         if (l[4:].split() or [b""])[0].upper() not in (b"XCLIENT", b"XFORWARD", b"STARTTLS")]
    if kept[-1] != reply[-1] and len(kept[-1]) > 3:
        kept[-1] = kept[-1][:3] + b" " + kept[-1][4:]
    return kept


def ehlo_keywords(reply: list[bytes]) -> list[str]:
    """The extension keywords of an EHLO reply (upper case, first word of every line after the first)."""
    out = []
    for l in reply[1:]:
        words = l[4:].decode().split()
        if words:
            out.append(words[0].upper())
    return out


# ---- the backends, asked directly (what mailtunnel must leave untouched after the upgrade) -----------
def backend_imap_caps(dovecot) -> tuple[list[str], list[str]]:
    """(greeting capabilities, CAPABILITY reply) of Dovecot itself."""
    with LineClient(HOST, dovecot.imap_port) as c:
        greeting = c.line()
        return imap_caps_from_greeting(greeting), imap_caps(c)


def backend_pop3_capa(dovecot) -> list[str]:
    with LineClient(HOST, dovecot.pop3_port) as c:
        assert c.line().startswith(b"+OK")
        return pop3_capa(c)


def backend_ehlo(sink, name: str = "client.example.org") -> list[bytes]:
    with LineClient(HOST, sink.port) as c:
        assert c.line().startswith(b"220")
        return smtp_ehlo(c, name)


# ---- the tunnel ---------------------------------------------------------------------------------------
@pytest.fixture
def starttls_tunnel(mailtunnel, dovecot, smtp_sink):
    """start(protocol, extra=[]): mailtunnel --protocol P --starttls yes in front of the matching real backend."""
    def start(protocol: str, extra: list[str] | None = None):
        port = {"imap": dovecot.imap_port, "pop3": dovecot.pop3_port, "smtp": smtp_sink.port}[protocol]
        mt = mailtunnel(connect=port, protocol=protocol, extra=["--starttls", "yes", *(extra or [])])
        mt.backend_port = port
        return mt
    return start


def open_plain(mt, protocol: str) -> tuple[LineClient, bytes]:
    """A plaintext client on the STARTTLS port, past the greeting (and for SMTP past a first EHLO)."""
    c = LineClient(HOST, mt.accept_port)
    try:
        greeting = c.line()
        want = {"imap": b"* OK", "pop3": b"+OK", "smtp": b"220 "}[protocol]
        assert greeting.startswith(want), greeting
    except BaseException:
        c.close()
        raise
    return c, greeting


def upgrade(c: LineClient, protocol: str) -> None:
    """Issue STARTTLS/STLS, check the positive reply, run the handshake."""
    if protocol == "imap":
        c.send(b"st STARTTLS\r\n")
        reply = c.line()
        assert reply.startswith(b"st OK"), reply
    elif protocol == "pop3":
        c.send(b"STLS\r\n")
        reply = c.line()
        assert reply.startswith(b"+OK"), reply
    else:
        c.send(b"STARTTLS\r\n")
        reply = c.line()
        assert reply.startswith(b"220 "), reply
    c.starttls()
