"""A scripted TCP backend inside the test process, for injected faults: each accepted connection runs the
behaviour set at that moment (silent, close at once, greet then die, push without end, half-close first,
echo). Every connection's outcome is recorded so the test can check what the backend saw."""
from __future__ import annotations

import hashlib
import socket
import threading
from dataclasses import dataclass, field

from procs import free_port, wait_until


@dataclass
class BackendSeen:
    """What one backend connection saw: bytes received (SHA-256), bytes sent, and how it ended."""
    received: int = 0
    sha256_received: str = ""
    sent: int = 0
    lines: list[bytes] = field(default_factory=list)      # SMTP mode: every command line, in order
    send_blocked: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)


class FaultBackend:
    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self.port = free_port(host)
        self.mode = "echo"
        self.greeting = b""
        self.payload = b""            # what greet_then_die / half_close_first send
        self.seen: list[BackendSeen] = []
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._srv: socket.socket | None = None
        self._stop = threading.Event()
        self._acceptor: threading.Thread | None = None
        self.listen()

    # ---- listening on and off (a backend that refuses: nothing listens on its port) -------------------
    def listen(self) -> None:
        srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((self.host, self.port))
        srv.listen(128)
        srv.settimeout(0.2)
        self._srv = srv
        self._stop.clear()
        self._acceptor = threading.Thread(target=self._accept_loop, args=(srv,), daemon=True)
        self._acceptor.start()

    def refuse(self) -> None:
        # The acceptor leaves its accept() first: a socket closed under a blocked call stays open until the call
        # returns, and connections queued meanwhile would be reset instead of refused.
        self._stop.set()
        if self._acceptor is not None:
            self._acceptor.join(5)
        if self._srv is not None:
            self._srv.close()
            self._srv = None

    def close(self) -> None:
        self.refuse()
        with self._lock:
            for s in self._held:
                try:
                    s.close()
                except OSError:
                    pass
            self._held.clear()

    def connection(self, index: int, timeout: float = 10.0) -> BackendSeen:
        """The index-th connection accepted (0-based), waiting for it (bounded)."""
        wait_until(lambda: len(self.seen) > index, timeout, what=f"backend connection #{index + 1}")
        return self.seen[index]

    def _accept_loop(self, srv: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = srv.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            seen = BackendSeen()
            with self._lock:
                self.seen.append(seen)
                self._held.append(conn)
            threading.Thread(target=self._serve, args=(conn, self.mode, seen), daemon=True).start()

    # ---- behaviours --------------------------------------------------------------------------------
    def _serve(self, conn: socket.socket, mode: str, seen: BackendSeen) -> None:
        try:
            getattr(self, "_" + mode)(conn, seen)
        except OSError:
            pass
        finally:
            if mode != "silent":       # a silent backend holds its sockets until close()
                conn.close()
            seen.ended.set()

    def _silent(self, conn, seen) -> None:
        """Accepts and never says anything; held open until close()."""

    def _close_at_once(self, conn, seen) -> None:
        conn.close()

    def _greet_then_die(self, conn, seen) -> None:
        """Greets, sends `payload`, then dies mid-transfer: the process is gone, the kernel closes its socket."""
        conn.sendall(self.greeting + self.payload)
        seen.sent = len(self.greeting) + len(self.payload)
        conn.close()

    def _push(self, conn, seen) -> None:
        """Sends without end; `send_blocked` is set once a send makes no progress for 2 s (the path is full)."""
        chunk = b"x" * 65536
        conn.settimeout(2.0)
        while seen.sent < (4 << 30):
            try:
                seen.sent += conn.send(chunk)
            except socket.timeout:
                seen.send_blocked.set()
                conn.settimeout(30.0)   # stays blocked until the proxy closes us
                try:
                    conn.sendall(chunk)
                except OSError:
                    pass
                return

    def _echo(self, conn, seen) -> None:
        conn.sendall(self.greeting)
        self._read_all(conn, seen, echo=True)
        conn.shutdown(socket.SHUT_WR)

    def _half_close_first(self, conn, seen) -> None:
        """Sends `payload`, half-closes, then keeps reading to EOF (what the client sent after our FIN)."""
        conn.sendall(self.payload)
        seen.sent = len(self.payload)
        conn.shutdown(socket.SHUT_WR)
        self._read_all(conn, seen, echo=False)

    def _smtp(self, conn, seen) -> None:
        """A minimal SMTP server: 250 to everything, and DATA answered with the SHA-256 of the lines received
        (dot-stuffing and the final dot left out), so a client can check its message arrived intact."""
        reader = conn.makefile("rb")
        conn.settimeout(60.0)
        conn.sendall(b"220 fault.test ESMTP\r\n")
        for line in iter(reader.readline, b""):
            seen.lines.append(line)
            verb = line[:4].upper()
            if verb == b"DATA":
                conn.sendall(b"354 go ahead\r\n")
                digest = hashlib.sha256()
                for body in iter(reader.readline, b""):
                    if body == b".\r\n":
                        break
                    digest.update(body[1:] if body.startswith(b"..") else body)
                    seen.received += len(body)
                conn.sendall(b"250 2.0.0 sha256=" + digest.hexdigest().encode() + b"\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 2.0.0 bye\r\n")
                break
            elif verb in (b"EHLO", b"HELO"):
                conn.sendall(b"250-fault.test\r\n250-XCLIENT ADDR PORT NAME LOGIN\r\n250 8BITMIME\r\n")
            elif line[:8].upper() == b"XCLIENT ":
                conn.sendall(b"220 fault.test ESMTP\r\n")       # Postfix greets again after XCLIENT
            elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                conn.sendall(b"250 2.0.0 ok\r\n")
            else:
                conn.sendall(b"502 5.5.2 Error: command not recognized\r\n")

    def _read_all(self, conn, seen, echo: bool) -> None:
        digest = hashlib.sha256()
        conn.settimeout(60.0)
        while True:
            data = conn.recv(262144)
            if not data:
                break
            digest.update(data)
            seen.received += len(data)
            if echo:
                conn.sendall(data)
        seen.sha256_received = digest.hexdigest()
