"""Client certificates (issue 3), end to end: a real Dovecot behind mailtunnel with `--verify`, a CA file, a
CRL file, `--verify-depth` and `--allow-subject`, a PKI made at test time (pki.py), and curl, `openssl s_client`
and Python's `ssl`/`imaplib` as clients.

Set-up choices (the PKI is described in pki.py):
- mailtunnel serves `server` with its chain (server + intermediate) from `--cert`, key from `--key`; clients
  verify it against the root alone, hostname `localhost`/127.0.0.1.
- `--ca-file` is the bundle root + intermediate + sub-intermediate, so a client sends its leaf alone. One test
  uses the root alone instead, where a client has to send its chain (leaf + intermediate).
- `--crl-file` is a PEM file with the CRLs of root, intermediate and sub-intermediate.
- `--verify-depth N` counts the client's chain without the trust anchor (leaf + intermediates; OpenSSL's own
  depth plus one): alice (leaf + intermediate) is 2, `deep` is 3, `direct` (issued by the root) is 1.

A refused client sees a TLS alert (with TLS 1.3 after its side of the handshake: on the first read) or, for
`allow-subject`, an IMAP `* BYE` after the handshake; mailtunnel's `connection ended` line names the reason
with the certificate's subject and serial, and on an implicit-TLS listener the refused client never reaches
Dovecot (`backend=-`)."""
from __future__ import annotations

import hashlib
import imaplib
import os
import re
import signal
import ssl
import subprocess
from dataclasses import dataclass

import pytest

from clients import recv_until, tcp_connect
from pki import PKI, Cert, pki  # noqa: F401  (pki is the session fixture)

HOST = "127.0.0.1"


# ---- helpers ------------------------------------------------------------------------------------------

def start_tunnel(mailtunnel, dovecot, pki: PKI, verify: str = "require", *, ca=None, crl="initial",
                 cert=None, key=None, extra=()):
    args = ["--cert", str(cert or pki.server.chain), "--key", str(key or pki.server.key),
            "--verify", verify, "--ca-file", str(ca or pki.ca_bundle)]
    if crl == "initial":
        crl = pki.crl_initial
    if crl:
        args += ["--crl-file", str(crl)]
    return mailtunnel(connect=dovecot.imap_port, protocol="imap", extra=args + [str(a) for a in extra])


@dataclass
class Attempt:
    handshake: bool        # the client's side of the TLS handshake completed
    data: bytes            # what arrived from the server after the handshake (Dovecot's greeting, or a BYE)
    error: str             # the TLS error the client saw ("" if none)
    eof: bool              # the server closed
    server_fingerprint: str = ""

    @property
    def admitted(self) -> bool:
        return self.data.startswith((b"* OK", b"+OK")) and not self.error

    def __str__(self):
        return (f"handshake={self.handshake} data={self.data[:200]!r} error={self.error!r} eof={self.eof}")


def tls_attempt(pki: PKI, port: int, client: Cert | None = None, *, send_chain: bool = False,
                 tls13: bool = True) -> Attempt:
    """Python ssl: handshake (verifying the server), then read the server's first line (IMAP `* OK`/`* BYE`,
    POP3 `+OK`/`-ERR`). Never raises for a refusal."""
    ctx = pki.client_context(client, send_chain=send_chain, tls13=tls13)
    raw = tcp_connect(HOST, port, timeout=15)
    try:
        s = ctx.wrap_socket(raw, server_hostname="localhost")
    except ssl.SSLError as e:
        raw.close()
        return Attempt(False, b"", str(e), True)
    except (ConnectionResetError, BrokenPipeError) as e:
        raw.close()
        return Attempt(False, b"", f"{type(e).__name__}: {e}", True)
    with s:
        fp = ":".join(f"{b:02X}" for b in hashlib.sha256(s.getpeercert(binary_form=True)).digest())
        try:
            data, eof = recv_until(s, lambda d: b"\r\n" in d, timeout=15)
        except ssl.SSLError as e:
            return Attempt(True, b"", str(e), True, fp)
        if not eof and not data.startswith((b"* OK", b"+OK")):
            # e.g. a BYE: the server must close after it.
            rest, eof = recv_until(s, lambda d: False, timeout=15)
            data += rest
        return Attempt(True, data, "", eof, fp)


