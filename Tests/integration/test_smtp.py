"""Postfix smtp-sink behind mailtunnel: curl and smtplib submit over implicit TLS (smtps)."""
import smtplib
import subprocess
import uuid

from clients import client_context


def make_message(tag: str) -> bytes:
    return (
        f"From: Bob <bob@example.org>\r\n"
        f"To: Carol <carol@example.net>\r\n"
        f"Subject: through mailtunnel {tag}\r\n"
        f"Message-ID: <{tag}@example.org>\r\n"
        f"\r\n"
        f"marker {tag}\r\n"
        f".a line that starts with a dot\r\n"
    ).encode() + b"".join(b"body %05d abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n" % i
                          for i in range(2000)) + b"end\r\n"


def assert_stored_intact(sink, tag: str, message: bytes):
    dump = sink.wait_for_message(f"marker {tag}".encode())
    # smtp-sink stores envelope records, a Received: line, then the message with LF line ends.
    assert b"X-Mail-Args: <bob@example.org>" in dump, dump[:400]
    assert b"X-Rcpt-Args: <carol@example.net>" in dump, dump[:400]
    assert message.replace(b"\r\n", b"\n") in dump, "message altered in transit"


def test_curl_smtps_sends(mailtunnel, smtp_sink, workdir):
    mt = mailtunnel(connect=smtp_sink.port, protocol="smtp")
    tag = uuid.uuid4().hex
    message = make_message(tag)
    msg_file = workdir / "message.eml"
    msg_file.write_bytes(message)
    mark = mt.log_mark()
    r = subprocess.run(["curl", "-sS", "-k", "--max-time", "30", f"smtps://127.0.0.1:{mt.accept_port}",
                        "--mail-from", "bob@example.org", "--mail-rcpt", "carol@example.net",
                        "-T", str(msg_file)], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert_stored_intact(smtp_sink, tag, message)
    line = mt.connection_ended(since=mark)[0]
    assert line.get("backend") == f"127.0.0.1:{smtp_sink.port}", line.raw
    assert int(line.get("in", "0")) >= len(message), line.raw


def test_smtplib_ssl_sends(mailtunnel, smtp_sink):
    mt = mailtunnel(connect=smtp_sink.port, protocol="smtp")
    tag = uuid.uuid4().hex
    message = make_message(tag)
    mark = mt.log_mark()
    with smtplib.SMTP_SSL("127.0.0.1", mt.accept_port, context=client_context(), timeout=30) as smtp:
        code, _ = smtp.ehlo("client.example.org")
        assert code == 250
        refused = smtp.sendmail("bob@example.org", ["carol@example.net"], message)
        assert refused == {}
    assert_stored_intact(smtp_sink, tag, message)
    line = mt.connection_ended(since=mark)[0]
    assert line.get("tls", "").startswith("TLSv1."), line.raw
