"""What an administrator acts on (issue 16): the cause of a backend failure on the connection's own line, a second
SIGTERM or a SIGINT that ends the shutdown grace, the `log` key (a file reopened on SIGUSR1, the journal with its
own fields), `log-format = json`, a Debian stunnel.conf that starts with one warning per no-effect line, warnings
for a listener without a protocol and for a self-signed certificate, and `--check` loading what it names."""
import json
import os
import re
import signal
import struct
import subprocess

import pytest

from clients import imaps_logged_in, recv_until, tls_connect
from daemon_support import ArgvTunnel, make_keypair, run_check, tunnel  # noqa: F401 (fixture)
from procs import DatagramCollector, dead_port, free_port, wait_until


# ---- the cause of a backend failure -------------------------------------------------------------------
def test_backend_failure_cause_is_on_the_connection_line_at_the_default_level(mailtunnel):
    first, second = dead_port(), dead_port()
    mt = mailtunnel(connect=[first, second], protocol="imap")   # log-level stays info
    mark = mt.log_mark()
    with tls_connect("127.0.0.1", mt.accept_port, 10) as s:
        data, _ = recv_until(s, lambda d: b"\r\n" in d)
    assert data.startswith(b"* BYE"), data
    line = mt.connection_ended(since=mark, reason="backend unavailable")[0]
    assert line["backend_error"] == (f"connect 127.0.0.1:{first}: Connection refused; "
                                     f"connect 127.0.0.1:{second}: Connection refused"), line.raw
    assert not mt.find_log(r"^\S+ debug ", since=mark), "the cause must not need debug logging"


# ---- stopping -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT])
def test_second_signal_during_the_grace_closes_everything_at_once(mailtunnel, dovecot, second):
    mt = mailtunnel(connect=dovecot.imap_port, protocol="imap", extra=["--shutdown-grace", "120s"])
    s = imaps_logged_in(mt.accept_port, dovecot.user, dovecot.password)
    try:
        mark = mt.log_mark()
        os.kill(mt.pid, signal.SIGTERM)
        mt.wait_for_log(r"\bstopping\b.*connections=1", since=mark)
        assert mt.running(), "the first SIGTERM must wait for the live session"
        os.kill(mt.pid, second)
        # The grace is 120 s: only the second signal can make the session end and the process exit now.
        data, eof = recv_until(s, lambda d: False, timeout=20)
    finally:
        s.close()
    assert re.match(rb"\* BYE", data) and eof, f"expected the protocol's goodbye then close, got {data!r}"
    assert mt.process.popen.wait(timeout=20) == 0
    name = "SIGINT" if second == signal.SIGINT else "SIGTERM"
    mt.wait_for_log(rf"stopping now .*signal={name}", since=mark, timeout=2)
    mt.wait_for_log(r"\bstopped\b", since=mark, timeout=2)


# ---- log = FILE, reopened on SIGUSR1 --------------------------------------------------------------------
class FileLogTunnel(ArgvTunnel):
    """A tunnel whose log lines go to a file (`--log FILE`) rather than to stderr."""

    def __init__(self, *args, log_path, **kwargs):
        super().__init__(*args, **kwargs)
        self.log_path = log_path

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def test_log_file_is_written_and_reopened_on_sigusr1(mailtunnel_bin, workdir, echo_port):
    log = workdir / "mailtunnel.log"
    port = free_port()
    mt = FileLogTunnel(mailtunnel_bin, workdir, ["--accept", f"127.0.0.1:{port}", "--connect", str(echo_port),
                                                 "--protocol", "none", "--state-dir", str(workdir / "state"),
                                                 "--log", str(log)],
                       port, "mailtunnel-logfile", log_path=log)
    mt.start()
    try:
        assert mt.process.stderr_text() == "", "with a log file nothing goes to stderr"
        mark = mt.log_mark()
        with tls_connect("127.0.0.1", port, 10) as s:
            s.sendall(b"one\r\n")
            recv_until(s, lambda d: b"one" in d)
        mt.connection_ended(since=mark)

        rotated = workdir / "mailtunnel.log.1"
        os.rename(log, rotated)                      # what logrotate does before signalling
        os.kill(mt.pid, signal.SIGUSR1)
        wait_until(lambda: log.exists() and "log file reopened" in log.read_text(), 10, what="the reopened log")
        with tls_connect("127.0.0.1", port, 10) as s:
            s.sendall(b"two\r\n")
            recv_until(s, lambda d: b"two" in d)
        mt.connection_ended()                        # in the new file, which starts empty
        assert "log file reopened" not in rotated.read_text()
        assert rotated.read_text().count("connection ended") >= 1
    finally:
        mt.stop()


