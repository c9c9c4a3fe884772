"""Churn: 5,000 short TLS connections, then the daemon still serves and holds no leaked descriptors."""
import threading
import time

import pytest

from clients import client_context, echo_round_trip, recv_until, tls_connect
from procs import fd_count

CONNECTIONS = 5000
THREADS = 8
TIME_LIMIT = 600.0     # seconds for all 5,000; a hang or a stall fails instead of blocking the suite


@pytest.mark.slow
def test_5000_short_connections_then_idle_fd_count(mailtunnel, echo_port, figures):
    mt = mailtunnel(connect=echo_port, protocol="none")
    for _ in range(20):    # warm-up: every event loop has seen a connection
        assert echo_round_trip("127.0.0.1", mt.accept_port) == b"ping\r\n"
    time.sleep(0.5)
    idle_fds = fd_count(mt.pid)

    ctx = client_context()
    lock = threading.Lock()
    next_index = [0]
    ok = [0]
    errors: list[str] = []
    deadline = time.monotonic() + TIME_LIMIT

    def worker():
        while time.monotonic() < deadline:
            with lock:
                if next_index[0] >= CONNECTIONS or len(errors) > 20:
                    return
                i = next_index[0]
                next_index[0] += 1
            payload = b"hello %d\r\n" % i
            try:
                with tls_connect("127.0.0.1", mt.accept_port, timeout=30, ctx=ctx) as s:
                    s.sendall(payload)
                    data, _ = recv_until(s, lambda d: len(d) >= len(payload), timeout=30)
                if data != payload:
                    raise AssertionError(f"echo mismatch: {data!r}")
                with lock:
                    ok[0] += 1
            except Exception as e:    # collected and reported below
                with lock:
                    errors.append(f"connection {i}: {e!r}")

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(1.0, deadline - time.monotonic() + 60))
    elapsed = time.monotonic() - t0
    rate = ok[0] / elapsed if elapsed > 0 else 0
    peak_fds = fd_count(mt.pid)
    figures(connections=ok[0], threads=THREADS, seconds=f"{elapsed:.1f}", handshakes_per_s=f"{rate:.0f}",
            idle_fds=idle_fds, fds_right_after=peak_fds)
    assert not errors, f"{len(errors)} failed connections, first ones:\n" + "\n".join(errors[:10])
    assert ok[0] == CONNECTIONS, f"only {ok[0]} of {CONNECTIONS} connections within {TIME_LIMIT}s"

    # Every socket of every finished connection is closed: back to the idle count, polled for up to 10 s
    # (connections may still be finishing), then asserted with a small slack.
    settle_deadline = time.monotonic() + 10
    while fd_count(mt.pid) > idle_fds and time.monotonic() < settle_deadline:
        time.sleep(0.2)
    after = fd_count(mt.pid)
    figures(fds_after_settling=after)
    assert after <= idle_fds + 2, f"fd count {after} did not return to idle ({idle_fds})"
    assert echo_round_trip("127.0.0.1", mt.accept_port, b"after churn\r\n") == b"after churn\r\n"
    assert mt.running()
