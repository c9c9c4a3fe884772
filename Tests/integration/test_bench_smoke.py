"""Smoke run of Scripts/bench's load generator (Scripts/bench.d/loadgen.c) against the real mailtunnel binary.

It builds the load generator with the C compiler and runs each of its modes for a few hundred connections
through mailtunnel to an echo backend. It asserts correctness only: every connection completed, every echo and
CRC32C check matched, every idle connection still answered. Never a time or a rate: those belong to
Scripts/bench, which is not part of the test suite."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from conftest import REPO

LOADGEN_SRC = REPO / "Scripts" / "bench.d" / "loadgen.c"
RUN_TIMEOUT = 90          # seconds per load generator run (each also bounds itself with --max-time 60)


def parse_result(stdout: str) -> dict[str, str]:
    lines = [l for l in stdout.splitlines() if l.startswith("RESULT ")]
    assert lines, f"no RESULT line in:\n{stdout}"
    return dict(f.split("=", 1) for f in lines[-1].split()[1:])


@pytest.fixture(scope="module")
def loadgen(tmp_path_factory) -> str:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.fail("no C compiler (gcc) to build Scripts/bench.d/loadgen.c", pytrace=False)
    out = tmp_path_factory.mktemp("loadgen") / "loadgen"
    r = subprocess.run([cc, "-O2", "-Wall", "-o", str(out), str(LOADGEN_SRC), "-lssl", "-lcrypto"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"building loadgen failed:\n{r.stderr}"
    return str(out)


def run(loadgen: str, mode: str, port: int, *args: str, stdin: str | None = None) -> dict[str, str]:
    r = subprocess.run([loadgen, mode, "-p", str(port), "--max-time", "60", "--timeout", "20", *args],
                       input=stdin, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    res = parse_result(r.stdout)
    assert r.returncode == 0, f"loadgen {mode} {' '.join(args)} exited {r.returncode}: {r.stdout}{r.stderr}"
    if mode != "idle":               # idle reports open_fail and check_fail instead
        assert res["fail"] == "0", res
    return res


@pytest.fixture
def c_echo(loadgen, workdir):
    """The load generator's own echo backend (what Scripts/bench uses), stopped by PID at teardown."""
    from procs import free_port, port_accepts, wait_until
    port = free_port()
    proc = subprocess.Popen([loadgen, "echo", "-p", str(port)], stdout=subprocess.PIPE,
                            stderr=open(workdir / "c-echo.log", "w"), text=True)
    try:
        wait_until(lambda: proc.poll() is not None or port_accepts("127.0.0.1", port), 15, what="C echo backend")
        assert proc.poll() is None, "C echo backend exited"
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def rsa_identity(workdir):
    cert, key = workdir / "rsa.crt", workdir / "rsa.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=localhost"], check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.mark.parametrize("version", ["--tls13", "--tls12"])
def test_full_handshakes_all_complete(loadgen, mailtunnel, echo_port, version):
    mt = mailtunnel(connect=echo_port)
    res = run(loadgen, "hs", mt.accept_port, version, "-c", "16", "-n", "300")
    assert res["ok"] == "300"
    assert res["resumed"] == "0"
    assert res["version"] == ("TLSv1.3" if version == "--tls13" else "TLSv1.2")


def test_full_handshakes_with_an_rsa_certificate(loadgen, mailtunnel, echo_port, rsa_identity):
    cert, key = rsa_identity
    mt = mailtunnel(connect=echo_port, extra=["--cert", str(cert), "--key", str(key)])
    res = run(loadgen, "hs", mt.accept_port, "--tls13", "-c", "16", "-n", "200")
    assert res["ok"] == "200"


def test_resumed_handshakes_use_the_session_tickets(loadgen, mailtunnel, echo_port):
    mt = mailtunnel(connect=echo_port)
    slots, total = 8, 300
    res = run(loadgen, "resume", mt.accept_port, "--tls13", "-c", str(slots), "-n", str(total))
    assert res["ok"] == str(total)
    # the first connection of each slot is a full handshake; every later one offers the slot's last ticket
    assert int(res["resumed"]) == total - slots


@pytest.mark.parametrize("conns,mib", [(1, "16"), (8, "4")])
def test_echo_throughput_crc_matches(loadgen, mailtunnel, echo_port, conns, mib):
    mt = mailtunnel(connect=echo_port)
    res = run(loadgen, "tput", mt.accept_port, "--tls13", "-c", str(conns), "-s", mib)
    assert res["ok"] == str(conns)      # every connection got all its bytes back with the sent CRC32C


def test_throughput_through_the_c_echo_backend(loadgen, mailtunnel, c_echo):
    mt = mailtunnel(connect=c_echo)
    res = run(loadgen, "tput", mt.accept_port, "--tls13", "-c", "8", "-s", "8")
    assert res["ok"] == "8"
    # the way Scripts/bench runs it: a transfer cut at the end of a window, checked over what came back
    res = run(loadgen, "tput", mt.accept_port, "--tls13", "-c", "2", "-s", "4096", "-t", "0.3")
    assert res["ok"] == "2"
    res = run(loadgen, "hs", mt.accept_port, "-c", "16", "-n", "200")
    assert res["ok"] == "200"


def test_ping_pong_rounds_all_echoed(loadgen, mailtunnel, echo_port):
    mt = mailtunnel(connect=echo_port)
    res = run(loadgen, "lat", mt.accept_port, "--tls13", "-n", "300", "-m", "64", "--warm-rounds", "20")
    assert res["rounds"] == "300"
    assert res["ok"] == "1"


def test_idle_connections_all_still_answer(loadgen, mailtunnel, c_echo):
    mt = mailtunnel(connect=c_echo)
    n = 300
    res = run(loadgen, "idle", mt.accept_port, "-n", str(n), "-c", "50", "--hold", "30", stdin="go\n")
    assert res["opened"] == str(n) and res["open_fail"] == "0"
    assert res["held"] == str(n)
    assert res["check_ok"] == str(n) and res["check_fail"] == "0"


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
