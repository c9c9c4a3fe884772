"""TLS clients for the tests: one-shot connections and a single-threaded full-duplex bulk transfer."""
from __future__ import annotations

import hashlib
import selectors
import socket
import ssl
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable


def client_context(minimum: ssl.TLSVersion | None = None, maximum: ssl.TLSVersion | None = None,
                   ciphers: str | None = None) -> ssl.SSLContext:
    """A client context that does not verify (the default certificate is self-signed)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if ciphers:
        ctx.set_ciphers(ciphers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # TLSv1 is deprecated: that is the point
        if minimum is not None:
            ctx.minimum_version = minimum
        if maximum is not None:
            ctx.maximum_version = maximum
    return ctx


def tcp_connect(host: str, port: int, timeout: float = 10.0, rcvbuf: int | None = None) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
    except BaseException:
        s.close()
        raise
    return s


def tls_connect(host: str, port: int, timeout: float = 10.0, ctx: ssl.SSLContext | None = None,
                rcvbuf: int | None = None) -> ssl.SSLSocket:
    raw = tcp_connect(host, port, timeout, rcvbuf)
    try:
        return (ctx or client_context()).wrap_socket(raw, server_hostname="localhost")
    except BaseException:
        raw.close()
        raise


def recv_until(sock: socket.socket, done: Callable[[bytes], bool], timeout: float = 10.0,
               limit: int = 1 << 20) -> tuple[bytes, bool]:
    """Read until done(data), EOF, or the deadline. Returns (data, eof)."""
    data = b""
    deadline = time.monotonic() + timeout
    while not done(data) and len(data) < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no complete reply within {timeout}s; got {data[:500]!r}")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data, True
        except ssl.SSLEOFError:
            if not getattr(sock, "suppress_ragged_eofs", True):
                raise          # the caller wants to know about a missing close_notify
            return data, True
        except socket.timeout:
            raise TimeoutError(f"neither a complete reply nor a close within {timeout}s; "
                               f"got {data[:500]!r}") from None
        if not chunk:
            return data, True
        data += chunk
    return data, False


def recv_exact(sock: socket.socket, n: int) -> bytes:
    """Exactly n bytes (for length-prefixed protocols); EOFError if the peer closes first. Bounded by the
    socket's own timeout."""
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def read_to_eof(sock: socket.socket, timeout: float = 10.0, limit: int = 1 << 20) -> bytes:
    data, eof = recv_until(sock, lambda d: False, timeout, limit)
    return data


def echo_round_trip(host: str, port: int, payload: bytes = b"ping\r\n", timeout: float = 10.0,
                    ctx: ssl.SSLContext | None = None) -> bytes:
    """TLS connect, send payload, read the same number of bytes back, close (through an echo backend)."""
    with tls_connect(host, port, timeout, ctx) as s:
        s.sendall(payload)
        data, _ = recv_until(s, lambda d: len(d) >= len(payload), timeout)
        return data


@dataclass
class TransferResult:
    sent: int = 0
    received: int = 0
    sha256_sent: str = ""
    sha256_received: str = ""
    seconds: float = 0.0
    sent_before_stall: int | None = None
    samples: list[tuple[float, int]] = field(default_factory=list)   # (t, value) from the sampler

    @property
    def mib_per_s(self) -> float:
        return (self.received / (1 << 20)) / self.seconds if self.seconds > 0 else 0.0


def echo_transfer(host: str, port: int, payload: bytes, timeout: float = 120.0, *,
                  chunk: int = 256 * 1024, rcvbuf: int | None = None,
                  stall_first: float | None = None, read_rate: float | None = None,
                  sampler: Callable[[], int] | None = None, sample_every: float = 0.1,
                  ctx: ssl.SSLContext | None = None) -> TransferResult:
    """Send `payload` through TLS to an echo backend and read it all back, full duplex in one thread.

    stall_first: do not read at all until sending has made no progress for this many seconds (or all is
      sent) — the whole path fills up and backpressure must stop every reader in it.
    read_rate: then read at most this many bytes per second (a slow client).
    sampler: called every `sample_every` seconds (e.g. the proxy's RSS); values land in result.samples.
    Raises TimeoutError if the transfer does not complete within `timeout` seconds."""
    result = TransferResult(sha256_sent=hashlib.sha256(payload).hexdigest())
    total = len(payload)
    view = memoryview(payload)
    digest = hashlib.sha256()
    start = time.monotonic()
    deadline = start + timeout
    sock = tls_connect(host, port, min(timeout, 30.0), ctx, rcvbuf)
    sock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    sent = received = 0
    last_send_progress = time.monotonic()
    reading = stall_first is None
    read_started = time.monotonic()
    next_sample = 0.0
    try:
        while received < total:
            now = time.monotonic()
            if now >= deadline:
                raise TimeoutError(f"transfer incomplete after {timeout}s: sent {sent}/{total}, "
                                   f"received {received}/{total}")
            if sampler is not None and now >= next_sample:
                result.samples.append((now - start, sampler()))
                next_sample = now + sample_every
            progressed = False
            want = selectors.EVENT_READ
            if sent < total:
                try:
                    n = sock.send(view[sent:sent + chunk])
                    if n > 0:
                        sent += n
                        progressed = True
                        last_send_progress = now
                except ssl.SSLWantWriteError:
                    want |= selectors.EVENT_WRITE
                except ssl.SSLWantReadError:
                    pass
            if not reading and (sent >= total or now - last_send_progress >= stall_first):
                reading = True
                read_started = now
                result.sent_before_stall = sent
            if reading:
                allowed = chunk
                if read_rate is not None:
                    allowed = min(chunk, int(read_rate * (now - read_started)) - received)
                if allowed > 0:
                    try:
                        data = sock.recv(allowed)
                        if not data:
                            raise ConnectionError(f"EOF after {received}/{total} bytes (sent {sent})")
                        digest.update(data)
                        received += len(data)
                        progressed = True
                    except ssl.SSLWantReadError:
                        pass
                    except ssl.SSLWantWriteError:
                        want |= selectors.EVENT_WRITE
            if not progressed:
                sel.modify(sock, want)
                sel.select(0.02 if (reading and read_rate is not None) else 0.1)
        result.seconds = time.monotonic() - start
    finally:
        sel.close()
        sock.close()
    result.sent, result.received = sent, received
    result.sha256_received = digest.hexdigest()
    return result


