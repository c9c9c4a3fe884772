"""`--stunnel-config`: one real stunnel.conf (imaps and pop3s to Dovecot, an SMTP STARTTLS service in front of
smtp-sink) served by mailtunnel and by Debian's stunnel4, with the same results for real clients; options
outside the mail subset are refused with their line; `--check` prints the equivalent native config."""
import hashlib
import imaplib
import poplib
import re
import shutil
import smtplib
import subprocess
import uuid

import pytest

from clients import client_context
from daemon_support import make_keypair, pem_fingerprint, run_check, tunnel  # noqa: F401
from procs import Process, free_port, port_accepts, wait_until

STUNNEL = shutil.which("stunnel4") or "/usr/bin/stunnel4"

STUNNEL_CONF = """\
; stunnel.conf as an administrator keeps it (mail services only)
foreground = yes
pid = {piddir}/stunnel.pid
debug = info

[imaps]
accept = 127.0.0.1:{imaps}
connect = 127.0.0.1:{imap_backend}
cert = {cert}
key = {key}
sslVersionMin = TLSv1.2
TIMEOUTidle = 600

[pop3s]
accept = 127.0.0.1:{pop3s}
connect = 127.0.0.1:{pop3_backend}
cert = {cert}
key = {key}

[submission]
client = no
accept = 127.0.0.1:{smtp}
connect = 127.0.0.1:{smtp_backend}
protocol = smtp
cert = {cert}
key = {key}
"""


def write_conf(path, workdir, dovecot, smtp_sink, cert, key, piddir):
    ports = {"imaps": free_port(), "pop3s": free_port(), "smtp": free_port()}
    piddir.mkdir(parents=True, exist_ok=True)
    path.write_text(STUNNEL_CONF.format(piddir=piddir, imap_backend=dovecot.imap_port,
                                        pop3_backend=dovecot.pop3_port, smtp_backend=smtp_sink.port,
                                        cert=cert, key=key, **ports))
    return ports


def digest(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def client_results(ports, dovecot, smtp_sink, cert, tag: str) -> dict:
    """What real clients get through the three services; identical dicts mean identical service."""
    res = {}
    ctx = client_context()
    fingerprints = set()
    # IMAP over implicit TLS
    with imaplib.IMAP4_SSL("127.0.0.1", ports["imaps"], ssl_context=ctx, timeout=30) as imap:
        fingerprints.add(hashlib.sha256(imap.sock.getpeercert(binary_form=True)).hexdigest())
        res["imap_welcome_ok"] = imap.welcome.startswith(b"* OK")
        res["imap_login"] = imap.login(dovecot.user, dovecot.password)[0]
        typ, data = imap.select("INBOX", readonly=True)
        res["imap_select"] = typ
        typ, data = imap.fetch("1", "(BODY.PEEK[])")
        res["imap_fetch"] = typ
        res["imap_message"] = digest(data[0][1])
        res["imap_logout"] = imap.logout()[0]
    # POP3 over implicit TLS
    pop = poplib.POP3_SSL("127.0.0.1", ports["pop3s"], context=ctx, timeout=30)
    try:
        fingerprints.add(hashlib.sha256(pop.sock.getpeercert(binary_form=True)).hexdigest())
        res["pop_welcome_ok"] = pop.getwelcome().startswith(b"+OK")
        pop.user(dovecot.user)
        res["pop_pass"] = pop.pass_(dovecot.password)[:3]
        resp, lines, _ = pop.retr(1)
        res["pop_retr"] = resp[:3]
        res["pop_message"] = digest(b"\r\n".join(lines) + b"\r\n")
        res["pop_quit"] = pop.quit()[:3]
    finally:
        pop.close()
    # SMTP with STARTTLS, in front of smtp-sink
    token = f"{tag}-{uuid.uuid4().hex}"
    body = (f"From: bob@example.org\r\nTo: alice@example.org\r\nSubject: via stunnel.conf\r\n"
            f"Message-ID: <{token}@example.org>\r\n\r\nsent through the STARTTLS service\r\n")
    with smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=30) as smtp:
        code, _ = smtp.ehlo("client.example.org")
        res["smtp_ehlo"] = code
        res["smtp_offers_starttls"] = smtp.has_extn("starttls")
        code, _ = smtp.starttls(context=ctx)
        res["smtp_starttls"] = code
        fingerprints.add(hashlib.sha256(smtp.sock.getpeercert(binary_form=True)).hexdigest())
        res["smtp_tls"] = smtp.sock.version() in ("TLSv1.2", "TLSv1.3")
        code, _ = smtp.ehlo("client.example.org")
        res["smtp_ehlo_after_tls"] = code
        refused = smtp.sendmail("bob@example.org", ["alice@example.org"], body.encode())
        res["smtp_refused"] = sorted(refused)
    stored = smtp_sink.wait_for_message(token.encode())
    res["smtp_stored_body"] = b"sent through the STARTTLS service" in stored
    res["smtp_stored_sender"] = b"bob@example.org" in stored
    res["fingerprints"] = sorted(fingerprints)
    assert res["fingerprints"] == [pem_fingerprint(cert)], "a service presented another certificate"
    return res


