"""The SMTP relay guard (issue 9, items 1-3), against a fake legacy MTA (legacy_mta.py: no CHUNKING, XCLIENT
trusted from anyone, unknown commands 502, every received line logged) and a real Postfix 3.7 (CHUNKING offered,
XCLIENT trusted from 127.0.0.0/8, as mailtunnel connects from).

1. A BDAT "chunk" carrying XCLIENT never reaches a backend that did not offer CHUNKING; BDAT to Postfix delivers.
2. The client's EHLO reply never offers XCLIENT or XFORWARD, and offers CHUNKING exactly when the backend did.
3. With `xclient = yes`, a backend greeting other than 220 or a refused XCLIENT gives the client 421 4.3.0 and a
   close, and no client command reaches the backend."""
from __future__ import annotations

import json
import re
import smtplib
import sys
from pathlib import Path

import pytest

from clients import client_context
from gate_support import (CLIENT_IP, OUTSIDE_RCPT, PASSWORD, USER, RawSMTP, auth_plain, message_for,  # noqa: F401
                          postfix, postfix_session_for, sasl_config, sasl_flags, unique_sender)
from procs import Process, free_port, port_accepts, wait_until

HERE = Path(__file__).resolve().parent
SMUGGLED = "XCLIENT ADDR=10.9.9.9 LOGIN=mallory"   # what a client hides in a BDAT chunk


class LegacyMTA:
    def __init__(self, root: Path, greeting: str | None, refuse_xclient: bool):
        self.root = root
        self.port = free_port()
        self.log_path = root / f"legacy-mta-{self.port}.jsonl"
        argv = [sys.executable, str(HERE / "legacy_mta.py"), "127.0.0.1", str(self.port), str(self.log_path)]
        if greeting:
            argv += ["--greeting", greeting]
        if refuse_xclient:
            argv.append("--refuse-xclient")
        self.process = Process(argv, root, f"legacy-mta-{self.port}")
        try:
            wait_until(lambda: not self.process.running() or port_accepts("127.0.0.1", self.port), 15,
                       what="legacy MTA to listen")
        except TimeoutError:
            raise RuntimeError(self.process.describe())
        if not self.process.running():
            raise RuntimeError(self.process.describe())

    def entries(self) -> list[dict]:
        if not self.log_path.exists():
            return []
        return [json.loads(l) for l in self.log_path.read_text().splitlines() if l.strip()]

    def settled_commands(self, timeout: float = 10.0) -> list[str]:
        """Every command line received, once every connection it had has ended (nothing more can arrive)."""
        def settled():
            e = self.entries()
            opened = {x["conn"] for x in e if x["kind"] == "open"}
            closed = {x["conn"] for x in e if x["kind"] == "closed"}
            return opened == closed
        try:
            wait_until(settled, timeout, what="the legacy MTA's connections to end")
        except TimeoutError as e:
            raise AssertionError(f"{e}; its log:\n{self.log_path.read_text()[-3000:]}") from None
        return [x["line"] for x in self.entries() if x["kind"] == "command"]

    def stop(self) -> None:
        self.process.stop(grace=5)


@pytest.fixture
def legacy_mta(workdir):
    started: list[LegacyMTA] = []

    def start(greeting: str | None = None, refuse_xclient: bool = False) -> LegacyMTA:
        m = LegacyMTA(workdir, greeting, refuse_xclient)
        started.append(m)
        return m

    yield start
    for m in started:
        m.stop()


def ehlo_lines(text: str) -> list[str]:
    return text.split("\n")


def assert_well_formed_ehlo(text: str) -> list[str]:
    """The reply's keywords; every line but the last must be `250-`, the last `250 `."""
    lines = ehlo_lines(text)
    assert all(l.startswith("250-") for l in lines[:-1]) and lines[-1].startswith("250 "), text
    return [l[4:].split(" ")[0].upper() for l in lines[1:]]


def assert_no_trust_extensions(text: str) -> list[str]:
    keywords = assert_well_formed_ehlo(text)
    assert "XCLIENT" not in keywords and "XFORWARD" not in keywords, f"the backend's trust extensions leak: {text}"
    return keywords


def assert_legacy_ehlo_relayed(c: RawSMTP) -> None:
    """The legacy MTA's EHLO reply as the client gets it: PIPELINING kept, no trust extensions, no CHUNKING."""
    code, text = c.cmd("EHLO client.example")
    assert code == 250, text
    keywords = assert_no_trust_extensions(text)
    assert "PIPELINING" in keywords and "CHUNKING" not in keywords, text


def client_xclient_lines(commands: list[str]) -> list[str]:
    """XCLIENT lines the backend received that are not mailtunnel's own hand-over (which names 127.0.0.2)."""
    return [c for c in commands if c.upper().startswith("XCLIENT") and f"ADDR={CLIENT_IP}" not in c]


