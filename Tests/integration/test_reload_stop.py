"""SIGHUP reloads the config file without dropping live sessions (certificate change during IMAP IDLE, a broken
config keeps the running one, listeners added and removed); SIGTERM stops accepting at once, lets a transfer
finish within shutdown-grace, and says goodbye in the protocol to sessions that outlive the grace."""
import hashlib
import imaplib
import os
import re
import signal
import threading
import time

import pytest

from clients import client_context, echo_round_trip, echo_transfer, imaps_logged_in, recv_until, tls_connect
from daemon_support import (connect_refused_or_unserved, make_keypair, pem_fingerprint, served_fingerprint,
                            tunnel)  # noqa: F401
from procs import free_port, port_accepts, wait_until


def imaps_config(state, port, backend, cert, key, extra_sections: str = "") -> str:
    return (f"# written by the test\nstate-dir = {state}\n\n[imaps]\naccept = 127.0.0.1:{port}\n"
            f"connect = 127.0.0.1:{backend}\nprotocol = imap\ncert = {cert}\nkey = {key}\n" + extra_sections)


def norm_fp(text: str) -> str:
    return text.replace(":", "").lower()


def hup_and_wait(mt, pattern: str, timeout: float = 15.0):
    mark = mt.log_mark()
    os.kill(mt.pid, signal.SIGHUP)
    return mt.wait_for_log(pattern, since=mark, timeout=timeout)[0]


def imap_read_until(imap, prefix: bytes, limit: int = 50) -> list[bytes]:
    lines = []
    for _ in range(limit):
        line = imap.readline()
        assert line, f"connection closed; lines so far {lines}"
        lines.append(line)
        if line.startswith(prefix):
            return lines
    raise AssertionError(f"no line starting with {prefix!r} in {lines}")


def test_reload_changes_certificate_during_idle_and_survives_broken_config(tunnel, dovecot, workdir):
    cert_a, key_a = make_keypair(workdir / "pki", "a", "cert-a.example.org")
    cert_b, key_b = make_keypair(workdir / "pki", "b", "cert-b.example.org")
    state = workdir / "state"
    state.mkdir(mode=0o700)
    port = free_port()
    conf = workdir / "imaps.conf"
    conf.write_text(imaps_config(state, port, dovecot.imap_port, cert_a, key_a))
    mt = tunnel(["--config", conf], port)
    assert served_fingerprint("127.0.0.1", port) == pem_fingerprint(cert_a)

    # a live IMAP IDLE session
    imap = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=client_context(), timeout=30)
    try:
        assert imap.login(dovecot.user, dovecot.password)[0] == "OK"
        assert imap.select("INBOX")[0] == "OK"
        imap.send(b"a IDLE\r\n")
        assert imap_read_until(imap, b"+")[-1].startswith(b"+ idling"), "IDLE not accepted"
        idle_fp = hashlib.sha256(imap.sock.getpeercert(binary_form=True)).hexdigest()

        # point cert/key at a new pair, reload
        conf.write_text(imaps_config(state, port, dovecot.imap_port, cert_b, key_b))
        line = hup_and_wait(mt, r"\breloaded\b")
        cert_line = mt.find_log(rf"certificate listener=imaps .*path={re.escape(str(cert_b))}")
        assert cert_line and norm_fp(cert_line[-1].get("fingerprint", "")) == pem_fingerprint(cert_b), \
            f"no certificate line for the new pair after {line.raw}"
        assert served_fingerprint("127.0.0.1", port) == pem_fingerprint(cert_b), \
            "a new client still sees the old certificate after the reload"

        # the IDLE session is still there, on the old certificate
        imap.send(b"DONE\r\n")
        assert imap_read_until(imap, b"a ")[-1].startswith(b"a OK"), "IDLE did not end with a OK"
        assert idle_fp == pem_fingerprint(cert_a)
        typ, data = imap.fetch("1", "(BODY.PEEK[])")
        assert typ == "OK" and data[0][1] == dovecot.message

        # a broken config: logged, and the running configuration keeps serving
        good = imaps_config(state, port, dovecot.imap_port, cert_b, key_b)
        conf.write_text(good + "idel-timeout = 5m\n")
        bad_line = len(good.splitlines()) + 1
        failed = hup_and_wait(mt, r"reload failed")
        assert f"{conf}:{bad_line}" in failed.raw and "idel-timeout" in failed.raw, failed.raw
        assert mt.running()
        assert served_fingerprint("127.0.0.1", port) == pem_fingerprint(cert_b)
        with imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=client_context(), timeout=30) as other:
            assert other.login(dovecot.user, dovecot.password)[0] == "OK"
            other.logout()

        # the first session survived the failed reload too
        assert imap.noop()[0] == "OK"
        assert imap.logout()[0] == "BYE"
    finally:
        if imap.state != "LOGOUT":
            imap.shutdown()


