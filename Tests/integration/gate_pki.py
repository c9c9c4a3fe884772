"""A small test CA made with the openssl CLI, for the certificate gate: a CA and client certificates it signs
(and one signed by a CA nobody trusts). `issue_names` signs certificates the openssl CLI cannot make (several
CNs, names holding NUL or CR LF) with Python's `cryptography`."""
from __future__ import annotations

import datetime as dt
import subprocess
from dataclasses import dataclass
from pathlib import Path


def _openssl(*args: str, cwd: Path) -> None:
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{r.stdout}{r.stderr}")


@dataclass
class Identity:
    cert: Path
    key: Path


class TestCA:
    """`openssl req -x509` CA; `issue(name, cn)` signs a client certificate (clientAuth) with it."""

    __test__ = False   # not a pytest test class

    def __init__(self, root: Path, name: str = "ca", subject: str = "/O=mailtunnel tests/CN=Gate Test CA"):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.cert = self.root / f"{name}.pem"
        self.key = self.root / f"{name}.key"
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", str(self.key), "-out", str(self.cert), "-days", "2", "-subj", subject,
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.root)

    def issue(self, name: str, cn: str) -> Identity:
        key, csr, cert = (self.root / f"{name}.key", self.root / f"{name}.csr", self.root / f"{name}.pem")
        ext = self.root / f"{name}.ext"
        ext.write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                       "extendedKeyUsage=clientAuth\n")
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                 "-keyout", str(key), "-out", str(csr), "-subj", f"/O=mailtunnel tests/CN={cn}", cwd=self.root)
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey", str(self.key),
                 "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext), cwd=self.root)
        return Identity(cert, key)

    def issue_names(self, name: str, common_names: list[str], emails: list[str] = ()) -> Identity:
        """A clientAuth certificate whose subject holds `common_names` in this order (the last is the most
        specific) and whose rfc822Name SANs are `emails`; any byte may be in a name."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        ca_key = serialization.load_pem_private_key(self.key.read_bytes(), password=None)
        ca_cert = x509.load_pem_x509_certificate(self.cert.read_bytes())
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mailtunnel tests")]
                            + [x509.NameAttribute(NameOID.COMMON_NAME, cn) for cn in common_names])
        now = dt.datetime.now(dt.timezone.utc)
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=10)).not_valid_after(now + dt.timedelta(days=2))
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
        if emails:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.RFC822Name(e) for e in emails]), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        cert_path, key_path = self.root / f"{name}.pem", self.root / f"{name}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        key_path.chmod(0o600)
        return Identity(cert_path, key_path)
