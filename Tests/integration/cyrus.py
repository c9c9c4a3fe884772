"""A private Cyrus IMAP/POP3 3.6 (Debian's cyrus-imapd/cyrus-pop3d, unpacked by Scripts/unpack-backends because
they conflict with Dovecot's packages) as a plaintext backend on loopback.

`master -D -C imapd.conf -M cyrus.conf -p PIDFILE` runs from a config in the test's directory: configdirectory and
spool there too, `cyrus_user: nobody` (no cyrus user exists here), users in a sasldb made with saslpasswd2 under the
realm = servername (what imapd/pop3d ask libsasl2 for), PLAIN LOGIN CRAM-MD5, `allowapop: yes` (the POP3 greeting
carries an APOP timestamp), the netnews hierarchy separator (user.alice). The admin `cyrus` creates each user's
mailbox with IMAP CREATE, as cyradm would. Cyrus logs only to syslog, which this machine does not run: master's
stderr is all there is.

Import the fixture into a test module: `from cyrus import cyrus  # noqa: F401`."""
from __future__ import annotations

import grp
import imaplib
import os
import pwd
import subprocess
from pathlib import Path

import pytest

from gate_support import fresh_dir
from procs import Process, free_port, port_accepts, wait_until
from unpacked import unpacked_root

SERVERNAME = "cyrus-it.example"
ADMIN, ADMIN_PASSWORD = "cyrus", "cyrus-admin-pw"
USER, PASSWORD = "alice", "Cyrus-alice-pw"

IMAPD_CONF = """\
# generated for a mailtunnel test: a private instance
configdirectory: {root}/conf
partition-default: {root}/spool
defaultpartition: default
servername: {servername}
cyrus_user: {run_as}
cyrus_group: {run_group}
admins: {admin}
unixhierarchysep: no
allowplaintext: yes
allowapop: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {root}/sasldb2
sasl_mech_list: PLAIN LOGIN CRAM-MD5
"""

CYRUS_CONF = """\
START {{
  recover cmd="{bin}/ctl_cyrusdb -C {conf} -r"
}}
SERVICES {{
  imap cmd="{bin}/imapd -C {conf}" listen="{host}:{imap_port}" prefork=0
  pop3 cmd="{bin}/pop3d -C {conf}" listen="{host}:{pop3_port}" prefork=0
}}
EVENTS {{
}}
"""


class Cyrus:
    def __init__(self, root: Path, users: dict[str, str], host: str = "127.0.0.1"):
        self.root = Path(root)
        self.users = dict(users)
        self.host = host
        self.imap_port = free_port(host)
        self.pop3_port = free_port(host)
        self.unpacked = unpacked_root("cyrus", "usr/lib/cyrus/bin/master")
        self.bin = self.unpacked / "usr/lib/cyrus/bin"
        self.process: Process | None = None

    @property
    def config_path(self) -> Path:
        return self.root / "imapd.conf"

    def _prepare(self) -> None:
        nobody = pwd.getpwnam("nobody")
        os.chmod(self.root, 0o755)
        for d in ("conf", "spool", "run"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
            os.chown(self.root / d, nobody.pw_uid, nobody.pw_gid)
        db = self.root / "sasldb2"
        for user, password in {ADMIN: ADMIN_PASSWORD, **self.users}.items():
            r = subprocess.run(["saslpasswd2", "-c", "-p", "-f", str(db), "-u", SERVERNAME, user],
                               input=password, capture_output=True, text=True, timeout=30)
            if r.returncode != 0:
                raise RuntimeError(f"saslpasswd2 {user}: {r.stderr}")
        os.chown(db, nobody.pw_uid, nobody.pw_gid)
        self.config_path.write_text(IMAPD_CONF.format(
            root=self.root, servername=SERVERNAME, admin=ADMIN, run_as=nobody.pw_name, run_group=grp.getgrgid(nobody.pw_gid).gr_name))
        (self.root / "cyrus.conf").write_text(CYRUS_CONF.format(
            bin=self.bin, conf=self.config_path, host=self.host, imap_port=self.imap_port, pop3_port=self.pop3_port))

    def start(self, timeout: float = 30.0) -> "Cyrus":
        self._prepare()
        env = dict(os.environ, LD_LIBRARY_PATH=str(self.unpacked / "usr/lib/x86_64-linux-gnu"))
        self.process = Process([self.bin / "master", "-D", "-C", self.config_path, "-M", self.root / "cyrus.conf",
                                "-p", self.root / "run" / "master.pid"], self.root, "cyrus-master", env=env)
        try:
            wait_until(lambda: not self.process.running() or (
                port_accepts(self.host, self.imap_port) and port_accepts(self.host, self.pop3_port)),
                timeout, what="cyrus master to listen")
            if not self.process.running():
                raise RuntimeError("cyrus master exited")
        except Exception as e:
            self.stop()
            raise RuntimeError(f"cyrus did not start ({e})\n{self.process.describe()}")
        for user in self.users:
            self.create_mailbox(user)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=10)

    def _imap(self, user: str, password: str) -> imaplib.IMAP4:
        m = imaplib.IMAP4(self.host, self.imap_port, timeout=15)
        m.login(user, password)
        return m

    def create_mailbox(self, user: str) -> None:
        """`CREATE user.<name>` as the admin: the user's INBOX."""
        m = self._imap(ADMIN, ADMIN_PASSWORD)
        try:
            typ, data = m.create(f"user.{user}")
            assert typ == "OK", f"CREATE user.{user}: {data}"
        finally:
            m.logout()

    def deliver(self, user: str, message: bytes) -> None:
        """APPEND `message` to the user's INBOX directly (not through mailtunnel)."""
        m = self._imap(user, self.users[user])
        try:
            typ, data = m.append("INBOX", None, None, message)
            assert typ == "OK", f"APPEND: {data}"
        finally:
            m.logout()


@pytest.fixture(scope="module")
def cyrus(session_dir):
    c = Cyrus(fresh_dir(session_dir, "cyrus"), {USER: PASSWORD}).start()
    yield c
    c.stop()
