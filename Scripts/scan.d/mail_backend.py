#!/usr/bin/env python3
"""A throwaway plaintext IMAP or SMTP backend for Scripts/scan: just enough of the protocol for mailtunnel's
STARTTLS dialogue to complete (greeting, IMAP CAPABILITY, SMTP EHLO/HELO, NOOP, LOGOUT/QUIT); anything else gets
the protocol's error. Usage: mail_backend.py imap|smtp HOST PORT. One thread per connection; runs until killed."""
import socket
import sys
import threading


def imap_reply(line: str) -> tuple[bytes, bool]:
    tag, _, rest = line.partition(" ")
    command = rest.split(" ")[0].upper()
    if command == "CAPABILITY":
        return f"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK done\r\n".encode(), False
    if command == "LOGOUT":
        return f"* BYE bye\r\n{tag} OK done\r\n".encode(), True
    if command == "NOOP":
        return f"{tag} OK done\r\n".encode(), False
    return f"{tag} BAD not in this backend\r\n".encode(), False


def smtp_reply(line: str) -> tuple[bytes, bool]:
    command = line.split(" ")[0].upper()
    if command == "EHLO":
        return b"250-backend.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n", False
    if command in ("HELO", "NOOP", "RSET"):
        return b"250 backend.test\r\n", False
    if command == "QUIT":
        return b"221 bye\r\n", True
    return b"502 5.5.2 not in this backend\r\n", False


def serve(conn: socket.socket, protocol: str) -> None:
    greeting, reply = ((b"* OK backend ready\r\n", imap_reply) if protocol == "imap"
                       else (b"220 backend.test ESMTP\r\n", smtp_reply))
    with conn:
        try:
            conn.sendall(greeting)
            buf = b""
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    line, _, buf = buf.partition(b"\n")
                    answer, done = reply(line.rstrip(b"\r").decode("utf-8", "replace"))
                    conn.sendall(answer)
                    if done:
                        return
        except OSError:
            return


def main() -> None:
    protocol, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    listener = socket.create_server((host, port), backlog=128)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, protocol), daemon=True).start()


if __name__ == "__main__":
    main()
