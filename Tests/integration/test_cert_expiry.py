"""Expiry awareness (issue 14): every certificate's not-after in the startup log, a /metrics gauge of the seconds
left per listener and certificate, and a warning from 14 days before expiry (at start, then daily)."""
from __future__ import annotations

import re
import urllib.request

from cryptography import x509

from procs import free_port
from server_pki import ServerCA


def not_after(pem):
    return x509.load_pem_x509_certificate(pem.read_bytes()).not_valid_after_utc


def test_expiry_in_log_metrics_and_warning(mailtunnel, echo_port, workdir):
    ca = ServerCA(workdir / "pki")
    soon = ca.issue("soon", "/CN=soon.test", ["soon.test"], days=5)
    later = ca.issue("later", "/CN=later.test", ["later.test"], days=90)
    metrics = free_port()
    mt = mailtunnel(echo_port, extra=["--cert", str(soon.chain), "--key", str(soon.key), "--cert", str(later.chain),
                                      "--key", str(later.key), "--metrics", f"127.0.0.1:{metrics}"])
    started = {l["path"]: l for l in mt.find_log(r"certificate listener=")}
    for cert in (soon, later):
        assert started[str(cert.chain)]["not_after"] == f"{not_after(cert.chain):%Y-%m-%dT%H:%M:%S}Z"

    warning = mt.wait_for_log(r"warning certificate expires soon")
    assert len(warning) == 1, "only the certificate within 14 days"
    assert warning[0]["path"] == str(soon.chain) and warning[0]["days_left"] in ("4", "5")
    assert warning[0]["not_after"] == started[str(soon.chain)]["not_after"]

    body = urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=10).read().decode()
    assert "# TYPE mailtunnel_certificate_expiry_seconds gauge" in body
    gauges = {m.group(1): int(float(m.group(2))) for m in re.finditer(
        r'^mailtunnel_certificate_expiry_seconds\{listener="[^"]*",path="([^"]*)",subject="[^"]*"\} (-?\d+(?:\.\d+)?)$',
        body, re.M)}
    assert set(gauges) == {str(soon.chain), str(later.chain)}, body
    assert 5 * 86400 - 600 < gauges[str(soon.chain)] <= 5 * 86400
    assert 90 * 86400 - 600 < gauges[str(later.chain)] <= 90 * 86400
