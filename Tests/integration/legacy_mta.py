#!/usr/bin/env python3
"""A fake legacy MTA for the SMTP guard tests (issue 9), run as its own process: the kind of backend mailtunnel must
not be tricked into handing a client's commands to.

- greets with 220 (or `--greeting TEXT`, e.g. "554 5.3.2 go away"), then waits for commands like a real MTA;
- answers EHLO with PIPELINING, 8BITMIME, XFORWARD and XCLIENT (the last line, as Postfix puts it) but no CHUNKING;
- trusts XCLIENT from anyone (answers with a fresh 220 greeting, as Postfix does), or with `--refuse-xclient`
  refuses it with 550;
- answers every command it does not know, BDAT included, with 502 and reads whatever follows as commands (a
  server without CHUNKING has no idea a "chunk" follows);
- accepts DATA up to the lone "." line;
- appends every line it receives to the log file as one JSON object per line:
  {"conn": N, "kind": "command" | "data", "line": "…"} (the line without its terminator, latin-1 decoded), and
  {"conn": N, "kind": "open"} / {"conn": N, "kind": "closed"} when a connection starts and ends, so a test can wait
  until everything sent to it has been read.

Usage: legacy_mta.py HOST PORT LOGFILE [--greeting TEXT] [--refuse-xclient]"""
import argparse
import json
import socket
import threading

EHLO_REPLY = (b"250-legacy.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
              b"250-XFORWARD NAME ADDR PROTO HELO\r\n250 XCLIENT NAME ADDR PORT LOGIN\r\n")

log_lock = threading.Lock()


class Session:
    def __init__(self, conn: socket.socket, number: int, args: argparse.Namespace):
        self.conn = conn
        self.number = number
        self.args = args
        self.buf = b""

    def log(self, kind: str, line: bytes | None = None) -> None:
        record = {"conn": self.number, "kind": kind}
        if line is not None:
            record["line"] = line.decode("latin-1")
        entry = json.dumps(record)
        with log_lock, open(self.args.log, "a") as f:
            f.write(entry + "\n")

    def read_line(self) -> bytes | None:
        while b"\n" not in self.buf:
            data = self.conn.recv(65536)
            if not data:
                return None
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def send(self, text: bytes) -> None:
        self.conn.sendall(text)

    def run(self) -> None:
        greeting = self.args.greeting.encode()
        self.send(greeting + b"\r\n")
        while True:
            line = self.read_line()
            if line is None:
                return
            self.log("command", line)
            words = line.split()
            verb = words[0].upper() if words else b""
            if verb == b"EHLO":
                self.send(EHLO_REPLY)
            elif verb == b"HELO":
                self.send(b"250 legacy.example\r\n")
            elif verb == b"XCLIENT":
                if self.args.refuse_xclient:
                    self.send(b"550 5.7.0 Error: insufficient authorization\r\n")
                else:
                    self.send(b"220 legacy.example ESMTP legacy-mta\r\n")
            elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP", b"XFORWARD"):
                self.send(b"250 2.0.0 Ok\r\n")
            elif verb == b"DATA":
                self.send(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                while True:
                    content = self.read_line()
                    if content is None:
                        return
                    self.log("data", content)
                    if content == b".":
                        break
                self.send(b"250 2.0.0 Ok: queued as LEGACY\r\n")
            elif verb == b"QUIT":
                self.send(b"221 2.0.0 Bye\r\n")
                return
            else:
                self.send(b"502 5.5.2 Error: command not recognized\r\n")


def serve(conn: socket.socket, number: int, args: argparse.Namespace) -> None:
    session = Session(conn, number, args)
    session.log("open")
    try:
        session.run()
    except OSError:
        pass
    finally:
        conn.close()
        session.log("closed")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("log")
    parser.add_argument("--greeting", default="220 legacy.example ESMTP legacy-mta")
    parser.add_argument("--refuse-xclient", action="store_true")
    args = parser.parse_args()
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((args.host, args.port))
    srv.listen(128)
    print("ready", flush=True)
    number = 0
    while True:
        conn, _ = srv.accept()
        number += 1
        threading.Thread(target=serve, args=(conn, number, args), daemon=True).start()


if __name__ == "__main__":
    main()