# ---- log-format = json ----------------------------------------------------------------------------------
def test_json_log_lines_carry_the_same_fields(mailtunnel, echo_port):
    mt = mailtunnel(connect=echo_port, protocol="none", extra=["--log-format", "json"])
    with tls_connect("127.0.0.1", mt.accept_port, 10) as s:
        s.sendall(b"hello\r\n")
        recv_until(s, lambda d: b"hello" in d)

    def relayed():   # every line is one JSON object; the harness's probe has its own line, with nothing relayed
        objects = [json.loads(line) for line in mt.log_text().splitlines()]
        return [o for o in objects if o["message"] == "connection ended" and o.get("in") == "7"], objects
    wait_until(lambda: relayed()[0], 10, what="the json connection line")
    ended, objects = relayed()
    listening = [o for o in objects if o["message"] == "listening"]
    assert listening and listening[0]["listener"] == mt.accept, listening
    last = ended[-1]
    assert list(last)[:5] == ["time", "level", "message", "listener", "client"], list(last)
    assert last["level"] == "info" and last["in"] == "7" and last["out"] == "7", last
    assert last["reason"] in ("client closed", "backend closed"), last


# ---- log = journal --------------------------------------------------------------------------------------
def parse_journal_datagram(data: bytes) -> dict[str, str]:
    """systemd's native protocol: NAME=value lines, or NAME, newline, 64-bit LE length, bytes, newline."""
    fields, i = {}, 0
    while i < len(data):
        end = data.index(b"\n", i)
        head = data[i:end]
        if b"=" in head:
            name, value = head.split(b"=", 1)
            i = end + 1
        else:
            (length,) = struct.unpack("<Q", data[end + 1:end + 9])
            name, value = head, data[end + 9:end + 9 + length]
            assert data[end + 9 + length:end + 10 + length] == b"\n"
            i = end + 10 + length
        fields[name.decode()] = value.decode()
    return fields


def test_journal_target_sends_native_fields(mailtunnel_bin, workdir, echo_port):
    # A private mount namespace puts the test's own socket where journald's would be.
    run_systemd = workdir / "run-systemd"
    (run_systemd / "journal").mkdir(parents=True)
    receiver = DatagramCollector(run_systemd / "journal" / "socket", parse=parse_journal_datagram)
    received: list[dict[str, str]] = receiver.messages
    port = free_port()
    wrapper = ["unshare", "-m", "--propagation", "private", "sh", "-c",
               f'mount --bind "{run_systemd}" /run/systemd && exec "$@"', "mount-ns"]
    mt = ArgvTunnel(mailtunnel_bin, workdir, ["--accept", f"127.0.0.1:{port}", "--connect", str(echo_port),
                                              "--protocol", "none", "--state-dir", str(workdir / "state"),
                                              "--log", "journal"],
                    port, "mailtunnel-journal", wrapper=wrapper)
    mt.launch()
    try:
        wait_until(lambda: any(f.get("MESSAGE", "").startswith("listening") for f in list(received)), 20,
                   what="the listening line in the journal")
        with tls_connect("127.0.0.1", port, 10) as s:
            s.sendall(b"journal\r\n")
            recv_until(s, lambda d: b"journal" in d)
        wait_until(lambda: any(f.get("MESSAGE", "").startswith("connection ended") for f in list(received)), 10,
                   what="the connection line in the journal")
    finally:
        mt.stop()
        receiver.close()
    ended = [f for f in received if f["MESSAGE"].startswith("connection ended")][-1]
    assert ended["PRIORITY"] == "6" and ended["SYSLOG_IDENTIFIER"] == "mailtunnel", ended
    assert ended["SYSLOG_FACILITY"] == "2", "facility mail"
    assert ended["MAILTUNNEL_LISTENER"] == f"127.0.0.1:{port}", ended
    assert ended["MAILTUNNEL_IN"] == "9" and ended["MAILTUNNEL_OUT"] == "9", ended
    assert "MAILTUNNEL_REASON" in ended and "MAILTUNNEL_CLIENT" in ended, ended
    assert mt.process.stderr_text() == "", "with the journal listening nothing goes to stderr"


# ---- a Debian stunnel.conf -------------------------------------------------------------------------------
DEBIAN_LINES = ["options = NO_SSLv2", "options = NO_SSLv3", "options = NO_COMPRESSION",
                "socket = l:TCP_NODELAY=1", "socket = r:TCP_NODELAY=1", "renegotiation = no", "syslog = no"]