def imap_fetch(pki: PKI, port: int, client: Cert | None, dovecot, *, send_chain: bool = False) -> None:
    """imaplib over TLS with a client certificate: log in and fetch the test message byte for byte."""
    ctx = pki.client_context(client, send_chain=send_chain)
    with imaplib.IMAP4_SSL(HOST, port, ssl_context=ctx, timeout=30) as imap:
        assert imap.welcome.startswith(b"* OK"), imap.welcome
        assert imap.login(dovecot.user, dovecot.password)[0] == "OK"
        typ, data = imap.select("INBOX", readonly=True)
        assert typ == "OK" and int(data[0]) >= 1, data
        typ, data = imap.fetch("1", "(BODY.PEEK[])")
        assert typ == "OK" and data[0][1] == dovecot.message
        assert imap.logout()[0] == "BYE"


def curl(pki: PKI, port: int, client: Cert | None, dovecot, path: str = "INBOX;MAILINDEX=1",
         insecure: bool = False, scheme: str = "imaps") -> subprocess.CompletedProcess:
    """curl with `--cert/--key`; scheme imap/pop3 means STARTTLS (`--ssl-reqd`)."""
    args = ["curl", "-sS", "--max-time", "30", "-u", f"{dovecot.user}:{dovecot.password}"]
    if not scheme.endswith("s"):
        args.append("--ssl-reqd")
    args += ["-k"] if insecure else ["--cacert", str(pki.root.pem)]
    if client is not None:
        args += ["--cert", str(client.cert), "--key", str(client.key)]
    return subprocess.run(args + [f"{scheme}://{HOST}:{port}/{path}"], capture_output=True, timeout=60)


def s_client(pki: PKI, port: int, client: Cert | None, starttls: bool = False) -> subprocess.CompletedProcess:
    """openssl s_client verifying the server; sends LOGOUT and reads until the server closes."""
    args = ["openssl", "s_client", "-connect", f"{HOST}:{port}", "-servername", "localhost",
            "-CAfile", str(pki.root.pem), "-verify_return_error", "-ign_eof"]
    if starttls:
        args += ["-starttls", "imap"]
    if client is not None:
        args += ["-cert", str(client.cert), "-key", str(client.key)]
    return subprocess.run(args, input=b"a1 LOGOUT\r\n", capture_output=True, timeout=60)


def ended(mt, mark, reason: str | None = None):
    return mt.connection_ended(since=mark, reason=reason, timeout=15)[0]


def assert_admitted_line(mt, mark, client: Cert, dovecot, backend_port: int | None = None):
    line = ended(mt, mark)
    assert line.get("peer") == client.subject, f"peer= is not {client.subject!r}: {line.raw}"
    assert (line.get("serial") or "").upper().lstrip("0") == client.serial.lstrip("0"), \
        f"serial= is not {client.serial}: {line.raw}"
    assert line.get("backend") == f"127.0.0.1:{backend_port or dovecot.imap_port}", line.raw
    assert line.get("tls", "").startswith("TLSv1."), line.raw
    return line


# What each refusal must say: (text in mailtunnel's reason, text in the TLS alert the client receives).
REFUSALS = {
    "expired": ("certificate has expired", "alert certificate expired"),
    "notyet": ("certificate is not yet valid", "alert bad certificate"),
    "revoked": ("certificate revoked", "alert certificate revoked"),
    "other": ("unable to get local issuer certificate", "alert unknown ca"),
}


def assert_refused_in_tls(attempt: Attempt, alert: str | None):
    assert not attempt.admitted and b"* OK" not in attempt.data, f"client was admitted: {attempt}"
    assert attempt.error or attempt.eof, f"neither an alert nor a close: {attempt}"
    if alert is not None:
        assert alert in attempt.error.lower(), f"the TLS alert does not say {alert!r}: {attempt}"


def assert_refusal_logged(mt, mark, reason_text: str, client: Cert | None, backend_unused: bool = True):
    """backend_unused: the refused client never reached Dovecot (`backend=-`). A STARTTLS listener connects
    to its backend before the upgrade, so there only the reason is checked."""
    line = ended(mt, mark, reason="handshake failed")
    reason = line.get("reason", "")
    assert reason_text in reason, f"reason does not say {reason_text!r}: {line.raw}"
    if client is not None:
        assert client.subject in reason or line.get("peer") == client.subject, \
            f"the log does not name the subject {client.subject!r}: {line.raw}"
        assert client.serial in reason.upper() or (line.get("serial") or "").upper() == client.serial, \
            f"the log does not name the serial {client.serial}: {line.raw}"
    if backend_unused:
        assert line.get("backend") in ("-", None), f"a refused client reached the backend: {line.raw}"
    return line


