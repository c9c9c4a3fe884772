"""The TLS write and read path: OpenSSL reads ahead (a read may return the client's Finished and its first
application data together), handshake output leaves in one send per step, and the TLS 1.3 session tickets wait
for the first application data. None of that may change what either side sees."""
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor

from clients import client_context, recv_exact, tcp_connect


def _handshake_over_memory(sock: socket.socket, ctx: ssl.SSLContext) -> tuple[ssl.SSLObject, ssl.MemoryBIO,
                                                                              ssl.MemoryBIO]:
    """A client handshake whose last flight is kept back, so the caller decides how it is sent."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    while True:
        try:
            tls.do_handshake()
            return tls, incoming, outgoing
        except ssl.SSLWantReadError:
            if outgoing.pending:
                sock.sendall(outgoing.read())
            data = sock.recv(65536)
            assert data, "the server closed during the handshake"
            incoming.write(data)


def _read_plain(sock: socket.socket, tls: ssl.SSLObject, incoming: ssl.MemoryBIO, n: int) -> bytes:
    got = b""
    while len(got) < n:
        try:
            got += tls.read(n - len(got))
        except ssl.SSLWantReadError:
            data = sock.recv(65536)
            assert data, f"the server closed after {len(got)} of {n} bytes"
            incoming.write(data)
    return got


def _finished_with_first_line(port: int, ctx: ssl.SSLContext, n: int) -> bytes:
    sock = tcp_connect("127.0.0.1", port)
    try:
        tls, incoming, outgoing = _handshake_over_memory(sock, ctx)
        line = f"first line {n} with the Finished\n".encode()
        tls.write(line)
        sock.sendall(outgoing.read())  # Finished and the line, in one send
        return _read_plain(sock, tls, incoming, len(line))
    finally:
        sock.close()


def test_finished_and_first_data_in_one_segment_are_relayed(mailtunnel, echo_port):
    """TLS 1.3: the client's Finished and its first line arrive in one read. The line then sits in OpenSSL's
    buffer, and when that read ran on a write-readiness event no read edge ever announces it; it must still reach
    the backend and come back. (A burst of clients makes that ordering likely; before the fix some of them
    waited for their echo until they gave up.)"""
    mt = mailtunnel(connect=echo_port, protocol="none")
    ctx = client_context(minimum=ssl.TLSVersion.TLSv1_3)
    with ThreadPoolExecutor(max_workers=48) as pool:
        echoed = list(pool.map(lambda n: _finished_with_first_line(mt.accept_port, ctx, n), range(400)))
    assert echoed == [f"first line {n} with the Finished\n".encode() for n in range(400)]


def test_both_versions_echo_and_tls13_tickets_arrive(mailtunnel, echo_port):
    """A TLS 1.2 client waits for the server's Finished before it sends: that flight is never held back. A TLS 1.3
    client gets its session tickets with the first data."""
    mt = mailtunnel(connect=echo_port, protocol="none")
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = client_context(minimum=version, maximum=version)
        raw = tcp_connect("127.0.0.1", mt.accept_port)
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            assert s.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
            s.sendall(b"ping\n")
            assert recv_exact(s, 5) == b"ping\n"
            assert s.session is not None and s.session.has_ticket, f"{s.version()}: no session ticket"
