"""OCSP stapling (issue 14): `ocsp-file` pairs with `cert` in order; a DER response made by `openssl ocsp`
(a local CA, an OCSP responder certificate, an index file) is stapled when the client asks (`s_client -status`);
an expired response or one for another certificate is not stapled, and the log says why; a changed file is
re-read without a signal."""
from __future__ import annotations

import pytest

from server_pki import ServerCA, rename_into_place, served
from procs import wait_until

NO_STAPLE = "OCSP response: no response sent"


@pytest.fixture(scope="module")
def ocsp(tmp_path_factory):
    root = tmp_path_factory.mktemp("ocsp-pki")
    ca = ServerCA(root)
    a = ca.issue("a", "/CN=a.test", ["a.test"])
    b = ca.issue("b", "/CN=b.test", ["b.test"])
    return {
        "ca": ca, "a": a, "b": b,
        "a.der": ca.ocsp_response(a, root / "a.der"),
        "b.der": ca.ocsp_response(b, root / "b.der"),
        "a-expired.der": ca.expired_ocsp_response(a, root / "a-expired.der"),
    }


def stapled(out: str, serial: str) -> bool:
    return "OCSP Response Status: successful" in out and f"Serial Number: {serial}" in out and "Cert Status: good" in out


def test_stapled_on_request(mailtunnel, echo_port, ocsp):
    a = ocsp["a"]
    mt = mailtunnel(echo_port, extra=["--cert", str(a.chain), "--key", str(a.key), "--ocsp-file", str(ocsp["a.der"])])
    _, out = served(mt.accept_port, "a.test", ["-status"])
    assert stapled(out, a.serial), out
    _, out = served(mt.accept_port, "a.test", ["-status", "-tls1_2"])
    assert stapled(out, a.serial), out
    line = mt.wait_for_log(r"ocsp response ")[0]
    assert line["path"] == str(ocsp["a.der"]) and line["status"] == "good" and line["next_update"].endswith("Z")


def test_each_sni_pair_gets_its_own_response(mailtunnel, echo_port, ocsp):
    a, b = ocsp["a"], ocsp["b"]
    mt = mailtunnel(echo_port, extra=["--cert", str(a.chain), "--key", str(a.key), "--cert", str(b.chain),
                                      "--key", str(b.key), "--ocsp-file", str(ocsp["a.der"]),
                                      "--ocsp-file", str(ocsp["b.der"])])
    assert stapled(served(mt.accept_port, "a.test", ["-status"])[1], a.serial)
    assert stapled(served(mt.accept_port, "b.test", ["-status"])[1], b.serial)


def test_expired_response_is_not_stapled_and_logged(mailtunnel, echo_port, ocsp):
    a = ocsp["a"]
    mt = mailtunnel(echo_port, extra=["--cert", str(a.chain), "--key", str(a.key),
                                      "--ocsp-file", str(ocsp["a-expired.der"])])
    subject, out = served(mt.accept_port, "a.test", ["-status"])
    assert NO_STAPLE in out and "CN = a.test" in subject, out
    line = mt.wait_for_log(r"ocsp response not stapled")[0]
    assert line["path"] == str(ocsp["a-expired.der"]) and line["reason"].startswith("expired")
    served(mt.accept_port, "a.test", ["-status"])
    assert len(mt.find_log(r"ocsp response not stapled")) == 1, "logged once"


def test_response_for_another_certificate_is_not_stapled(mailtunnel, echo_port, ocsp):
    a = ocsp["a"]
    mt = mailtunnel(echo_port, extra=["--cert", str(a.chain), "--key", str(a.key), "--ocsp-file", str(ocsp["b.der"])])
    _, out = served(mt.accept_port, "a.test", ["-status"])
    assert NO_STAPLE in out, out
    line = mt.wait_for_log(r"ocsp response not stapled")[0]
    assert "another certificate" in line["reason"]


def test_changed_response_is_reread(mailtunnel, echo_port, ocsp, workdir):
    a = ocsp["a"]
    current = workdir / "a-current.der"
    current.write_bytes(ocsp["a-expired.der"].read_bytes())
    mt = mailtunnel(echo_port, extra=["--cert", str(a.chain), "--key", str(a.key), "--ocsp-file", str(current)])
    assert NO_STAPLE in served(mt.accept_port, "a.test", ["-status"])[1]
    mark = mt.log_mark()
    # A fresh response fetched by cron (`openssl ocsp -respout`) and moved into place.
    rename_into_place({current: ocsp["a.der"].read_bytes()})
    mt.wait_for_log(r"certificate files changed, reloaded", since=mark, timeout=5)
    wait_until(lambda: stapled(served(mt.accept_port, "a.test", ["-status"])[1], a.serial), timeout=5,
               what="the renewed OCSP response stapled")


def test_response_expiring_while_running_stops_being_stapled(mailtunnel, echo_port, ocsp, workdir):
    a = ocsp["a"]
    short = ocsp["ca"].expired_ocsp_response(a, workdir / "a-short.der", next_update_in=4)
    mt = mailtunnel(echo_port, extra=["--cert", str(a.chain), "--key", str(a.key), "--ocsp-file", str(short)])
    assert stapled(served(mt.accept_port, "a.test", ["-status"])[1], a.serial)
    # Its nextUpdate passes while the daemon runs: no longer stapled, logged once.
    wait_until(lambda: NO_STAPLE in served(mt.accept_port, "a.test", ["-status"])[1], timeout=15,
               what="the response past its nextUpdate no longer stapled")
    served(mt.accept_port, "a.test", ["-status"])
    lines = mt.find_log(r"ocsp response not stapled")
    assert len(lines) == 1 and lines[0]["reason"].startswith("expired"), [l.raw for l in lines]
