"""The fail2ban filter (Config/fail2ban/filter.d/mailtunnel.conf) against a log made by the real daemon.

One mailtunnel process runs four listeners from a config file (an SMTP SASL gate in front of smtp-sink, IMAPS
with required client certificates, IMAPS taking PROXY headers only from 10.0.0.0/8, IMAPS with one connection
per address) and logs to a file. Each event comes from its own loopback source address (Linux routes all of
127.0.0.0/8 to lo), so `fail2ban-regex` must name exactly the offenders:

    127.0.0.2  failed SMTP AUTH                          (auth_failures=1)
    127.0.0.3  refused client certificates               (expired, with a subject that looks like a log line; none)
    127.0.0.4  a PROXY header from an untrusted peer
    127.0.0.5  over max-connections-per-ip
    127.0.0.7  a successful AUTH as `x client=6.6.6.6:1 auth_failures=9`     -> no match
    127.0.0.8  an admitted certificate named `ok client=6.6.6.6:1 ...`       -> no match

6.6.6.6 appears only inside names the clients chose; it must never be matched."""
from __future__ import annotations

import base64
import datetime as dt
import shutil
import socket
import ssl
import subprocess

from clients import recv_until
from conftest import REPO
from pki import PKI, pki  # noqa: F401  (pki is the session fixture)
from procs import Process, free_port, wait_until

from fake_saslauthd import FakeSaslauthd

HOST = "127.0.0.1"
FORGED_USER = b"x client=6.6.6.6:1 auth_failures=9"
FILTER = REPO / "Config" / "fail2ban" / "filter.d" / "mailtunnel.conf"
JAIL = REPO / "Config" / "fail2ban" / "jail.d" / "mailtunnel.conf"


def tls_connect(port: int, source: str, cert=None, timeout: float = 15) -> ssl.SSLSocket:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if cert is not None:
        ctx.load_cert_chain(str(cert.cert), str(cert.key))
    raw = socket.create_connection((HOST, port), timeout=timeout, source_address=(source, 0))
    return ctx.wrap_socket(raw)


def first_line(s: ssl.SSLSocket) -> bytes:
    data, _ = recv_until(s, lambda d: b"\r\n" in d, timeout=15)
    return data


def smtp(s: ssl.SSLSocket, line: bytes) -> bytes:
    s.sendall(line + b"\r\n")
    data, _ = recv_until(s, lambda d: any(l[3:4] == b" " for l in d.split(b"\r\n") if len(l) > 3), timeout=15)
    return data


def auth_plain(s: ssl.SSLSocket, login: bytes, password: bytes) -> bytes:
    return smtp(s, b"AUTH PLAIN " + base64.b64encode(b"\0" + login + b"\0" + password))


def refused_handshake(port: int, source: str, cert=None) -> None:
    """A handshake the server refuses: the alert comes during the handshake or (TLS 1.3) on the first read."""
    try:
        with tls_connect(port, source, cert) as s:
            data, eof = recv_until(s, lambda d: b"\r\n" in d, timeout=15)
            assert not data.startswith(b"* OK"), f"admitted: {data!r}"
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        pass


