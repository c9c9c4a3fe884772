"""A real Postfix `smtpd` for the SMTP gate tests: a private instance with its own config_directory,
queue_directory and data_directory, started with `postfix -c DIR start` and stopped with `postfix -c DIR stop`.

It relays only for SASL-authenticated sessions (`permit_sasl_authenticated, reject_unauth_destination`), takes
XCLIENT from 127.0.0.0/8 (mailtunnel), delivers nothing anywhere (`discard:`), and logs to its own
`maillog_file` through a `postlog` service, so the tests can read who Postfix believes it talks to."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from procs import free_port, port_accepts, wait_until

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"

MAIN_CF = """\
# generated for a mailtunnel test: a private instance, never the system one
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix-it.example
mydomain = example
myorigin = $myhostname
mydestination =
relay_domains =
local_recipient_maps =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
maillog_file_prefixes = {root}/log
maillog_file = {root}/log/maillog
smtpd_banner = $myhostname ESMTP postfix-it
smtpd_authorized_xclient_hosts = 127.0.0.0/8
smtpd_upstream_proxy_protocol =
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions =
# permit_sasl_authenticated only counts a login while Postfix's own SASL layer is active; it is configured
# (Cyrus, an application name that has no users) but its AUTH offer never reaches a client: mailtunnel
# answers EHLO itself. XCLIENT LOGIN= sets the SASL user name Postfix logs and trusts.
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = postfix-it
cyrus_sasl_config_path = {root}/sasl
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
default_transport = discard:
relay_transport = discard:
local_transport = discard:
biff = no
"""

MASTER_CF = """\
# service type  private unpriv  chroot  wakeup  maxproc command
{port}      inet  n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    def __init__(self, root: Path, host: str = "127.0.0.1", port: int | None = None):
        self.root = Path(root)
        self.host = host
        self.port = port or free_port(host)
        self.config_dir = self.root / "etc"
        self.log_path = self.root / "log" / "maillog"
        self.started = False
        self.pid: int | None = None   # the master process, from its pid file

    def _postfix(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([POSTFIX, "-c", str(self.config_dir), *args], capture_output=True, text=True,
                              timeout=timeout)

    def _prepare(self) -> None:
        for d in ("etc", "queue", "data", "log", "sasl"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        shutil.chown(self.root / "data", "postfix")
        # Postfix's own SASL layer: an application with an empty sasldb (nobody can AUTH at Postfix itself).
        (self.root / "sasl" / "postfix-it.conf").write_text(
            f"pwcheck_method: auxprop\nauxprop_plugin: sasldb\nsasldb_path: {self.root}/sasl/empty.db\n"
            f"mech_list: PLAIN\n")
        (self.config_dir / "main.cf").write_text(MAIN_CF.format(root=self.root))
        (self.config_dir / "master.cf").write_text(MASTER_CF.format(port=f"{self.host}:{self.port}"))
        r = self._postfix("set-permissions")
        if r.returncode != 0:
            raise RuntimeError(f"postfix set-permissions failed: {r.stdout}{r.stderr}")
        r = self._postfix("check")
        if r.returncode != 0:
            raise RuntimeError(f"postfix check failed: {r.stdout}{r.stderr}")

    def master_pid(self) -> int | None:
        pid_file = self.root / "queue" / "pid" / "master.pid"
        try:
            return int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    @staticmethod
    def _alive(pid: int | None) -> bool:
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        # A zombie is gone for our purposes.
        try:
            return " Z " not in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1][:4]
        except OSError:
            return False

    def start(self, timeout: float = 30.0) -> "Postfix":
        self._prepare()
        r = self._postfix("start")
        if r.returncode != 0:
            raise RuntimeError(f"postfix start failed: {r.stdout}{r.stderr}\n{self.log_text()[-3000:]}")
        self.started = True
        try:
            self.pid = wait_until(lambda: self._alive(self.master_pid()) and self.master_pid(), timeout,
                                  what="postfix master pid file")
            wait_until(lambda: port_accepts(self.host, self.port), timeout, what="postfix smtpd to listen")
        except TimeoutError as e:
            self.stop()
            raise RuntimeError(f"postfix did not start ({e}) on {self.host}:{self.port}\n{self.log_text()[-3000:]}")
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """`postfix -c DIR stop`, then make sure the master process is really gone."""
        if not self.started:
            return
        pid = self.pid or self.master_pid()
        r = self._postfix("stop")
        self.started = False
        try:
            wait_until(lambda: not self._alive(pid), timeout, what="postfix master to exit")
        except TimeoutError:
            raise RuntimeError(f"postfix master pid {pid} still alive after `postfix stop`: "
                               f"{r.stdout}{r.stderr}")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, pattern: str, timeout: float = 15.0) -> list[str]:
        rx = re.compile(pattern)
        try:
            return wait_until(lambda: [l for l in self.log_text().splitlines() if rx.search(l)], timeout,
                              what=f"postfix maillog line /{pattern}/")
        except TimeoutError as e:
            raise AssertionError(f"{e}; maillog ({self.log_path}) ends:\n{self.log_text()[-3000:]}") from None
