"""The test acts as systemd: a datagram socket as $NOTIFY_SOCKET (READY/RELOADING/STOPPING/WATCHDOG), and a
listening socket handed over as fd 3 ($LISTEN_FDS/$LISTEN_PID/$LISTEN_FDNAMES)."""
import imaplib
import os
import poplib
import shutil
import signal
import socket
import subprocess
import time

import pytest

from clients import client_context, echo_round_trip
from conftest import REPO
from daemon_support import tunnel  # noqa: F401
from procs import free_port, port_accepts, wait_until


class NotifySocket:
    """What systemd listens on: an AF_UNIX datagram socket; each datagram is newline-separated VAR=value."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages: list[tuple[float, list[str]]] = []

    def next(self, want: str, timeout: float) -> tuple[float, list[str]]:
        """Read datagrams until one contains the line `want`; returns (arrival time, its lines)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {want} within {timeout}s; got so far: {self.messages}")
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            entry = (time.monotonic(), data.decode(errors="replace").split("\n"))
            self.messages.append(entry)
            if want in entry[1]:
                return entry

    def close(self):
        self.sock.close()


@pytest.fixture
def notify(workdir):
    n = NotifySocket(workdir / "notify.sock")
    yield n
    n.close()


def test_ready_reloading_stopping(tunnel, notify, echo_port, workdir):
    port = free_port()
    state = workdir / "state"
    state.mkdir()
    mt = tunnel(["--accept", f"127.0.0.1:{port}", "--connect", f"127.0.0.1:{echo_port}", "--protocol", "none",
                 "--state-dir", state], port, env={"NOTIFY_SOCKET": notify.path}, wait=False)

    _, lines = notify.next("READY=1", timeout=30)
    # READY=1 is sent only once the listener accepts: a connect right now must succeed
    assert port_accepts("127.0.0.1", port, timeout=1), "READY=1 came before the listener accepted"
    assert "listening" in mt.log_text()
    assert echo_round_trip("127.0.0.1", port, b"ready?\r\n") == b"ready?\r\n"
    status = [l for l in lines if l.startswith("STATUS=")]
    assert status, f"no STATUS= with READY=1: {lines}"

    mark = mt.log_mark()
    os.kill(mt.pid, signal.SIGHUP)
    notify.next("RELOADING=1", timeout=10)
    notify.next("READY=1", timeout=10)
    mt.wait_for_log(r"\breloaded\b", since=mark, timeout=10)
    assert echo_round_trip("127.0.0.1", port, b"after reload\r\n") == b"after reload\r\n"

    os.kill(mt.pid, signal.SIGTERM)
    notify.next("STOPPING=1", timeout=10)
    assert mt.wait_exit(20) == 0
    mt.wait_for_log(r"\bstopped\b", timeout=5)


