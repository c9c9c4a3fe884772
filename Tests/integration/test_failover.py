"""Several --connect targets are tried in order."""
import imaplib

from clients import client_context
from procs import dead_port


def test_first_backend_down_second_dovecot_serves(mailtunnel, dovecot):
    down = dead_port()
    mt = mailtunnel(connect=[down, dovecot.imap_port], protocol="imap")
    mark = mt.log_mark()
    for _ in range(2):     # twice: the dead target is skipped every time, not just once
        with imaplib.IMAP4_SSL("127.0.0.1", mt.accept_port, ssl_context=client_context(), timeout=30) as imap:
            imap.login(dovecot.user, dovecot.password)
            imap.select("INBOX", readonly=True)
            typ, data = imap.fetch("1", "(BODY.PEEK[])")
            assert typ == "OK" and data[0][1] == dovecot.message
            imap.logout()
    lines = mt.connection_ended(since=mark, count=2)
    for line in lines:
        assert line.get("backend") == f"127.0.0.1:{dovecot.imap_port}", line.raw
