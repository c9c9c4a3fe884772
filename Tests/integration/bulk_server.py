#!/usr/bin/env python3
"""One-way bulk backend (its own process). Usage: bulk_server.py HOST PORT. Per connection, one request line:
  SEND <path>\\n  the backend sends the file's bytes (backend→client only), then half-closes;
  RECV <n>\\n     the backend reads n bytes (client→backend only) and answers with their SHA-256 in hex + \\n."""
import hashlib
import socket
import sys
import threading


def read_line(conn: socket.socket) -> bytes:
    line = b""
    while not line.endswith(b"\n"):
        b = conn.recv(1)
        if not b:
            raise ConnectionError("EOF before request line")
        line += b
        if len(line) > 4096:
            raise ValueError("request line too long")
    return line.strip()


def serve(conn: socket.socket) -> None:
    try:
        verb, _, arg = read_line(conn).partition(b" ")
        if verb == b"SEND":
            with open(arg.decode(), "rb") as f:
                conn.sendfile(f)
            conn.shutdown(socket.SHUT_WR)
            while conn.recv(65536):      # until the client closes
                pass
        elif verb == b"RECV":
            left = int(arg)
            digest = hashlib.sha256()
            while left > 0:
                data = conn.recv(min(left, 262144))
                if not data:
                    break
                digest.update(data)
                left -= len(data)
            conn.sendall(digest.hexdigest().encode() + b"\n")
            while conn.recv(65536):
                pass
    except (OSError, ValueError):
        pass
    finally:
        conn.close()


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    srv = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(128)
    print("ready", flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
