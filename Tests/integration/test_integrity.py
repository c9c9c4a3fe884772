"""Bytes relayed exactly, and backpressure: a slow reader never makes mailtunnel's memory grow."""
import os

import pytest

from clients import echo_round_trip, echo_transfer
from procs import rss_kib

MIB = 1 << 20
PAYLOAD_SIZE = 64 * MIB
# A bounded relay holds a few ring buffers and OpenSSL records per connection. A relay that buffers what a
# slow client does not read would hold most of the 64 MiB payload (all of it minus the kernel socket
# buffers on the way, ~50 MiB here), so 32 MiB of growth is generous and still fails such a relay.
RSS_GROWTH_LIMIT_KIB = 32 * 1024


@pytest.fixture(scope="module")
def payload() -> bytes:
    return os.urandom(PAYLOAD_SIZE)


@pytest.mark.slow
def test_64mib_random_bytes_round_trip_exactly(mailtunnel, echo_port, payload, figures):
    mt = mailtunnel(connect=echo_port, protocol="none")
    mark = mt.log_mark()
    r = echo_transfer("127.0.0.1", mt.accept_port, payload, timeout=300)
    assert r.received == len(payload)
    assert r.sha256_received == r.sha256_sent
    figures(bytes=len(payload), seconds=f"{r.seconds:.2f}", mib_per_s_each_way=f"{r.mib_per_s:.1f}")
    line = mt.connection_ended(since=mark)[0]
    assert line.get("in") == str(len(payload)), line.raw
    assert line.get("out") == str(len(payload)), line.raw


@pytest.mark.slow
def test_slow_reader_keeps_memory_bounded(mailtunnel, echo_port, payload, figures):
    mt = mailtunnel(connect=echo_port, protocol="none")
    # Warm up (thread stacks, OpenSSL tables, first allocations) before taking the baseline.
    for _ in range(3):
        assert echo_round_trip("127.0.0.1", mt.accept_port, b"x" * 65536) == b"x" * 65536
    baseline = rss_kib(mt.pid)
    mark = mt.log_mark()
    # The client stops reading until its sends stall for 3 s (every buffer on the path is full), then
    # reads at 8 MiB/s, while VmRSS is sampled every 100 ms.
    r = echo_transfer("127.0.0.1", mt.accept_port, payload, timeout=300, rcvbuf=64 * 1024,
                      stall_first=3.0, read_rate=8 * MIB, sampler=lambda: rss_kib(mt.pid))
    assert r.received == len(payload)
    assert r.sha256_received == r.sha256_sent
    peak = max(v for _, v in r.samples)
    growth = peak - baseline
    figures(rss_baseline_kib=baseline, rss_peak_kib=peak, rss_growth_kib=growth,
            sent_before_first_read_mib=f"{(r.sent_before_stall or 0) / MIB:.1f}",
            seconds=f"{r.seconds:.1f}", samples=len(r.samples))
    assert growth < RSS_GROWTH_LIMIT_KIB, (
        f"mailtunnel's RSS grew by {growth} KiB (baseline {baseline}, peak {peak}) while a client read "
        f"slowly: the relay is buffering instead of applying backpressure")
    mt.connection_ended(since=mark)
