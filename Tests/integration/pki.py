"""A test-time PKI made with the openssl CLI (`openssl req` for the roots, `openssl ca` for everything they
sign, `openssl ca -revoke`/`-gencrl` for the CRLs), in a scratch directory. Nothing is checked in.

    root CA ──┬── intermediate CA ──┬── server (CN=localhost, SAN DNS:localhost, IP:127.0.0.1)
              │                     ├── server2 (a new key: the replacement certificate for the reload test)
              │                     ├── alice    valid client (CN=alice)
              │                     ├── carol    valid client whose CN is not allowed but whose email SAN is
              │                     ├── mallory  valid client with a disallowed CN
              │                     ├── bob      valid at first, revoked in `crl_bob` (the reload test's CRL)
              │                     ├── expired  notAfter yesterday
              │                     ├── notyet   notBefore in 30 days
              │                     ├── revoked  revoked in every CRL bundle
              │                     └── sub-intermediate CA ── deep (a chain one longer than alice's)
              └── direct   a client issued by the root itself (the shortest chain)
    other root CA ── other   (CN=alice, but from a CA mailtunnel does not trust)

CRL bundles (PEM files holding several CRLs; mailtunnel loads every one and checks the leaf, and accepts
intermediates that have no CRL of their own):
    crl_initial = root's CRL (empty) + intermediate's CRL (revokes `revoked`) + sub-intermediate's CRL (empty)
    crl_bob     = the same, with an intermediate CRL that revokes `bob` too

All serial numbers are 8 random bytes with the top bit clear, so openssl's `-serial` hex and mailtunnel's
`serial=` are the same string."""
from __future__ import annotations

import datetime as dt
import hashlib
import os
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

CA_CONFIG = """\
[ ca ]
default_ca = CA_default

[ CA_default ]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
crlnumber = $dir/crlnumber
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
default_days = 825
default_crl_days = 30
policy = policy_any
unique_subject = no
email_in_dn = no
copy_extensions = none

[ policy_any ]
commonName = supplied
organizationName = optional
emailAddress = optional

[ req ]
distinguished_name = req_dn
prompt = no
[ req_dn ]
CN = unused
"""

EXTENSIONS = {
    "ca": """\
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
""",
    "server": """\
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost,IP:127.0.0.1
""",
    "client": """\
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
""",
}


def openssl(*args, input: bytes | None = None, cwd: Path | None = None) -> bytes:
    r = subprocess.run(["openssl", *map(str, args)], input=input, capture_output=True, timeout=60, cwd=cwd)
    if r.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(map(str, args))} failed ({r.returncode}):\n"
                           f"{r.stdout.decode(errors='replace')}\n{r.stderr.decode(errors='replace')}")
    return r.stdout


def new_key(path: Path) -> Path:
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
    os.chmod(path, 0o600)
    return path


def random_serial() -> str:
    b = bytearray(os.urandom(8))
    b[0] = (b[0] & 0x7F) | 0x10   # positive, and no leading zero nibble
    return b.hex().upper()


def asn1_time(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%y%m%d%H%M%SZ")


def pem_fingerprint(pem: bytes) -> str:
    """SHA-256 of the DER, in openssl's `AA:BB:…` form."""
    return ":".join(f"{b:02X}" for b in hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem.decode())).digest())


@dataclass
class Cert:
    name: str
    cert: Path          # the certificate alone
    key: Path
    chain: Path         # the certificate followed by its issuing CAs below the root (what a client/server sends)
    subject: str        # RFC 2253, as mailtunnel logs it
    serial: str         # upper-case hex
    fingerprint: str    # SHA-256, AA:BB:…
    issuer: "CA | None" = None


