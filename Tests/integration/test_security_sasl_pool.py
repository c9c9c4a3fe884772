"""Issue 9 item 10: a slow password check delays nobody else.

libsasl2 exchanges run on a bounded pool of dedicated threads, one running check per client address, the clients
taking turns. The fake saslauthd speaks saslauthd's real socket protocol (so libsasl2's own saslauthd client is
what runs) and holds the user `slow`'s check until the test releases it (a threading.Event, bounded by HOLD_S),
answering everyone else at once. Client A (127.0.0.2) authenticates as `slow`; client B (127.0.0.3) as `alice`.
"B is served while A's check runs" is then an observed fact (A's check still pending at saslauthd after B's 235),
not a comparison of two clocks; the times are reported as figures."""
import base64
import random
import select
import socket
import threading
import time

from clients import client_context
from fake_saslauthd import FakeSaslauthd
from mailtunnel import MailTunnel
from procs import wait_until

HOLD_S = 60.0         # the longest the fake saslauthd holds a `slow` check before answering anyway
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
    """Any login with the password `secret` is accepted; the user `slow` only once `daemon.release` is set."""
    release = threading.Event()

    def delay(login: bytes) -> float:
        if login == b"slow":
            release.wait(HOLD_S)
        return 0.0

    daemon = FakeSaslauthd(verdict=lambda login, password: password == b"secret", delay=delay)
    daemon.release = release
    close = daemon.close
    daemon.close = lambda: (release.set(), close())     # held checks end with the test
    return daemon


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
        assert daemon.pending(b"slow") == 1, "A's check was no longer pending when B was served"
        daemon.release.set()
        reply = a.reply()
        a_took = time.monotonic() - started
        assert reply.startswith(b"235"), reply
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
        assert daemon.pending(b"slow") == 1, "A's checks were no longer held when B was served"
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
        # Every connection over the limit is answered and closed now; those within it wait for their check, which
        # saslauthd holds. A refusal is written before its log line, so once the lines are in, the refused
        # connections are exactly those with something to read.
        mt.connection_ended(since=mark, reason="too many pending authentications", count=extra)
        answered = [c for c in conns if select.select([c.sock], [], [], 0)[0] or c.sock.pending()]
        assert len(answered) == extra, f"{len(answered)} of {len(conns)} were answered while every check was held"
        refused = [c.reply() + c.reply() for c in answered]   # the reply, then the close
        assert all(r.startswith(b"454 4.7.0") and r.endswith(b"\r\n<EOF>") for r in refused), refused
        b_authenticates(mt.accept_port)
        assert daemon.pending(b"slow") == 1, "A's checks were no longer held when B was served"
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
        assert daemon.pending(b"slow") == 1, "A's check was no longer pending when the others were served"
        daemon.release.set()
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
        # The name is computed at start (the resolver is asked then); gate sessions must not ask it again,
        # which is what used to block an event loop for the resolver's whole timeout per session.
        wait_until(lambda: dns.queries > 0, 30, what="the start-up resolver query")
        asked_at_start = dns.queries
        waits = [b_authenticates(mt.accept_port) for _ in range(3)]
        assert dns.queries == asked_at_start, f"gate sessions asked the resolver {dns.queries - asked_at_start} times"
        figures(session_max_s=f"{max(waits):.3f}", dns_queries=dns.queries)
    finally:
        if mt is not None:
            mt.stop()
        daemon.close()
        dns.close()
