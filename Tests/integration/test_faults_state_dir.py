"""Disk full for the state directory at first start: the self-signed pair cannot be written. mailtunnel must say
so (the path and ENOSPC) and exit non-zero without a crash and without leaving half a key behind; once there is
room, the next start creates the pair and serves."""
import errno
import os
import subprocess

import pytest

from conftest import CRASH_SIGNALS
from daemon_health import Baseline
from procs import free_port


@pytest.fixture
def full_state_fs(workdir):
    """A 64 KiB tmpfs filled to the last byte (mounted by us, unmounted by us)."""
    mount = workdir / "small-fs"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(mount)], check=True)
    try:
        fd = os.open(mount / "fill", os.O_WRONLY | os.O_CREAT)
        try:
            for _ in range(64 * 1024):          # bounded: 64 KiB fill in 1-byte steps at worst
                os.write(fd, b"\0" * 4096)
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
        finally:
            os.close(fd)
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_disk_full_state_dir_at_first_start(mailtunnel_bin, mailtunnel, full_state_fs, echo_port, figures):
    state = full_state_fs / "state"
    argv = [mailtunnel_bin, "--accept", f"127.0.0.1:{free_port()}", "--connect", f"127.0.0.1:{echo_port}",
            "--protocol", "none", "--state-dir", str(state)]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=60, env={"MAILTUNNEL_LOG": "stderr"})
    assert run.returncode > 0 and -run.returncode not in CRASH_SIGNALS, (run.returncode, run.stderr)
    assert "No space left on device" in run.stderr and str(state) in run.stderr, run.stderr
    leftovers = [p.name for p in state.iterdir()] if state.exists() else []
    assert not any(name.startswith("selfsigned") for name in leftovers), f"half-written files left: {leftovers}"
    (full_state_fs / "fill").unlink()
    mt = mailtunnel(connect=echo_port, protocol="none", state_dir=state)
    mt.wait_for_log(r"self-signed certificate")
    Baseline(mt).assert_recovered(figures)
