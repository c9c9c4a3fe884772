"""Out of file descriptors: accept fails with EMFILE while clients wait in the backlog. mailtunnel must not
spin on the listening socket, and must serve again once descriptors are free."""
import socket
import time

from clients import echo_round_trip, tcp_connect
from procs import cpu_seconds, fd_count

NOFILE = 64        # the daemon's RLIMIT_NOFILE for this test
HELD = 150         # plain TCP clients that never start TLS: far more than the daemon has descriptors for
MEASURE = 3.0      # seconds of CPU accounting while accept() keeps failing


def test_emfile_does_not_spin_and_recovers(mailtunnel, echo_port, figures):
    mt = mailtunnel(connect=echo_port, protocol="none", nofile=NOFILE)
    assert echo_round_trip("127.0.0.1", mt.accept_port) == b"ping\r\n"
    held: list[socket.socket] = []
    mark = mt.log_mark()
    try:
        for _ in range(HELD):        # the kernel completes these from the backlog; the daemon runs out
            held.append(tcp_connect("127.0.0.1", mt.accept_port, timeout=5))
        # The event that says it does not spin: accept is paused (not retried in a loop) once out of descriptors.
        mt.wait_for_log(r"accept paused.*error=", since=mark, timeout=30)
        fds = fd_count(mt.pid)
        assert fds >= NOFILE - 4, f"the daemon holds only {fds} fds: the test did not exhaust its {NOFILE}"
        # The CPU share while paused is a figure, not an assertion (it depends on the machine's load).
        cpu0, t0 = cpu_seconds(mt.pid), time.monotonic()
        time.sleep(MEASURE)
        share = (cpu_seconds(mt.pid) - cpu0) / (time.monotonic() - t0)
        figures(nofile=NOFILE, held_clients=HELD, daemon_fds=fds, cpu_share_at_emfile=f"{share:.1%}")
        assert mt.running()
    finally:
        for s in held:
            s.close()
    # Descriptors free again: the backlog drains (those clients are gone) and new clients are served.
    mt.wait_for_log(r"accept resumed", since=mark, timeout=30)
    deadline = time.monotonic() + 30
    while True:
        try:
            assert echo_round_trip("127.0.0.1", mt.accept_port, b"after EMFILE\r\n", timeout=5) == \
                b"after EMFILE\r\n"
            break
        except (OSError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
