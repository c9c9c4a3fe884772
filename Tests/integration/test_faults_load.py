"""Faults under load: 20,000 connections dropped at random points of the TLS handshake and of the STARTTLS
dialogue (a seeded schedule, printed, replayable with MAILTUNNEL_FAULT_SEED); SIGHUP every 100 ms while new
connections keep coming; 9,500 idle TLS connections held, every one answering afterwards. Each ends with
daemon_health's check."""
import asyncio
import os
import random
import resource
import signal
import socket
import ssl
import struct
import sys
import threading
import time

import pytest

from clients import client_context, echo_round_trip
from conftest import HERE
from daemon_health import Baseline
from procs import Process, fd_count, free_port, port_accepts, rss_kib, wait_until

DROPS = 20_000
IDLE = 9_500
IMAP_GREETING = "* OK [CAPABILITY IMAP4rev1 STARTTLS] fault backend ready"


def recorded_client_hellos() -> list[bytes]:
    """Real ClientHellos (Python's OpenSSL, TLS 1.2-only and 1.3), taken from a memory BIO."""
    hellos = []
    for maximum in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = client_context(maximum=maximum)
        out = ssl.MemoryBIO()
        tls = ctx.wrap_bio(ssl.MemoryBIO(), out, server_hostname="localhost")
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hellos.append(out.read())
    return hellos


