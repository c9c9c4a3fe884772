"""Issue 9 item 10: a slow password check delays nobody else.

libsasl2 exchanges run on a bounded pool of dedicated threads, one running check per client address, the clients
taking turns. The fake saslauthd speaks saslauthd's real socket protocol (so libsasl2's own saslauthd client is
what runs) and answers the user `slow` only after SLOW seconds, everyone else at once. Client A (127.0.0.2)
authenticates as `slow`; client B (127.0.0.3) as `alice`."""
import base64
import random
import socket
import threading
import time

from clients import client_context
from fake_saslauthd import FakeSaslauthd
from mailtunnel import MailTunnel

SLOW = 4.0            # seconds the fake saslauthd takes for user `slow`
B_BOUND = 1.5         # B's whole session (connect, TLS, EHLO, AUTH) must take well under SLOW
A_IP, B_IP = "127.0.0.2", "127.0.0.3"
PER_CLIENT_LIMIT = 16  # SASLWorkerPool.defaultPerClientLimit


class Client:
    """An implicit-TLS SMTP client from a chosen loopback address."""

    def __init__(self, port: int, source: str):
        raw = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))
        self.sock = client_context().wrap_socket(raw)
        self.file = self.sock.makefile("rb")

    def reply(self) -> bytes:
        lines = []
        while True:
            line = self.file.readline()
            if not line:
                return b"".join(lines) + b"<EOF>"
            lines.append(line)
            if line[3:4] == b" ":
                return b"".join(lines)

    def greet(self) -> None:
        assert self.reply().startswith(b"220")
        self.sock.sendall(b"EHLO client.example\r\n")
        assert b"AUTH PLAIN" in self.reply()

    def send_auth(self, user: str) -> None:
        self.sock.sendall(b"AUTH PLAIN " + base64.b64encode(f"\0{user}\0secret".encode()) + b"\r\n")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def slow_saslauthd() -> FakeSaslauthd:
    """Any login with the password `secret` is accepted; the user `slow` only after SLOW seconds."""
    return FakeSaslauthd(verdict=lambda login, password: password == b"secret",
                         delay=lambda login: SLOW if login == b"slow" else 0)


def start(mailtunnel, smtp_sink, workdir):
    daemon = slow_saslauthd()
    mt = mailtunnel(connect=smtp_sink.port, protocol="smtp", extra=daemon.gate_flags(workdir / "sasl"))
    return mt, daemon


def b_authenticates(port: int) -> float:
    t0 = time.monotonic()
    b = Client(port, B_IP)
    try:
        b.greet()
        b.send_auth("alice")
        reply = b.reply()
        assert reply.startswith(b"235"), reply
        return time.monotonic() - t0
    finally:
        b.close()


def test_slow_check_of_one_client_does_not_delay_another(mailtunnel, smtp_sink, workdir, figures):
    mt, daemon = start(mailtunnel, smtp_sink, workdir)
    try:
        a = Client(mt.accept_port, A_IP)
        a.greet()
        started = time.monotonic()
        a.send_auth("slow")
        daemon.wait_pending(b"slow")
        b_took = b_authenticates(mt.accept_port)
        assert b_took < B_BOUND, f"B's AUTH took {b_took:.2f}s while A's {SLOW:g}s check was running"
        reply = a.reply()
        a_took = time.monotonic() - started
        assert reply.startswith(b"235"), reply
        assert a_took >= SLOW * 0.9, f"A's check was not the slow one ({a_took:.2f}s)"
        a.close()
        figures(b_auth_s=f"{b_took:.3f}", a_auth_s=f"{a_took:.2f}")
    finally:
        daemon.close()


def test_client_flooding_auth_takes_one_thread(mailtunnel, smtp_sink, workdir, figures):
    """A opens 8 connections and sends AUTH on each: its checks run one at a time (it holds one worker), and B,
    arriving while they are queued, is served at once."""
    mt, daemon = start(mailtunnel, smtp_sink, workdir)
    flood = []
    try:
        for _ in range(8):
            c = Client(mt.accept_port, A_IP)
            c.greet()
            flood.append(c)
        for c in flood:
            c.send_auth("slow")
        daemon.wait_pending(b"slow")
        b_took = b_authenticates(mt.accept_port)
        assert b_took < B_BOUND, f"B's AUTH took {b_took:.2f}s while A flooded"
        assert daemon.most_in_flight[b"slow"] == 1, \
            f"A had {daemon.most_in_flight[b'slow']} checks running at once; its share is one"
        assert daemon.most_overall >= 2, "B's check never ran beside A's"
        figures(b_auth_s=f"{b_took:.3f}", a_parallel_checks=daemon.most_in_flight[b"slow"])
    finally:
        for c in flood:
            c.close()
        daemon.close()


