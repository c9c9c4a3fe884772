"""No lost wake-ups: 30 bulk transfers of 64 MiB, full duplex, while both cores are busy with other work."""
import os
import sys
import time

import pytest

from clients import echo_transfer
from procs import Process

MIB = 1 << 20
TRANSFERS = 30
SIZE = 64 * MIB
PER_TRANSFER_LIMIT = 120.0   # seconds; a stalled relay (a read or write event never delivered) fails here


@pytest.fixture
def cpu_burners(workdir):
    """Two busy-looping processes (one per core), stopped by PID afterwards."""
    burners = [Process([sys.executable, "-c", "while True: pass"], workdir, f"cpu-burner-{i}")
               for i in range(max(2, os.cpu_count() or 2))]
    yield burners
    for b in burners:
        b.stop(grace=5)


@pytest.mark.slow
def test_30_bulk_transfers_under_cpu_load(mailtunnel, echo_port, cpu_burners, figures):
    mt = mailtunnel(connect=echo_port, protocol="none")
    mark = mt.log_mark()
    assert all(b.running() for b in cpu_burners)
    rates = []
    t0 = time.monotonic()
    for i in range(TRANSFERS):
        # Every transfer sends and receives at the same time (client→backend and backend→client),
        # so each direction of the relay has to be woken both by readable and by writable events.
        payload = os.urandom(SIZE)
        r = echo_transfer("127.0.0.1", mt.accept_port, payload, timeout=PER_TRANSFER_LIMIT)
        assert r.received == SIZE, f"transfer {i}: {r.received} of {SIZE} bytes"
        assert r.sha256_received == r.sha256_sent, f"transfer {i}: checksum mismatch"
        rates.append(r.mib_per_s)
        print(f"transfer {i + 1:2d}/{TRANSFERS}: {r.seconds:6.2f}s {r.mib_per_s:7.1f} MiB/s each way")
    total = time.monotonic() - t0
    assert all(b.running() for b in cpu_burners), "the CPU load stopped during the run"
    figures(transfers=TRANSFERS, mib_each=SIZE // MIB, total_s=f"{total:.1f}",
            mib_per_s_min=f"{min(rates):.1f}", mib_per_s_median=f"{sorted(rates)[len(rates) // 2]:.1f}",
            mib_per_s_max=f"{max(rates):.1f}", cpu_burners=len(cpu_burners))
    lines = mt.connection_ended(since=mark, count=TRANSFERS, timeout=30)
    for line in lines:
        assert line.get("in") == str(SIZE) and line.get("out") == str(SIZE), line.raw