# ---- verify = require ---------------------------------------------------------------------------------

def test_require_valid_client_fetches_mail_with_each_client(mailtunnel, dovecot, pki):
    mt = start_tunnel(mailtunnel, dovecot, pki)
    line = mt.wait_for_log(r"certificate listener=", timeout=5)[0]
    assert line.get("fingerprint") == pki.server.fingerprint, line.raw

    mark = mt.log_mark()
    r = curl(pki, mt.accept_port, pki.alice, dovecot)
    assert r.returncode == 0, r.stderr
    assert r.stdout == dovecot.message
    assert_admitted_line(mt, mark, pki.alice, dovecot)

    mark = mt.log_mark()
    imap_fetch(pki, mt.accept_port, pki.alice, dovecot)
    line = assert_admitted_line(mt, mark, pki.alice, dovecot)
    assert int(line["in"]) > 0 and int(line["out"]) >= len(dovecot.message), line.raw

    mark = mt.log_mark()
    r = s_client(pki, mt.accept_port, pki.alice)
    out = r.stdout.decode(errors="replace")
    assert "* OK" in out and "a1 OK" in out, f"s_client: {out}\n{r.stderr.decode(errors='replace')}"
    assert_admitted_line(mt, mark, pki.alice, dovecot)


@pytest.mark.parametrize("name", list(REFUSALS))
def test_require_refuses_bad_certificate(mailtunnel, dovecot, pki, name):
    client = getattr(pki, name)
    reason_text, alert = REFUSALS[name]
    mt = start_tunnel(mailtunnel, dovecot, pki)

    mark = mt.log_mark()
    attempt = tls_attempt(pki, mt.accept_port, client)
    assert_refused_in_tls(attempt, alert)
    assert_refusal_logged(mt, mark, reason_text, client)

    mark = mt.log_mark()
    r = curl(pki, mt.accept_port, client, dovecot)
    assert r.returncode != 0 and dovecot.message not in r.stdout, (r.returncode, r.stdout[:200], r.stderr)
    assert_refusal_logged(mt, mark, reason_text, client)

    # Same over TLS 1.2, where the refusal comes inside the handshake itself.
    mark = mt.log_mark()
    attempt = tls_attempt(pki, mt.accept_port, client, tls13=False)
    assert not attempt.handshake, f"a TLS 1.2 handshake completed with a bad certificate: {attempt}"
    assert_refused_in_tls(attempt, alert)
    assert_refusal_logged(mt, mark, reason_text, client)

    # The daemon still serves the valid client.
    mark = mt.log_mark()
    imap_fetch(pki, mt.accept_port, pki.alice, dovecot)
    assert_admitted_line(mt, mark, pki.alice, dovecot)


def test_require_refuses_client_without_certificate(mailtunnel, dovecot, pki):
    mt = start_tunnel(mailtunnel, dovecot, pki)

    mark = mt.log_mark()
    attempt = tls_attempt(pki, mt.accept_port, None)
    assert_refused_in_tls(attempt, "alert certificate required")
    assert_refusal_logged(mt, mark, "peer did not return a certificate", None)

    mark = mt.log_mark()
    r = s_client(pki, mt.accept_port, None)
    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    assert "* OK" not in out and "a1 OK" not in out, out
    assert "alert" in out.lower(), f"s_client saw no alert:\n{out}"
    assert_refusal_logged(mt, mark, "peer did not return a certificate", None)

    mark = mt.log_mark()
    r = curl(pki, mt.accept_port, None, dovecot, insecure=True)
    assert r.returncode != 0 and dovecot.message not in r.stdout, (r.returncode, r.stderr)
    assert_refusal_logged(mt, mark, "peer did not return a certificate", None)


def test_root_only_ca_file_client_sends_its_chain(mailtunnel, dovecot, pki):
    """--ca-file with the root alone: alice sending leaf + intermediate is admitted, alice sending the leaf
    alone cannot be verified."""
    mt = start_tunnel(mailtunnel, dovecot, pki, ca=pki.root_only)
    mark = mt.log_mark()
    imap_fetch(pki, mt.accept_port, pki.alice, dovecot, send_chain=True)
    assert_admitted_line(mt, mark, pki.alice, dovecot)

    mark = mt.log_mark()
    attempt = tls_attempt(pki, mt.accept_port, pki.alice, send_chain=False)
    assert_refused_in_tls(attempt, "alert unknown ca")
    assert_refusal_logged(mt, mark, "unable to get local issuer certificate", pki.alice)

    # Revocation still applies to a leaf whose chain came from the client.
    mark = mt.log_mark()
    attempt = tls_attempt(pki, mt.accept_port, pki.revoked, send_chain=True)
    assert_refused_in_tls(attempt, "alert certificate revoked")
    assert_refusal_logged(mt, mark, "certificate revoked", pki.revoked)


