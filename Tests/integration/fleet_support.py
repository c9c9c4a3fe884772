"""Support for the fleet tests (issue 15): HAProxy in front of several mailtunnel instances, IMAP logins that
save and offer a TLS session, ticket-key files, and finding which process holds a connection."""
from __future__ import annotations

import os
import socket
import ssl
import subprocess
from pathlib import Path

from clients import client_context
from gate_support import HAProxy, imap_login_logout
from mailtunnel import MailTunnel
from procs import wait_until

TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def tls_context(version: str) -> ssl.SSLContext:
    v = TLS_VERSIONS[version]
    return client_context(minimum=v, maximum=v)


class Login:
    """What one IMAP login over implicit TLS saw: the session to offer next time, and whether it resumed."""

    def __init__(self, session: ssl.SSLSession, reused: bool, local_port: int):
        self.session = session
        self.reused = reused
        self.local_port = local_port


def imap_login(port: int, ctx: ssl.SSLContext, session: ssl.SSLSession | None = None,
               user: str = "alice", password: str = "secret") -> Login:
    """LOGIN and LOGOUT over implicit TLS, offering `session`. Reading the greeting also receives a TLS 1.3
    ticket (it arrives after the handshake)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=15)
    local_port = raw.getsockname()[1]
    s = ctx.wrap_socket(raw, server_hostname="localhost", session=session)
    try:
        imap_login_logout(s, user, password)
        return Login(s.session, s.session_reused, local_port)
    finally:
        s.close()


def write_key_file(path: Path, lines: list[str]) -> None:
    """Replace the file by rename, as a deployment tool does (readers never see half a file)."""
    tmp = path.with_name(path.name + ".new")
    tmp.write_text("".join(l + "\n" for l in lines))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def new_ticket_key(binary: str) -> str:
    out = subprocess.run([binary, "--new-ticket-key"], capture_output=True, text=True, timeout=20, check=True)
    return out.stdout.strip()


def served_by(instances, marks: list[int], timeout: float = 10.0):
    """The one instance that logged a `connection ended` since its mark (waits for it, bounded)."""
    found: list = []

    def one_ended() -> bool:
        found[:] = [mt for mt, mark in zip(instances, marks) if mt.find_log(r"connection ended", since=mark)]
        return len(found) >= 1

    wait_until(one_ended, timeout, what="a connection ended line")
    assert len(found) == 1, f"{len(found)} instances logged the connection"
    return found[0]


def owner_pid(client_port: int, pids: list[int]) -> int | None:
    """The process (of `pids`) holding the server side of the TCP connection from local port `client_port`."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            remote_port = int(parts[2].split(":")[1], 16)
            if remote_port == client_port and parts[3] == "01":   # ESTABLISHED
                inodes.add(parts[9])
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return pid
    return None


class HAProxyFleet(HAProxy):
    """HAProxy from a whole configuration text (the one SCALING.md shows, made local), listening on `port`."""

    def __init__(self, root: Path, config: str, port: int):
        super().__init__(root, backend_port=0)
        self.port = port
        self.config = config

    def config_text(self) -> str:
        return self.config


# ---- the configurations docs/SCALING.md shows, made local ----------------------------------------------
REPO = Path(__file__).resolve().parent.parent.parent
SCALING_CONFIGS = REPO / "Config" / "scaling"


def localize(text: str, replacements: dict[str, str]) -> str:
    """The shown configuration with its addresses, ports and paths replaced; each replaced text must occur
    exactly once, so a change to the shown file that the test would no longer cover fails here."""
    for old, new in replacements.items():
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in the shown configuration"
        text = text.replace(old, new)
    return text


def fleet_instance_config(key_file: Path, accept_port: int, metrics_port: int, backend_port: int) -> str:
    return localize((SCALING_CONFIGS / "imaps-fleet.conf").read_text(), {
        "accept = 993": f"accept = 127.0.0.1:{accept_port}",
        "connect = 127.0.0.1:143": f"connect = 127.0.0.1:{backend_port}",
        "accept-proxy-from = 192.0.2.10, 192.0.2.11": "accept-proxy-from = 127.0.0.1",
        "ticket-key-file = /etc/mailtunnel/ticket-keys": f"ticket-key-file = {key_file}",
        "metrics = 0.0.0.0:9993": f"metrics = 127.0.0.1:{metrics_port}",
    })


def fleet_haproxy_config(front: int, servers: list[tuple[int, int]]) -> str:
    (a, a_metrics), (b, b_metrics) = servers
    return localize((SCALING_CONFIGS / "haproxy.cfg").read_text(), {
        "bind :993": f"bind 127.0.0.1:{front}",
        "198.51.100.21:993 send-proxy-v2 check port 9993": f"127.0.0.1:{a} send-proxy-v2 check port {a_metrics}",
        "198.51.100.22:993 send-proxy-v2 check port 9993": f"127.0.0.1:{b} send-proxy-v2 check port {b_metrics}",
    })


def upgrade_config(accept_port: int, backend_port: int) -> str:
    return localize((SCALING_CONFIGS / "imaps-upgrade.conf").read_text(), {
        "accept = 993": f"accept = 127.0.0.1:{accept_port}",
        "connect = 143": f"connect = 127.0.0.1:{backend_port}",
    })


class ConfigMailTunnel(MailTunnel):
    """mailtunnel run from a config file (the listener's accept port is known to the harness)."""

    def __init__(self, binary, workdir, config_text: str, accept_port: int, name: str, extra: list[str] = ()):
        super().__init__(binary, workdir, [], accept_port=accept_port, name=name, extra=list(extra))
        # Every host has the same file name, so the listener has the same name (part of the session context).
        (workdir / name).mkdir()
        self.config_path = workdir / name / "imaps.conf"
        self.config_path.write_text(config_text)

    def argv(self) -> list[str]:
        return [self.binary, "--config", str(self.config_path), "--state-dir", str(self.state_dir)] + self.extra


def healthz(port: int) -> int:
    """The HTTP status of GET /healthz on a metrics port."""
    import urllib.error
    import urllib.request
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
