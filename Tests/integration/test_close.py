"""Closing cleanly: when the backend finishes, the client gets everything and then a TLS close_notify
(a clean TLS EOF), not a bare TCP FIN (which a client cannot tell from a truncation attack); and a half-close
is passed on in both directions."""
import os
import ssl

from clients import client_context, half_close_exchange, recv_until, tcp_connect


def test_backend_close_reaches_client_as_close_notify(mailtunnel, backends, workdir):
    bulk_port = backends.bulk()
    mt = mailtunnel(connect=bulk_port, protocol="none")
    payload = os.urandom(300_000)
    source = workdir / "small.bin"
    source.write_bytes(payload)
    mark = mt.log_mark()
    raw = tcp_connect("127.0.0.1", mt.accept_port)
    # suppress_ragged_eofs=False: a TCP FIN without close_notify raises SSLEOFError instead of b"".
    s = client_context().wrap_socket(raw, server_hostname="localhost", suppress_ragged_eofs=False)
    try:
        s.sendall(f"SEND {source}\n".encode())
        try:
            data, eof = recv_until(s, lambda d: False, timeout=20, limit=len(payload) + 1)
        except ssl.SSLEOFError as e:
            raise AssertionError(f"the connection ended without a TLS close_notify: {e!r}")
        assert data == payload and eof
    finally:
        s.close()
    line = mt.connection_ended(since=mark)[0]
    assert line.get("out") == str(len(payload)), line.raw


def test_half_close_passed_on_both_ways(mailtunnel, echo_port):
    """The client sends, then half-closes (close_notify, socket open). mailtunnel must pass that on as a TCP
    half-close to the backend; the echo backend then sends the rest and half-closes, which must reach the
    client as close_notify after every echoed byte."""
    mt = mailtunnel(connect=echo_port, protocol="none")
    payload = os.urandom(1_000_000)
    mark = mt.log_mark()
    received, clean = half_close_exchange("127.0.0.1", mt.accept_port, payload, timeout=30)
    assert len(received) == len(payload) and received == payload, (
        f"got {len(received)} of {len(payload)} bytes after the client's half-close")
    assert clean, "the session did not end with the server's close_notify"
    line = mt.connection_ended(since=mark)[0]
    assert line.get("in") == str(len(payload)) and line.get("out") == str(len(payload)), line.raw