# ---- verify = optional --------------------------------------------------------------------------------

def test_optional_admits_no_certificate_refuses_bad_one(mailtunnel, dovecot, pki):
    mt = start_tunnel(mailtunnel, dovecot, pki, verify="optional")

    mark = mt.log_mark()
    imap_fetch(pki, mt.accept_port, None, dovecot)
    line = ended(mt, mark)
    assert line.get("peer") in ("-", None, ""), f"no certificate, but peer= says {line.raw}"
    assert line.get("backend") == f"127.0.0.1:{dovecot.imap_port}", line.raw

    mark = mt.log_mark()
    r = curl(pki, mt.accept_port, None, dovecot)
    assert r.returncode == 0 and r.stdout == dovecot.message, r.stderr
    ended(mt, mark)

    mark = mt.log_mark()
    imap_fetch(pki, mt.accept_port, pki.alice, dovecot)
    assert_admitted_line(mt, mark, pki.alice, dovecot)

    for name in ("expired", "revoked", "other"):
        reason_text, alert = REFUSALS[name]
        client = getattr(pki, name)
        mark = mt.log_mark()
        attempt = tls_attempt(pki, mt.accept_port, client)
        assert_refused_in_tls(attempt, alert)
        assert_refusal_logged(mt, mark, reason_text, client)
        mark = mt.log_mark()
        r = curl(pki, mt.accept_port, client, dovecot)
        assert r.returncode != 0 and dovecot.message not in r.stdout, (name, r.returncode, r.stderr)
        assert_refusal_logged(mt, mark, reason_text, client)


# ---- verify-depth -------------------------------------------------------------------------------------

def test_verify_depth_refuses_longer_chain(mailtunnel, dovecot, pki):
    # Depth 2: alice (leaf + intermediate) in, deep (leaf + sub-intermediate + intermediate) out.
    mt = start_tunnel(mailtunnel, dovecot, pki, extra=["--verify-depth", "2"])
    mark = mt.log_mark()
    imap_fetch(pki, mt.accept_port, pki.alice, dovecot)
    assert_admitted_line(mt, mark, pki.alice, dovecot)

    mark = mt.log_mark()
    attempt = tls_attempt(pki, mt.accept_port, pki.deep)
    assert_refused_in_tls(attempt, None)
    assert_refusal_logged(mt, mark, "certificate chain too long", None)

    # Depth 1: only a certificate issued by the root itself.
    mt1 = start_tunnel(mailtunnel, dovecot, pki, extra=["--verify-depth", "1"])
    mark = mt1.log_mark()
    imap_fetch(pki, mt1.accept_port, pki.direct, dovecot)
    assert_admitted_line(mt1, mark, pki.direct, dovecot)
    mark = mt1.log_mark()
    attempt = tls_attempt(pki, mt1.accept_port, pki.alice)
    assert_refused_in_tls(attempt, None)
    assert_refusal_logged(mt1, mark, "certificate chain too long", None)

    # The default depth (9) admits the deep chain: the refusal above was the depth, not the certificate.
    mt9 = start_tunnel(mailtunnel, dovecot, pki)
    mark = mt9.log_mark()
    imap_fetch(pki, mt9.accept_port, pki.deep, dovecot)
    assert_admitted_line(mt9, mark, pki.deep, dovecot)


# ---- allow-subject ------------------------------------------------------------------------------------

