"""Client mode's configuration (issue 14) as `--check` shows it, and a server that injects plaintext after its
STARTTLS reply (the mirror image of CVE-2011-0411), played by a small scripted fake."""
import socket
import ssl
import threading

import pytest

from clients import recv_until, tcp_connect
from daemon_support import run_check
from pki import pki  # noqa: F401
from procs import free_port


def check(mailtunnel_bin, workdir, text: str, stunnel: bool = False):
    conf = workdir / ("stunnel.conf" if stunnel else "client.conf")
    conf.write_text(text)
    r = run_check(mailtunnel_bin, "--stunnel-config" if stunnel else "--config", conf)
    return r.returncode, r.stdout + r.stderr


def test_client_mode_accepts_on_loopback_unless_told(mailtunnel_bin, workdir):
    rc, out = check(mailtunnel_bin, workdir, "accept = 2525\nconnect = mail.example.org:587\nclient = yes\n")
    assert rc == 0, out
    assert "accept = 127.0.0.1:2525" in out, out
    rc, out = check(mailtunnel_bin, workdir, "accept = *:2525\nconnect = mail.example.org:587\nclient = yes\n")
    assert rc == 0, out
    assert "accept = 2525" in out, out
    # Server mode keeps all interfaces.
    rc, out = check(mailtunnel_bin, workdir, "accept = 2525\nconnect = 25\n")
    assert "accept = 2525" in out, out


@pytest.mark.parametrize("line", ["auth = sasl", "verify = require", "xclient = yes", "proxy-protocol = v1",
                                  "allow-subject = alice"])
def test_server_mode_keys_are_refused_in_client_mode(mailtunnel_bin, workdir, line):
    rc, out = check(mailtunnel_bin, workdir, f"accept = 2525\nconnect = 127.0.0.1:587\nprotocol = smtp\n"
                                             f"ca-file = /etc/ssl/certs/ca-certificates.crt\nclient = yes\n{line}\n")
    assert rc == 1, out
    assert f"client.conf:6: {line.split(' =')[0]}: " in out and "server mode" in out, out


def test_verify_host_needs_client_mode(mailtunnel_bin, workdir):
    rc, out = check(mailtunnel_bin, workdir, "accept = 2525\nconnect = 25\nverify-host = mx.example\n")
    assert rc == 1 and "client.conf:3: verify-host: " in out and "client mode" in out, out


def test_stunnel_client_service_translates(mailtunnel_bin, workdir):
    rc, out = check(mailtunnel_bin, workdir,
                    "[submission]\nclient = yes\naccept = 127.0.0.1:2525\nconnect = 192.0.2.1:587\nprotocol = smtp\n"
                    "CAfile = /etc/ssl/certs/ca-certificates.crt\nverifyChain = yes\ncheckHost = mail.example.org\n",
                    stunnel=True)
    assert rc == 0, out
    for expected in ("client = yes", "starttls = yes", "protocol = smtp", "verify-host = mail.example.org",
                     "verify = none"):
        assert expected in out.splitlines(), f"{expected!r} missing:\n{out}"


class FakeServer:
    """A scripted server on a free port: `handle(conn)` runs for each connection, one at a time, on a thread."""

    def __init__(self):
        self.port = free_port()
        self.sock = socket.create_server(("127.0.0.1", self.port))
        self.sock.settimeout(0.2)
        self.stopping = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            with conn:
                conn.settimeout(10)
                try:
                    self.handle(conn)
                except OSError:
                    pass

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def stop(self):
        self.stopping = True
        self.sock.close()
        self.thread.join(timeout=5)


class InjectingSMTPServer(FakeServer):
    """Greets, offers STARTTLS, and answers STARTTLS with `220` plus an injected reply in the same segment."""

    def __init__(self):
        self.received = bytearray()
        super().__init__()

    def handle(self, conn):
        conn.sendall(b"220 fake.example ESMTP\r\n")
        buf = b""
        while data := conn.recv(4096):
            self.received += data
            buf += data
            while b"\r\n" in buf:
                line, buf = buf.split(b"\r\n", 1)
                if line.upper().startswith(b"EHLO"):
                    conn.sendall(b"250-fake.example\r\n250 STARTTLS\r\n")
                elif line.upper() == b"STARTTLS":
                    conn.sendall(b"220 Ready\r\n250 2.1.0 injected\r\n")


def test_plaintext_injected_after_the_starttls_reply_is_refused(mailtunnel, pki):
    fake = InjectingSMTPServer()
    try:
        local = mailtunnel(connect=[f"localhost:{fake.port}"], protocol="smtp",
                           extra=["--client", "yes", "--starttls", "yes", "--ca-file", str(pki.root.pem)])
        mark = local.log_mark()
        with tcp_connect("127.0.0.1", local.accept_port) as sock:
            data, eof = recv_until(sock, lambda d: False, timeout=15)
        assert eof and data.startswith(b"421 4.7.0 "), data
        line = local.connection_ended(since=mark)[0]
        assert "after its STARTTLS reply" in line.get("reason", ""), line.raw
        # The handshake never started: nothing but mailtunnel's own EHLO and STARTTLS reached the fake.
        lines = bytes(fake.received).split(b"\r\n")
        assert all(l == b"" or l.startswith(b"EHLO ") or l == b"STARTTLS" for l in lines), fake.received
    finally:
        fake.stop()


class RecordingTLSServer(FakeServer):
    """Implicit TLS with the test PKI's `localhost` certificate; records the SNI each client sent, then greets."""

    def __init__(self, pki):
        self.names: list[str | None] = []
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(pki.server.chain), str(pki.server.key))
        self.ctx.sni_callback = lambda sock, name, ctx: self.names.append(name)
        super().__init__()

    def handle(self, conn):
        with self.ctx.wrap_socket(conn, server_side=True) as tls:
            tls.sendall(b"220 sni.example ESMTP\r\n")
            tls.recv(4096)


@pytest.mark.parametrize("host, sni", [("localhost", "localhost"), ("127.0.0.1", None)])
def test_sni_is_the_host_name_and_never_an_address(mailtunnel, pki, host, sni):
    server = RecordingTLSServer(pki)
    try:
        local = mailtunnel(connect=[f"{host}:{server.port}"], protocol="smtp",
                           extra=["--client", "yes", "--ca-file", str(pki.root.pem)])
        with tcp_connect("127.0.0.1", local.accept_port) as sock:
            data, _ = recv_until(sock, lambda d: d.endswith(b"\r\n"), timeout=15)
        assert data == b"220 sni.example ESMTP\r\n", data
        assert server.names and set(server.names) == {sni}, server.names
    finally:
        server.stop()
