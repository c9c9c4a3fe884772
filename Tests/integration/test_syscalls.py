"""System calls per proxied connection, counted by strace on the real binary (counts, never times).

A client is started on the event loop that accepted it, so no thread hands it over (no futex per connection);
its two sockets are each registered once and leave the epoll set by being closed; OpenSSL's fork check on every
random draw costs no getpid system call (Sources/CMailTunnelLinux/pid_cache.c). BENCHMARKS.md has the whole
table per connection."""
from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import time

import pytest

from test_bench_smoke import c_echo, loadgen, run  # noqa: F401  (fixtures: the built Scripts/bench.d/loadgen.c, its echo backend)

CONNECTIONS = 300
ATTACH_TIMEOUT = 20       # seconds for strace to attach to the daemon


def strace_counts(text: str) -> dict[str, int]:
    """Calls per system call from `strace -c`'s table."""
    counts = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 5 and parts[3].isdigit() and parts[-1] != "total":
            counts[parts[-1]] = int(parts[3])
    return counts


def attach_strace(pid: int, out) -> subprocess.Popen:
    """strace -f -c on every thread of `pid` (it says "Process N attached with T threads"); returns once attached."""
    tracer = subprocess.Popen([shutil.which("strace"), "-f", "-c", "-o", str(out), "-p", str(pid)],
                              stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + ATTACH_TIMEOUT
    while time.monotonic() < deadline:
        ready, _, _ = select.select([tracer.stderr], [], [], 1)
        if ready:
            line = tracer.stderr.readline()
            assert line, f"strace exited with status {tracer.wait(5)}"
            if "attached" in line:
                return tracer
    tracer.kill()
    tracer.wait(5)
    raise AssertionError(f"strace did not attach to {pid} within {ATTACH_TIMEOUT} s")


def traced_run(loadgen: str, mt, out, *args: str) -> tuple[dict, dict[str, int]]:
    """Runs the load generator against `mt` under strace -f -c: its RESULT fields and the calls per system call."""
    if shutil.which("strace") is None:
        pytest.fail("strace is not installed (Scripts/setup installs it)", pytrace=False)
    run(loadgen, "probe", mt.accept_port)
    tracer = attach_strace(mt.pid, out)
    try:
        res = run(loadgen, *args[:1], mt.accept_port, *args[1:])
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(30)
    return res, strace_counts(out.read_text())


def test_a_connection_costs_no_futex_no_getpid_and_two_epoll_ctl(loadgen, mailtunnel, echo_port, workdir):
    mt = mailtunnel(connect=echo_port)
    _, counts = traced_run(loadgen, mt, workdir / "strace.txt", "hs", "--tls13", "-c", "8", "-n", str(CONNECTIONS))
    per_connection = {name: n / CONNECTIONS for name, n in counts.items()}
    assert counts.get("accept4", 0) >= CONNECTIONS, f"strace did not see the connections: {counts}"
    table = ", ".join(f"{name} {n:.2f}" for name, n in sorted(per_connection.items()))
    assert per_connection.get("futex", 0) < 0.5, f"futex calls per connection: the accept hand-off is back? {table}"
    assert per_connection.get("getpid", 0) < 0.05, f"getpid calls per connection: {table}"
    # Two sockets registered once each; closing them takes them out of the epoll set without a third call.
    assert per_connection.get("epoll_ctl", 0) < 2.5, f"epoll_ctl calls per connection: {table}"


BULK_MIB = 32


def test_bulk_data_leaves_in_sends_of_several_records(loadgen, c_echo, mailtunnel, workdir, figures):
    """A backend read of up to 64 KiB becomes four TLS records in one `send`, and up to four client records reach
    the backend in one write: sends per MiB relayed (both directions) stay well under the one-per-16-KiB-record
    (64 per MiB) of a proxy that writes each record on its own."""
    mt = mailtunnel(connect=c_echo)
    res, counts = traced_run(loadgen, mt, workdir / "strace-bulk.txt", "tput", "--tls13", "-c", "1", "-s", str(BULK_MIB))
    assert res["ok"] == "1", res
    sends = counts.get("sendto", 0) + counts.get("write", 0) + counts.get("sendmsg", 0) + counts.get("writev", 0)
    per_mib = sends / (2 * BULK_MIB)
    figures(sends=sends, sends_per_mib=round(per_mib, 2))
    assert sends >= 2 * BULK_MIB, f"strace did not see the transfer: {counts}"
    assert per_mib < 40, f"{per_mib:.1f} sends per MiB relayed (one per 16 KiB record is 64): {counts}"
