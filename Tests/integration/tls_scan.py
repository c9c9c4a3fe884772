"""Running sslscan (Debian package) against a listener and judging its XML report, plus the one check sslscan
cannot do here: Debian's OpenSSL has no zlib, so sslscan prints "OpenSSL version does not support compression".
`server_compression` offers DEFLATE in a hand-made TLS 1.2 ClientHello and reads the method the server picks."""
from __future__ import annotations

import os
import socket
import struct
import subprocess
import xml.etree.ElementTree as ET

from clients import recv_exact

# AEAD suites only (this also excludes every CBC, RC4, 3DES/DES, NULL and export suite by construction);
# the markers are checked separately too so that a finding names what is wrong.
_AEAD = ("GCM", "CHACHA20", "CCM")
_WEAK_MARKERS = ("CBC", "RC4", "3DES", "DES-CBC", "NULL", "EXP", "ANON", "ADH", "AECDH", "MD5")
_OLD_PROTOCOLS = {("ssl", "2"), ("ssl", "3"), ("tls", "1.0"), ("tls", "1.1")}


def sslscan(port: int, starttls: str | None = None, timeout: float = 180.0) -> ET.Element:
    """sslscan's XML report (the <ssltest> element) for 127.0.0.1:port, optionally via --starttls-<protocol>."""
    argv = ["sslscan", "--xml=-", "--no-colour"]
    if starttls:
        argv.append(f"--starttls-{starttls}")
    argv.append(f"127.0.0.1:{port}")
    r = subprocess.run(argv, capture_output=True, timeout=timeout, env={**os.environ, "LC_ALL": "C"})
    assert r.returncode == 0, f"{argv} exited {r.returncode}: {r.stderr.decode(errors='replace')[-2000:]}"
    xml_start = r.stdout.find(b"<?xml")
    assert xml_start >= 0, f"no XML from {argv}: {r.stdout[-2000:]!r}"
    test = ET.fromstring(r.stdout[xml_start:]).find("ssltest")
    assert test is not None, f"no <ssltest> in the report of {argv}: {r.stdout[-2000:]!r}"
    return test


def accepted_suites(report: ET.Element) -> list[tuple[str, str]]:
    """(protocol version, OpenSSL cipher name) of every suite the server accepted."""
    return [(c.get("sslversion", "?"), c.get("cipher", "?")) for c in report.iter("cipher")]


def findings(report: ET.Element) -> list[str]:
    """Everything in the report the defaults must not show; [] for a clean listener."""
    out: list[str] = []
    for p in report.iter("protocol"):
        if (p.get("type"), p.get("version")) in _OLD_PROTOCOLS and p.get("enabled") != "0":
            out.append(f"{p.get('type')} {p.get('version')} enabled")
    if not any(p.get("version") in ("1.2", "1.3") and p.get("enabled") == "1" for p in report.iter("protocol")):
        out.append("neither TLS 1.2 nor TLS 1.3 enabled (the scan did not reach the TLS layer)")
    suites = accepted_suites(report)
    if not suites:
        out.append("no accepted cipher suite reported")
    for version, name in suites:
        upper = name.upper()
        if not any(marker in upper for marker in _AEAD):
            out.append(f"{version} {name}: not an AEAD suite (CBC or stream cipher)")
        for marker in _WEAK_MARKERS:
            if marker in upper:
                out.append(f"{version} {name}: {marker} suite")
        # TLS 1.3 suites always use (EC)DHE; a TLS 1.2 suite needs it in its key exchange.
        if version != "TLSv1.3" and not upper.startswith(("ECDHE-", "DHE-")):
            out.append(f"{version} {name}: no forward secrecy")
    reneg = report.find("renegotiation")
    if reneg is None:
        out.append("no renegotiation verdict in the report")
    elif reneg.get("supported") != "0":
        out.append(f"renegotiation supported (secure={reneg.get('secure')})")
    heartbleed = list(report.iter("heartbleed"))
    if not heartbleed:
        out.append("no Heartbleed verdict in the report")
    out += [f"{h.get('sslversion')} vulnerable to Heartbleed" for h in heartbleed if h.get("vulnerable") != "0"]
    comp = report.find("compression")
    if comp is not None and comp.get("supported") != "0":
        out.append("TLS compression supported")
    return out


# ---- compression, asked directly ---------------------------------------------------------------------------
_HELLO_SUITES = (0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8)   # the TLS 1.2 ECDHE AEAD suites


def _extension(kind: int, body: bytes) -> bytes:
    return struct.pack("!HH", kind, len(body)) + body


def _client_hello_offering_deflate() -> bytes:
    groups = struct.pack("!5H", 0x001D, 0x0017, 0x0018, 0x0019, 0x001E)
    sigalgs = struct.pack("!9H", 0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601)
    extensions = (_extension(0x000A, struct.pack("!H", len(groups)) + groups)          # supported_groups
                  + _extension(0x000B, b"\x01\x00")                                   # ec_point_formats
                  + _extension(0x000D, struct.pack("!H", len(sigalgs)) + sigalgs)     # signature_algorithms
                  + _extension(0xFF01, b"\x00"))                                      # renegotiation_info
    suites = struct.pack(f"!{len(_HELLO_SUITES)}H", *_HELLO_SUITES)
    body = (b"\x03\x03" + os.urandom(32) + b"\x00"
            + struct.pack("!H", len(suites)) + suites
            + b"\x02\x01\x00"                                                         # DEFLATE, null
            + struct.pack("!H", len(extensions)) + extensions)
    handshake = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


def server_compression(sock: socket.socket) -> int:
    """On a connected socket at the start of TLS: offer DEFLATE (1) and null (0); return the method the
    ServerHello chose (0 = none)."""
    sock.sendall(_client_hello_offering_deflate())
    kind, _version, length = struct.unpack("!BHH", recv_exact(sock, 5))
    record = recv_exact(sock, length)
    assert kind == 0x16 and record[0] == 0x02, f"not a ServerHello: record type {kind}, {record[:8]!r}"
    session_id_len = record[4 + 2 + 32]
    offset = 4 + 2 + 32 + 1 + session_id_len + 2          # header, version, random, session id, suite
    return record[offset]
