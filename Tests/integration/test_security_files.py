"""Issue 9, item 11: files written as root are written safely, and a reload after dropping root keeps working.

Run as root (as CI does): the daemon starts as root, as an init system would start it, with paths in directories
that a less privileged user could have prepared."""
import os
import signal
import socket
import stat

import pytest

from clients import echo_round_trip
from daemon_support import make_keypair, pem_fingerprint, served_fingerprint, tunnel  # noqa: F401
from procs import free_port


@pytest.fixture(autouse=True)
def as_root():
    assert os.geteuid() == 0, "these tests start the daemon as root: run the suite as root (as CI does)"


def snapshot(path):
    st = os.stat(path)
    return path.read_bytes(), stat.S_IMODE(st.st_mode), st.st_uid, st.st_mtime_ns


def start_refused(tunnel, args, port):
    """Starts mailtunnel expecting it to refuse to run; returns its log."""
    t = tunnel(args, port, wait=False)
    status = t.wait_exit(timeout=20)
    assert status != 0, f"mailtunnel exited with status 0\n{t.log_text()}"
    return t.log_text()


def test_pid_file_symlink_is_refused_and_its_target_untouched(tunnel, echo_port, workdir):
    victim = workdir / "victim.conf"
    victim.write_text("# a root-owned file the service user wants destroyed\n")
    before = snapshot(victim)
    run = workdir / "run"
    run.mkdir(mode=0o777)              # a pid-file directory the service user can write to
    link = run / "mailtunnel.pid"
    link.symlink_to(victim)
    port = free_port()
    log = start_refused(tunnel, ["--accept", f"127.0.0.1:{port}", "--connect", f"127.0.0.1:{echo_port}",
                                 "--protocol", "none", "--state-dir", workdir / "state", "--pid-file", link], port)
    assert "pid-file" in log and "symbolic link" in log, log
    assert snapshot(victim) == before, "the pid file was written through the symbolic link"
    assert link.is_symlink()


def test_symlinks_planted_at_the_self_signed_names_are_not_followed(tunnel, echo_port, workdir):
    """A service user who owns the state directory points the generated certificate's names at another
    service's root-only pair: mailtunnel (starting as root) must neither serve nor touch it."""
    secret = workdir / "secret"
    cert, key = make_keypair(secret, "victim", "victim.example")
    os.chmod(secret, 0o700)
    before = snapshot(cert), snapshot(key)
    state = workdir / "state"
    state.mkdir(mode=0o777)
    (state / "selfsigned-cert.pem").symlink_to(cert)
    (state / "selfsigned-key.pem").symlink_to(key)
    port = free_port()
    log = start_refused(tunnel, ["--accept", f"127.0.0.1:{port}", "--connect", f"127.0.0.1:{echo_port}",
                                 "--protocol", "none", "--state-dir", state], port)
    assert "selfsigned-" in log and "symbolic link" in log, log
    assert (snapshot(cert), snapshot(key)) == before
    assert (state / "selfsigned-key.pem").is_symlink() and (state / "selfsigned-cert.pem").is_symlink()


def config_text(state, listeners, cert, key, echo_port) -> str:
    text = f"# written by the test\nstate-dir = {state}\nuser = nobody\n"
    for name, port in listeners:
        text += (f"\n[{name}]\naccept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{echo_port}\nprotocol = none\n"
                 f"cert = {cert}\nkey = {key}\n")
    return text