async def dropped_connection(port: int, starttls: bool, cut: int, rst: bool, hello: bytes) -> None:
    """Connects, sends the first `cut` bytes of the client's side (STARTTLS command then ClientHello, or the
    ClientHello alone), waits for what the server says at that point when the script calls for it, and drops
    the connection: FIN or RST."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        hello_part = cut
        if starttls:
            command = b"a STARTTLS\r\n"
            hello_part = cut - len(command)
            await reader.readline()                         # the greeting (relayed from the backend)
            writer.write(command[:cut])
            if hello_part >= 0:
                await reader.readline()                     # "a OK Begin TLS negotiation now"
                writer.write(hello[:hello_part])
        else:
            writer.write(hello[:cut])
        await writer.drain()
        if hello_part >= len(hello):
            await reader.read(1)                            # the ServerHello has started
    finally:
        if rst:
            writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()


async def run_schedule(schedule, ports, hellos, concurrency: int, deadline: float) -> list[str]:
    gate = asyncio.Semaphore(concurrency)
    errors: list[str] = []

    async def one(i, starttls, cut, rst, which):
        async with gate:
            left = deadline - time.monotonic()
            if left <= 0:
                errors.append(f"#{i}: not started before the deadline")
                return
            try:
                await asyncio.wait_for(dropped_connection(ports[starttls], starttls, cut, rst, hellos[which]),
                                       min(left, 20))
            except (asyncio.TimeoutError, ConnectionError, OSError) as e:
                errors.append(f"#{i} starttls={starttls} cut={cut} rst={rst}: {e!r}")

    await asyncio.gather(*(one(i, *step) for i, step in enumerate(schedule)))
    return errors


@pytest.mark.slow
def test_20000_connections_dropped_mid_handshake(mailtunnel, async_echo_backend, echo_port, figures):
    seed = int(os.environ.get("MAILTUNNEL_FAULT_SEED") or time.time_ns() % 1_000_000_007)
    print(f"\n[faults] drop schedule seed={seed} (replay: MAILTUNNEL_FAULT_SEED={seed})", file=sys.stderr)
    rng = random.Random(seed)
    hellos = recorded_client_hellos()
    greeting_port = async_echo_backend(IMAP_GREETING)
    implicit = mailtunnel(connect=echo_port, protocol="none")
    starttls = mailtunnel(connect=greeting_port, protocol="imap", extra=["--starttls", "yes"])
    health = {m: Baseline(m) if m is implicit else Baseline(m, serve=starttls_served) for m in (implicit, starttls)}
    marks = {m: m.log_mark() for m in (implicit, starttls)}
    schedule = []
    for _ in range(DROPS):
        use_starttls = rng.random() < 0.5
        which = rng.randrange(len(hellos))
        total = len(hellos[which]) + (len(b"a STARTTLS\r\n") if use_starttls else 0)
        schedule.append((use_starttls, rng.randint(0, total), rng.random() < 0.5, which))
    started = time.monotonic()
    errors = asyncio.run(run_schedule(schedule, {False: implicit.accept_port, True: starttls.accept_port},
                                      hellos, concurrency=64, deadline=started + 100))
    seconds = time.monotonic() - started
    figures(seed=seed, connections=DROPS, seconds=f"{seconds:.1f}", per_s=f"{DROPS / seconds:.0f}")
    assert not errors, f"seed={seed}: {len(errors)} connections failed: {errors[:5]}"
    counts = {False: sum(1 for s in schedule if not s[0]), True: sum(1 for s in schedule if s[0])}
    for m, is_starttls in ((implicit, False), (starttls, True)):
        # Every dropped connection is logged once. (Probe lines are included: with 10,000 connections a client
        # port comes round again, and the harness would hide a line that reuses its readiness probe's port.)
        ended = lambda: sum("connection ended" in l.raw for l in m.log_lines(marks[m], include_probes=True))
        wait_until(lambda: ended() >= counts[is_starttls], 60, interval=0.5, what=f"{counts[is_starttls]} log lines")
        assert ended() == counts[is_starttls], f"{ended()} lines for {counts[is_starttls]} connections"
        health[m].assert_recovered(figures)


def starttls_served(mt) -> None:
    """The STARTTLS listener serves: greeting, STARTTLS, TLS, then a checksummed echo through the backend."""
    import hashlib
    with socket.create_connection(("127.0.0.1", mt.accept_port), timeout=20) as raw:
        stream = raw.makefile("rb")
        assert stream.readline().startswith(b"* OK")
        raw.sendall(b"a STARTTLS\r\n")
        assert stream.readline().startswith(b"a OK")
        with client_context().wrap_socket(raw, server_hostname="localhost") as tls:
            payload = os.urandom(64 * 1024)
            tls.sendall(payload)
            got = b""
            while len(got) < len(payload):
                chunk = tls.recv(65536)
                assert chunk, f"EOF after {len(got)} bytes"
                got += chunk
            assert hashlib.sha256(got).digest() == hashlib.sha256(payload).digest()


@pytest.mark.slow
def test_sighup_every_100ms_during_new_connections(mailtunnel, echo_port, figures):
    """Every connection is either served in full (checksum) or refused cleanly; none gets wrong bytes."""
    mt = mailtunnel(connect=echo_port, protocol="none")
    health = Baseline(mt)
    mark = mt.log_mark()
    hups = 50
    done = threading.Event()
    outcomes = {"served": 0, "refused": 0}
    corrupted: list[str] = []
    lock = threading.Lock()

    def client_loop():
        for _ in range(10_000):                  # bounded; ends when the SIGHUPs do
            if done.is_set():
                return
            payload = os.urandom(16 * 1024)
            try:
                got = echo_round_trip("127.0.0.1", mt.accept_port, payload, timeout=20)
            except (ConnectionError, ssl.SSLError, OSError) as e:
                with lock:
                    outcomes["refused"] += 1
                continue
            with lock:
                if got == payload:
                    outcomes["served"] += 1
                else:
                    corrupted.append(f"{len(got)} bytes, not the {len(payload)} sent")

    clients = [threading.Thread(target=client_loop) for _ in range(4)]
    for t in clients:
        t.start()
    try:
        for _ in range(hups):
            mt.process.signal(signal.SIGHUP)
            time.sleep(0.1)
    finally:
        done.set()
        for t in clients:
            t.join(60)
    figures(sighups=hups, **outcomes)
    assert not corrupted, corrupted[:5]
    assert outcomes["served"] > 0
    mt.wait_for_log(r"\breloaded\b", since=mark, count=hups, timeout=30)
    health.assert_recovered(figures)


@pytest.fixture
def async_echo_backend(workdir):
    """Factory: an async_echo_server.py process (optional greeting), stopped by PID at teardown."""
    started = []

    def start(greeting: str | None = None) -> int:
        port = free_port()
        argv = [sys.executable, str(HERE / "async_echo_server.py"), "127.0.0.1", str(port)]
        started.append(Process(argv + ([greeting] if greeting else []), workdir, f"async-echo-{port}", nofile=20_000))
        wait_until(lambda: port_accepts("127.0.0.1", port), 15, what="async echo backend")
        return port

    yield start
    for p in started:
        p.stop(grace=5)


def _raise_nofile(n: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n, hard), hard))


@pytest.mark.slow
def test_9500_idle_tls_connections_all_answer(mailtunnel, async_echo_backend, figures):
    _raise_nofile(20_000)
    port = async_echo_backend()
    mt = mailtunnel(connect=port, protocol="none", nofile=20_000)
    health = Baseline(mt)
    rss_idle = health.rss
    for round_ in (1, 2):
        started = time.monotonic()
        opened, answered = asyncio.run(hold_then_ping(mt.accept_port, IDLE, deadline=started + 120))
        figures(round=round_, held=opened, answered=answered, seconds=f"{time.monotonic() - started:.1f}",
                rss_kib=rss_kib(mt.pid))
        assert opened == IDLE and answered == IDLE, f"held {opened}, answered {answered} of {IDLE}"
        if round_ == 1:
            # 9,500 sessions' buffers stay in glibc's arenas after they are freed (~150 MiB here), so RSS does
            # not fall back to the idle figure; what must hold is that the second round reuses that memory
            # instead of adding to it: the second round is checked against the RSS after the first.
            wait_until(lambda: fd_count(mt.pid) <= health.fds, 30, what="descriptors back after round 1")
            health.rss = rss_kib(mt.pid)
    figures(rss_idle_kib=rss_idle, rss_after_round1_kib=health.rss)
    health.assert_recovered(figures)


async def hold_then_ping(port: int, count: int, deadline: float) -> tuple[int, int]:
    ctx = client_context()
    gate = asyncio.Semaphore(128)
    conns = []

    async def open_one():
        async with gate:
            left = deadline - time.monotonic()
            conns.append(await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost"), max(left, 1)))

    async def ping(i, reader, writer):
        line = f"ping {i}\n".encode()
        writer.write(line)
        await writer.drain()
        return await asyncio.wait_for(reader.readexactly(len(line)), max(deadline - time.monotonic(), 1)) == line

    try:
        await asyncio.gather(*(open_one() for _ in range(count)))
        results = await asyncio.gather(*(ping(i, r, w) for i, (r, w) in enumerate(conns)))
        return len(conns), sum(results)
    finally:
        for _, w in conns:
            w.close()