def test_allow_subject_cn_and_email(mailtunnel, dovecot, pki):
    mt = start_tunnel(mailtunnel, dovecot, pki,
                      extra=["--allow-subject", "alice", "--allow-subject", "carol@example.org"])

    mark = mt.log_mark()
    imap_fetch(pki, mt.accept_port, pki.alice, dovecot)
    assert_admitted_line(mt, mark, pki.alice, dovecot)

    # carol's CN ("Carol Example") is not listed; her email SAN is.
    mark = mt.log_mark()
    r = curl(pki, mt.accept_port, pki.carol, dovecot)
    assert r.returncode == 0 and r.stdout == dovecot.message, r.stderr
    assert_admitted_line(mt, mark, pki.carol, dovecot)

    # mallory's certificate verifies, but she is not listed: IMAP BYE after the handshake, then close.
    mark = mt.log_mark()
    attempt = tls_attempt(pki, mt.accept_port, pki.mallory)
    assert attempt.handshake, f"mallory's handshake should complete (refusal comes after it): {attempt}"
    assert attempt.data.startswith(b"* BYE"), f"expected an IMAP BYE: {attempt}"
    assert b"* OK" not in attempt.data and attempt.eof, attempt
    line = ended(mt, mark, reason="certificate subject not allowed")
    assert pki.mallory.subject in line.raw, line.raw
    assert line.get("backend") in ("-", None), f"a refused client reached the backend: {line.raw}"

    mark = mt.log_mark()
    r = curl(pki, mt.accept_port, pki.mallory, dovecot)
    assert r.returncode != 0 and dovecot.message not in r.stdout, (r.returncode, r.stderr)
    ended(mt, mark, reason="certificate subject not allowed")

    # A valid certificate named "alice" by a CA we do not trust is still refused in the handshake.
    mark = mt.log_mark()
    attempt = tls_attempt(pki, mt.accept_port, pki.other)
    assert_refused_in_tls(attempt, "alert unknown ca")
    assert_refusal_logged(mt, mark, "unable to get local issuer certificate", pki.other)


def test_allow_subject_pop3_refusal_is_err(mailtunnel, dovecot, pki):
    mt = mailtunnel(connect=dovecot.pop3_port, protocol="pop3",
                    extra=["--cert", str(pki.server.chain), "--key", str(pki.server.key), "--verify", "require",
                           "--ca-file", str(pki.ca_bundle), "--crl-file", str(pki.crl_initial),
                           "--allow-subject", "alice"])
    mark = mt.log_mark()
    r = curl(pki, mt.accept_port, pki.alice, dovecot, path="1", scheme="pop3s")
    assert r.returncode == 0 and r.stdout == dovecot.message, r.stderr
    assert_admitted_line(mt, mark, pki.alice, dovecot, backend_port=dovecot.pop3_port)

    mark = mt.log_mark()
    attempt = tls_attempt(pki, mt.accept_port, pki.mallory)
    assert attempt.handshake and attempt.data.startswith(b"-ERR") and attempt.eof, attempt
    assert b"+OK" not in attempt.data, attempt
    line = ended(mt, mark, reason="certificate subject not allowed")
    assert line.get("backend") in ("-", None), line.raw


# ---- STARTTLS -----------------------------------------------------------------------------------------

def test_starttls_imap_require(mailtunnel, dovecot, pki):
    """The same policy on a STARTTLS listener: the certificate is asked for in the upgraded handshake."""
    mt = start_tunnel(mailtunnel, dovecot, pki, extra=["--starttls", "yes"])

    mark = mt.log_mark()
    r = curl(pki, mt.accept_port, pki.alice, dovecot, scheme="imap")
    assert r.returncode == 0 and r.stdout == dovecot.message, r.stderr
    assert_admitted_line(mt, mark, pki.alice, dovecot)

    mark = mt.log_mark()
    imap = imaplib.IMAP4(HOST, mt.accept_port, timeout=30)
    try:
        assert "STARTTLS" in imap.capabilities
        refused = None
        try:
            imap.starttls(ssl_context=pki.client_context(pki.revoked))
            imap.login(dovecot.user, dovecot.password)
        except (ssl.SSLError, imaplib.IMAP4.abort, imaplib.IMAP4.error, OSError) as e:
            refused = e
        assert refused is not None, "a revoked certificate logged in over STARTTLS"
        assert "alert certificate revoked" in str(refused).lower() or not isinstance(refused, ssl.SSLError), refused
    finally:
        try:
            imap.shutdown()
        except OSError:
            pass
    assert_refusal_logged(mt, mark, "certificate revoked", pki.revoked, backend_unused=False)

    mark = mt.log_mark()
    r = s_client(pki, mt.accept_port, None, starttls=True)
    out = r.stdout.decode(errors="replace") + r.stderr.decode(errors="replace")
    assert "a1 OK" not in out and "alert" in out.lower(), out
    assert_refusal_logged(mt, mark, "peer did not return a certificate", None, backend_unused=False)

    mark = mt.log_mark()
    r = s_client(pki, mt.accept_port, pki.alice, starttls=True)
    out = r.stdout.decode(errors="replace")
    assert "a1 OK" in out, out + r.stderr.decode(errors="replace")
    assert_admitted_line(mt, mark, pki.alice, dovecot)


