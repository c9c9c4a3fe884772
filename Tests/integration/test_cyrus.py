"""Cyrus IMAP/POP3 3.6 behind mailtunnel (issue 13): implicit TLS and STARTTLS, LOGIN/USER-PASS and CRAM-MD5
through the tunnel, a message appended and read back byte for byte."""
import re
import uuid

import pytest

from conftest import TEST_MESSAGE
from cyrus import PASSWORD, USER, cyrus  # noqa: F401
from tunnel_modes import MODES, imap_client, pop3_auth_cram_md5, pop3_client, pop3_message, tunnel


def unique_message() -> bytes:
    """The suite's test message (dot-stuffing case, several TLS records long) with a Message-ID of its own."""
    return TEST_MESSAGE.replace(b"<mailtunnel-it-1@example.org>", f"<{uuid.uuid4().hex}@example.org>".encode())


def assert_relayed_to(mt, mark, backend_port: int):
    line = mt.connection_ended(since=mark)[0]
    assert line.get("tls", "").startswith("TLSv1."), line.raw
    assert line.get("backend") == f"127.0.0.1:{backend_port}", line.raw
    assert int(line.get("in", "0")) > 0 and int(line.get("out", "0")) > 0, line.raw


@pytest.mark.parametrize("mechanism", ["LOGIN", "CRAM-MD5"])
@pytest.mark.parametrize("mode", MODES)
def test_imap_append_and_read_back(mailtunnel, cyrus, mode, mechanism):
    mt = tunnel(mailtunnel, cyrus.imap_port, "imap", mode)
    mark = mt.log_mark()
    message = unique_message()
    with imap_client(mt.accept_port, mode) as imap:
        assert b"Cyrus IMAP 3.6" in imap.welcome, imap.welcome
        if mechanism == "LOGIN":
            typ, data = imap.login(USER, PASSWORD)
        else:
            assert "AUTH=CRAM-MD5" in imap.capabilities, imap.capabilities
            typ, data = imap.login_cram_md5(USER, PASSWORD)
        assert typ == "OK", data
        typ, data = imap.append("INBOX", None, None, message)
        assert typ == "OK", data
        uid = re.search(rb"\[APPENDUID \d+ (\d+)\]", data[0]).group(1).decode()
        typ, data = imap.select("INBOX", readonly=True)
        assert typ == "OK", data
        typ, data = imap.uid("FETCH", uid, "(BODY.PEEK[])")
        assert typ == "OK", data
        assert data[0][1] == message
        assert imap.logout()[0] == "BYE"
    assert_relayed_to(mt, mark, cyrus.imap_port)


def test_imap_wrong_password_is_refused_by_cyrus(mailtunnel, cyrus):
    """The logins above are checked by Cyrus, not waved through: a wrong CRAM-MD5 answer gets NO."""
    mt = tunnel(mailtunnel, cyrus.imap_port, "imap", "implicit-tls")
    with imap_client(mt.accept_port, "implicit-tls") as imap:
        with pytest.raises(imap.error, match="authentication failure|Authentication failed"):
            imap.login_cram_md5(USER, "wrong-" + PASSWORD)


@pytest.mark.parametrize("mechanism", ["USER", "CRAM-MD5"])
@pytest.mark.parametrize("mode", MODES)
def test_pop3_retrieves(mailtunnel, cyrus, mode, mechanism):
    message = unique_message()
    cyrus.deliver(USER, message)
    mt = tunnel(mailtunnel, cyrus.pop3_port, "pop3", mode)
    mark = mt.log_mark()
    pop = pop3_client(mt.accept_port, mode)
    try:
        assert b"Cyrus POP3 3.6" in pop.welcome, pop.welcome
        if mechanism == "USER":
            pop.user(USER)
            assert pop.pass_(PASSWORD).startswith(b"+OK")
        else:
            assert "CRAM-MD5" in pop.capa().get("SASL", []), pop.capa()
            assert pop3_auth_cram_md5(pop, USER, PASSWORD).startswith(b"+OK")
        count, _ = pop.stat()
        assert count >= 1
        # The newest message is the one just delivered.
        _, lines, _ = pop.retr(count)
        assert pop3_message(lines) == message
    finally:
        pop.quit()
    assert_relayed_to(mt, mark, cyrus.pop3_port)
