"""A slow password check (saslauthd answering after seconds) must not stall other clients: libsasl2 calls run
off the event loops. The fake saslauthd speaks saslauthd's real socket protocol (four length-prefixed strings in,
one length-prefixed answer out), so libsasl2's own saslauthd client is what mailtunnel exercises."""
import base64
import os
import socket
import struct
import threading
import time

from clients import client_context

SLOW = 4.0          # seconds the fake saslauthd takes per check
OTHERS_BOUND = 2.0  # other clients must be served well within the slow check


class FakeSaslauthd:
    def __init__(self, path: str, delay: float):
        self.path, self.delay, self.requests = path, delay, []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, 0o777)
        self.sock.listen(16)
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _read_string(self, conn) -> bytes:
        size = struct.unpack("!H", self._exact(conn, 2))[0]
        return self._exact(conn, size)

    @staticmethod
    def _exact(conn, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn):
        with conn:
            try:
                login, password, service, realm = (self._read_string(conn) for _ in range(4))
            except EOFError:
                return
            self.requests.append((login, service))
            time.sleep(self.delay)
            verdict = b"OK" if (login, password) == (b"alice", b"secret") else b"NO bad password"
            conn.sendall(struct.pack("!H", len(verdict)) + verdict)

    def close(self):
        self.stopping = True
        self.sock.close()


def smtp_tls(port: int) -> tuple[socket.socket, object]:
    raw = socket.create_connection(("127.0.0.1", port), timeout=30)
    tls = client_context().wrap_socket(raw)
    return tls, tls.makefile("rb")


def read_reply(f) -> bytes:
    lines = []
    while True:
        line = f.readline()
        assert line, "connection closed"
        lines.append(line)
        if line[3:4] == b" ":
            return b"".join(lines)


def test_slow_saslauthd_does_not_stall_other_clients(mailtunnel, smtp_sink, workdir, figures):
    socket_dir = workdir / "saslauthd"
    socket_dir.mkdir()
    daemon = FakeSaslauthd(str(socket_dir / "mux"), SLOW)
    conf_dir = workdir / "sasl"
    conf_dir.mkdir()
    (conf_dir / "smtpd.conf").write_text(
        f"pwcheck_method: saslauthd\nsaslauthd_path: {socket_dir / 'mux'}\nmech_list: PLAIN LOGIN\n")
    try:
        mt = mailtunnel(connect=smtp_sink.port, protocol="smtp",
                        extra=["--auth", "sasl", "--sasl-service", "smtpd", "--sasl-config-dir", str(conf_dir)])
        slow, slow_f = smtp_tls(mt.accept_port)
        assert read_reply(slow_f).startswith(b"220")
        slow.sendall(b"EHLO slow.example\r\n")
        assert b"AUTH PLAIN LOGIN" in read_reply(slow_f)
        token = base64.b64encode(b"\0alice\0secret")
        started = time.monotonic()
        slow.sendall(b"AUTH PLAIN " + token + b"\r\n")

        # While the check is pending, several other clients (spread over every event loop) get full service.
        time.sleep(0.3)
        waits = []
        for _ in range(4):
            t0 = time.monotonic()
            other, other_f = smtp_tls(mt.accept_port)
            assert read_reply(other_f).startswith(b"220")
            other.sendall(b"EHLO other.example\r\n")
            assert read_reply(other_f).startswith(b"250")
            waits.append(time.monotonic() - t0)
            other.close()
        assert time.monotonic() - started < SLOW, "the other clients were only served after the slow check"
        assert max(waits) < OTHERS_BOUND, f"other clients waited {max(waits):.2f}s while a SASL check was pending"

        reply = read_reply(slow_f)
        elapsed = time.monotonic() - started
        assert reply.startswith(b"235"), reply
        assert elapsed >= SLOW * 0.9, f"the fake saslauthd was not consulted ({elapsed:.2f}s)"
        assert daemon.requests and daemon.requests[0][0] == b"alice"
        slow.sendall(b"MAIL FROM:<alice@example.org>\r\n")
        assert read_reply(slow_f).startswith(b"250")
        slow.close()
        figures(slow_check_s=f"{elapsed:.2f}", other_clients_max_wait_s=f"{max(waits):.3f}")
    finally:
        daemon.close()