def test_reload_adds_and_removes_a_listener(tunnel, dovecot, echo_port, workdir):
    cert, key = make_keypair(workdir / "pki", "srv")
    state = workdir / "state"
    state.mkdir(mode=0o700)
    port, port2 = free_port(), free_port()
    conf = workdir / "mail.conf"
    conf.write_text(imaps_config(state, port, dovecot.imap_port, cert, key))
    mt = tunnel(["--config", conf], port)
    assert not port_accepts("127.0.0.1", port2)

    def echo_section(accept_port):
        return (f"\n[echo]\naccept = 127.0.0.1:{accept_port}\nconnect = 127.0.0.1:{echo_port}\nprotocol = none\n"
                f"cert = {cert}\nkey = {key}\n")
    conf.write_text(imaps_config(state, port, dovecot.imap_port, cert, key, echo_section(port2)))
    line = hup_and_wait(mt, r"\breloaded\b")
    assert line.get("added") == "1", line.raw
    mt.wait_for_log(rf"listening listener=echo .*accept=127\.0\.0\.1:{port2}", timeout=5)
    assert echo_round_trip("127.0.0.1", port2, b"new listener\r\n") == b"new listener\r\n"
    with imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=client_context(), timeout=30) as imap:
        assert imap.login(dovecot.user, dovecot.password)[0] == "OK"
        imap.logout()

    # a changed accept re-binds: the old address stops, the new one serves
    port3 = free_port()
    conf.write_text(imaps_config(state, port, dovecot.imap_port, cert, key, echo_section(port3)))
    hup_and_wait(mt, r"\breloaded\b")
    wait_until(lambda: not port_accepts("127.0.0.1", port2), 5, what=f"port {port2} to stop accepting")
    assert echo_round_trip("127.0.0.1", port3, b"moved\r\n") == b"moved\r\n"

    conf.write_text(imaps_config(state, port, dovecot.imap_port, cert, key))
    line = hup_and_wait(mt, r"\breloaded\b")
    assert line.get("removed") == "1", line.raw
    wait_until(lambda: not port_accepts("127.0.0.1", port3), 5, what=f"port {port3} to stop accepting")
    with imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=client_context(), timeout=30) as imap:
        assert imap.login(dovecot.user, dovecot.password)[0] == "OK"
        imap.logout()
    assert mt.running()


