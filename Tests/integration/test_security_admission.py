"""Issue 9, items 4-6: who may come in. PROXY headers only from trusted balancers (and any valid v2 header up to
its declared length), an auth-failure limit per real client that parallel connections and SIGHUP cannot get
around, and descriptors bounded per client address.

Password checks are counted where they happen: a fake saslauthd (saslauthd's real socket protocol, so libsasl2's
own saslauthd client is what mailtunnel drives) records every check it is asked for."""
import base64
import os
import select
import signal
import socket
import struct
import subprocess
import threading

import pytest

from clients import client_context, read_to_eof, recv_until, tcp_connect
from fake_saslauthd import FakeSaslauthd
from procs import fd_count, wait_until

ATTACKER = "192.0.2.66"
NEIGHBOUR = "192.0.2.67"
GOOD_PASSWORD = "secret"
BAN_REPLY = b"454 4.7.0"


# ---- PROXY headers ---------------------------------------------------------------------------------------
def proxy_v1(source: str, source_port: int = 40000) -> bytes:
    family = "TCP6" if ":" in source else "TCP4"
    destination = "::1" if ":" in source else "127.0.0.1"
    return f"PROXY {family} {source} {destination} {source_port} 465\r\n".encode()


def proxy_v2(source: str, source_port: int, tlvs: bytes = b"") -> bytes:
    signature = b"\r\n\r\n\x00\r\nQUIT\n"
    body = socket.inet_aton(source) + socket.inet_aton("127.0.0.1") + struct.pack("!HH", source_port, 993) + tlvs
    return signature + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


def tls_echo(raw: socket.socket, payload: bytes) -> bytes:
    with client_context().wrap_socket(raw, server_hostname="localhost") as s:
        s.sendall(payload)
        data, _ = recv_until(s, lambda d: len(d) >= len(payload))
        return data


def test_proxy_header_from_untrusted_peer_refused(mailtunnel, echo_port):
    mt = mailtunnel(connect=echo_port, extra=["--accept-proxy-protocol", "yes", "--accept-proxy-from", "10.0.0.0/8"])
    mark = mt.log_mark()
    with tcp_connect("127.0.0.1", mt.accept_port) as s:
        peer_port = s.getsockname()[1]
        s.sendall(proxy_v1("192.0.2.9", 5555))
        assert read_to_eof(s, timeout=10) == b"", "an untrusted peer got an answer"
    line = mt.connection_ended(since=mark)[0]
    assert line.get("reason") == "PROXY header from untrusted peer", line.raw
    assert line.get("client") == f"127.0.0.1:{peer_port}", f"the log must name the real peer: {line.raw}"
    assert "192.0.2.9" not in line.raw, line.raw
    assert line.get("tls") == "-", f"refused only after TLS: {line.raw}"

    # The default (loopback) trusts the same peer, and the header's client is the one logged.
    mt = mailtunnel(connect=echo_port, extra=["--accept-proxy-protocol", "yes"])
    mark = mt.log_mark()
    raw = tcp_connect("127.0.0.1", mt.accept_port)
    raw.sendall(proxy_v1("192.0.2.9", 5555))
    assert tls_echo(raw, b"trusted balancer\r\n") == b"trusted balancer\r\n"
    assert mt.connection_ended(since=mark)[0].get("client") == "192.0.2.9:5555"