def test_fail2ban_filter_bans_the_real_clients_only(pki: PKI, dovecot, smtp_sink, workdir, mailtunnel_bin):  # noqa: F811
    now = dt.datetime.now(dt.timezone.utc)
    forged_refused = pki.intermediate.issue(
        "f2b-forged-expired", '/O=mailtunnel test/CN=evil client=6.6.6.6:1 reason="client certificate required"',
        "client", not_before=now - dt.timedelta(days=60), not_after=now - dt.timedelta(days=1))
    forged_ok = pki.intermediate.issue("f2b-forged-ok", "/O=mailtunnel test/CN=ok client=6.6.6.6:1 auth_failures=9",
                                       "client")
    sasl = FakeSaslauthd(verdict=lambda login, password: (login, password) == (FORGED_USER, b"pw"))
    try:
        ports = {name: free_port(HOST) for name in ("gate", "certs", "proxy", "limit")}
        sasl_dir = workdir / "sasl"
        sasl.gate_flags(sasl_dir)
        tls = f"cert = {pki.server.chain}\nkey = {pki.server.key}\n"
        imap = f"protocol = imap\nconnect = {HOST}:{dovecot.imap_port}\n{tls}"
        config = workdir / "fail2ban.conf"
        config.write_text(
            f"state-dir = {workdir / 'state'}\n"
            f"[gate]\naccept = {HOST}:{ports['gate']}\nconnect = {HOST}:{smtp_sink.port}\nprotocol = smtp\n{tls}"
            f"auth = sasl\nsasl-service = smtpd\nsasl-config-dir = {sasl_dir}\n"
            f"[certs]\naccept = {HOST}:{ports['certs']}\n{imap}verify = require\nca-file = {pki.ca_bundle}\n"
            f"[proxy]\naccept = {HOST}:{ports['proxy']}\n{imap}accept-proxy-protocol = yes\n"
            f"accept-proxy-from = 10.0.0.0/8\n"
            f"[limit]\naccept = {HOST}:{ports['limit']}\n{imap}max-connections-per-ip = 1\n")
        daemon = Process([mailtunnel_bin, "--config", config], workdir, "mailtunnel",
                         env={"MAILTUNNEL_LOG": "stderr", "PATH": "/usr/bin:/bin"})
        try:
            wait_until(lambda: not daemon.running() or daemon.stderr_text().count(" listening ") >= 4, 20,
                       what="four listeners")
            assert daemon.running(), daemon.describe()

            # 127.0.0.2: a failed AUTH at the gate.
            with tls_connect(ports["gate"], "127.0.0.2") as s:
                assert first_line(s).startswith(b"220"), "no SMTP greeting"
                smtp(s, b"EHLO client.example")
                assert auth_plain(s, b"alice", b"wrong").startswith(b"535")
                smtp(s, b"QUIT")
            # 127.0.0.7: a successful AUTH as a user name that looks like a log line.
            with tls_connect(ports["gate"], "127.0.0.7") as s:
                first_line(s)
                smtp(s, b"EHLO client.example")
                assert auth_plain(s, FORGED_USER, b"pw").startswith(b"235")
                smtp(s, b"QUIT")
            # 127.0.0.3: refused client certificates (expired with a forged-looking subject; none at all).
            refused_handshake(ports["certs"], "127.0.0.3", forged_refused)
            refused_handshake(ports["certs"], "127.0.0.3")
            # 127.0.0.8: an admitted certificate whose name looks like a log line.
            with tls_connect(ports["certs"], "127.0.0.8", forged_ok) as s:
                assert first_line(s).startswith(b"* OK")
            # 127.0.0.4: a PROXY header from outside accept-proxy-from.
            with socket.create_connection((HOST, ports["proxy"]), timeout=15, source_address=("127.0.0.4", 0)) as s:
                s.sendall(b"PROXY TCP4 6.6.6.6 127.0.0.1 1 993\r\n")
                assert s.recv(100) == b""
            # 127.0.0.5: over max-connections-per-ip.
            with tls_connect(ports["limit"], "127.0.0.5") as held:
                assert first_line(held).startswith(b"* OK")
                with tls_connect(ports["limit"], "127.0.0.5") as refused:
                    assert first_line(refused).startswith(b"* BYE")

            def ended() -> int:
                return daemon.stderr_text().count("connection ended")
            wait_until(lambda: ended() >= 8, 20, what="eight connection ended lines")
        finally:
            daemon.stop()
        log = daemon.stderr_path
    finally:
        sasl.close()

    # fail2ban resolves `before = common.conf` next to the filter, as in /etc/fail2ban/filter.d.
    filters = workdir / "filter.d"
    filters.mkdir()
    shutil.copy("/etc/fail2ban/filter.d/common.conf", filters)
    shutil.copy(FILTER, filters)
    run = subprocess.run(["fail2ban-regex", "-o", "row", str(log), str(filters / "mailtunnel.conf")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    matched = [row.split("'")[1] for row in run.stdout.splitlines() if row.startswith("['")]
    text = log.read_text()
    assert set(matched) == {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"}, f"{run.stdout}\n{text}"
    assert matched.count("127.0.0.3") == 2, f"both certificate refusals: {run.stdout}\n{text}"
    assert "6.6.6.6" in text and "6.6.6.6" not in run.stdout, run.stdout


def test_fail2ban_jail_loads_with_the_filter(workdir):
    """fail2ban's own config reader takes the shipped jail (enabled for the test) with the shipped filter."""
    conf = workdir / "fail2ban"
    shutil.copytree("/etc/fail2ban", conf, ignore=shutil.ignore_patterns("jail.d", "jail.local"))
    (conf / "jail.d").mkdir()
    shutil.copy(FILTER, conf / "filter.d" / "mailtunnel.conf")
    jail = JAIL.read_text()
    assert "enabled      = false" in jail, "the shipped jail is off until the administrator turns it on"
    (conf / "jail.d" / "mailtunnel.conf").write_text(
        jail.replace("enabled      = false", "enabled      = true")
        .replace("backend      = systemd", "backend      = polling\nlogpath      = /dev/null"))
    run = subprocess.run(["fail2ban-client", "-c", str(conf), "-d"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "['add', 'mailtunnel', 'polling']" in run.stdout, run.stdout[-3000:]
    assert "client=<ADDR>" in run.stdout or "client=(?:" in run.stdout, run.stdout[-3000:]
