"""Client workers for Scripts/bench, run as forked processes (multiprocessing, fork start method).

Every worker reports through a queue: what it counted inside its measuring window and the CPU seconds
it used there (getrusage), so the orchestrator can print the clients' own CPU next to the proxy's.
"""
import os
import resource
import socket
import ssl
import time

UPLOAD_BLOCK = os.urandom(256 * 1024)


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def tls_context(tls12: bool = False) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the CertificateVerify signature is still checked
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers("ECDHE-ECDSA-AES128-GCM-SHA256")
    return ctx


def connect(port: int, ctx: "ssl.SSLContext | None") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.settimeout(None)  # blocking: with a timeout Python polls before every read and write
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if ctx is not None:
        sock = ctx.wrap_socket(sock, server_hostname="localhost")
    return sock


def echo_one(sock: socket.socket) -> None:
    sock.sendall(b"Ex")
    if sock.recv(1) != b"x":
        raise OSError("echo mismatch")


def probe(port: int, tls12: bool = False) -> dict:
    """One connection: TLS version and cipher the proxy negotiates, and a byte through to the backend."""
    with connect(port, tls_context(tls12)) as sock:
        echo_one(sock)
        return {"version": sock.version(), "cipher": sock.cipher()[0]}


def handshake_worker(port, tls12, barrier, duration, queue):
    """Full handshakes back to back (no session reuse), each followed by a 1-byte echo through the backend."""
    ctx = tls_context(tls12)
    done = errors = 0
    try:
        barrier.wait()
        c0, t0 = cpu_seconds(), time.monotonic()
        end = t0 + duration
        while time.monotonic() < end:
            try:
                sock = connect(port, ctx)
                echo_one(sock)
                sock.close()
                done += 1
            except OSError:
                errors += 1
        queue.put({"count": done, "errors": errors, "cpu": cpu_seconds() - c0,
                   "elapsed": time.monotonic() - t0})
    except Exception as exc:  # report instead of hanging the orchestrator
        queue.put({"count": done, "errors": errors + 1, "cpu": 0.0, "elapsed": duration, "fail": repr(exc)})


def bulk_worker(port, use_tls, direction, barrier, warmup, duration, queue):
    """One connection; after `warmup` seconds (buffers filled) count bytes for `duration` seconds."""
    counted = 0
    try:
        sock = connect(port, tls_context() if use_tls else None)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        sock.sendall(b"D" if direction == "down" else b"U")
        barrier.wait()
        start = time.monotonic()
        window_start = start + warmup
        if direction == "down":
            buf = bytearray(1 << 20)
            while time.monotonic() < window_start:
                if not sock.recv_into(buf):
                    raise OSError("early EOF")
            c0, t0 = cpu_seconds(), time.monotonic()
            end = t0 + duration
            while True:
                n = sock.recv_into(buf)
                if not n:
                    raise OSError("early EOF")
                counted += n
                if time.monotonic() >= end:
                    break
        else:
            block = memoryview(UPLOAD_BLOCK)
            while time.monotonic() < window_start:
                sock.sendall(block)
            c0, t0 = cpu_seconds(), time.monotonic()
            end = t0 + duration
            while time.monotonic() < end:
                sock.sendall(block)
                counted += len(block)
        queue.put({"bytes": counted, "cpu": cpu_seconds() - c0, "elapsed": time.monotonic() - t0})
        sock.close()
    except Exception as exc:
        try:
            barrier.abort()
        except Exception:
            pass
        queue.put({"bytes": counted, "cpu": 0.0, "elapsed": duration, "fail": repr(exc)})


def idle_worker(port, count, queue, stop_event):
    """Open `count` TLS connections that each echo one byte, report, and hold them until told to stop."""
    socks, errors = [], 0
    ctx = tls_context()
    for _ in range(count):
        try:
            sock = connect(port, ctx)
            echo_one(sock)
            socks.append(sock)
        except OSError:
            errors += 1
    queue.put({"open": len(socks), "errors": errors})
    stop_event.wait(120)
    for sock in socks:
        sock.close()
