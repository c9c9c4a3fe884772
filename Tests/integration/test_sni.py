"""SNI (issue 14): repeated `cert`/`key` pairs, the certificate whose names match the client's server name is
served, the first pair for clients without SNI or with an unknown name; RSA and ECDSA certificates for the same
names side by side, the client's signature algorithms choosing. `--check` lists each pair."""
from __future__ import annotations

import subprocess

import pytest

from server_pki import ServerCA, served


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    ca = ServerCA(tmp_path_factory.mktemp("sni-pki"))
    return {
        "a": ca.issue("a", "/CN=a.test/O=first", ["a.test"]),
        "b": ca.issue("b", "/CN=b.test/O=second", ["b.test", "*.b.test"]),
        # The same names twice: RSA beside ECDSA.
        "mail-rsa": ca.issue("mail-rsa", "/CN=mail.test/O=rsa", ["mail.test"], key_type="rsa"),
        "mail-ec": ca.issue("mail-ec", "/CN=mail.test/O=ecdsa", ["mail.test"], key_type="ec"),
        # No SAN: the CN is its name.
        "legacy": ca.issue("legacy", "/CN=legacy.test/O=cn-only", None),
    }


def pair_flags(*pairs):
    flags = []
    for cert in pairs:
        flags += ["--cert", str(cert.chain), "--key", str(cert.key)]
    return flags


def test_server_name_chooses_the_certificate(mailtunnel, echo_port, certs):
    mt = mailtunnel(echo_port, extra=pair_flags(certs["a"], certs["b"], certs["legacy"]))
    assert "O = first" in served(mt.accept_port, "a.test")[0]
    assert "O = second" in served(mt.accept_port, "b.test")[0]
    assert "O = second" in served(mt.accept_port, "B.Test")[0], "names compare case-insensitively"
    assert "O = second" in served(mt.accept_port, "imap.b.test")[0], "a wildcard covers one label"
    assert "O = first" in served(mt.accept_port, "x.imap.b.test")[0], "but not two"
    assert "O = cn-only" in served(mt.accept_port, "legacy.test")[0], "the CN counts when there is no SAN"
    assert "O = first" in served(mt.accept_port, "unknown.test")[0], "an unknown name gets the first pair"
    assert "O = first" in served(mt.accept_port, None)[0], "no SNI gets the first pair"
    # Every pair is logged at start with its not-after.
    lines = mt.find_log(r"^.*certificate listener=")
    assert [l["subject"] for l in lines] == [certs[n].subject for n in ("a", "b", "legacy")]
    assert all(l.get("not_after", "").endswith("Z") for l in lines)


def test_order_decides_the_default(mailtunnel, echo_port, certs):
    mt = mailtunnel(echo_port, extra=pair_flags(certs["b"], certs["a"]))
    assert "O = second" in served(mt.accept_port, None)[0]
    assert "O = first" in served(mt.accept_port, "a.test")[0]


def test_rsa_and_ecdsa_side_by_side(mailtunnel, echo_port, certs):
    mt = mailtunnel(echo_port, extra=pair_flags(certs["a"], certs["mail-rsa"], certs["mail-ec"]))
    rsa_only_13 = ["-tls1_3", "-sigalgs", "rsa_pss_rsae_sha256:rsa_pkcs1_sha256"]
    rsa_only_12 = ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"]
    ecdsa_only = ["-sigalgs", "ecdsa_secp256r1_sha256"]
    assert "O = rsa" in served(mt.accept_port, "mail.test", rsa_only_13)[0]
    assert "O = rsa" in served(mt.accept_port, "mail.test", rsa_only_12)[0]
    assert "O = ecdsa" in served(mt.accept_port, "mail.test", ecdsa_only)[0]
    assert "O = ecdsa" in served(mt.accept_port, "mail.test", ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"])[0]
    # The other name's group is untouched.
    assert "O = first" in served(mt.accept_port, "a.test")[0]


def check(mailtunnel_bin, workdir, pairs: str) -> subprocess.CompletedProcess:
    config = workdir / "sni.conf"
    config.write_text(f"[imaps]\naccept = 127.0.0.1:9993\nconnect = 143\n{pairs}")
    return subprocess.run([mailtunnel_bin, "--check", "--config", str(config)], capture_output=True, text=True,
                          timeout=30)


def test_check_lists_each_pair(mailtunnel_bin, workdir, certs):
    a, b = certs["a"], certs["b"]
    r = check(mailtunnel_bin, workdir, f"cert = {a.chain}\nkey = {a.key}\ncert = {b.chain}\nkey = {b.key}\n")
    assert r.returncode == 0, r.stderr
    assert f"cert = {a.chain}\ncert = {b.chain}\nkey = {a.key}\nkey = {b.key}\n" in r.stdout
    pair_lines = [l for l in r.stdout.splitlines() if l.startswith("# pair ")]
    assert len(pair_lines) == 2, r.stdout
    assert pair_lines[0].startswith(f"# pair 1 (default): cert {a.chain}, key {a.key}: {a.subject}, names a.test, EC, not after ")
    assert pair_lines[1].startswith(f"# pair 2: cert {b.chain}, key {b.key}: {b.subject}, names b.test *.b.test, EC, not after ")
    assert f"not after {a.not_after:%Y-%m-%d}T" in pair_lines[0]


def test_keys_must_pair_with_certs(mailtunnel_bin, workdir, certs):
    a, b = certs["a"], certs["b"]
    r = check(mailtunnel_bin, workdir, f"cert = {a.chain}\ncert = {b.chain}\nkey = {a.key}\n")
    assert r.returncode == 1
    assert "1 key line(s) for 2 cert line(s)" in r.stderr