def test_check_prints_accept_proxy_from(mailtunnel_bin):
    base = [mailtunnel_bin, "--check", "--accept", "465", "--connect", "25", "--accept-proxy-protocol", "yes"]
    out = subprocess.run(base, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "\naccept-proxy-from = 127.0.0.0/8, ::1\n" in out.stdout, out.stdout
    out = subprocess.run(base + ["--accept-proxy-from", "10.0.0.0/8, 2001:db8::/32"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert "\naccept-proxy-from = 10.0.0.0/8, 2001:db8::/32\n" in out.stdout, out.stdout
    bad = subprocess.run(base + ["--accept-proxy-from", "10.0.0.1/8"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1 and "accept-proxy-from" in bad.stderr, bad.stderr


def test_proxy_v2_with_600_bytes_of_tlvs_accepted(mailtunnel, echo_port):
    mt = mailtunnel(connect=echo_port, extra=["--accept-proxy-protocol", "yes"])
    mark = mt.log_mark()
    # PP2_TYPE_AUTHORITY (what a balancer sends for SNI) and a 600-byte PP2_TYPE_NOOP.
    authority = b"mail.example.org"
    tlvs = bytes([0x02]) + struct.pack("!H", len(authority)) + authority
    tlvs += bytes([0x04]) + struct.pack("!H", 600) + os.urandom(600)
    header = proxy_v2("192.0.2.77", 4242, tlvs)
    assert len(header) > 536
    raw = tcp_connect("127.0.0.1", mt.accept_port)
    raw.sendall(header)
    assert tls_echo(raw, b"after a long header\r\n") == b"after a long header\r\n"
    assert mt.connection_ended(since=mark)[0].get("client") == "192.0.2.77:4242"


# ---- the auth-failure limit ----------------------------------------------------------------------------
def wrong_checks(saslauthd: FakeSaslauthd) -> int:
    return sum(1 for check in saslauthd.recorded() if check.password != GOOD_PASSWORD.encode())


@pytest.fixture
def sasl_gate(mailtunnel, smtp_sink, workdir):
    """An implicit-TLS SMTP gate behind a (loopback) balancer, checking passwords with the fake saslauthd
    (alice/secret accepted, every check recorded)."""
    daemon = FakeSaslauthd(delay=lambda login: 0.05)
    mt = mailtunnel(connect=smtp_sink.port, protocol="smtp",
                    extra=daemon.gate_flags(workdir / "sasl") + ["--accept-proxy-protocol", "yes"])
    yield mt, daemon
    daemon.close()


class Session:
    """One SMTP session through a PROXY header naming `source`."""

    def __init__(self, port: int, source: str):
        raw = tcp_connect("127.0.0.1", port, timeout=20)
        raw.sendall(proxy_v1(source, 40000 + (hash(source) + id(self)) % 20000))
        self.sock = client_context().wrap_socket(raw, server_hostname="localhost")
        self.f = self.sock.makefile("rb")
        assert self.reply().startswith(b"220")
        assert self.command(b"EHLO client.example").startswith(b"250")

    def reply(self) -> bytes:
        lines = []
        while True:
            line = self.f.readline()
            if not line:
                return b"".join(lines)   # closed
            lines.append(line)
            if line[3:4] == b" ":
                return b"".join(lines)

    def command(self, line: bytes) -> bytes:
        self.sock.sendall(line + b"\r\n")
        return self.reply()

    def auth(self, password: str) -> bytes:
        token = base64.b64encode(b"\0alice\0" + password.encode())
        return self.command(b"AUTH PLAIN " + token)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def guess_until_stopped(port: int, source: str, replies: list[bytes], max_connections: int = 4) -> None:
    """A password guesser: wrong passwords, a new connection whenever one is closed, until told to wait (454)."""
    for connection in range(max_connections):
        s = Session(port, source)
        try:
            for attempt in range(3):
                reply = s.auth(f"guess-{connection}-{attempt}-{threading.get_ident()}")
                replies.append(reply)
                if reply.startswith(BAN_REPLY):
                    return
                if b"421" in reply:
                    break
        finally:
            s.close()


def test_auth_failures_limited_per_client_across_parallel_connections_and_reload(sasl_gate):
    mt, saslauthd = sasl_gate
    replies: list[bytes] = []
    threads = [threading.Thread(target=guess_until_stopped, args=(mt.accept_port, ATTACKER, replies))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    checked = wrong_checks(saslauthd)
    assert checked <= 10, f"{checked} wrong passwords from one client reached saslauthd (limit 10)"
    assert any(r.startswith(BAN_REPLY) for r in replies), f"the guesser was never stopped: {replies[-3:]}"
    mt.wait_for_log(r"authentication refused for a while .*client=" + ATTACKER.replace(".", r"\."))

    # Banned: even the right password is not checked.
    before = len(saslauthd.recorded())
    s = Session(mt.accept_port, ATTACKER)
    try:
        assert s.auth(GOOD_PASSWORD).startswith(BAN_REPLY)
    finally:
        s.close()
    assert len(saslauthd.recorded()) == before, "a banned client's password was checked"

    # Another client is not punished for it.
    s = Session(mt.accept_port, NEIGHBOUR)
    try:
        assert s.auth(GOOD_PASSWORD).startswith(b"235")
    finally:
        s.close()

    # A reload keeps the ban.
    mark = mt.log_mark()
    os.kill(mt.pid, signal.SIGHUP)
    mt.wait_for_log(r"\breloaded\b", since=mark)
    before = len(saslauthd.recorded())
    s = Session(mt.accept_port, ATTACKER)
    try:
        assert s.auth(GOOD_PASSWORD).startswith(BAN_REPLY), "SIGHUP lifted the ban"
    finally:
        s.close()
    assert len(saslauthd.recorded()) == before


def test_ipv6_clients_share_their_slash64(sasl_gate):
    mt, saslauthd = sasl_gate
    for connection in range(4):
        s = Session(mt.accept_port, f"2001:db8:1:2::{connection + 10:x}")
        try:
            for attempt in range(3 if connection < 3 else 1):
                assert s.auth(f"wrong-{connection}-{attempt}").startswith(b"535")
        finally:
            s.close()
    assert wrong_checks(saslauthd) == 10
    s = Session(mt.accept_port, "2001:db8:1:2:ffff::1")
    try:
        assert s.auth(GOOD_PASSWORD).startswith(BAN_REPLY), "another address of the same /64 was not banned"
    finally:
        s.close()
    s = Session(mt.accept_port, "2001:db8:1:3::1")
    try:
        assert s.auth(GOOD_PASSWORD).startswith(b"235"), "the neighbouring /64 was banned too"
    finally:
        s.close()


# ---- descriptors -------------------------------------------------------------------------------------
PER_IP = 5
SILENT = 200
POLITE = 2          # refusals in flight per address (README)
SLACK = 3           # descriptors a test connection or the log may briefly add


def closed_by_peer(s: socket.socket) -> bool:
    r, _, _ = select.select([s], [], [], 0)
    if not r:
        return False
    try:
        return s.recv(1) == b""
    except OSError:
        return True


def test_silent_sockets_bounded_per_address(mailtunnel, echo_port, figures):
    mt = mailtunnel(connect=echo_port, extra=["--max-connections-per-ip", str(PER_IP), "--handshake-timeout", "60s"])
    baseline = fd_count(mt.pid)
    silent: list[socket.socket] = []
    try:
        for _ in range(SILENT):
            silent.append(tcp_connect("127.0.0.1", mt.accept_port))
        open_ones = list(silent)

        def settled() -> bool:
            open_ones[:] = [s for s in open_ones if not closed_by_peer(s)]
            return len(open_ones) <= PER_IP + POLITE
        try:
            wait_until(settled, timeout=10, what="the sockets over the limit to be closed")
        except TimeoutError:
            pass   # reported below with the descriptor count
        fds = fd_count(mt.pid)
        figures(silent_sockets=SILENT, per_ip=PER_IP, baseline_fds=baseline, daemon_fds=fds,
                still_open=len(open_ones))
        assert fds <= baseline + PER_IP + POLITE + SLACK, \
            f"{SILENT} silent sockets from one address hold {fds - baseline} descriptors (limit {PER_IP})"
        assert len(open_ones) <= PER_IP + POLITE, f"{len(open_ones)} sockets from one address still open"

        # Another address is served meanwhile.
        raw = socket.create_connection(("127.0.0.1", mt.accept_port), timeout=10, source_address=("127.0.0.2", 0))
        assert tls_echo(raw, b"other address\r\n") == b"other address\r\n"
        mt.wait_for_log(r"connection dropped .*reason=\"too many connections from 127\.0\.0\.1\"")
    finally:
        for s in silent:
            s.close()


def test_connection_counts_survive_reload(mailtunnel, echo_port):
    mt = mailtunnel(connect=echo_port, extra=["--max-connections-per-ip", "2"])
    held = []
    try:
        for i in range(2):
            s = client_context().wrap_socket(tcp_connect("127.0.0.1", mt.accept_port), server_hostname="localhost")
            s.sendall(b"hold\r\n")
            assert recv_until(s, lambda d: d.endswith(b"hold\r\n"))[0] == b"hold\r\n"
            held.append(s)
        mark = mt.log_mark()
        os.kill(mt.pid, signal.SIGHUP)
        mt.wait_for_log(r"\breloaded\b", since=mark)
        mark = mt.log_mark()
        with tcp_connect("127.0.0.1", mt.accept_port) as raw:
            try:
                s = client_context().wrap_socket(raw, server_hostname="localhost")
                s.sendall(b"third\r\n")
                data = read_to_eof(s, timeout=10)
            except (OSError, TimeoutError):
                data = b""
        assert b"third" not in data, "a third connection from the address was served after SIGHUP"
        mt.connection_ended(since=mark, reason="too many connections from 127.0.0.1")
    finally:
        for s in held:
            s.close()