# ---- 1. BDAT ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("xclient", ["no", "yes"])
@pytest.mark.parametrize("pipelined", [False, True], ids=["stepwise", "pipelined"])
def test_bdat_cannot_smuggle_xclient_to_a_legacy_mta(mailtunnel, legacy_mta, xclient, pipelined):
    mta = legacy_mta()
    mt = mailtunnel(connect=mta.port, protocol="smtp", extra=["--xclient", xclient])
    chunk = SMUGGLED + "\r\n"
    bdat = f"BDAT {len(chunk)} LAST\r\n{chunk}"
    c = RawSMTP(mt.accept_port)
    try:
        assert c.reply()[0] == 220
        if pipelined:
            # EHLO's reply (which decides what the chunk is) is not in when BDAT arrives.
            c.sock.sendall(f"EHLO client.example\r\nMAIL FROM:<a@example.org>\r\n{bdat}NOOP\r\nQUIT\r\n".encode())
            replies = [c.reply() for _ in range(5)]
        else:
            replies = [c.cmd("EHLO client.example"), c.cmd("MAIL FROM:<a@example.org>")]
            c.sock.sendall(bdat.encode())
            replies += [c.reply(), c.cmd("NOOP"), c.cmd("QUIT")]
    finally:
        c.close()
    commands = mta.settled_commands()
    assert not client_xclient_lines(commands), f"the client's XCLIENT reached the backend: {commands}"
    assert not any("mallory" in l or l.upper().startswith("BDAT") for l in commands), commands
    assert commands[-2:] == ["NOOP", "QUIT"], commands
    # The client hears the refusal in its place, and the replies stay in step with its commands.
    assert [code for code, _ in replies] == [250, 250, 502, 250, 221], replies
    assert replies[2][1].startswith("502 5.5.1"), replies


@pytest.mark.parametrize("pipelined", [False, True], ids=["stepwise", "pipelined"])
def test_bdat_to_postfix_still_delivers(mailtunnel, postfix, sasl_config, pipelined):
    mt = mailtunnel(connect=postfix.port, protocol="smtp", extra=sasl_flags(sasl_config))
    sender = unique_sender()
    message = message_for(sender)
    bdat = f"BDAT {len(message)} LAST\r\n".encode() + message
    c = RawSMTP(mt.accept_port)
    try:
        assert c.reply()[0] == 220
        assert c.cmd("EHLO client.example")[0] == 250
        assert c.cmd(auth_plain(USER, PASSWORD))[0] == 235
        envelope = f"EHLO client.example\r\nMAIL FROM:<{sender}>\r\nRCPT TO:<{OUTSIDE_RCPT}>\r\n".encode()
        if pipelined:
            c.sock.sendall(envelope + bdat)
            replies = [c.reply() for _ in range(4)]
        else:
            replies = [c.cmd(line) for line in envelope.decode().splitlines()]
            c.sock.sendall(bdat)
            replies.append(c.reply())
        assert [code for code, _ in replies] == [250, 250, 250, 250], replies
        assert "CHUNKING" in assert_well_formed_ehlo(replies[0][1])
        assert "queued" in replies[3][1], replies
        assert c.cmd("QUIT")[0] == 221
    finally:
        c.close()
    line = postfix_session_for(postfix, sender)
    assert f"sasl_username={USER}" in line and f"client=unknown[{CLIENT_IP}]" in line, line


# ---- 2. What the client's EHLO reply offers -------------------------------------------------------------------
@pytest.mark.parametrize("xclient", ["no", "yes"])
def test_legacy_mta_ehlo_hides_xclient_and_offers_no_chunking(mailtunnel, legacy_mta, xclient):
    mta = legacy_mta()
    mt = mailtunnel(connect=mta.port, protocol="smtp", extra=["--xclient", xclient])
    c = RawSMTP(mt.accept_port)
    try:
        assert c.reply()[0] == 220
        assert_legacy_ehlo_relayed(c)
        assert c.cmd("QUIT")[0] == 221
    finally:
        c.close()


def test_legacy_mta_ehlo_hidden_before_and_after_starttls(mailtunnel, legacy_mta):
    mta = legacy_mta()
    mt = mailtunnel(connect=mta.port, protocol="smtp", extra=["--starttls", "yes"])
    c = RawSMTP(mt.accept_port, implicit_tls=False)
    try:
        assert c.reply()[0] == 220
        code, text = c.cmd("EHLO client.example")
        assert "STARTTLS" in assert_no_trust_extensions(text)
        c.starttls()
        assert_legacy_ehlo_relayed(c)               # now relayed: the guard's filter
        assert c.cmd("QUIT")[0] == 221
    finally:
        c.close()