def _deadline_left(deadline: float, what: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError(f"{what} did not complete in time")
    return left


def bulk_download(host: str, port: int, path: str, size: int, timeout: float = 120.0) -> TransferResult:
    """Backend→client only: ask bulk_server.py to send the file at `path`; hash what arrives."""
    result = TransferResult()
    digest = hashlib.sha256()
    start = time.monotonic()
    deadline = start + timeout
    with tls_connect(host, port, min(timeout, 30.0)) as s:
        s.sendall(f"SEND {path}\n".encode())
        while result.received < size:
            s.settimeout(_deadline_left(deadline, f"download ({result.received}/{size} bytes)"))
            try:
                data = s.recv(262144)
            except socket.timeout:
                raise TimeoutError(f"download stalled at {result.received}/{size} bytes") from None
            if not data:
                raise ConnectionError(f"EOF after {result.received}/{size} bytes")
            digest.update(data)
            result.received += len(data)
    result.seconds = time.monotonic() - start
    result.sha256_received = digest.hexdigest()
    return result


def bulk_upload(host: str, port: int, payload: bytes, timeout: float = 120.0) -> TransferResult:
    """Client→backend only: send `payload` to bulk_server.py, which answers with the SHA-256 it received."""
    result = TransferResult(sha256_sent=hashlib.sha256(payload).hexdigest())
    view = memoryview(payload)
    start = time.monotonic()
    deadline = start + timeout
    with tls_connect(host, port, min(timeout, 30.0)) as s:
        s.sendall(f"RECV {len(payload)}\n".encode())
        step = 1 << 20
        while result.sent < len(payload):
            s.settimeout(_deadline_left(deadline, f"upload ({result.sent}/{len(payload)} bytes)"))
            try:
                s.sendall(view[result.sent:result.sent + step])
            except socket.timeout:
                raise TimeoutError(f"upload stalled at about {result.sent}/{len(payload)} bytes") from None
            result.sent += len(view[result.sent:result.sent + step])
        reply, _ = recv_until(s, lambda d: d.endswith(b"\n"), _deadline_left(deadline, "upload digest"))
    result.seconds = time.monotonic() - start
    result.received = len(payload)
    result.sha256_received = reply.decode(errors="replace").strip()
    return result


def memory_bio_handshake(tls: ssl.SSLObject, flush: Callable[[], None], feed: Callable[[], bool]) -> None:
    """Drives a memory-BIO client handshake: flush() sends what TLS wrote, feed() hands it what arrived
    (False on TCP EOF)."""
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            flush()
            if not feed():
                raise ConnectionError("EOF during the handshake")
    flush()


def half_close_exchange(host: str, port: int, payload: bytes, timeout: float = 30.0) -> tuple[bytes, bool]:
    """Send `payload`, then the client's TLS half-close (close_notify, TCP left open), and keep reading until
    the server's close_notify. Returns (bytes received, whether the server ended with close_notify).
    Uses a memory-BIO TLS object so that reading after our own close_notify is possible."""
    raw = tcp_connect(host, port, timeout)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    deadline = time.monotonic() + timeout

    def flush() -> None:
        data = outgoing.read()
        if data:
            raw.settimeout(_deadline_left(deadline, "sending"))
            raw.sendall(data)

    def feed() -> bool:
        raw.settimeout(_deadline_left(deadline, "half-close exchange"))
        try:
            data = raw.recv(65536)
        except socket.timeout:
            raise TimeoutError("half-close exchange: no data and no close within the time limit") from None
        if data:
            incoming.write(data)
        else:
            incoming.write_eof()
        return bool(data)

    received = bytearray()
    clean = False
    try:
        memory_bio_handshake(tls, flush, feed)
        tls.write(payload)
        flush()
        try:
            tls.unwrap()            # sends close_notify; the peer's comes later
        except ssl.SSLWantReadError:
            pass
        flush()
        while True:
            try:
                data = tls.read(65536)
            except ssl.SSLWantReadError:
                if not feed():
                    break           # TCP EOF without close_notify
                continue
            except (ssl.SSLZeroReturnError,):
                clean = True
                break
            except ssl.SSLEOFError:
                break
            if not data:
                clean = True
                break
            received += data
    finally:
        raw.close()
    return bytes(received), clean


def imaps_logged_in(port: int, user: str, password: str) -> socket.socket:
    """An implicit-TLS IMAP session, greeted and logged in (tag `a`), ready for the next command."""
    s = tls_connect("127.0.0.1", port, 10)
    data, _ = recv_until(s, lambda d: b"\r\n" in d)
    assert data.startswith(b"* OK"), data
    s.sendall(f"a LOGIN {user} {password}\r\n".encode())
    data, _ = recv_until(s, lambda d: b"a OK" in d or b"a NO" in d)
    assert b"a OK" in data, data
    return s
