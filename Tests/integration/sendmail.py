"""A private Sendmail 8.17 MTA (Debian's sendmail-bin, unpacked by Scripts/unpack-backends because it replaces
Postfix) for the main-relay tests: the MTA behind mailtunnel on ports 25/465/587.

- `sendmail.cf` is generated with m4 from sendmail-cf's macros (the unpacked `cf/m4/cf.m4`) into the test's
  directory, with its own queue, pid, alias, statistics, hosts and service-switch files: no system path is written.
- Relay policy, Sendmail's stock rules: mail TO the local domains (`RELAY_DOMAIN`, Postfix's relay_domains) is
  accepted from anyone; mail to any other domain only from 127.0.0.1 ("originated locally"), which is mailtunnel's
  address. Sendmail has no XCLIENT, so behind mailtunnel every session comes from 127.0.0.1 and mailtunnel's gate
  is the whole policy.
- Everything accepted (local domains and relayed mail alike) goes to `SMART_HOST` = a Postfix smtp-sink, so a test
  reads the envelope (`X-Mail-Args`, `X-Rcpt-Args`) and the message Sendmail passed on.
- `-bD` keeps the daemon in the foreground (stopped by its PID); `-X FILE` records every SMTP line Sendmail reads
  and writes, so a test can show what reached it (Sendmail logs only to syslog, which this machine does not run).
- Sendmail sleeps 60 s at start when the host name has no dot and does not resolve to one ("My unqualified host
  name … sleeping for retry"). It runs in its own UTS and mount namespace (`unshare`) with the host name
  HOSTNAME and a private /etc/hosts bound over the real one for that process only: no DNS, no wait.

Import the fixture into a test module: `from sendmail import sendmail  # noqa: F401`."""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from gate_support import fresh_dir
from procs import Process, free_port, port_accepts, wait_until
from smtpsink import SmtpSink
from unpacked import unpacked_root

HOSTNAME = "mx-it.example"
LOCAL_DOMAIN = "local.example"

MC = """\
divert(-1)
# generated for a mailtunnel test: a private Sendmail that relays to the smart host for 127.0.0.1 only
divert(0)dnl
include(`{cf}/m4/cf.m4')dnl
VERSIONID(`mailtunnel integration test')dnl
OSTYPE(`linux')dnl
define(`confDOMAIN_NAME', `{hostname}')dnl
define(`confDONT_PROBE_INTERFACES', `true')dnl
define(`confSERVICE_SWITCH_FILE', `{root}/service.switch')dnl
define(`confHOSTS_FILE', `{root}/hosts')dnl
define(`confBIND_OPTS', `-DNSRCH -DEFNAMES')dnl
dnl Sendmail's own AUTH stays off (only EXTERNAL, which needs a TLS client certificate it never gets):
dnl behind mailtunnel the gate authenticates.
define(`confAUTH_MECHANISMS', `EXTERNAL')dnl
define(`confPID_FILE', `{root}/run/sendmail.pid')dnl
define(`QUEUE_DIR', `{root}/mqueue')dnl
define(`STATUS_FILE', `{root}/statistics')dnl
define(`ALIAS_FILE', `{root}/aliases')dnl
define(`HELP_FILE', `{unpacked}/etc/mail/helpfile')dnl
define(`SMART_HOST', `relay:[{relay_host}]')dnl
define(`RELAY_MAILER_ARGS', `TCP $h {relay_port}')dnl
FEATURE(`nocanonify')dnl
FEATURE(`accept_unresolvable_domains')dnl
{relay_domains}MAILER(`smtp')dnl
"""