def test_postfix_ehlo_offers_chunking_but_never_xclient(mailtunnel, postfix):
    mt = mailtunnel(connect=postfix.port, protocol="smtp")
    with smtplib.SMTP_SSL("127.0.0.1", mt.accept_port, context=client_context(), timeout=30,
                          source_address=(CLIENT_IP, 0)) as smtp:
        code, _ = smtp.ehlo("client.example")
        assert code == 250
        assert smtp.has_extn("chunking"), smtp.esmtp_features
        assert not smtp.has_extn("xclient") and not smtp.has_extn("xforward"), smtp.esmtp_features


def test_postfix_ehlo_after_the_gate_offers_chunking_but_never_xclient(mailtunnel, postfix, sasl_config):
    mt = mailtunnel(connect=postfix.port, protocol="smtp", extra=sasl_flags(sasl_config))
    c = RawSMTP(mt.accept_port)
    try:
        assert c.reply()[0] == 220
        code, text = c.cmd("EHLO client.example")   # answered through the gate's rewrite
        assert code == 250 and "CHUNKING" in assert_no_trust_extensions(text), text
        assert c.cmd(auth_plain(USER, PASSWORD))[0] == 235
        code, text = c.cmd("EHLO client.example")   # relayed: Postfix offers XCLIENT to mailtunnel's address
        assert code == 250 and "CHUNKING" in assert_no_trust_extensions(text), text
        assert c.cmd("QUIT")[0] == 221
    finally:
        c.close()


# ---- 3. XCLIENT hand-over fails closed -------------------------------------------------------------------
def first_reply_then_close(c: RawSMTP) -> tuple[int, str, bytes]:
    """The first reply, then whatever else arrives before the close (bounded)."""
    code, text = c.reply()
    try:
        rest = c.buf + c.wait_closed()
    except TimeoutError as e:
        rest = f"<not closed: {e}>".encode()
    return code, text, rest


def assert_421_and_closed(reply: tuple[int, str, bytes]) -> None:
    code, text, rest = reply
    assert code == 421 and text.startswith("421 4.3.0") and rest == b"", reply


@pytest.mark.parametrize("failure", ["greeting-554", "xclient-refused"])
def test_xclient_handover_failure_gives_421_and_no_command_reaches_the_backend(mailtunnel, legacy_mta, failure):
    mta = legacy_mta(greeting="554 5.3.2 legacy.example go away" if failure == "greeting-554" else None,
                     refuse_xclient=failure == "xclient-refused")
    mt = mailtunnel(connect=mta.port, protocol="smtp", extra=["--xclient", "yes"])
    c = RawSMTP(mt.accept_port)
    port = c.local_port()
    try:
        # The client talks at once, before it has seen any greeting.
        c.sock.sendall(b"EHLO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\n")
        reply = first_reply_then_close(c)
    finally:
        c.close()
    commands = mta.settled_commands()
    # Only mailtunnel's own XCLIENT (when the greeting let it get that far), never a client command.
    own = [] if failure == "greeting-554" else [f"XCLIENT ADDR={CLIENT_IP} PORT={port} NAME=[UNAVAILABLE]"]
    assert commands == own, f"the backend received commands from a client it does not know: {commands}"
    assert_421_and_closed(reply)


@pytest.mark.parametrize("failure", ["greeting-554", "xclient-refused"])
def test_gate_handover_failure_gives_421_and_no_command_reaches_the_backend(mailtunnel, legacy_mta, sasl_config,
                                                                           failure):
    mta = legacy_mta(greeting="554 5.3.2 legacy.example go away" if failure == "greeting-554" else None,
                     refuse_xclient=failure == "xclient-refused")
    mt = mailtunnel(connect=mta.port, protocol="smtp", extra=sasl_flags(sasl_config))
    c = RawSMTP(mt.accept_port)
    try:
        if failure == "greeting-554":
            c.sock.sendall(b"EHLO client.example\r\n")
        else:
            assert c.reply()[0] == 220
            assert c.cmd("EHLO client.example")[0] == 250
            c.sock.sendall((auth_plain(USER, PASSWORD) + "\r\nMAIL FROM:<a@example.org>\r\n").encode())
        reply = first_reply_then_close(c)
    finally:
        c.close()
    commands = mta.settled_commands()
    if failure == "greeting-554":
        assert commands == [], commands
    else:
        # The gate forwards EHLO by design; after the refused XCLIENT nothing of the client's may follow.
        assert [re.sub(r" .*", "", l) for l in commands] == ["EHLO", "XCLIENT"], commands
        assert commands[1].startswith(f"XCLIENT ADDR={CLIENT_IP} ") and f"LOGIN={USER}" in commands[1], commands
    assert_421_and_closed(reply)
