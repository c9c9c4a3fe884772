"""Real Dovecot behind mailtunnel: real IMAP and POP3 clients over implicit TLS."""
import imaplib
import poplib
import subprocess

from clients import client_context


def curl(*args, timeout=60):
    return subprocess.run(["curl", "-sS", "-k", "--max-time", "30", *args],
                          capture_output=True, timeout=timeout)


def assert_connection_logged(mt, mark, backend_port):
    line = mt.connection_ended(since=mark)[0]
    assert line.get("tls", "").startswith("TLSv1."), line.raw
    assert line.get("backend") == f"127.0.0.1:{backend_port}", line.raw
    assert int(line.get("in", "0")) > 0 and int(line.get("out", "0")) > 0, line.raw
    assert line.get("client", "").startswith("127.0.0.1:"), line.raw


def test_curl_imaps_lists_and_fetches(mailtunnel, dovecot):
    mt = mailtunnel(connect=dovecot.imap_port, protocol="imap")
    url = f"imaps://127.0.0.1:{mt.accept_port}"
    auth = ["-u", f"{dovecot.user}:{dovecot.password}"]
    mark = mt.log_mark()

    r = curl(*auth, f"{url}/")
    assert r.returncode == 0, r.stderr
    assert b"INBOX" in r.stdout, r.stdout

    r = curl(*auth, f"{url}/INBOX?ALL")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"* SEARCH 1"), r.stdout

    r = curl(*auth, f"{url}/INBOX;MAILINDEX=1")
    assert r.returncode == 0, r.stderr
    assert r.stdout == dovecot.message

    mt.connection_ended(since=mark, count=3)
    assert_connection_logged(mt, mark, dovecot.imap_port)


def test_imaplib_login_and_fetch(mailtunnel, dovecot):
    mt = mailtunnel(connect=dovecot.imap_port, protocol="imap")
    mark = mt.log_mark()
    with imaplib.IMAP4_SSL("127.0.0.1", mt.accept_port, ssl_context=client_context(), timeout=30) as imap:
        assert imap.welcome.startswith(b"* OK"), imap.welcome
        typ, _ = imap.login(dovecot.user, dovecot.password)
        assert typ == "OK"
        typ, data = imap.select("INBOX", readonly=True)
        assert typ == "OK" and int(data[0]) >= 1
        typ, data = imap.fetch("1", "(BODY.PEEK[])")
        assert typ == "OK"
        assert data[0][1] == dovecot.message
        typ, _ = imap.logout()
        assert typ == "BYE"
    assert_connection_logged(mt, mark, dovecot.imap_port)


def test_curl_pop3s_lists_and_retrieves(mailtunnel, dovecot):
    mt = mailtunnel(connect=dovecot.pop3_port, protocol="pop3")
    url = f"pop3s://127.0.0.1:{mt.accept_port}"
    auth = ["-u", f"{dovecot.user}:{dovecot.password}"]
    mark = mt.log_mark()

    r = curl(*auth, f"{url}/")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"1 %d" % len(dovecot.message)), r.stdout

    r = curl(*auth, f"{url}/1")
    assert r.returncode == 0, r.stderr
    assert r.stdout == dovecot.message

    mt.connection_ended(since=mark, count=2)
    assert_connection_logged(mt, mark, dovecot.pop3_port)


def test_poplib_retrieves(mailtunnel, dovecot):
    mt = mailtunnel(connect=dovecot.pop3_port, protocol="pop3")
    mark = mt.log_mark()
    pop = poplib.POP3_SSL("127.0.0.1", mt.accept_port, context=client_context(), timeout=30)
    try:
        assert pop.getwelcome().startswith(b"+OK"), pop.getwelcome()
        pop.user(dovecot.user)
        pop.pass_(dovecot.password)
        count, _size = pop.stat()
        assert count >= 1
        resp, lines, _octets = pop.retr(1)
        assert resp.startswith(b"+OK")
        assert b"\r\n".join(lines) + b"\r\n" == dovecot.message
        pop.quit()
    finally:
        pop.close()
    assert_connection_logged(mt, mark, dovecot.pop3_port)
