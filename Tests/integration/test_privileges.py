"""Run as root with `--user nobody`: the process gives up root after binding and reading the key, still serves,
leaves the root-only key alone, and writes its pid file."""
import os
import pwd
import signal
import stat

from clients import echo_round_trip
from daemon_support import make_keypair


def proc_ids(pid: int) -> dict[str, list[int]]:
    ids = {}
    for line in open(f"/proc/{pid}/status").read().splitlines():
        key, _, value = line.partition(":")
        if key in ("Uid", "Gid", "Groups"):
            ids[key] = [int(v) for v in value.split()]
    return ids


def test_user_nobody_drops_root_and_serves(mailtunnel, echo_port, workdir):
    assert os.geteuid() == 0, "this test checks dropping root: run the suite as root (as CI does)"
    nobody = pwd.getpwnam("nobody")
    pki = workdir / "pki"
    cert, key = make_keypair(pki, "server")
    os.chmod(pki, 0o700)          # a key directory only root can enter
    state = workdir / "state"
    state.mkdir(mode=0o700)
    pid_file = workdir / "mailtunnel.pid"

    mt = mailtunnel(connect=echo_port, protocol="none", state_dir=state,
                    extra=["--user", "nobody", "--cert", str(cert), "--key", str(key), "--pid-file", str(pid_file)])
    ids = proc_ids(mt.pid)
    assert ids["Uid"] == [nobody.pw_uid] * 4, f"/proc/{mt.pid}/status Uid: {ids['Uid']}"
    assert ids["Gid"] == [nobody.pw_gid] * 4, f"/proc/{mt.pid}/status Gid: {ids['Gid']}"
    assert 0 not in ids["Groups"], f"root's supplementary groups kept: {ids['Groups']}"
    line = mt.wait_for_log(r"privileges dropped", timeout=5)[0]
    assert line.get("uid") == str(nobody.pw_uid) and line.get("gid") == str(nobody.pw_gid), line.raw

    assert echo_round_trip("127.0.0.1", mt.accept_port, b"as nobody\r\n") == b"as nobody\r\n"
    mt.connection_ended()

    st = key.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0, \
        f"key file is now mode {oct(stat.S_IMODE(st.st_mode))} uid {st.st_uid}"
    assert pid_file.read_text().strip() == str(mt.pid)


def test_sighup_as_nobody_keeps_serving(mailtunnel, echo_port, workdir):
    """After dropping root the root-only key cannot be re-read (today: `reload failed`): a SIGHUP must not take
    the daemon down, and the running configuration keeps serving."""
    pki = workdir / "pki"
    cert, key = make_keypair(pki, "server")
    os.chmod(pki, 0o700)
    state = workdir / "state"
    state.mkdir(mode=0o700)
    mt = mailtunnel(connect=echo_port, protocol="none", state_dir=state,
                    extra=["--user", "nobody", "--cert", str(cert), "--key", str(key)])
    mark = mt.log_mark()
    os.kill(mt.pid, signal.SIGHUP)
    mt.wait_for_log(r"\breloaded\b|reload failed", since=mark, timeout=10)
    assert mt.running()
    assert echo_round_trip("127.0.0.1", mt.accept_port, b"still here\r\n") == b"still here\r\n"
