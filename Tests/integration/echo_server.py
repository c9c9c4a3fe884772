#!/usr/bin/env python3
"""Plaintext TCP echo backend for `--protocol none` listeners, run as its own process (no GIL shared with
the test clients). Usage: echo_server.py HOST PORT [GREETING]. With GREETING, each connection first gets GREETING + CRLF
(a stand-in for a server that talks first). Each connection: echo every byte back; on EOF from the
peer, finish sending and half-close (so a half-close passed on by the proxy comes back as EOF)."""
import socket
import sys
import threading


def serve(conn: socket.socket, greeting: bytes | None) -> None:
    try:
        if greeting is not None:
            conn.sendall(greeting + b"\r\n")
        while True:
            data = conn.recv(262144)
            if not data:
                break
            conn.sendall(data)
        try:
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    except OSError:
        pass
    finally:
        conn.close()


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    greeting = sys.argv[3].encode() if len(sys.argv) > 3 else None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    srv = socket.socket(family, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(1024)
    print("ready", flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, greeting), daemon=True).start()


if __name__ == "__main__":
    main()
