"""No lost wake-ups: 30 bulk transfers of 64 MiB, in both directions, while both cores are busy with
other work. A relay that misses a readable or writable event stalls, and the per-transfer bound fails it."""
import hashlib
import os
import sys
import time
from collections import Counter

import pytest

from clients import bulk_download, bulk_upload, echo_transfer
from procs import Process

MIB = 1 << 20
TRANSFERS = 30
SIZE = 64 * MIB
PER_TRANSFER_LIMIT = 120.0   # seconds; a stalled relay (a read or write event never delivered) fails here
# Rotation: full duplex through an echo backend (both directions at once), backend→client only,
# client→backend only.
MODES = ("duplex", "download", "upload")


@pytest.fixture
def cpu_burners(workdir):
    """Busy-looping processes, one per core (at least two), stopped by PID afterwards."""
    burners = [Process([sys.executable, "-c", "while True: pass"], workdir, f"cpu-burner-{i}")
               for i in range(max(2, os.cpu_count() or 2))]
    yield burners
    for b in burners:
        b.stop(grace=5)


@pytest.mark.slow
def test_30_bulk_transfers_under_cpu_load(mailtunnel, echo_port, backends, workdir, cpu_burners, figures):
    echo_mt = mailtunnel(connect=echo_port, protocol="none")
    bulk_mt = mailtunnel(connect=backends.bulk(), protocol="none")
    echo_mark, bulk_mark = echo_mt.log_mark(), bulk_mt.log_mark()
    assert all(b.running() for b in cpu_burners)
    rates: dict[str, list[float]] = {m: [] for m in MODES}
    expected_echo: Counter = Counter()
    expected_bulk: Counter = Counter()
    source = workdir / "download.bin"
    t0 = time.monotonic()
    for i in range(TRANSFERS):
        mode = MODES[i % len(MODES)]
        payload = os.urandom(SIZE)
        if mode == "duplex":
            r = echo_transfer("127.0.0.1", echo_mt.accept_port, payload, timeout=PER_TRANSFER_LIMIT)
            assert r.received == SIZE, f"transfer {i}: {r.received} of {SIZE} bytes"
            expected_echo[(str(SIZE), str(SIZE))] += 1
        elif mode == "download":
            source.write_bytes(payload)
            r = bulk_download("127.0.0.1", bulk_mt.accept_port, str(source), SIZE, timeout=PER_TRANSFER_LIMIT)
            r.sha256_sent = hashlib.sha256(payload).hexdigest()
            expected_bulk[(str(len(f"SEND {source}\n")), str(SIZE))] += 1
        else:
            r = bulk_upload("127.0.0.1", bulk_mt.accept_port, payload, timeout=PER_TRANSFER_LIMIT)
            expected_bulk[(str(SIZE + len(f"RECV {SIZE}\n")), "65")] += 1
        assert r.sha256_received == r.sha256_sent, f"transfer {i} ({mode}): checksum mismatch"
        rates[mode].append(r.mib_per_s)
        print(f"transfer {i + 1:2d}/{TRANSFERS} {mode:8s}: {r.seconds:6.2f}s {r.mib_per_s:7.1f} MiB/s")
    total = time.monotonic() - t0
    assert all(b.running() for b in cpu_burners), "the CPU load stopped during the run"
    summary = {}
    for mode, values in rates.items():
        values = sorted(values)
        summary[f"{mode}_mib_per_s_min_median_max"] = (
            f"{values[0]:.0f}/{values[len(values) // 2]:.0f}/{values[-1]:.0f}")
    figures(transfers=TRANSFERS, mib_each=SIZE // MIB, total_s=f"{total:.1f}", cpu_burners=len(cpu_burners),
            **summary)

    # The relay counted every byte each way.
    seen_echo = Counter((l.get("in"), l.get("out"))
                        for l in echo_mt.connection_ended(since=echo_mark, count=sum(expected_echo.values()),
                                                          timeout=30))
    seen_bulk = Counter((l.get("in"), l.get("out"))
                        for l in bulk_mt.connection_ended(since=bulk_mark, count=sum(expected_bulk.values()),
                                                          timeout=30))
    assert seen_echo == expected_echo
    assert seen_bulk == expected_bulk
