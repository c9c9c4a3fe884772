"""Issue 9 item 7: everything before the relay has a deadline, and deadlines fire on time.

`handshake-timeout` runs from accept until relaying starts: a STARTTLS client silent after the greeting, or after
one command, or after the TLS upgrade, and an SMTP gate session that never authenticates (even one that keeps
talking) are closed when it runs out, with the protocol's refusal and `reason="handshake timeout"` in the log,
instead of living for `idle-timeout` (30 minutes). The idle timeout fires on time, not up to half a second late."""
import threading
import time

import pytest

from clients import read_to_eof, recv_until, tls_connect
from gate_support import sasl_config  # noqa: F401  (fixture)
from starttls_support import (LineClient, imap_caps, open_plain, pop3_capa, smtp_ehlo, smtp_reply,  # noqa: F401
                              starttls_tunnel, upgrade)

HANDSHAKE = 2.0
WAIT_FOR_CLOSE = 8.0             # bounded wait for the close (the old daemon never closes in this test)
REFUSAL = {"imap": b"* BYE", "pop3": b"-ERR", "smtp": b"421 "}


def first_command(c: LineClient, protocol: str) -> None:
    if protocol == "imap":
        assert "STARTTLS" in imap_caps(c, "a1")
    elif protocol == "pop3":
        assert "STLS" in " ".join(pop3_capa(c))
    else:
        assert smtp_ehlo(c)[-1].startswith(b"250 ")


def assert_closed_at_handshake_timeout(mt, mark, rest: bytes, elapsed: float, protocol: str) -> None:
    # Closed within WAIT_FOR_CLOSE (the bounded read above) instead of living for the 30 min idle timeout, for
    # the logged reason, and by the daemon's own clock not before the deadline; the client's figure is reported.
    assert rest.startswith(REFUSAL[protocol]), f"no {protocol} refusal before the close: {rest!r}"
    line = mt.connection_ended(since=mark, reason="handshake timeout")[0]
    assert float(line["duration"].rstrip("s")) >= HANDSHAKE, line.raw


@pytest.mark.parametrize("protocol", ["imap", "pop3", "smtp"])
@pytest.mark.parametrize("talk", ["silent", "one command"])
def test_starttls_dialogue_closed_at_handshake_timeout(starttls_tunnel, protocol, talk, figures):
    mt = starttls_tunnel(protocol, extra=["--handshake-timeout", f"{HANDSHAKE:g}s"])
    mark = mt.log_mark()
    t0 = time.monotonic()
    c, _ = open_plain(mt, protocol)
    with c:
        if talk == "one command":
            first_command(c, protocol)
        rest = c.read_to_eof(timeout=WAIT_FOR_CLOSE)
    elapsed = time.monotonic() - t0
    figures(closed_after_s=f"{elapsed:.2f}")
    assert_closed_at_handshake_timeout(mt, mark, rest, elapsed, protocol)


def gate_flags(sasl_config, starttls: bool) -> list[str]:
    return ["--auth", "sasl", "--sasl-service", "smtpd", "--sasl-config-dir", str(sasl_config),
            "--handshake-timeout", f"{HANDSHAKE:g}s"] + (["--starttls", "yes"] if starttls else [])


def test_starttls_gate_silent_after_upgrade_closed(mailtunnel, smtp_sink, sasl_config, figures):
    """After STARTTLS the gate waits for AUTH; a client that upgrades and then says nothing is still bounded."""
    mt = mailtunnel(connect=smtp_sink.port, protocol="smtp", extra=gate_flags(sasl_config, starttls=True))
    mark = mt.log_mark()
    t0 = time.monotonic()
    c, _ = open_plain(mt, "smtp")
    with c:
        smtp_ehlo(c)
        upgrade(c, "smtp")
        rest = c.read_to_eof(timeout=WAIT_FOR_CLOSE)
    elapsed = time.monotonic() - t0
    figures(closed_after_s=f"{elapsed:.2f}")
    assert_closed_at_handshake_timeout(mt, mark, rest, elapsed, "smtp")


def test_gate_session_that_never_authenticates_closed(mailtunnel, smtp_sink, sasl_config, figures):
    """Implicit TLS, `auth = sasl`: a client that keeps the session busy with NOOPs but never authenticates is
    closed at handshake-timeout (traffic does not extend it; only relaying ends it)."""
    mt = mailtunnel(connect=smtp_sink.port, protocol="smtp", extra=gate_flags(sasl_config, starttls=False))
    mark = mt.log_mark()
    t0 = time.monotonic()
    with tls_connect("127.0.0.1", mt.accept_port) as s:
        data, _ = recv_until(s, lambda d: d.endswith(b"\r\n"))
        assert data.startswith(b"220"), data
        s.sendall(b"EHLO client.example\r\n")
        data, _ = recv_until(s, lambda d: b"\r\n250 " in b"\r\n" + d)
        assert b"AUTH" in data, data
        rest = b""
        while time.monotonic() - t0 < WAIT_FOR_CLOSE:
            try:
                s.sendall(b"NOOP\r\n")
            except OSError:
                break
            data, eof = recv_until(s, lambda d: d.endswith(b"\r\n"), timeout=WAIT_FOR_CLOSE)
            if not data.startswith(b"250"):
                rest = data + (b"" if eof else read_to_eof(s, timeout=WAIT_FOR_CLOSE))
                break
            time.sleep(0.3)   # the client's pace, not a synchronisation
        else:
            pytest.fail(f"a session that never authenticated was still open after {WAIT_FOR_CLOSE}s")
    elapsed = time.monotonic() - t0
    figures(closed_after_s=f"{elapsed:.2f}")
    assert_closed_at_handshake_timeout(mt, mark, rest, elapsed, "smtp")


def test_idle_timeout_fires_on_time(mailtunnel, echo_port, figures):
    """`--idle-timeout 1s`: each session closes 1.0–1.3 s after its last byte. Eight sessions start 1/16 s
    apart, so their deadlines fall all over any periodic sweep's cycle: a 0.5 s sweep would close several of
    them 0.3 s or more late."""
    mt = mailtunnel(connect=echo_port, protocol="none", extra=["--idle-timeout", "1s"])
    results: dict[int, object] = {}

    def session(i: int) -> None:
        try:
            time.sleep(i / 16)    # staggering the sessions is the scenario, not a synchronisation
            with tls_connect("127.0.0.1", mt.accept_port) as s:
                # The daemon's last activity lies between the send and the echo's arrival, which can be far
                # apart on a loaded machine or under a sanitizer: the close is timed from both ends.
                sent = time.monotonic()
                s.sendall(b"x")
                data, _ = recv_until(s, lambda d: len(d) >= 1)
                echoed = time.monotonic()
                assert data == b"x"
                assert read_to_eof(s, timeout=5) == b""
                closed = time.monotonic()
                results[i] = (closed - sent, closed - echoed)
        except BaseException as error:   # reported below, in the test's thread
            results[i] = error

    threads = [threading.Thread(target=session, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    errors = [r for r in results.values() if isinstance(r, BaseException)]
    assert not errors and len(results) == 8, f"sessions failed: {errors or results}"
    closes = sorted(results.values())
    figures(idle_close_s_after_send_and_after_echo=" ".join(f"{a:.3f}/{b:.3f}" for a, b in closes))
    # Never before 1 s after the send, and at most 1.3 s after the echo arrived.
    assert all(after_send >= 0.95 and after_echo <= 1.3 for after_send, after_echo in closes), \
        f"idle timeout of 1 s fired after (since send, since echo) {closes}"
