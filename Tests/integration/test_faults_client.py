"""Injected client faults: an RST mid-transfer, a client that never reads while the backend pushes, and a
half-close in each direction with data still flowing the other way. Each ends with daemon_health's check."""
import hashlib
import os
import socket
import ssl
import struct
import time

import pytest

from clients import client_context, half_close_exchange, memory_bio_handshake, tls_connect
from daemon_health import Baseline
from fault_backend import FaultBackend
from procs import rss_kib

# A client that stops reading must stop the backend (backpressure), and the proxy may hold at most about one
# read's worth per direction plus TLS records: 8 MiB above the baseline is generous for that and far below the
# gigabytes an unbounded buffer would take from a backend that pushes without end.
NEVER_READS_RSS_SLACK_KIB = 8 * 1024


@pytest.fixture
def fault_backend():
    fb = FaultBackend()
    yield fb
    fb.close()


def test_client_rst_mid_transfer(mailtunnel, fault_backend, figures):
    mt = mailtunnel(connect=fault_backend.port, protocol="none")
    health = Baseline(mt)
    mark = mt.log_mark()
    index = len(fault_backend.seen)
    sock = tls_connect("127.0.0.1", mt.accept_port)
    sock.sendall(os.urandom(1 << 20))
    sock.recv(4096)                       # the echo is flowing: we are mid-transfer
    backend_side = fault_backend.connection(index)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()                          # RST with data in flight both ways
    line = mt.connection_ended(since=mark)[0]
    # (A TLS client's RST is logged "client closed": OpenSSL reports it as an EOF without close_notify.)
    assert line.get("reason", "").startswith("client"), line.raw
    assert backend_side.ended.wait(10), "the backend connection stayed open after the client's RST"
    health.assert_recovered(figures)


def test_client_never_reads(mailtunnel, fault_backend, figures):
    """The backend sends without end, the client reads nothing: the backend must block (backpressure reaches
    it) and the proxy's memory must stay flat."""
    mt = mailtunnel(connect=fault_backend.port, protocol="none")
    health = Baseline(mt)
    fault_backend.mode = "push"
    index = len(fault_backend.seen)
    sock = tls_connect("127.0.0.1", mt.accept_port, rcvbuf=65536)
    try:
        pushed = fault_backend.connection(index)
        assert pushed.send_blocked.wait(60), f"the backend never blocked: {pushed.sent} bytes taken"
        samples = []
        for _ in range(10):              # memory while the path stays full
            samples.append(rss_kib(mt.pid))
            time.sleep(0.1)
        figures(pushed_before_block=pushed.sent, rss_baseline_kib=health.rss, rss_max_kib=max(samples))
        assert max(samples) <= health.rss + NEVER_READS_RSS_SLACK_KIB, (
            f"RSS rose to {max(samples)} KiB (baseline {health.rss}) while the client did not read")
    finally:
        sock.close()
    fault_backend.mode = "echo"
    health.assert_recovered(figures)


def test_half_close_client_first(mailtunnel, fault_backend, figures):
    """The client sends, half-closes, and still receives everything the backend sends afterwards."""
    mt = mailtunnel(connect=fault_backend.port, protocol="none")
    health = Baseline(mt)
    payload = os.urandom(3 << 20)
    received, clean = half_close_exchange("127.0.0.1", mt.accept_port, payload, timeout=60)
    assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest(), (
        f"{len(received)} of {len(payload)} bytes came back after the client's half-close, or other bytes")
    assert clean, "no close_notify after the backend's half-close"
    health.assert_recovered(figures)


def test_half_close_backend_first(mailtunnel, fault_backend, figures):
    """The backend sends and half-closes; the client gets it all and a close_notify, then sends its own data,
    which still reaches the backend."""
    mt = mailtunnel(connect=fault_backend.port, protocol="none")
    health = Baseline(mt)
    fault_backend.mode, fault_backend.payload = "half_close_first", os.urandom(3 << 20)
    upload = os.urandom(2 << 20)
    index = len(fault_backend.seen)
    got = client_after_close_notify("127.0.0.1", mt.accept_port, upload, timeout=60)
    assert hashlib.sha256(got).digest() == hashlib.sha256(fault_backend.payload).digest(), (
        f"client got {len(got)} of {len(fault_backend.payload)} bytes before the close_notify, or other bytes")
    backend_side = fault_backend.connection(index)
    assert backend_side.ended.wait(30), "backend never saw the client's end"
    assert backend_side.sha256_received == hashlib.sha256(upload).hexdigest(), (
        f"backend got {backend_side.received} of {len(upload)} bytes sent after its half-close, or other bytes")
    fault_backend.mode = "echo"
    health.assert_recovered(figures)


def client_after_close_notify(host: str, port: int, upload: bytes, timeout: float) -> bytes:
    """Reads until the server's close_notify, then sends `upload` and its own close_notify (memory BIO TLS:
    Python's socket wrapper cannot write after the peer's close_notify)."""
    raw = socket.create_connection((host, port), timeout=timeout)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    received = bytearray()

    def flush():
        data = outgoing.read()
        if data:
            raw.sendall(data)

    def feed() -> bool:
        data = raw.recv(65536)
        incoming.write(data) if data else incoming.write_eof()
        return bool(data)

    with raw:
        memory_bio_handshake(tls, flush, feed)
        while True:
            try:
                data = tls.read(65536)
            except ssl.SSLWantReadError:
                if not feed():
                    raise ConnectionError(f"TCP EOF before close_notify after {len(received)} bytes")
                continue
            except ssl.SSLZeroReturnError:
                break
            if not data:                  # the server's close_notify
                break
            received += data
        tls.write(upload)
        flush()
        try:
            tls.unwrap()
        except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
            pass
        flush()
        raw.shutdown(socket.SHUT_WR)
        raw.settimeout(timeout)
        while raw.recv(65536):            # until the proxy closes: everything we sent was taken
            pass
    return bytes(received)
