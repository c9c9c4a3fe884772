"""IPv6: --accept [::1]:PORT."""
import socket

import pytest

from clients import echo_round_trip, tls_connect


def ipv6_loopback_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_accept_on_ipv6_loopback(mailtunnel, echo_port):
    if not ipv6_loopback_available():
        pytest.fail("::1 is not available on this machine (IPv6 disabled or no loopback address): "
                    "the IPv6 tests must run, so this is a failure, not a skip")
    mt = mailtunnel(connect=echo_port, protocol="none", accept_host="::1")
    mark = mt.log_mark()
    assert echo_round_trip("::1", mt.accept_port, b"over IPv6\r\n") == b"over IPv6\r\n"
    line = mt.connection_ended(since=mark)[0]
    assert "::1" in line.get("client", ""), line.raw
    mt.wait_for_log(r"listening.*accept=\[::1\]:%d" % mt.accept_port)
    # Only ::1 was asked for: the IPv4 loopback must not be served on that port.
    with pytest.raises(OSError):
        tls_connect("127.0.0.1", mt.accept_port, timeout=3)


def test_connect_to_ipv6_backend(mailtunnel, backends):
    if not ipv6_loopback_available():
        pytest.fail("::1 is not available on this machine (IPv6 disabled or no loopback address): "
                    "the IPv6 tests must run, so this is a failure, not a skip")
    port = backends.echo(host="::1")
    mt = mailtunnel(connect=f"[::1]:{port}", protocol="none")
    mark = mt.log_mark()
    assert echo_round_trip("127.0.0.1", mt.accept_port, b"to IPv6\r\n") == b"to IPv6\r\n"
    line = mt.connection_ended(since=mark)[0]
    assert "::1" in line.get("backend", ""), line.raw