@pytest.mark.slow
def test_sigterm_lets_a_transfer_finish_and_refuses_new_clients(mailtunnel, echo_port, workdir, figures):
    pid_file = workdir / "mailtunnel.pid"
    mt = mailtunnel(connect=echo_port, protocol="none",
                    extra=["--shutdown-grace", "10s", "--pid-file", str(pid_file)])
    assert pid_file.read_text().strip() == str(mt.pid)
    payload = os.urandom(20 << 20)
    started = time.monotonic()
    in_progress = threading.Event()
    outcome = {}

    def sampler():   # called by the transfer loop; after 1 s the transfer is well under way
        if time.monotonic() - started > 1.0:
            in_progress.set()
        return 0

    def transfer():
        try:
            # a client reading at 4 MiB/s: 20 MiB take about 5 s, well inside the 10 s grace
            outcome["result"] = echo_transfer("127.0.0.1", mt.accept_port, payload, timeout=60,
                                              read_rate=4 << 20, sampler=sampler)
        except Exception as e:   # reported below
            outcome["error"] = e

    mark = mt.log_mark()
    t = threading.Thread(target=transfer, daemon=True)
    t.start()
    assert in_progress.wait(30), f"transfer never got going: {outcome}"
    os.kill(mt.pid, signal.SIGTERM)
    signalled = time.monotonic()
    stopping = mt.wait_for_log(r"\bstopping\b", since=mark, timeout=5)[0]
    assert stopping.get("connections") == "1", stopping.raw
    assert re.fullmatch(r"10(\.0*)?s", stopping.get("grace", "")), stopping.raw
    assert t.is_alive(), "the transfer was already over when the signal came: the test proves nothing"

    # from the signal on, nobody new is served
    attempts = 0
    while t.is_alive() and attempts < 20:
        got = connect_refused_or_unserved("127.0.0.1", mt.accept_port, timeout=3)
        assert got is None, f"a new client was served after SIGTERM: {got}"
        attempts += 1
        time.sleep(0.1)
    assert attempts >= 1

    t.join(60)
    assert not t.is_alive(), "transfer still running after 60 s"
    assert "error" not in outcome, f"transfer broken by the shutdown: {outcome['error']!r}"
    r = outcome["result"]
    assert r.received == len(payload) and r.sha256_received == r.sha256_sent, "checksum mismatch"

    status = mt.process.popen.wait(timeout=15)
    stopped_after = time.monotonic() - signalled
    assert status == 0, f"exit status {status}\n{mt.log_text()[-3000:]}"
    figures(exit_after_sigterm_s=f"{stopped_after:.1f}", grace_s=10)
    mt.wait_for_log(r"\bstopped\b", since=mark, timeout=2)
    ended = [l for l in mt.connection_ended(since=mark) if l.get("in") == str(len(payload))]
    assert ended and ended[0].get("out") == str(len(payload)), \
        f"no connection ended line with in=out={len(payload)}:\n" + "\n".join(l.raw for l in mt.log_lines(mark))
    assert not pid_file.exists(), "pid file left behind after a clean stop"


def _imap_session(port, dovecot):
    return imaps_logged_in(port, dovecot.user, dovecot.password)


def _pop3_session(port, dovecot):
    s = tls_connect("127.0.0.1", port, 10)
    data, _ = recv_until(s, lambda d: b"\r\n" in d)
    assert data.startswith(b"+OK"), data
    s.sendall(f"USER {dovecot.user}\r\n".encode())
    data, _ = recv_until(s, lambda d: b"\r\n" in d)
    s.sendall(f"PASS {dovecot.password}\r\n".encode())
    data, _ = recv_until(s, lambda d: b"\r\n" in d)
    assert data.startswith(b"+OK"), data
    return s


def _smtp_session(port, _dovecot):
    s = tls_connect("127.0.0.1", port, 10)
    data, _ = recv_until(s, lambda d: b"\r\n" in d)
    assert data.startswith(b"220"), data
    s.sendall(b"EHLO client.example.org\r\n")
    data, _ = recv_until(s, lambda d: re.search(rb"^250 ", d, re.M) is not None)
    return s


@pytest.mark.parametrize("protocol,goodbye", [("imap", rb"\* BYE"), ("pop3", rb"-ERR"), ("smtp", rb"421")])
def test_session_beyond_short_grace_gets_goodbye_then_close(mailtunnel, dovecot, smtp_sink, protocol, goodbye,
                                                            figures):
    backend = {"imap": dovecot.imap_port, "pop3": dovecot.pop3_port, "smtp": smtp_sink.port}[protocol]
    mt = mailtunnel(connect=backend, protocol=protocol, extra=["--shutdown-grace", "1s"])
    opener = {"imap": _imap_session, "pop3": _pop3_session, "smtp": _smtp_session}[protocol]
    s = opener(mt.accept_port, dovecot)
    try:
        mark = mt.log_mark()
        os.kill(mt.pid, signal.SIGTERM)
        t0 = time.monotonic()
        data, eof = recv_until(s, lambda d: False, timeout=10)
        elapsed = time.monotonic() - t0
    finally:
        s.close()
    assert re.match(goodbye, data), f"expected {goodbye!r} then close, got {data!r}"
    assert eof, "not closed after the goodbye"
    # The goodbye is the grace running out (the session's logged reason), not an early close.
    mt.connection_ended(since=mark, reason="shutdown")
    figures(goodbye_after_sigterm_s=f"{elapsed:.2f}", grace_s=1)
    assert mt.process.popen.wait(timeout=10) == 0
    mt.wait_for_log(r"\bstopped\b", since=mark, timeout=2)
