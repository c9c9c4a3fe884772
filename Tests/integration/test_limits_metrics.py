"""Promises of the README with no end-to-end test before: `max-connections` and `max-connections-per-ip`
refusals (the protocol's reply inside TLS, others still served), and `/metrics` + `/healthz`."""
import re
import socket
import urllib.request

from clients import client_context, recv_until, tls_connect
from daemon_health import Baseline
from procs import free_port


def imap_session(port: int, source: str = "127.0.0.1"):
    """A TLS session that has read the backend's greeting (so it is admitted and relaying)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=15, source_address=(source, 0))
    s = client_context().wrap_socket(raw, server_hostname="localhost")
    data, eof = recv_until(s, lambda d: d.endswith(b"\r\n"), timeout=15)
    return s, data, eof


def test_max_connections_refuses_with_imap_bye(mailtunnel, backends, figures):
    port = backends.echo(greeting="* OK greeting backend")
    mt = mailtunnel(connect=port, protocol="imap", extra=["--max-connections", "2"])
    held = [imap_session(mt.accept_port)[0] for _ in range(2)]
    try:
        mark = mt.log_mark()
        s, data, eof = imap_session(mt.accept_port)
        s.close()
        assert data.startswith(b"* BYE [UNAVAILABLE] Too many connections"), data
        mt.connection_ended(since=mark, reason="too many connections")
    finally:
        for s in held:
            s.close()
    mt.connection_ended(since=mark, count=3)          # the refused one and both held ones: room again
    s, data, _ = imap_session(mt.accept_port)
    s.close()
    assert data == b"* OK greeting backend\r\n", data


def test_max_connections_per_ip_refuses_that_address_only(mailtunnel, backends):
    port = backends.echo(greeting="* OK greeting backend")
    mt = mailtunnel(connect=port, protocol="imap", extra=["--max-connections-per-ip", "1"])
    first, data, _ = imap_session(mt.accept_port)
    try:
        assert data == b"* OK greeting backend\r\n"
        mark = mt.log_mark()
        s, data, _ = imap_session(mt.accept_port)
        s.close()
        assert data.startswith(b"* BYE [UNAVAILABLE] Too many connections from 127.0.0.1"), data
        mt.connection_ended(since=mark, reason="too many connections from 127.0.0.1")
        other, data, _ = imap_session(mt.accept_port, source="127.0.0.2")   # another address is served
        other.close()
        assert data == b"* OK greeting backend\r\n", data
    finally:
        first.close()


def metrics_text(port: int, path: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read().decode()


def sample(text: str, name: str) -> float:
    """The value of `name{…}` (one listener)."""
    m = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    assert m, f"{name} not in the exposition:\n{text}"
    return float(m.group(1))


def test_metrics_and_healthz(mailtunnel, echo_port, workdir, figures):
    metrics_port = free_port()
    mt = mailtunnel(connect=echo_port, protocol="none", extra=["--metrics", f"127.0.0.1:{metrics_port}"])
    status, _, body = metrics_text(metrics_port, "/healthz")
    assert (status, body) == (200, "ok\n"), (status, body)
    # Baseline after a first scrape: the first one leaves one descriptor more (created once, lazily, on the
    # scrape queue); later scrapes must add none, which assert_recovered checks.
    health = Baseline(mt)                                      # one 256 KiB echo: bytes both ways
    with socket.create_connection(("127.0.0.1", mt.accept_port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")                 # not TLS: a handshake failure
        recv_until(s, lambda d: False, timeout=10)
    mt.connection_ended(reason="handshake failed: http request")
    status, ctype, text = metrics_text(metrics_port, "/metrics")
    assert status == 200 and ctype.startswith("text/plain; version=0.0.4"), (status, ctype)
    accepted = sample(text, "mailtunnel_connections_accepted_total")
    assert accepted >= 3, text                                # probe, baseline echo, the HTTP request
    assert sample(text, "mailtunnel_handshake_failures_total") >= 1, text
    assert sample(text, "mailtunnel_bytes_in_total") >= 256 * 1024, text
    assert sample(text, "mailtunnel_bytes_out_total") >= 256 * 1024, text
    assert sample(text, "mailtunnel_connections_active") == 0, text
    # The format itself is checked by promtool in test_metrics_exposition.py.
    figures(accepted=int(accepted))
    health.assert_recovered(figures)
