"""The self-signed default: generated once into the state dir, fingerprint logged, reused on restart."""
import re
import subprocess

FP = re.compile(r"^([0-9A-F]{2}:){31}[0-9A-F]{2}$")


def fingerprint_of_pem(pem: bytes) -> str:
    r = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"], input=pem,
                       capture_output=True, timeout=30, check=True)
    return r.stdout.decode().strip().split("=", 1)[1]


def served_certificate(port: int) -> tuple[bytes, str]:
    """Handshake with openssl s_client; returns (the server's certificate PEM, s_client's output)."""
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost"],
                       input=b"", capture_output=True, timeout=30)
    out = r.stdout.decode(errors="replace")
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n", out, re.S)
    assert r.returncode == 0 and m, f"s_client failed (status {r.returncode}):\n{out}\n{r.stderr.decode()}"
    return m.group(0).encode(), out


def logged_fingerprint(mt) -> tuple[str, str]:
    line = mt.wait_for_log(r"self-signed certificate", timeout=10)[0]
    return line.get("fingerprint", ""), line.get("path", "")


def test_self_signed_certificate_generated_logged_and_reused(mailtunnel, echo_port, workdir):
    state = workdir / "state"
    mt = mailtunnel(connect=echo_port, protocol="none", state_dir=state)
    fp, path = logged_fingerprint(mt)
    assert FP.match(fp), f"fingerprint not in openssl's SHA-256 form: {fp!r}"
    assert path == str(state / "selfsigned-cert.pem")
    assert (state / "selfsigned-cert.pem").is_file() and (state / "selfsigned-key.pem").is_file()
    assert fingerprint_of_pem((state / "selfsigned-cert.pem").read_bytes()) == fp
    mode = (state / "selfsigned-key.pem").stat().st_mode & 0o777
    assert mode & 0o077 == 0, f"private key readable by group/others: {oct(mode)}"

    pem, out = served_certificate(mt.accept_port)
    assert re.search(r"(New|Protocol).*TLSv1\.[23]", out), out
    assert fingerprint_of_pem(pem) == fp, "the certificate served is not the one whose fingerprint was logged"
    key_before = (state / "selfsigned-key.pem").read_bytes()
    mt.stop()

    mt2 = mailtunnel(connect=echo_port, protocol="none", state_dir=state)
    fp2, _ = logged_fingerprint(mt2)
    assert fp2 == fp, "a second start generated a new certificate instead of reusing the stored one"
    pem2, _ = served_certificate(mt2.accept_port)
    assert fingerprint_of_pem(pem2) == fp
    assert (state / "selfsigned-key.pem").read_bytes() == key_before
