"""Fixtures and helpers for the SMTP gate and PROXY protocol tests (issue 6): a real Postfix smtpd, a sasldb
made with saslpasswd2, a test CA, a Dovecot with a `haproxy = yes` listener, and HAProxy in TCP mode.

Import the fixtures into a test module (`from gate_support import postfix, sasl_config, …`)."""
from __future__ import annotations

import base64
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from clients import client_context, recv_until
from dovecot import Dovecot
from gate_pki import TestCA
from postfix import Postfix
from procs import Process, free_port, port_accepts, wait_until

CLIENT_IP = "127.0.0.2"          # the "real" client: distinguishable from mailtunnel's own 127.0.0.1
USER, PASSWORD = "alice", "Tr0ub4dor-gate-pw"
OUTSIDE_RCPT = "x@outside.example"
HOSTNAME = socket.gethostname()   # libsasl2's default realm; the sasldb user is created under it


def fresh_dir(session_dir: Path, name: str) -> Path:
    """A new directory per fixture instance: a session fixture imported into several test modules is set up
    once per module, and the instances must not share a queue, a pid file or a base_dir."""
    d = Path(tempfile.mkdtemp(prefix=name + "-", dir=session_dir))
    os.chmod(d, 0o755)
    return d


# ---- Postfix ----------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def postfix(session_dir):
    p = Postfix(fresh_dir(session_dir, "postfix")).start()
    yield p
    p.stop()


def postfix_session_for(postfix: Postfix, sender: str, timeout: float = 15.0) -> str:
    """Postfix's smtpd line (`QID: client=…, sasl_method=…, sasl_username=…`) of the message from `sender`."""
    line = postfix.wait_for_log(r": from=<" + re.escape(sender) + ">", timeout)[0]
    qid = re.search(r"\]: ([0-9A-F]+): from=", line).group(1)
    return postfix.wait_for_log(rf"postfix/smtpd\[\d+\]: {qid}: client=", timeout)[0]


def unique_sender() -> str:
    return f"bob-{uuid.uuid4().hex[:12]}@example.org"


def message_for(sender: str) -> bytes:
    return (f"From: <{sender}>\r\nTo: <{OUTSIDE_RCPT}>\r\nSubject: gate test\r\n"
            f"Message-ID: <{uuid.uuid4().hex}@example.org>\r\n\r\nrelayed through the gate\r\n").encode()


