"""Server certificates for the SNI, OCSP, renewal and expiry tests (issue 14), made with the openssl CLI:
a CA, server certificates with chosen names, key type and validity (each file = the certificate followed by the
CA, as an ACME client's fullchain.pem), an OCSP responder certificate (extendedKeyUsage OCSPSigning) and DER
OCSP responses produced offline by `openssl ocsp -index … -reqin … -respout`, as a local responder would.
Also `served()`: what `openssl s_client` gets from a listener."""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pki import asn1_time, openssl, random_serial
import datetime as dt


@dataclass
class ServerCert:
    chain: Path      # certificate + CA (what `cert =` names)
    key: Path
    serial: str
    subject: str     # RFC 2253, as mailtunnel logs it
    not_after: dt.datetime


class ServerCA:
    def __init__(self, root: Path, name: str = "ca"):
        self.dir = root / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.key = self.dir / "ca.key"
        self.pem = self.dir / "ca.pem"
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", self.key)
        openssl("req", "-new", "-x509", "-key", self.key, "-subj", f"/CN=Test {name}", "-days", "3650",
                "-addext", "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                "-out", self.pem)
        self.index = self.dir / "index.txt"
        self.index.write_text("")
        self._responder: ServerCert | None = None

    def issue(self, name: str, subject: str, sans: list[str] | None, key_type: str = "ec", days: float = 90,
              out_dir: Path | None = None, key: Path | None = None, eku: str = "serverAuth") -> ServerCert:
        out_dir = out_dir or self.dir
        if key is None:
            key = out_dir / f"{name}.key"
            if key_type == "rsa":
                openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key)
            else:
                openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
        csr = out_dir / f"{name}.csr"
        openssl("req", "-new", "-key", key, "-subj", subject, "-out", csr)
        ext = out_dir / f"{name}.ext"
        lines = ["basicConstraints=critical,CA:false", f"extendedKeyUsage={eku}"]
        if sans:
            lines.append("subjectAltName=" + ",".join(f"DNS:{n}" for n in sans))
        ext.write_text("\n".join(lines) + "\n")
        serial = random_serial()
        leaf = out_dir / f"{name}.crt"
        now = dt.datetime.now(dt.timezone.utc)
        not_after = now + dt.timedelta(days=days)
        # openssl x509 -req takes whole days (`-not_after` is OpenSSL 3.4+); the tests need days, not seconds.
        openssl("x509", "-req", "-in", csr, "-CA", self.pem, "-CAkey", self.key, "-set_serial", "0x" + serial,
                "-days", str(max(1, round(days))), "-extfile", ext, "-out", leaf)
        chain = out_dir / f"{name}.pem"
        chain.write_bytes(leaf.read_bytes() + self.pem.read_bytes())
        rfc2253 = openssl("x509", "-in", leaf, "-noout", "-subject", "-nameopt", "RFC2253").decode().strip()
        with self.index.open("a") as f:
            f.write(f"V\t{asn1_time(not_after)}\t\t{serial}\tunknown\t{subject}\n")
        return ServerCert(chain, key, serial, rfc2253.removeprefix("subject="), not_after)

    @property
    def responder(self) -> ServerCert:
        if self._responder is None:
            self._responder = self.issue("ocsp-responder", "/CN=Test OCSP responder", None, eku="OCSPSigning")
        return self._responder

    def ocsp_response(self, cert: ServerCert, out: Path, ndays: int = 7) -> Path:
        """The responder's signed answer for `cert` (good), as `openssl ocsp -respout` writes it."""
        request = out.with_suffix(".req")
        leaf = cert.chain.with_suffix(".crt")
        openssl("ocsp", "-issuer", self.pem, "-cert", leaf, "-no_nonce", "-reqout", request)
        args = ["ocsp", "-index", self.index, "-CA", self.pem, "-rsigner", self.responder.chain.with_suffix(".crt"),
                "-rkey", self.responder.key, "-reqin", request, "-respout", out]
        openssl(*args, "-ndays", str(ndays))
        return out

    def expired_ocsp_response(self, cert: ServerCert, out: Path, next_update_in: float = -86400) -> Path:
        """A good answer for `cert` whose nextUpdate passed yesterday (or comes `next_update_in` seconds from now).
        `openssl ocsp` sets nextUpdate in whole minutes or days ahead only, so this one is built with Python's
        cryptography package, signed by the same responder."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509 import ocsp

        load = lambda p: x509.load_pem_x509_certificate(p.read_bytes())
        responder = self.responder
        now = dt.datetime.now(dt.timezone.utc)
        builder = ocsp.OCSPResponseBuilder().add_response(
            cert=load(cert.chain.with_suffix(".crt")), issuer=load(self.pem), algorithm=hashes.SHA1(),
            cert_status=ocsp.OCSPCertStatus.GOOD, this_update=now - dt.timedelta(days=8),
            next_update=now + dt.timedelta(seconds=next_update_in), revocation_time=None, revocation_reason=None,
        ).responder_id(ocsp.OCSPResponderEncoding.HASH, load(responder.chain.with_suffix(".crt")))
        key = serialization.load_pem_private_key(responder.key.read_bytes(), password=None)
        out.write_bytes(builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
        return out


def served(port: int, servername: str | None = None, extra: list[str] | None = None,
           host: str = "127.0.0.1") -> tuple[str, str]:
    """(subject of the certificate the listener sent, s_client's whole output). No servername: no SNI at all."""
    argv = ["openssl", "s_client", "-connect", f"{host}:{port}"]
    argv += ["-servername", servername] if servername else ["-noservername"]
    argv += extra or []
    r = subprocess.run(argv, input=b"", capture_output=True, timeout=20)
    out = r.stdout.decode(errors="replace")
    m = re.search(r"^subject=(.*)$", out, re.M)
    return (m.group(1).strip() if m else ""), out


def rename_into_place(files: dict[Path, bytes]) -> None:
    """What certbot and other ACME clients do: write each new file beside its target, then rename over it."""
    for target, data in files.items():
        temporary = target.with_name(f".{target.name}.new")
        temporary.write_bytes(data)
        os.rename(temporary, target)