def test_reload_after_dropping_root_keeps_root_only_key(tunnel, echo_port, workdir):
    """Key and certificate readable by root only (0600 in a 0700 directory), `user = nobody`: a SIGHUP is a
    real reload (a listener added by it serves TLS with that key), logged with a warning naming the files."""
    secret = workdir / "secret"
    cert, key = make_keypair(secret, "server")
    os.chmod(secret, 0o700)
    state = workdir / "state"
    state.mkdir(mode=0o700)
    first, second = free_port(), free_port()
    conf = workdir / "tls.conf"
    conf.write_text(config_text(state, [("first", first)], cert, key, echo_port))
    mt = tunnel(["--config", conf], first)
    mt.wait_for_log(r"privileges dropped", timeout=5)

    conf.write_text(config_text(state, [("first", first), ("second", second)], cert, key, echo_port))
    mark = mt.log_mark()
    os.kill(mt.pid, signal.SIGHUP)
    outcome = mt.wait_for_log(r"\breloaded\b|reload failed", since=mark, timeout=15)[0]
    assert "reloaded" in outcome.raw, f"SIGHUP as nobody could not reload: {outcome.raw}"
    warned = {l.get("path") for l in mt.find_log(r"cannot re-read", since=mark)}
    assert {str(cert), str(key)} <= warned, mt.log_text()

    assert mt.running()
    assert served_fingerprint("127.0.0.1", second) == pem_fingerprint(cert)
    assert served_fingerprint("127.0.0.1", first) == pem_fingerprint(cert)
    assert echo_round_trip("127.0.0.1", second, b"after reload\r\n") == b"after reload\r\n"
    st = key.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0


def test_reload_after_dropping_root_keeps_the_generated_self_signed_pair(tunnel, echo_port, workdir):
    """The generated pair lives in a state directory only root may enter (made while still root): after
    `user = nobody` a SIGHUP reloads with the same certificate instead of trying to generate a new one."""
    state = workdir / "state"
    state.mkdir(mode=0o700)
    port = free_port()
    conf = workdir / "selfsigned.conf"
    conf.write_text(f"state-dir = {state}\nuser = nobody\n\n[tls]\naccept = 127.0.0.1:{port}\n"
                    f"connect = 127.0.0.1:{echo_port}\nprotocol = none\n")
    mt = tunnel(["--config", conf], port)
    served = served_fingerprint("127.0.0.1", port)
    assert served == pem_fingerprint(state / "selfsigned-cert.pem")
    mark = mt.log_mark()
    os.kill(mt.pid, signal.SIGHUP)
    outcome = mt.wait_for_log(r"\breloaded\b|reload failed", since=mark, timeout=15)[0]
    assert "reloaded" in outcome.raw, outcome.raw
    assert served_fingerprint("127.0.0.1", port) == served
    assert sorted(p.name for p in state.iterdir()) == ["selfsigned-cert.pem", "selfsigned-key.pem"]
    key = (state / "selfsigned-key.pem").stat()
    assert stat.S_IMODE(key.st_mode) == 0o600 and key.st_uid == 0


def test_reload_that_fails_after_binding_a_new_listener_keeps_serving(tunnel, echo_port, workdir):
    """A reload adding two listeners, the second of which cannot bind: the first was already bound and built
    when the reload failed. The daemon must log `reload failed`, keep running and keep serving (the half-built
    listener used to be released in a state Dispatch kills the process for)."""
    cert, key = make_keypair(workdir / "pki", "server")
    state = workdir / "state"
    state.mkdir(mode=0o700)
    first, second = free_port(), free_port()
    conf = workdir / "tls.conf"
    conf.write_text(config_text(state, [("first", first)], cert, key, echo_port).replace("user = nobody\n", ""))
    mt = tunnel(["--config", conf], first)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        busy = taken.getsockname()[1]
        conf.write_text(config_text(state, [("first", first), ("second", second), ("busy", busy)], cert, key,
                                    echo_port).replace("user = nobody\n", ""))
        mark = mt.log_mark()
        os.kill(mt.pid, signal.SIGHUP)
        outcome = mt.wait_for_log(r"\breloaded\b|reload failed", since=mark, timeout=15)[0]
    assert "reload failed" in outcome.raw, outcome.raw
    assert mt.running(), mt.log_text()
    assert echo_round_trip("127.0.0.1", first, b"still here\r\n") == b"still here\r\n"