# ---- Cyrus SASL ---------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def sasl_config(session_dir) -> Path:
    """A sasldb with alice (realm: this host's name) and `smtpd.conf` for the application name `smtpd`."""
    d = fresh_dir(session_dir, "sasl")
    db = d / "sasldb2"
    r = subprocess.run(["saslpasswd2", "-c", "-p", "-f", str(db), "-u", HOSTNAME, USER],
                       input=PASSWORD, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    (d / "smtpd.conf").write_text(f"pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: {db}\n"
                                  f"mech_list: PLAIN LOGIN CRAM-MD5\n")
    return d


def sasl_flags(sasl_config: Path) -> list[str]:
    return ["--auth", "sasl", "--sasl-service", "smtpd", "--sasl-config-dir", str(sasl_config),
            "--xclient", "yes"]


# ---- test CA -------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def gate_ca(session_dir) -> TestCA:
    return TestCA(fresh_dir(session_dir, "gate-pki"))


# ---- SMTP client helpers -------------------------------------------------------------------------------
def swaks(port: int, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    argv = ["swaks", "--server", f"127.0.0.1:{port}", "--local-interface", CLIENT_IP, "--ehlo", "client.example",
            "--timeout", "30", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


class RawSMTP:
    """A line-level SMTP client over a socket (TLS or not) bound to CLIENT_IP, for replies smtplib hides."""

    def __init__(self, port: int, implicit_tls: bool = True, ctx: ssl.SSLContext | None = None):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(CLIENT_IP, 0))
        self.ctx = ctx or client_context()
        self.sock = self.ctx.wrap_socket(raw, server_hostname="localhost") if implicit_tls else raw
        self.buf = b""
        self.closed = False

    def local_port(self) -> int:
        return self.sock.getsockname()[1]

    def reply(self, timeout: float = 10.0) -> tuple[int, str]:
        """One complete (possibly multi-line) reply: (code, text). (0, "") at EOF."""
        def complete(data: bytes) -> bool:
            return any(re.match(rb"\d{3} ", l) for l in data.split(b"\r\n")[:-1])
        data, eof = recv_until(self.sock, lambda d: complete(self.buf + d), timeout)
        self.buf += data
        if eof and not complete(self.buf):
            self.closed = True
            return 0, self.buf.decode(errors="replace")
        lines = self.buf.split(b"\r\n")
        for i, l in enumerate(lines):
            if re.match(rb"\d{3} ", l):
                text = b"\n".join(lines[:i + 1]).decode(errors="replace")
                self.buf = b"\r\n".join(lines[i + 1:])
                if eof:
                    self.closed = True
                return int(l[:3]), text
        raise AssertionError("unreachable")

    def cmd(self, line: str) -> tuple[int, str]:
        self.sock.sendall(line.encode() + b"\r\n")
        return self.reply()

    def send_message(self, sender: str) -> None:
        """After EHLO (and AUTH): one message from `sender` to OUTSIDE_RCPT, each step answered as it must be,
        then QUIT."""
        code, text = self.cmd(f"MAIL FROM:<{sender}>")
        assert code == 250, text
        code, text = self.cmd(f"RCPT TO:<{OUTSIDE_RCPT}>")
        assert code == 250, text
        code, text = self.cmd("DATA")
        assert code == 354, text
        self.sock.sendall(message_for(sender) + b".\r\n")
        code, text = self.reply()
        assert code == 250, text
        self.cmd("QUIT")

    def starttls(self) -> None:
        code, text = self.cmd("STARTTLS")
        assert code == 220, text
        self.sock = self.ctx.wrap_socket(self.sock, server_hostname="localhost")

    def wait_closed(self, timeout: float = 10.0) -> bytes:
        data, eof = recv_until(self.sock, lambda d: False, timeout)
        self.closed = True
        return data

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def auth_plain(user: str, password: str) -> str:
    return "AUTH PLAIN " + base64.b64encode(f"\0{user}\0{password}".encode()).decode()


# ---- Dovecot with a PROXY-protocol listener -----------------------------------------------------------
HAPROXY_SETTINGS = """
# PROXY protocol (issue 6): trust headers from loopback on an extra listener
haproxy_trusted_networks = 127.0.0.0/8
login_log_format_elements = user=<%u> method=%m rip=%r lip=%l mpid=%e %c secured=%c
service imap-login {{
  inet_listener imap_haproxy {{
    port = {port}
    haproxy = yes
  }}
}}
"""


class ProxyDovecot(Dovecot):
    """The harness's private Dovecot plus an IMAP listener that expects a PROXY header (`haproxy = yes`)."""

    # Its own loopback address: mailtunnel then connects from 127.0.0.1 to 127.0.0.3, so Dovecot cannot call the
    # connection "secured" merely because both ends have the same address; only the PROXY v2 SSL TLV can.
    HOST = "127.0.0.3"

    def __init__(self, root: Path, users: dict[str, str]):
        super().__init__(root, users, listen=self.HOST)
        self.haproxy_port = free_port(self.host)

    def _prepare(self) -> None:
        super()._prepare()
        with open(self.config_path, "a") as f:
            f.write(HAPROXY_SETTINGS.format(port=self.haproxy_port))

    def start(self, timeout: float = 20.0) -> "ProxyDovecot":
        super().start(timeout)
        try:
            wait_until(lambda: port_accepts(self.host, self.haproxy_port), timeout,
                       what="dovecot's haproxy listener")
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"dovecot's haproxy listener did not open\n{self.log_text()[-3000:]}")
        return self

    def login_lines(self) -> list[str]:
        return [l for l in self.log_text().splitlines() if re.search(r"imap-login: (Info: )?Login: ", l)]


@pytest.fixture(scope="session")
def proxy_dovecot(session_dir):
    d = ProxyDovecot(fresh_dir(session_dir, "dovecot-haproxy"), {USER: PASSWORD})
    d.start()
    yield d
    d.stop()


def imap_login_from(port: int, source_ip: str = CLIENT_IP, user: str = USER, password: str = PASSWORD,
                    implicit_tls: bool = True) -> int:
    """IMAP LOGIN + LOGOUT over TLS from `source_ip`; returns the client's local port."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source_ip, 0))
    local_port = raw.getsockname()[1]
    s = client_context().wrap_socket(raw, server_hostname="localhost") if implicit_tls else raw
    try:
        imap_login_logout(s, user, password)
    finally:
        s.close()
    return local_port


def imap_login_logout(s, user: str, password: str) -> None:
    """On a connected IMAP socket: the greeting, LOGIN (must succeed), LOGOUT."""
    greeting, _ = recv_until(s, lambda d: d.endswith(b"\r\n"))
    assert greeting.startswith(b"* OK"), greeting
    s.sendall(f"a1 LOGIN {user} {password}\r\n".encode())
    data, _ = recv_until(s, lambda d: b"a1 " in d and d.endswith(b"\r\n"))
    assert b"a1 OK" in data, data
    s.sendall(b"a2 LOGOUT\r\n")
    recv_until(s, lambda d: b"a2 " in d and d.endswith(b"\r\n"))


# ---- HAProxy -------------------------------------------------------------------------------------------
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"

HAPROXY_CFG = """\
global
    maxconn 100
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend fe
    bind 127.0.0.1:{front}
    default_backend be
backend be
    server mailtunnel 127.0.0.1:{back} send-proxy-v2
"""


class HAProxy:
    def __init__(self, root: Path, backend_port: int):
        self.root = Path(root)
        self.port = free_port()
        self.backend_port = backend_port
        self.process: Process | None = None

    def start(self, timeout: float = 15.0) -> "HAProxy":
        self.root.mkdir(parents=True, exist_ok=True)
        cfg = self.root / "haproxy.cfg"
        cfg.write_text(self.config_text())
        self.process = Process([HAPROXY, "-f", cfg, "-db"], self.root, "haproxy")
        # Watch the listening socket in /proc rather than connecting: a probe connection would be forwarded.
        try:
            wait_until(lambda: not self.process.running() or self._listening(), timeout, what="haproxy to listen")
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"haproxy did not listen\n{self.process.describe()}")
        if not self.process.running():
            raise RuntimeError(f"haproxy exited\n{self.process.describe()}")
        return self

    def config_text(self) -> str:
        return HAPROXY_CFG.format(front=self.port, back=self.backend_port)

    def _listening(self) -> bool:
        want = f"0100007F:{self.port:04X}"
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            parts = line.split()
            if parts[1] == want and parts[3] == "0A":
                return True
        return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=10)


@pytest.fixture
def haproxy(workdir):
    started: list[HAProxy] = []

    def start(backend_port: int) -> HAProxy:
        h = HAProxy(workdir / f"haproxy-{len(started) + 1}", backend_port)
        started.append(h)
        return h.start()

    yield start
    for h in started:
        h.stop()
