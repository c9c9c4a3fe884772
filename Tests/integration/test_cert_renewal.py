"""Renewals picked up by themselves (issue 14): certificate and key replaced by rename, as certbot and other ACME
clients do, change what new clients see within 2 seconds without a signal; a broken replacement (a key that does
not match its certificate) keeps the certificate in use and one line says why, and the next good change is
picked up. The CA and CRL files are watched the same way."""
from __future__ import annotations

import re
import time

from pki import pki  # noqa: F401  (the session fixture)
from server_pki import ServerCA, rename_into_place, served
from test_client_certs import tls_attempt
from procs import wait_until


def start(mailtunnel, echo_port, workdir, initial):
    live = workdir / "live"
    live.mkdir()
    cert, key = live / "fullchain.pem", live / "privkey.pem"
    cert.write_bytes(initial.chain.read_bytes())
    key.write_bytes(initial.key.read_bytes())
    return mailtunnel(echo_port, extra=["--cert", str(cert), "--key", str(key)]), cert, key


def test_rename_is_picked_up_without_a_signal(mailtunnel, echo_port, workdir, figures):
    ca = ServerCA(workdir / "pki")
    old = ca.issue("gen1", "/CN=mail.test/O=gen1", ["mail.test"])
    new = ca.issue("gen2", "/CN=mail.test/O=gen2", ["mail.test"], key_type="rsa")
    mt, cert, key = start(mailtunnel, echo_port, workdir, old)
    assert "O = gen1" in served(mt.accept_port, "mail.test")[0]
    mark = mt.log_mark()
    renewed_at = time.monotonic()
    rename_into_place({cert: new.chain.read_bytes(), key: new.key.read_bytes()})
    wait_until(lambda: "O = gen2" in served(mt.accept_port, "mail.test")[0], timeout=2.0,
               what="the renewed certificate served")
    figures(renewal_seen_after_ms=round((time.monotonic() - renewed_at) * 1000))
    mt.wait_for_log(r"certificate files changed, reloaded", since=mark)
    assert mt.find_log(r"certificate listener=.*not_after=", since=mark)[-1]["subject"] == new.subject


def test_broken_replacement_keeps_the_old_one(mailtunnel, echo_port, workdir):
    ca = ServerCA(workdir / "pki")
    old = ca.issue("gen1", "/CN=mail.test/O=gen1", ["mail.test"])
    new = ca.issue("gen2", "/CN=mail.test/O=gen2", ["mail.test"])
    mt, cert, key = start(mailtunnel, echo_port, workdir, old)
    mark = mt.log_mark()
    # Only the certificate renewed: the key in place no longer matches it.
    rename_into_place({cert: new.chain.read_bytes()})
    failure = mt.wait_for_log(r"certificate files changed but do not load", since=mark, timeout=5)
    # OpenSSL's words ("key values mismatch") or mailtunnel's check ("does not match"), naming the key file.
    assert re.search(r"mismatch|does not match", failure[0]["error"]) and str(key) in failure[0]["error"], failure[0].raw
    assert "O = gen1" in served(mt.accept_port, "mail.test")[0]
    assert len(mt.find_log(r"certificate files changed but do not load", since=mark)) == 1
    # A half-written file: still the old one.
    mark = mt.log_mark()
    key.write_bytes(new.key.read_bytes()[:40])
    mt.wait_for_log(r"certificate files changed but do not load", since=mark, timeout=5)
    assert "O = gen1" in served(mt.accept_port, "mail.test")[0]
    # The matching key arrives: picked up.
    mark = mt.log_mark()
    rename_into_place({key: new.key.read_bytes()})
    mt.wait_for_log(r"certificate files changed, reloaded", since=mark, timeout=5)
    wait_until(lambda: "O = gen2" in served(mt.accept_port, "mail.test")[0], timeout=2.0,
               what="the renewed certificate served")


def test_crl_change_reloads(mailtunnel, backends, workdir, pki):
    crl = workdir / "crl.pem"
    crl.write_bytes(pki.crl_initial.read_bytes())
    # tls_attempt waits for a greeting line from the backend.
    mt = mailtunnel(backends.echo(greeting="* OK ready"), extra=["--cert", str(pki.server.chain), "--key", str(pki.server.key),
                                      "--verify", "require", "--ca-file", str(pki.ca_bundle), "--crl-file", str(crl)])
    assert tls_attempt(pki, mt.accept_port, pki.bob).admitted
    mark = mt.log_mark()
    # A CRL that revokes bob, moved into place.
    rename_into_place({crl: pki.crl_bob.read_bytes()})
    mt.wait_for_log(r"certificate files changed, reloaded", since=mark, timeout=5)
    assert not tls_attempt(pki, mt.accept_port, pki.bob).admitted
    assert tls_attempt(pki, mt.accept_port, pki.alice).admitted


def test_renewal_after_dropping_privileges(mailtunnel, echo_port, workdir):
    """As documented: after `user = nobody`, renewed files must be readable by that user. Readable ones are picked
    up; a root-only renewed key cannot be read, the copy read at start is used (warned), and the renewed
    certificate does not load with it, so the old pair keeps serving."""
    ca = ServerCA(workdir / "pki")
    old = ca.issue("gen1", "/CN=mail.test/O=gen1", ["mail.test"])
    new = ca.issue("gen2", "/CN=mail.test/O=gen2", ["mail.test"])
    newest = ca.issue("gen3", "/CN=mail.test/O=gen3", ["mail.test"])
    live = workdir / "live"
    live.mkdir()
    live.chmod(0o755)
    cert, key = live / "fullchain.pem", live / "privkey.pem"
    cert.write_bytes(old.chain.read_bytes())
    key.write_bytes(old.key.read_bytes())
    for path in (cert, key):
        path.chmod(0o644)
    mt = mailtunnel(echo_port, extra=["--user", "nobody", "--cert", str(cert), "--key", str(key)])
    mt.wait_for_log(r"privileges dropped")

    mark = mt.log_mark()
    rename_into_place({cert: new.chain.read_bytes(), key: new.key.read_bytes()})   # 0644, as the umask gives
    mt.wait_for_log(r"certificate files changed, reloaded", since=mark, timeout=5)
    wait_until(lambda: "O = gen2" in served(mt.accept_port, "mail.test")[0], timeout=2.0, what="gen2 served")

    mark = mt.log_mark()
    private = live / ".privkey.pem.new"
    private.write_bytes(newest.key.read_bytes())
    private.chmod(0o600)
    rename_into_place({cert: newest.chain.read_bytes()})
    private.rename(key)
    mt.wait_for_log(r"cannot re-read a file after dropping privileges", since=mark, timeout=5)
    mt.wait_for_log(r"certificate files changed but do not load", since=mark, timeout=5)
    assert "O = gen2" in served(mt.accept_port, "mail.test")[0]