class CA:
    def __init__(self, root: Path, name: str, subject: str, parent: "CA | None" = None):
        self.dir = root / name
        self.name = name
        self.parent = parent
        for d in ("", "newcerts", "req"):
            (self.dir / d).mkdir(parents=True, exist_ok=True)
        (self.dir / "index.txt").write_text("")
        (self.dir / "serial").write_text(random_serial() + "\n")
        (self.dir / "crlnumber").write_text("1000\n")
        self.config = self.dir / "openssl.cnf"
        self.config.write_text(CA_CONFIG.format(dir=self.dir))
        for kind, text in EXTENSIONS.items():
            (self.dir / f"ext-{kind}.cnf").write_text(text)
        self.key = new_key(self.dir / "ca.key")
        self.pem = self.dir / "ca.pem"
        if parent is None:
            openssl("req", "-config", self.config, "-new", "-x509", "-key", self.key, "-subj", subject,
                    "-days", "3650", "-sha256", "-set_serial", "0x" + random_serial(),
                    "-addext", "basicConstraints=critical,CA:true",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", self.pem)
            self.info = parent_less_cert(self)
        else:
            self.info = parent.issue(name, subject, "ca", key=self.key, out=self.pem)

    def chain_below_root(self) -> list[Path]:
        """This CA and its ancestors, excluding the root (the certificates a peer must send or the verifier
        must already have)."""
        chain, ca = [], self
        while ca.parent is not None:
            chain.append(ca.pem)
            ca = ca.parent
        return chain

    def issue(self, name: str, subject: str, kind: str, *, key: Path | None = None, out: Path | None = None,
              not_before: dt.datetime | None = None, not_after: dt.datetime | None = None,
              san: str | None = None) -> Cert:
        outdir = self.dir.parent / "certs"
        outdir.mkdir(exist_ok=True)
        key = key or new_key(outdir / f"{name}.key")
        out = out or outdir / f"{name}.pem"
        csr = self.dir / "req" / f"{name}.csr"
        openssl("req", "-config", self.config, "-new", "-key", key, "-subj", subject, "-out", csr)
        ext = self.dir / f"ext-{kind}.cnf"
        if san:
            ext = self.dir / f"ext-{name}.cnf"
            ext.write_text(EXTENSIONS[kind] + f"subjectAltName = {san}\n")
        now = dt.datetime.now(dt.timezone.utc)
        args = ["ca", "-config", self.config, "-batch", "-notext", "-in", csr, "-out", out,
                "-extfile", ext, "-startdate", asn1_time(not_before or now - dt.timedelta(minutes=10)),
                "-enddate", asn1_time(not_after or now + dt.timedelta(days=365))]
        if kind == "ca":
            args += ["-days", "1825"]
        openssl(*args)
        chain = out.with_name(out.stem + "-chain.pem") if out.name != "ca.pem" else out.parent / "chain.pem"
        chain.write_bytes(out.read_bytes() + b"".join(p.read_bytes() for p in self.chain_below_root()))
        return describe(name, out, key, chain, issuer=self)

    def revoke(self, cert: Cert) -> None:
        openssl("ca", "-config", self.config, "-batch", "-revoke", cert.cert, "-crl_reason", "keyCompromise")

    def crl(self) -> bytes:
        out = self.dir / "crl.pem"
        openssl("ca", "-config", self.config, "-batch", "-gencrl", "-out", out)
        return out.read_bytes()


def describe(name: str, cert: Path, key: Path, chain: Path, issuer: CA | None = None) -> Cert:
    # `openssl ca` orders the DN as its policy lists the fields (CN, then O); RFC 2253 writes the last first.
    subject = openssl("x509", "-in", cert, "-noout", "-subject", "-nameopt", "RFC2253").decode().strip()
    serial = openssl("x509", "-in", cert, "-noout", "-serial").decode().strip()
    return Cert(name=name, cert=cert, key=key, chain=chain, subject=subject.split("=", 1)[1],
                serial=serial.split("=", 1)[1].upper(), fingerprint=pem_fingerprint(cert.read_bytes()),
                issuer=issuer)


def parent_less_cert(ca: CA) -> Cert:
    return describe(ca.name, ca.pem, ca.key, ca.pem)


class PKI:
    """Everything in the module docstring, built once per test session (immutable afterwards)."""

    def __init__(self, root: Path):
        self.dir = Path(root)
        self.dir.mkdir(parents=True, exist_ok=True)
        now = dt.datetime.now(dt.timezone.utc)
        self.root = CA(self.dir, "root", "/O=mailtunnel test/CN=mailtunnel test root CA")
        self.intermediate = CA(self.dir, "intermediate", "/O=mailtunnel test/CN=mailtunnel test intermediate CA",
                               parent=self.root)
        self.sub = CA(self.dir, "sub-intermediate", "/O=mailtunnel test/CN=mailtunnel test sub-intermediate CA",
                      parent=self.intermediate)
        self.other_root = CA(self.dir, "other-root", "/O=somebody else/CN=some other root CA")

        ica = self.intermediate
        self.server = ica.issue("server", "/O=mailtunnel test/CN=localhost", "server")
        self.server2 = ica.issue("server2", "/O=mailtunnel test/CN=localhost", "server")
        self.alice = ica.issue("alice", "/O=mailtunnel test/CN=alice", "client")
        self.carol = ica.issue("carol", "/O=mailtunnel test/CN=Carol Example", "client",
                               san="email:carol@example.org")
        self.mallory = ica.issue("mallory", "/O=mailtunnel test/CN=mallory", "client")
        self.bob = ica.issue("bob", "/O=mailtunnel test/CN=bob", "client")
        self.expired = ica.issue("expired", "/O=mailtunnel test/CN=expired client", "client",
                                 not_before=now - dt.timedelta(days=60), not_after=now - dt.timedelta(days=1))
        self.notyet = ica.issue("notyet", "/O=mailtunnel test/CN=future client", "client",
                                not_before=now + dt.timedelta(days=30), not_after=now + dt.timedelta(days=400))
        self.revoked = ica.issue("revoked", "/O=mailtunnel test/CN=revoked client", "client")
        self.deep = self.sub.issue("deep", "/O=mailtunnel test/CN=deep client", "client")
        self.direct = self.root.issue("direct", "/O=mailtunnel test/CN=direct client", "client")
        self.other = self.other_root.issue("other", "/O=somebody else/CN=alice", "client")

        # The files an operator would configure.
        self.ca_bundle = self.dir / "ca-bundle.pem"        # root + intermediate + sub-intermediate
        self.ca_bundle.write_bytes(self.root.pem.read_bytes() + self.intermediate.pem.read_bytes()
                                   + self.sub.pem.read_bytes())
        self.root_only = self.root.pem                     # the root alone: clients must send their chain

        ica.revoke(self.revoked)
        self.crl_initial = self.dir / "crl-initial.pem"
        self.crl_initial.write_bytes(self.root.crl() + ica.crl() + self.sub.crl())
        ica.revoke(self.bob)
        self.crl_bob = self.dir / "crl-bob.pem"
        self.crl_bob.write_bytes(self.root.crl() + ica.crl() + self.sub.crl())

    def clients(self) -> dict[str, Cert]:
        return {c.name: c for c in (self.alice, self.carol, self.mallory, self.bob, self.expired, self.notyet,
                                    self.revoked, self.deep, self.direct, self.other)}

    # ---- client-side helpers -------------------------------------------------------------------------
    def client_context(self, client: Cert | None = None, send_chain: bool = False,
                       tls13: bool = True) -> ssl.SSLContext:
        """A client context that verifies the server against our root (hostname `localhost`) and presents
        `client` (its leaf alone, or with the intermediates when send_chain)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cafile=str(self.root.pem))
        ctx.check_hostname = True
        if not tls13:
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        if client is not None:
            ctx.load_cert_chain(str(client.chain if send_chain else client.cert), str(client.key))
        return ctx


@pytest.fixture(scope="session")
def pki(session_dir) -> PKI:
    return PKI(session_dir / "pki")
