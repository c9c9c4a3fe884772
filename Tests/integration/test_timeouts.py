"""The idle timeout: a session with no traffic either way is closed (logged `idle timeout`); traffic keeps
it open."""
import time

from clients import echo_round_trip, read_to_eof, recv_until, tls_connect


def test_idle_session_closed_and_logged(mailtunnel, echo_port, figures):
    mt = mailtunnel(connect=echo_port, protocol="none", extra=["--idle-timeout", "2s"])
    mark = mt.log_mark()
    with tls_connect("127.0.0.1", mt.accept_port) as s:
        s.sendall(b"hello\r\n")
        data, _ = recv_until(s, lambda d: len(d) >= 7)
        assert data == b"hello\r\n"
        t0 = time.monotonic()
        rest = read_to_eof(s, timeout=15)        # raises if the session is not closed in time
        elapsed = time.monotonic() - t0
    figures(idle_timeout_closed_after_s=f"{elapsed:.2f}")
    assert rest == b""
    # Closed because the session was idle (the logged reason), by the daemon's own clock not before 2 s.
    line = mt.connection_ended(since=mark, reason="idle timeout")[0]
    assert float(line["duration"].rstrip("s")) >= 2.0, line.raw
    assert line.get("in") == "7" and line.get("out") == "7", line.raw
    assert echo_round_trip("127.0.0.1", mt.accept_port, b"next\r\n") == b"next\r\n"


def test_traffic_keeps_session_open(mailtunnel, echo_port):
    mt = mailtunnel(connect=echo_port, protocol="none", extra=["--idle-timeout", "2s"])
    with tls_connect("127.0.0.1", mt.accept_port) as s:
        for i in range(5):                        # 5 s of session, never 2 s without traffic
            msg = b"tick %d\r\n" % i
            s.sendall(msg)
            data, eof = recv_until(s, lambda d: len(d) >= len(msg), timeout=5)
            assert data == msg and not eof, f"session closed while active (after {i} s)"
            time.sleep(1.0)
