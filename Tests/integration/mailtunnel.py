"""Running the real mailtunnel binary under test, and reading its log."""
from __future__ import annotations

import os
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from procs import Process, free_port

# `<timestamp> <level> <message> key=value key="quoted value" …`
_KV = re.compile(r'([A-Za-z_][\w.-]*)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_fields(line: str) -> dict[str, str]:
    fields = {}
    for key, value in _KV.findall(line):
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = re.sub(r'\\(.)', r'\1', value[1:-1])
        fields[key] = value
    return fields


@dataclass
class LogLine:
    raw: str
    fields: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, key: str) -> str:
        return self.fields[key]

    def get(self, key: str, default=None):
        return self.fields.get(key, default)


def hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class MailTunnel:
    """One `mailtunnel` process with a flag-defined listener. stderr (the log) goes to a file."""

    def __init__(self, binary: str, workdir: Path, connect: list[str], protocol: str | None = "none",
                 accept_host: str = "127.0.0.1", accept_port: int | None = None,
                 state_dir: Path | None = None, extra: list[str] | None = None, name: str = "mailtunnel",
                 nofile: int | None = None):
        self.binary = binary
        self.workdir = Path(workdir)
        self.accept_host = accept_host
        self.accept_port = accept_port or free_port(accept_host)
        self.connect = list(connect)
        self.protocol = protocol
        self.state_dir = Path(state_dir) if state_dir else self.workdir / "state"
        self.extra = list(extra or [])
        self.name = name
        self.nofile = nofile          # RLIMIT_NOFILE for the daemon (None: inherited)
        self.process: Process | None = None
        self._probe_clients: set[str] = set()   # client=… of our readiness probes, hidden from log_lines

    @property
    def accept(self) -> str:
        return hostport(self.accept_host, self.accept_port)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def argv(self) -> list[str]:
        argv = [self.binary, "--accept", self.accept]
        for c in self.connect:
            argv += ["--connect", c]
        if self.protocol:
            argv += ["--protocol", self.protocol]
        argv += ["--state-dir", str(self.state_dir)]
        return argv + self.extra

    def start(self, timeout: float = 20.0) -> "MailTunnel":
        self.state_dir.mkdir(parents=True, exist_ok=True)
        # The log target is named, not left to whether this host has /dev/log (the tests read stderr).
        env = {**os.environ, "MAILTUNNEL_LOG": "stderr"}
        self.process = Process(self.argv(), self.workdir, self.name, env=env, nofile=self.nofile)
        deadline = time.monotonic() + timeout
        while True:
            if not self.process.running():
                raise RuntimeError(f"mailtunnel exited with status {self.process.popen.returncode} before "
                                   f"accepting connections\n{self.process.describe()}")
            # The startup line says the socket listens; a connect() then proves it. Only connect after
            # the line (or late in the wait) so that probes do not clutter the per-connection log.
            if ("listening" in self.log_text() or time.monotonic() > deadline - timeout / 2) and \
                    self._probe():
                # The probe is a connection too; let its log line pass so that marks taken now come after it.
                end = time.monotonic() + 3
                while time.monotonic() < end and not any(
                        l.get("client") in self._probe_clients for l in self.log_lines(include_probes=True)):
                    time.sleep(0.02)
                return self
            if time.monotonic() >= deadline:
                raise RuntimeError(f"mailtunnel did not accept on {self.accept} within {timeout}s\n"
                                   f"{self.process.describe()}")
            time.sleep(0.05)

    def _probe(self) -> bool:
        family = socket.AF_INET6 if ":" in self.accept_host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            try:
                s.connect((self.accept_host, self.accept_port))
            except OSError:
                return False
            self._probe_clients.add(hostport(*s.getsockname()[:2]))
            return True

    def stop(self, grace: float = 15.0) -> int | None:
        return self.process.stop(grace=grace) if self.process else None

    def running(self) -> bool:
        return bool(self.process and self.process.running())

    # ---- the log ------------------------------------------------------------------------------------
    def log_text(self) -> str:
        return self.process.stderr_text() if self.process else ""

    def log_mark(self) -> int:
        """A position in the log; pass it as `since` to look only at later lines."""
        return len(self.log_text().splitlines())   # an index into the unfiltered lines

    def log_lines(self, since: int = 0, include_probes: bool = False) -> list[LogLine]:
        lines = [LogLine(l, parse_fields(l)) for l in self.log_text().splitlines()[since:]]
        if not include_probes:
            lines = [l for l in lines if l.get("client") not in self._probe_clients]
        return lines

    def find_log(self, pattern: str, since: int = 0) -> list[LogLine]:
        rx = re.compile(pattern)
        return [l for l in self.log_lines(since) if rx.search(l.raw)]

    def wait_for_log(self, pattern: str, since: int = 0, timeout: float = 10.0, count: int = 1) -> list[LogLine]:
        deadline = time.monotonic() + timeout
        while True:
            found = self.find_log(pattern, since)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"log line /{pattern}/ x{count} not seen within {timeout}s (saw {len(found)}); "
                    f"log since mark:\n" + "\n".join(l.raw for l in self.log_lines(since))[-6000:])
            time.sleep(0.05)

    def connection_ended(self, since: int = 0, timeout: float = 10.0, count: int = 1,
                         reason: str | None = None) -> list[LogLine]:
        """The `connection ended` lines after `since` (optionally whose reason contains `reason`)."""
        pattern = r"connection ended"
        if reason is not None:
            pattern += r'.*reason="?' + re.escape(reason)
        return self.wait_for_log(pattern, since=since, timeout=timeout, count=count)
