"""POP3 APOP through mailtunnel in both modes (issue 13). APOP (RFC 1939 §7) hashes the `<timestamp@host>` of the
server's greeting with the password: the login works only if the greeting the client saw is the one the backend
sent. In STARTTLS mode the client reads the greeting before STLS and sends APOP after it, so mailtunnel's
pre-TLS dialogue must pass the greeting through untouched and must not greet with words of its own."""
import poplib
import re

import pytest

from clients import client_context
from cyrus import PASSWORD, SERVERNAME, USER, cyrus  # noqa: F401
from tunnel_modes import MODES, pop3_client, tunnel

# RFC 1939's own example greeting, from a scripted backend: the client must see exactly these bytes.
RFC1939_GREETING = "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>"


@pytest.mark.parametrize("mode", MODES)
def test_greeting_reaches_the_client_byte_for_byte(mailtunnel, backends, mode):
    port = backends.echo(greeting=RFC1939_GREETING)
    mt = tunnel(mailtunnel, port, "pop3", mode)
    if mode == "implicit-tls":
        pop = poplib.POP3_SSL("127.0.0.1", mt.accept_port, context=client_context(), timeout=30)
    else:
        pop = poplib.POP3("127.0.0.1", mt.accept_port, timeout=30)
    try:
        assert pop.welcome == RFC1939_GREETING.encode()
    finally:
        pop.close()


def apop(port: int, mode: str, password: str) -> bytes:
    """One POP3 session through the tunnel: check Cyrus's APOP greeting, send APOP, return the reply."""
    pop = pop3_client(port, mode)
    try:
        assert re.fullmatch(rb"\+OK .*Cyrus POP3 .* <[^<>@]+@" + re.escape(SERVERNAME.encode()) + rb">",
                            pop.welcome), pop.welcome
        try:
            return pop.apop(USER, password)
        except poplib.error_proto as e:
            return e.args[0]
    finally:
        pop.close()


@pytest.mark.parametrize("mode", MODES)
def test_apop_logs_in_to_cyrus(mailtunnel, cyrus, mode):
    mt = tunnel(mailtunnel, cyrus.pop3_port, "pop3", mode)
    assert apop(mt.accept_port, mode, PASSWORD).startswith(b"+OK")
    # Cyrus checks the digest: the login above is not a backend that accepts anything.
    assert apop(mt.accept_port, mode, "wrong-" + PASSWORD).startswith(b"-ERR")