def test_stunnel_conf_runs_like_stunnel4(tunnel, workdir, dovecot, smtp_sink):
    cert, key = make_keypair(workdir / "pki", "stunnel-server", "mail.example.org")

    # --- mailtunnel --stunnel-config
    conf_mt = workdir / "mt" / "stunnel.conf"
    conf_mt.parent.mkdir()
    ports_mt = write_conf(conf_mt, workdir, dovecot, smtp_sink, cert, key, workdir / "mt" / "run")
    mt = tunnel(["--stunnel-config", conf_mt], ports_mt["imaps"])
    for name in ("imaps", "pop3s", "submission"):
        mt.wait_for_log(rf"listening listener={name}\b", timeout=10)
    for p in ports_mt.values():
        wait_until(lambda: port_accepts("127.0.0.1", p), 10, what=f"mailtunnel on {p}")
    pidfile = workdir / "mt" / "run" / "stunnel.pid"
    assert pidfile.read_text().strip() == str(mt.pid), "stunnel's pid = … was not honoured"
    got_mt = client_results(ports_mt, dovecot, smtp_sink, cert, "mailtunnel")
    ended = mt.connection_ended(count=3)
    assert {l.get("listener") for l in ended} >= {"imaps", "pop3s", "submission"}, [l.raw for l in ended]

    # --- the same file (other ports and pid directory) under stunnel4
    conf_st = workdir / "st" / "stunnel.conf"
    conf_st.parent.mkdir()
    ports_st = write_conf(conf_st, workdir, dovecot, smtp_sink, cert, key, workdir / "st" / "run")
    st = Process([STUNNEL, conf_st], workdir / "st", "stunnel4")
    try:
        try:
            wait_until(lambda: not st.running() or all(port_accepts("127.0.0.1", p) for p in ports_st.values()),
                       20, what="stunnel4 to listen")
        except TimeoutError:
            raise AssertionError(st.describe())
        assert st.running(), st.describe()
        got_st = client_results(ports_st, dovecot, smtp_sink, cert, "stunnel4")
    finally:
        st.stop(grace=10)

    # the SAME client-visible results, and they are the good ones
    assert got_mt == got_st, f"mailtunnel: {got_mt}\nstunnel4:   {got_st}"
    assert got_mt["imap_message"] == digest(dovecot.message)
    assert got_mt["pop_message"] == digest(dovecot.message)
    assert got_mt["imap_login"] == "OK" and got_mt["pop_pass"] == b"+OK"
    assert got_mt["smtp_offers_starttls"] and got_mt["smtp_starttls"] == 220 and got_mt["smtp_refused"] == []
    assert got_mt["smtp_stored_body"] and got_mt["smtp_stored_sender"]


@pytest.mark.parametrize("option", ["sni = mail.example.org", "OCSPaia = yes", "failover = rr",
                                    "exec = /bin/cat", "protocol = ldap"])
def test_unsupported_stunnel_option_is_refused_with_its_line(mailtunnel_bin, workdir, option):
    cert, key = make_keypair(workdir / "pki", "s")
    conf = workdir / "stunnel.conf"
    conf.write_text(f"foreground = yes\n\n[imaps]\naccept = 127.0.0.1:{free_port()}\n"
                    f"connect = 127.0.0.1:{free_port()}\ncert = {cert}\nkey = {key}\n{option}\n")
    name = option.split("=")[0].strip()
    for args in (["--check", "--stunnel-config", conf], ["--stunnel-config", conf]):
        r = subprocess.run([mailtunnel_bin, *map(str, args)], capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL)
        out = r.stdout + r.stderr
        assert r.returncode == 1, f"{args}: exit {r.returncode}\n{out}"
        hits = [l for l in out.splitlines() if f"{conf}:8" in l]
        assert hits and any(name in l for l in hits), f"the error does not name {conf}:8 and {name}:\n{out}"


def test_check_prints_the_equivalent_native_config(mailtunnel_bin, workdir, dovecot, smtp_sink):
    cert, key = make_keypair(workdir / "pki", "s")
    conf = workdir / "stunnel.conf"
    ports = write_conf(conf, workdir, dovecot, smtp_sink, cert, key, workdir / "run")
    r = run_check(mailtunnel_bin, "--stunnel-config", conf)
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout

    def block(name):
        m = re.search(rf"^\[{name}\]\s*$(.*?)(?=^\[|\Z)", out, re.M | re.S)
        assert m, f"no [{name}]:\n{out}"
        return m.group(1)

    assert re.search(rf"^pid-file = {re.escape(str(workdir / 'run' / 'stunnel.pid'))}$", out, re.M), out
    imaps, pop3s, sub = block("imaps"), block("pop3s"), block("submission")
    assert f"accept = 127.0.0.1:{ports['imaps']}" in imaps and f"connect = 127.0.0.1:{dovecot.imap_port}" in imaps
    assert f"cert = {cert}" in imaps and f"key = {key}" in imaps
    assert "starttls = no" in imaps and "tls-min = 1.2" in imaps
    assert "idle-timeout = 10m" in imaps or "idle-timeout = 600s" in imaps, imaps
    assert f"accept = 127.0.0.1:{ports['pop3s']}" in pop3s and f"connect = 127.0.0.1:{dovecot.pop3_port}" in pop3s
    assert f"accept = 127.0.0.1:{ports['smtp']}" in sub and f"connect = 127.0.0.1:{smtp_sink.port}" in sub
    assert "protocol = smtp" in sub and "starttls = yes" in sub, sub

    # migration: the printed config is a valid native config with the same listeners
    native = workdir / "mailtunnel.conf"
    native.write_text(out)
    r2 = run_check(mailtunnel_bin, "--config", native)
    assert r2.returncode == 0, r2.stdout + r2.stderr
    for name in ("imaps", "pop3s", "submission"):
        assert f"[{name}]" in r2.stdout
