"""A private Dovecot 2.3 instance (IMAP + POP3, plaintext, loopback) for tests and the demo.

Everything lives under one directory: config, base_dir, state_dir, logs, passwd-file and the users' homes.
Run as root in the foreground (`dovecot -F -c FILE`); stopped by PID."""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import time
import uuid
from pathlib import Path

from procs import Process, free_port, port_accepts, wait_until

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"

CONFIG = """\
# generated for a mailtunnel test: a private instance, never the system one
instance_name = {instance}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/log/dovecot.log
info_log_path = {root}/log/dovecot.log
debug_log_path = {root}/log/dovecot.log
listen = {listen}
protocols = imap pop3
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:~/Maildir
login_log_format_elements = user=<%u> method=%m rip=%r lip=%l mpid=%e %c
pop3_uidl_format = %08Xu%08Xv
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
"""


class Dovecot:
    def __init__(self, root: Path, users: dict[str, str], listen: str = "127.0.0.1",
                 imap_port: int | None = None, pop3_port: int | None = None):
        self.root = Path(root)
        self.users = dict(users)
        self.host = listen
        self.imap_port = imap_port or free_port(listen)
        self.pop3_port = pop3_port or free_port(listen)
        self.process: Process | None = None
        nobody = pwd.getpwnam("nobody")
        self.uid, self.gid = nobody.pw_uid, nobody.pw_gid

    @property
    def config_path(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        return self.root / "log" / "dovecot.log"

    def maildir(self, user: str) -> Path:
        return self.root / "home" / user / "Maildir"

    def _prepare(self) -> None:
        for d in ("run", "state", "log", "home"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        # Mail processes run as nobody: every directory above the homes must be searchable by others.
        os.chmod(self.root, 0o755)
        for p in self.root.parents:
            if not p.stat().st_mode & 0o001:
                raise RuntimeError(f"{p} is not searchable by others: Dovecot's mail processes (uid nobody) "
                                   f"could not reach {self.root}; use a scratch directory under /tmp")
        (self.root / "passwd").write_text(
            "".join(f"{u}:{{PLAIN}}{pw}::::::\n" for u, pw in self.users.items()))
        for user in self.users:
            home = self.root / "home" / user
            for sub in ("", "Maildir", "Maildir/new", "Maildir/cur", "Maildir/tmp"):
                d = home / sub
                d.mkdir(parents=True, exist_ok=True)
                os.chown(d, self.uid, self.gid)
                os.chmod(d, 0o700)
        self.config_path.write_text(CONFIG.format(
            instance=f"mt-{uuid.uuid4().hex[:8]}", root=self.root, listen=self.host,
            uid=self.uid, gid=self.gid, imap_port=self.imap_port, pop3_port=self.pop3_port))

    def start(self, timeout: float = 20.0) -> "Dovecot":
        self._prepare()
        self.process = Process([DOVECOT, "-F", "-c", self.config_path], self.root / "log", "dovecot-master")
        try:
            wait_until(lambda: not self.process.running() or (
                port_accepts(self.host, self.imap_port) and port_accepts(self.host, self.pop3_port)),
                timeout, what="dovecot to listen")
            if not self.process.running():
                raise RuntimeError("dovecot exited")
        except Exception:
            log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
            self.stop()
            raise RuntimeError(f"dovecot did not start\n{self.process.describe()}\n--- log ---\n{log[-4000:]}")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=10)

    def deliver(self, user: str, message: bytes) -> Path:
        """Deliver an RFC 5322 message (use CRLF line ends for byte-exact comparisons) into Maildir/new."""
        md = self.maildir(user)
        name = f"{int(time.time())}.M{uuid.uuid4().hex[:12]}P{os.getpid()}.{socket.gethostname()}"
        tmp = md / "tmp" / name
        tmp.write_bytes(message)
        os.chown(tmp, self.uid, self.gid)
        os.chmod(tmp, 0o600)
        final = md / "new" / name
        os.rename(tmp, final)
        return final

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