class Sendmail:
    def __init__(self, root: Path, relay_port: int, local_domains: tuple[str, ...] = (LOCAL_DOMAIN,),
                 host: str = "127.0.0.1", relay_host: str = "127.0.0.1"):
        self.root = Path(root)
        self.host = host
        self.port = free_port(host)
        self.relay_host, self.relay_port = relay_host, relay_port
        self.local_domains = local_domains
        self.unpacked = unpacked_root("sendmail", "usr/libexec/sendmail/sendmail")
        self.trace_path = self.root / "smtp-trace"
        self.process: Process | None = None

    @property
    def config_path(self) -> Path:
        return self.root / "sendmail.cf"

    def _prepare(self) -> None:
        for d in ("mqueue", "run"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        (self.root / "mqueue").chmod(0o700)
        # 127.0.0.1 is "localhost" to Sendmail (mailtunnel's sessions); HOSTNAME resolves, with a dot.
        (self.root / "hosts").write_text(f"127.0.0.1 localhost\n127.0.0.1 {HOSTNAME}\n")
        (self.root / "service.switch").write_text("hosts files\naliases files\n")
        (self.root / "aliases").write_text("")
        mc = MC.format(cf=self.unpacked / "usr/share/sendmail/cf", unpacked=self.unpacked, root=self.root,
                       hostname=HOSTNAME, relay_host=self.relay_host, relay_port=self.relay_port,
                       relay_domains="".join(f"RELAY_DOMAIN(`{d}')dnl\n" for d in self.local_domains))
        (self.root / "sendmail.mc").write_text(mc)
        m4 = shutil.which("m4") or "/usr/bin/m4"
        r = subprocess.run([m4, str(self.root / "sendmail.mc")], capture_output=True, text=True, timeout=60)
        if r.returncode != 0 or "Cwlocalhost" not in r.stdout:
            raise RuntimeError(f"m4 could not generate sendmail.cf: {r.stderr}")
        self.config_path.write_text(r.stdout)

    def argv(self) -> list[str]:
        daemon = [str(self.unpacked / "usr/libexec/sendmail/sendmail"), "-bD", "-C", str(self.config_path),
                  "-O", f"DaemonPortOptions=Port={self.port},Addr={self.host},Name=MTA", "-X", str(self.trace_path)]
        script = (f"mount --bind {shlex.quote(str(self.root / 'hosts'))} /etc/hosts && hostname {HOSTNAME} && "
                  f"exec {shlex.join(daemon)}")
        return ["unshare", "--mount", "--uts", "sh", "-c", script]

    def start(self, timeout: float = 30.0) -> "Sendmail":
        self._prepare()
        self.process = Process(self.argv(), self.root, "sendmail")
        try:
            wait_until(lambda: not self.process.running() or port_accepts(self.host, self.port), timeout,
                       what="sendmail to listen")
            if not self.process.running():
                raise RuntimeError("sendmail exited")
        except Exception as e:
            self.stop()
            raise RuntimeError(f"sendmail did not start ({e})\n{self.process.describe()}")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=10)

    def trace_text(self) -> str:
        """Every SMTP line Sendmail read (`<<<`) and wrote (`>>>`) so far, all sessions."""
        return self.trace_path.read_text(errors="replace") if self.trace_path.exists() else ""


class MainRelay:
    """Sendmail and the smart host (smtp-sink) it hands every accepted message to."""

    def __init__(self, root: Path):
        self.sink = SmtpSink(root / "smart-host").start()
        try:
            self.mta = Sendmail(root / "sendmail", self.sink.port).start()
        except Exception:
            self.sink.stop()
            raise
        self.port = self.mta.port

    def stop(self) -> None:
        self.mta.stop()
        self.sink.stop()

    def delivered(self, needle: bytes, timeout: float = 30.0) -> bytes:
        """The smart host's dump (envelope records + message) of the message containing `needle`."""
        return self.sink.wait_for_message(needle, timeout)

    def commands_received(self) -> list[str]:
        """Every line Sendmail read from an SMTP client (its smart-host sessions' replies left out)."""
        lines = [l.split(" <<< ", 1)[1] for l in self.mta.trace_text().splitlines() if " <<< " in l]
        return [l for l in lines if not re.match(r"\d{3}[ -]", l)]

    def ever_received(self, needle: str) -> bool:
        return any(needle in l for l in self.commands_received())


def gate_flags(sasl_config: Path, mode: str, xclient: bool = False, *more: str) -> list[str]:
    """mailtunnel's SMTP gate in front of Sendmail: `auth = sasl` against gate_support's sasldb, `xclient = no`
    (Sendmail refuses XCLIENT), STARTTLS (587/25-style) or implicit TLS (465-style); `more` adds flags (the main
    relay's `--local-domains`, `--trusted-networks`, … when they exist)."""
    flags = ["--auth", "sasl", "--sasl-service", "smtpd", "--sasl-config-dir", str(sasl_config),
             "--xclient", "yes" if xclient else "no"]
    return flags + (["--starttls", "yes"] if mode == "starttls" else []) + list(more)


def envelope_recipients(dump: bytes) -> list[str]:
    return [l.split(b":", 1)[1].strip().decode() for l in dump.splitlines() if l.startswith(b"X-Rcpt-Args:")]


@pytest.fixture(scope="module")
def sendmail(session_dir):
    relay = MainRelay(fresh_dir(session_dir, "main-relay"))
    yield relay
    relay.stop()