# ---- reload -------------------------------------------------------------------------------------------

def test_reload_certificate_and_crl_keeps_sessions(mailtunnel, dovecot, pki, workdir):
    cert, key, crl = workdir / "server.pem", workdir / "server.key", workdir / "crl.pem"
    cert.write_bytes(pki.server.chain.read_bytes())
    key.write_bytes(pki.server.key.read_bytes())
    os.chmod(key, 0o600)
    crl.write_bytes(pki.crl_initial.read_bytes())
    mt = start_tunnel(mailtunnel, dovecot, pki, cert=cert, key=key, crl=crl)
    port = mt.accept_port

    first = tls_attempt(pki, port, pki.bob)
    assert first.admitted, f"bob should be admitted before the reload: {first}"
    assert first.server_fingerprint == pki.server.fingerprint

    session_mark = mt.log_mark()
    imap = imaplib.IMAP4_SSL(HOST, port, ssl_context=pki.client_context(pki.alice), timeout=30)
    try:
        session_client = "127.0.0.1:%d" % imap.sock.getsockname()[1]
        assert imap.login(dovecot.user, dovecot.password)[0] == "OK"
        assert imap.select("INBOX", readonly=True)[0] == "OK"
        assert imap.noop()[0] == "OK"

        # Replace certificate, key and CRL in place (bob is now revoked), then SIGHUP.
        cert.write_bytes(pki.server2.chain.read_bytes())
        key.write_bytes(pki.server2.key.read_bytes())
        crl.write_bytes(pki.crl_bob.read_bytes())
        mark = mt.log_mark()
        mt.process.signal(signal.SIGHUP)
        mt.wait_for_log(r"\breloaded\b", since=mark, timeout=15)
        assert not mt.find_log(r"reload failed", since=mark), mt.log_text()[-2000:]
        logged = [l.get("fingerprint") for l in mt.find_log(r"certificate listener=", since=mark)]
        assert logged == [pki.server2.fingerprint], f"the reload did not log the new certificate: {logged}"

        # The established session goes on untouched.
        assert imap.noop()[0] == "OK"
        typ, data = imap.fetch("1", "(BODY.PEEK[])")
        assert typ == "OK" and data[0][1] == dovecot.message

        # New handshakes see the new certificate; bob is refused, alice admitted.
        a = tls_attempt(pki, port, pki.alice)
        assert a.admitted, a
        assert a.server_fingerprint == pki.server2.fingerprint, \
            f"new handshake still serves {a.server_fingerprint}, expected the new certificate"
        m = mt.log_mark()
        b = tls_attempt(pki, port, pki.bob)
        assert_refused_in_tls(b, "alert certificate revoked")
        assert_refusal_logged(mt, m, "certificate revoked", pki.bob)

        # A broken key: the reload fails, says why, and the previous configuration keeps serving.
        key.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PRIVATE KEY-----\n")
        mark = mt.log_mark()
        mt.process.signal(signal.SIGHUP)
        failed = mt.wait_for_log(r"reload failed", since=mark, timeout=15)[0]
        error = failed.get("error", "")
        assert error and (str(key) in error or "key" in error.lower()), f"reload failure does not say why: {failed.raw}"
        assert not mt.find_log(r"\breloaded\b", since=mark)
        assert mt.running()

        a = tls_attempt(pki, port, pki.alice)
        assert a.admitted, a
        assert a.server_fingerprint == pki.server2.fingerprint
        m = mt.log_mark()
        b = tls_attempt(pki, port, pki.bob)
        assert_refused_in_tls(b, "alert certificate revoked")
        assert_refusal_logged(mt, m, "certificate revoked", pki.bob)
        m = mt.log_mark()
        r = curl(pki, port, pki.alice, dovecot)
        assert r.returncode == 0 and r.stdout == dovecot.message, r.stderr
        assert_admitted_line(mt, m, pki.alice, dovecot)

        assert imap.noop()[0] == "OK"
        assert imap.logout()[0] == "BYE"
    finally:
        try:
            imap.shutdown()
        except OSError:
            pass
    # The long session's own line: alice's subject, the whole message relayed, ended by her LOGOUT.
    line = mt.wait_for_log(r"connection ended.*client=" + re.escape(session_client) + r"\s",
                           since=session_mark, timeout=15)[0]
    assert line.get("peer") == pki.alice.subject, line.raw
    assert int(line.get("out", "0")) >= len(dovecot.message), line.raw
    assert "reload" not in line.get("reason", ""), line.raw