def test_debian_stunnel_conf_starts_with_one_warning_per_no_effect_line(tunnel, workdir, echo_port):
    cert, key = make_keypair(workdir / "pki", "mail")
    port = free_port()
    conf = workdir / "stunnel.conf"
    conf.write_text("\n".join(["; as Debian's stunnel4 ships it", "foreground = yes", "debug = 5", *DEBIAN_LINES,
                               "", "[wrapped]", f"accept = 127.0.0.1:{port}", f"connect = {echo_port}",
                               f"cert = {cert}", f"key = {key}", ""]))
    mt = tunnel(["--stunnel-config", conf, "--state-dir", workdir / "state"], port)
    warnings = mt.find_log(r"configuration warning .*has no effect")
    assert len(warnings) == len(DEBIAN_LINES), [w.raw for w in warnings]
    for number, warning in zip(range(4, 4 + len(DEBIAN_LINES)), warnings):
        assert f"{conf}:{number}:" in warning["warning"] and "has no effect" in warning["warning"], warning.raw
    mark = mt.log_mark()
    ping_echo(port)
    mt.connection_ended(since=mark)   # debug = 5, stunnel's default, still logs every connection


def ping_echo(port: int) -> None:
    with tls_connect("127.0.0.1", port, 10) as s:
        s.sendall(b"x\r\n")
        recv_until(s, lambda d: b"x" in d)


def test_weakening_stunnel_line_is_still_refused_with_its_line(mailtunnel_bin, workdir):
    conf = workdir / "stunnel.conf"
    conf.write_text("renegotiation = yes\n[imaps]\naccept = 993\nconnect = 143\n")
    r = run_check(mailtunnel_bin, "--stunnel-config", conf)
    assert r.returncode == 1, r
    assert f"{conf}:1: renegotiation:" in r.stderr and "never allows renegotiation" in r.stderr, r.stderr


# ---- warnings at start -----------------------------------------------------------------------------------
def test_start_warns_about_protocol_none_by_accident_and_a_self_signed_certificate(mailtunnel, echo_port):
    mt = mailtunnel(connect=echo_port, protocol=None)   # a free high port names no mail protocol
    assert mt.find_log(r"^\S+ warning configuration warning .*no protocol given and port "
                       rf"{mt.accept_port} is not a mail port"), mt.log_text()
    assert mt.find_log(r"^\S+ warning self-signed certificate in use"), mt.log_text()


# ---- --check loads what it names --------------------------------------------------------------------------
def check_config(workdir, body: str):
    conf = workdir / "check.conf"
    conf.write_text(f"[imaps]\naccept = 127.0.0.1:{free_port()}\nconnect = 143\nprotocol = imap\n" + body)
    return conf


def test_check_refuses_a_certificate_that_does_not_parse(mailtunnel_bin, workdir):
    broken = workdir / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    r = run_check(mailtunnel_bin, "--config", check_config(workdir, f"cert = {broken}\n"))
    assert r.returncode == 1, r.stdout
    assert f"listener [imaps]: cert {broken}" in r.stderr, r.stderr
    assert "configuration is valid" not in r.stdout


def test_check_refuses_a_key_that_does_not_match(mailtunnel_bin, workdir):
    cert, _ = make_keypair(workdir / "pki", "one")
    _, other_key = make_keypair(workdir / "pki", "two")
    r = run_check(mailtunnel_bin, "--config", check_config(workdir, f"cert = {cert}\nkey = {other_key}\n"))
    assert r.returncode == 1, r.stdout
    # The file and OpenSSL's own reason, as `nginx -t` prints them.
    assert f"listener [imaps]: key {other_key}: key values mismatch" in r.stderr, r.stderr


def test_check_refuses_a_missing_ca_file_and_passes_good_material(mailtunnel_bin, workdir):
    cert, key = make_keypair(workdir / "pki", "good")
    missing = workdir / "nowhere"
    r = run_check(mailtunnel_bin, "--config", check_config(
        workdir, f"cert = {cert}\nkey = {key}\nverify = require\nca-file = {missing}/ca.pem\n"))
    assert r.returncode == 1 and f"{missing}/ca.pem" in r.stderr, r.stderr

    r = run_check(mailtunnel_bin, "--config", check_config(workdir, f"cert = {cert}\nkey = {key}\n"))
    assert r.returncode == 0 and "configuration is valid" in r.stdout, r.stderr
