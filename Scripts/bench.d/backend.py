#!/usr/bin/env python3
"""Plaintext backend for Scripts/bench: pre-forked processes, one thread per connection.

The first byte a client sends selects the mode:
  D  source: send 1 MiB blocks until the peer goes away (download)
  U  sink:   read and discard until EOF (upload)
  E  echo:   send back every byte that follows
Everything else is the kernel's copy loop (1 MiB buffers, the GIL released in send/recv), so a few
processes sustain several GB/s on loopback; Scripts/bench measures and prints that ceiling first.

usage: backend.py PORT NPROCS   (prints "ready" once listening; SIGTERM stops it and its children)
"""
import ctypes
import os
import signal
import socket
import sys
import threading

BLOCK = os.urandom(1 << 20)


def handle(conn: socket.socket) -> None:
    try:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        mode = conn.recv(1)
        if mode == b"D":
            view = memoryview(BLOCK)
            while True:
                conn.sendall(view)
        elif mode == b"U":
            buf = bytearray(1 << 20)
            while conn.recv_into(buf):
                pass
        elif mode == b"E":
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                conn.sendall(data)
    except OSError:
        pass
    finally:
        conn.close()


def serve(listener: socket.socket) -> None:
    threading.stack_size(256 * 1024)
    while True:
        try:
            conn, _ = listener.accept()
        except InterruptedError:
            continue
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def main() -> None:
    port, nprocs = int(sys.argv[1]), int(sys.argv[2])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(4096)
    libc = ctypes.CDLL(None, use_errno=True)
    children = []
    for _ in range(nprocs):
        pid = os.fork()
        if pid == 0:
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: die with the parent
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            serve(listener)
            os._exit(0)
        children.append(pid)

    def stop(*_):
        for child in children:
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for child in children:
            try:
                os.waitpid(child, 0)
            except ChildProcessError:
                pass
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("ready", flush=True)
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
