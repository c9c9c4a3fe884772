"""A small test CA made with the openssl CLI, for the certificate gate: a CA and client certificates it signs
(and one signed by a CA nobody trusts)."""
from __future__ import annotations

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