def test_watchdog_keepalive(tunnel, notify, echo_port, workdir, figures):
    port = free_port()
    state = workdir / "state"
    state.mkdir()
    mt = tunnel(["--accept", f"127.0.0.1:{port}", "--connect", f"127.0.0.1:{echo_port}", "--protocol", "none",
                 "--state-dir", state], port,
                env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000"}, wait=False)
    ready_at, _ = notify.next("READY=1", timeout=30)
    # Keep-alives keep coming (each waited for, bounded by twice WATCHDOG_USEC); their spacing is a figure.
    times = [notify.next("WATCHDOG=1", timeout=2)[0] for _ in range(4)]
    figures(watchdog_usec=1_000_000, keepalive_intervals_s=",".join(f"{b - a:.2f}" for a, b in zip(times, times[1:])))
    assert mt.running()


def test_socket_activation_serves_through_inherited_socket(tunnel, dovecot, workdir):
    # systemd's part: bind and listen, hand the socket over as fd 3 with LISTEN_FDS/LISTEN_PID/LISTEN_FDNAMES
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    inherited_port = listener.getsockname()[1]
    unused_port = free_port()   # what the config says to accept on: must NOT be bound
    state = workdir / "state"
    state.mkdir()
    conf = workdir / "mail.conf"
    conf.write_text(f"[imaps]\naccept = 127.0.0.1:{unused_port}\nconnect = 127.0.0.1:{dovecot.imap_port}\n"
                    f"protocol = imap\nstate-dir = {state}\n")
    fd = listener.fileno()
    # LISTEN_PID must be the daemon's own pid: the shell exports its $$, moves the socket to fd 3
    # (bash: dash takes only one-digit fds) and execs mailtunnel in place.
    redirect = "" if fd == 3 else f" 3<&{fd} {fd}<&-"
    wrapper = ["bash", "-c", f'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"{redirect}']
    try:
        mt = tunnel(["--config", conf], inherited_port, wrapper=wrapper, pass_fds=(fd,),
                    env={"LISTEN_FDS": "1", "LISTEN_FDNAMES": "imaps"})
    finally:
        listener.close()   # the daemon holds its own copy now

    line = mt.wait_for_log(r"listening listener=imaps\b", timeout=5)[0]
    assert line.get("socket") == "inherited", line.raw
    assert not port_accepts("127.0.0.1", unused_port), \
        f"mailtunnel bound its accept port {unused_port} although it was handed a socket"

    mark = mt.log_mark()
    with imaplib.IMAP4_SSL("127.0.0.1", inherited_port, ssl_context=client_context(), timeout=30) as imap:
        assert imap.login(dovecot.user, dovecot.password)[0] == "OK"
        typ, data = imap.select("INBOX", readonly=True)
        assert typ == "OK"
        typ, data = imap.fetch("1", "(BODY.PEEK[])")
        assert typ == "OK" and data[0][1] == dovecot.message
        imap.logout()
    ended = mt.connection_ended(since=mark)[0]
    assert ended.get("listener") == "imaps" and ended.get("backend") == f"127.0.0.1:{dovecot.imap_port}", ended.raw
    assert not port_accepts("127.0.0.1", unused_port)
    assert mt.running()


def test_ready_only_when_every_listener_accepts(tunnel, notify, dovecot, workdir):
    ports = {"imaps": free_port(), "pop3s": free_port(), "third": free_port()}
    state = workdir / "state"
    state.mkdir()
    conf = workdir / "mail.conf"
    conf.write_text(f"state-dir = {state}\n"
                    f"[imaps]\naccept = 127.0.0.1:{ports['imaps']}\nconnect = 127.0.0.1:{dovecot.imap_port}\n"
                    f"[pop3s]\naccept = 127.0.0.1:{ports['pop3s']}\nconnect = 127.0.0.1:{dovecot.pop3_port}\n"
                    f"[third]\naccept = 127.0.0.1:{ports['third']}\nconnect = 127.0.0.1:{dovecot.imap_port}\n")
    mt = tunnel(["--config", conf], ports["imaps"], env={"NOTIFY_SOCKET": notify.path}, wait=False)
    notify.next("READY=1", timeout=30)
    refused = [name for name, p in ports.items() if not port_accepts("127.0.0.1", p, timeout=1)]
    assert not refused, f"READY=1 sent while {refused} did not accept yet"
    assert len(mt.find_log(r"listening listener=")) == 3


def test_inherited_socket_goes_to_the_listener_of_that_name(tunnel, dovecot, workdir):
    """Two listeners, one socket named `pop3s`: pop3s takes it, imaps binds its own accept address."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    inherited_port = listener.getsockname()[1]
    imaps_port, pop3s_unused = free_port(), free_port()
    state = workdir / "state"
    state.mkdir()
    conf = workdir / "mail.conf"
    conf.write_text(f"state-dir = {state}\n"
                    f"[imaps]\naccept = 127.0.0.1:{imaps_port}\nconnect = 127.0.0.1:{dovecot.imap_port}\n"
                    f"protocol = imap\n"
                    f"[pop3s]\naccept = 127.0.0.1:{pop3s_unused}\nconnect = 127.0.0.1:{dovecot.pop3_port}\n"
                    f"protocol = pop3\n")
    fd = listener.fileno()
    redirect = "" if fd == 3 else f" 3<&{fd} {fd}<&-"
    wrapper = ["bash", "-c", f'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"{redirect}']
    try:
        mt = tunnel(["--config", conf], imaps_port, wrapper=wrapper, pass_fds=(fd,),
                    env={"LISTEN_FDS": "1", "LISTEN_FDNAMES": "pop3s"}, wait=False)
        lines = {l.get("listener"): l for l in mt.wait_for_log(r"listening listener=", timeout=20, count=2)}
    finally:
        listener.close()
    assert lines["pop3s"].get("socket") == "inherited" and lines["imaps"].get("socket") == "bound", \
        "the socket named pop3s ($LISTEN_FDNAMES) went to another listener:\n" + \
        "\n".join(l.raw for l in lines.values())
    wait_until(lambda: port_accepts("127.0.0.1", imaps_port), 10, what="imaps to accept on its own port")
    assert not port_accepts("127.0.0.1", pop3s_unused)

    pop = poplib.POP3_SSL("127.0.0.1", inherited_port, context=client_context(), timeout=30)
    try:
        pop.user(dovecot.user)
        assert pop.pass_(dovecot.password).startswith(b"+OK")
        pop.quit()
    finally:
        pop.close()
    with imaplib.IMAP4_SSL("127.0.0.1", imaps_port, ssl_context=client_context(), timeout=30) as imap:
        assert imap.login(dovecot.user, dovecot.password)[0] == "OK"
        imap.logout()


def test_unit_files(workdir, mailtunnel_bin):
    """The template unit and socket say what the issue promises, and systemd-analyze accepts them."""
    service = (REPO / "Config" / "systemd" / "mailtunnel@.service").read_text()
    sock = (REPO / "Config" / "systemd" / "mailtunnel@.socket").read_text()

    def values(text, key):
        return [l.split("=", 1)[1].strip() for l in text.splitlines() if l.startswith(key + "=")]

    assert values(service, "Type") == ["notify"]
    assert any("/etc/mailtunnel/%i.conf" in v for v in values(service, "ExecStart")), service
    reload = values(service, "ExecReload")
    assert len(reload) == 2 and "--check" in reload[0] and "/etc/mailtunnel/%i.conf" in reload[0], service
    assert "HUP" in reload[1] and "$MAINPID" in reload[1], "the check runs first; the signal only if it passed"
    assert values(service, "NoNewPrivileges") == ["yes"]
    assert values(service, "ProtectSystem") == ["strict"]
    assert "CAP_NET_BIND_SERVICE" in " ".join(values(service, "AmbientCapabilities"))
    assert int(values(service, "LimitNOFILE")[0].split(":")[-1]) >= 20000
    # The template names no port (a listener's port is its own); a drop-in per instance gives it, as the
    # package's mailtunnel@imaps.socket.d/listen.conf does.
    assert not values(sock, "ListenStream") and values(sock, "FileDescriptorName") == ["%i"]

    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is part of systemd, which this Debian machine has"
    d = workdir / "units"
    d.mkdir()
    (d / "mailtunnel@.service").write_text(service.replace("/usr/local/bin/mailtunnel", mailtunnel_bin))
    (d / "mailtunnel@.socket").write_text(sock)
    (d / "mailtunnel@imaps.socket.d").mkdir()
    (d / "mailtunnel@imaps.socket.d" / "listen.conf").write_text("[Socket]\nListenStream=993\n")
    r = subprocess.run([analyze, "verify", "--man=no", "./mailtunnel@imaps.service", "./mailtunnel@imaps.socket"],
                       cwd=d, capture_output=True, text=True, timeout=120)
    complaints = [l for l in (r.stdout + r.stderr).splitlines() if "mailtunnel@" in l]
    assert r.returncode == 0 and not complaints, r.stdout + r.stderr