def test_client_piling_up_checks_is_refused(mailtunnel, smtp_sink, workdir):
    """Beyond PER_CLIENT_LIMIT pending checks, A's further AUTH gets `454 4.7.0` and a close, at once; the
    daemon keeps serving B."""
    mt, daemon = start(mailtunnel, smtp_sink, workdir)
    mark = mt.log_mark()
    extra = 4
    conns = []
    try:
        for _ in range(PER_CLIENT_LIMIT + extra):
            c = Client(mt.accept_port, A_IP)
            c.greet()
            conns.append(c)
        for c in conns:
            c.send_auth("slow")
        # Every connection over the limit is answered now; those within it wait for their check (SLOW each).
        refused = []
        window_ends = time.monotonic() + SLOW / 2
        for c in conns:
            c.sock.settimeout(max(0.05, window_ends - time.monotonic()))
            try:
                reply = c.reply()
                reply += c.reply()    # then the close
            except (socket.timeout, TimeoutError):
                continue
            finally:
                c.sock.settimeout(30)
            refused.append(reply)
        assert len(refused) == extra, f"{len(refused)} of {len(conns)} were answered before any check ended"
        assert all(r.startswith(b"454 4.7.0") and r.endswith(b"\r\n<EOF>") for r in refused), refused
        mt.connection_ended(since=mark, reason="too many pending authentications", count=extra)
        assert b_authenticates(mt.accept_port) < B_BOUND
    finally:
        for c in conns:
            c.close()
        daemon.close()


def test_auth_pipelined_behind_ehlo_does_not_stall_an_event_loop(mailtunnel, smtp_sink, workdir, figures):
    """`EHLO` and `AUTH` in one packet: the AUTH line waits in the gate until the backend's EHLO reply arrives,
    and is then processed on behalf of the backend's input. That check, too, must leave the event loop: other
    clients (spread over every loop) are served while it runs."""
    mt, daemon = start(mailtunnel, smtp_sink, workdir)
    try:
        a = Client(mt.accept_port, A_IP)
        assert a.reply().startswith(b"220")
        a.sock.sendall(b"EHLO client.example\r\nAUTH PLAIN " + base64.b64encode(b"\0slow\0secret") + b"\r\n")
        daemon.wait_pending(b"slow")
        waits = [b_authenticates(mt.accept_port) for _ in range(4)]
        assert max(waits) < B_BOUND, f"other clients waited {max(waits):.2f}s while A's check ran"
        assert b"AUTH PLAIN" in a.reply()
        assert a.reply().startswith(b"235")
        a.close()
        figures(others_max_s=f"{max(waits):.3f}")
    finally:
        daemon.close()


class BlackholeDNS:
    """A name server that reads queries and never answers: every lookup that reaches it waits the resolver's
    whole timeout."""

    def __init__(self, address: str):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, 53))
        self.queries = 0
        threading.Thread(target=self._swallow, daemon=True).start()

    def _swallow(self):
        while True:
            try:
                self.sock.recvfrom(4096)
            except OSError:
                return
            self.queries += 1

    def close(self):
        self.sock.close()


def test_slow_dns_does_not_stall_gate_sessions(smtp_sink, workdir, mailtunnel_bin, figures):
    """libsasl2 canonicalizes the host name (gethostname, then a resolver query when it has no dot) for every
    session opened without a server name. With a resolver that does not answer, that query blocked the event
    loop for the resolver's timeout at every gate connection; the name is now computed once, at start.
    The daemon runs in its own mount and UTS namespaces: host name `mtnodot`, an /etc/hosts without it, and an
    /etc/resolv.conf naming a server that never answers (all on loopback)."""
    # A loopback address of this run's own, so that two suites on one machine never want the same port 53.
    resolver = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
    dns = BlackholeDNS(resolver)
    daemon = slow_saslauthd()
    mt = None
    try:
        (workdir / "hosts").write_text("127.0.0.1 localhost\n")
        (workdir / "resolv.conf").write_text(f"nameserver {resolver}\noptions timeout:3 attempts:1\n")
        wrapper = workdir / "in-namespace"
        wrapper.write_text(
            "#!/bin/sh\n"
            f"exec unshare --mount --uts sh -c 'mount --bind {workdir / 'hosts'} /etc/hosts && "
            f"mount --bind {workdir / 'resolv.conf'} /etc/resolv.conf && hostname mtnodot && exec \"$@\"' "
            f"sh {mailtunnel_bin} \"$@\"\n")
        wrapper.chmod(0o755)
        mt = MailTunnel(str(wrapper), workdir, [f"127.0.0.1:{smtp_sink.port}"], "smtp",
                        extra=daemon.gate_flags(workdir / "sasl"))
        mt.start(timeout=30)
        waits = [b_authenticates(mt.accept_port) for _ in range(3)]
        assert dns.queries > 0, "the resolver was never asked: the scenario did not happen"
        assert max(waits) < B_BOUND, f"AUTH sessions took {max(waits):.2f}s with a resolver that does not answer"
        figures(session_max_s=f"{max(waits):.3f}", dns_queries=dns.queries)
    finally:
        if mt is not None:
            mt.stop()
        daemon.close()
        dns.close()
