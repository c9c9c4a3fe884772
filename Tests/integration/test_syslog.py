"""Syslog output (`MAILTUNNEL_LOG=syslog`, or stderr not a terminal/journal and /dev/log writable): lines go to
/dev/log with facility mail. libc's syslog(3) always writes to /dev/log, so the daemon runs in its own mount
namespace whose /dev (a small tmpfs with null, zero, random, urandom) has `log` pointing at a Unix datagram
socket this test reads."""
import os
import re

import pytest

from clients import echo_round_trip
from procs import DatagramCollector, Process, free_port, port_accepts, wait_until

LOG_MAIL_INFO = (2 << 3) | 6      # facility mail (2), severity info (6): "<22>"

NAMESPACE_SCRIPT = """
mount --make-rprivate / &&
mount -t tmpfs -o size=1m,mode=0755 tmpfs /dev &&
mknod -m 666 /dev/null c 1 3 && mknod -m 666 /dev/zero c 1 5 &&
mknod -m 666 /dev/random c 1 8 && mknod -m 666 /dev/urandom c 1 9 &&
ln -s "$SYSLOG_SOCKET" /dev/log &&
exec "$@"
"""


class SyslogReceiver(DatagramCollector):
    """Keeps every message sent to the test's /dev/log."""

    def __init__(self, path):
        super().__init__(path, mode=0o666)

    def find(self, pattern: str) -> list[str]:
        return [m for m in list(self.messages) if re.search(pattern, m)]


@pytest.fixture
def receiver(workdir):
    r = SyslogReceiver(workdir / "syslog.sock")
    yield r
    r.close()


def test_syslog_output_facility_mail(mailtunnel_bin, workdir, receiver, echo_port):
    port = free_port()
    argv = ["unshare", "--mount", "sh", "-c", NAMESPACE_SCRIPT, "sh", mailtunnel_bin, "--accept", f"127.0.0.1:{port}",
            "--connect", f"127.0.0.1:{echo_port}", "--protocol", "none", "--state-dir", str(workdir / "state")]
    env = {**os.environ, "MAILTUNNEL_LOG": "syslog", "SYSLOG_SOCKET": receiver.path}
    proc = Process(argv, workdir, "mailtunnel-syslog", env=env)
    try:
        wait_until(lambda: not proc.running() or port_accepts("127.0.0.1", port), 20, what="mailtunnel listening")
        assert proc.running(), proc.describe()
        assert echo_round_trip("127.0.0.1", port, b"via syslog\r\n") == b"via syslog\r\n"
        pid = proc.pid                                   # `exec` keeps the pid through sh
        wait_until(lambda: receiver.find(r"connection ended.*in=12 out=12"), 10, what="connection line in syslog")
        listening = receiver.find(r"listening")
        assert listening, receiver.messages
        for line in (listening[0], receiver.find(r"connection ended.*in=12")[0]):
            assert line.startswith(f"<{LOG_MAIL_INFO}>"), f"not facility mail, severity info: {line!r}"
            assert f"mailtunnel[{pid}]:" in line, line
    finally:
        proc.stop(grace=10)
    assert proc.stderr_text().strip() == "", f"syslog mode also wrote to stderr:\n{proc.stderr_text()[-2000:]}"
