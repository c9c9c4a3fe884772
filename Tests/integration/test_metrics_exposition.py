"""/metrics through swift-metrics and swift-prometheus (issue 16): byte counters that move while a connection
lives, the TLS handshake duration histogram, the certificate expiry gauge, counters that survive SIGHUP, text
that `promtool check metrics` accepts, and /healthz."""
import os
import re
import signal
import ssl
import subprocess
import time
import urllib.request

from clients import recv_exact, tls_connect
from procs import free_port, wait_until

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$')


def scrape(port: int, path: str = "/metrics") -> tuple[int, str, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode()


def samples(text: str) -> dict[str, float]:
    """`name{labels}` as printed → value."""
    out = {}
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m and not line.startswith("#"):
            out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def start(mailtunnel, echo_port):
    metrics_port = free_port()
    mt = mailtunnel(connect=echo_port, extra=["--metrics", f"127.0.0.1:{metrics_port}"])
    return mt, metrics_port, f'listener="{mt.accept}"'


def test_byte_counters_move_while_the_connection_lives(mailtunnel, echo_port):
    mt, port, listener = start(mailtunnel, echo_port)
    chunk = os.urandom(256 * 1024)
    sent = 0
    moved = {}
    with tls_connect("127.0.0.1", mt.accept_port, 30) as s:
        # Echo 256 KiB at a time and scrape after each, until both counters show at least 1 MiB (bounded: 64 chunks).
        for _ in range(64):
            s.sendall(chunk)
            assert recv_exact(s, len(chunk)) == chunk
            sent += len(chunk)
            now = samples(scrape(port)[2])
            moved = {d: now.get(f"mailtunnel_bytes_{d}_total{{{listener}}}", 0) for d in ("in", "out")}
            if min(moved.values()) >= 1 << 20:
                break
        assert min(moved.values()) >= 1 << 20, f"after {sent} bytes each way the counters show {moved}"
        still = samples(scrape(port)[2])
        assert still[f"mailtunnel_connections_active{{{listener}}}"] == 1, "the transfer's connection is open"
        assert not mt.find_log(r"connection ended"), "no connection had ended while the counters moved"
    # At the end, the rest is added and nothing twice: the counters equal what went through.
    ended = mt.connection_ended()[0]
    assert int(ended["in"]) == sent and int(ended["out"]) == sent
    final = wait_until(lambda: (v := samples(scrape(port)[2]))[f"mailtunnel_bytes_in_total{{{listener}}}"] == sent
                       and v, 10, what="the final byte count")
    assert final[f"mailtunnel_bytes_out_total{{{listener}}}"] == sent
    assert final[f"mailtunnel_connections_active{{{listener}}}"] == 0


def test_handshake_histogram_counts_each_completed_handshake(mailtunnel, echo_port):
    mt, port, listener = start(mailtunnel, echo_port)
    count = f"mailtunnel_tls_handshake_duration_seconds_count{{{listener}}}"
    before = samples(scrape(port)[2])[count]
    handshakes = 5
    for _ in range(handshakes):
        with tls_connect("127.0.0.1", mt.accept_port, 10) as s:
            s.sendall(b"x")
            assert recv_exact(s, 1) == b"x"
    after = wait_until(lambda: (v := samples(scrape(port)[2]))[count] >= before + handshakes and v, 10,
                       what=f"{handshakes} handshakes in the histogram")
    assert after[count] == before + handshakes
    assert after[f'mailtunnel_tls_handshake_duration_seconds_bucket{{{listener},le="+Inf"}}'] == after[count]
    assert after[f'mailtunnel_tls_handshake_duration_seconds_bucket{{{listener},le="0.001"}}'] <= after[count]
    assert 0 < after[f"mailtunnel_tls_handshake_duration_seconds_sum{{{listener}}}"] < 5 * handshakes


def test_certificate_expiry_is_seconds_until_the_served_not_after(mailtunnel, echo_port):
    mt, port, listener = start(mailtunnel, echo_port)
    with tls_connect("127.0.0.1", mt.accept_port, 10) as s:
        der = s.getpeercert(binary_form=True)
    pem = ssl.DER_cert_to_PEM_cert(der)
    end = subprocess.run(["openssl", "x509", "-noout", "-enddate"], input=pem, capture_output=True, text=True,
                         check=True).stdout.strip().split("=", 1)[1]
    not_after = ssl.cert_time_to_seconds(end)
    subject = subprocess.run(["openssl", "x509", "-noout", "-subject", "-nameopt", "RFC2253"], input=pem,
                             capture_output=True, text=True, check=True).stdout.strip()
    values = {k: v for k, v in samples(scrape(port)[2]).items() if k.startswith("mailtunnel_certificate_expiry_seconds")}
    assert len(values) == 1, values
    (series, seconds), = values.items()
    assert listener in series and "subject=" in series, series
    assert abs(seconds - (not_after - time.time())) < 120, (seconds, not_after, subject)


def test_counters_survive_a_reload(mailtunnel, echo_port):
    mt, port, listener = start(mailtunnel, echo_port)
    accepted = f"mailtunnel_connections_accepted_total{{{listener}}}"
    with tls_connect("127.0.0.1", mt.accept_port, 10) as s:
        s.sendall(b"hello")
        assert recv_exact(s, 5) == b"hello"
    mt.connection_ended()
    before = samples(scrape(port)[2])
    assert before[accepted] >= 1 and before[f"mailtunnel_bytes_in_total{{{listener}}}"] == 5
    mark = mt.log_mark()
    mt.process.signal(signal.SIGHUP)
    mt.wait_for_log(r"\breloaded\b", since=mark)
    after = samples(scrape(port)[2])
    assert after[accepted] >= before[accepted]
    assert after[f"mailtunnel_bytes_in_total{{{listener}}}"] == 5


def test_promtool_accepts_the_exposition_and_healthz_answers(mailtunnel, echo_port, workdir):
    mt, port, _ = start(mailtunnel, echo_port)
    with tls_connect("127.0.0.1", mt.accept_port, 10) as s:
        s.sendall(b"x")
        assert recv_exact(s, 1) == b"x"
    mt.connection_ended()
    status, content_type, text = scrape(port)
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4"), content_type
    (workdir / "scraped.txt").write_text(text)
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, f"promtool check metrics exited {check.returncode}:\n{check.stdout}{check.stderr}"
    assert scrape(port, "/healthz")[::2] == (200, "ok\n")
