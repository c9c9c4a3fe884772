"""Issue 15: `reuse-port = yes` (the configuration docs/SCALING.md shows for binary upgrades): two processes
serve one port; SIGTERM to one loses no client session: a client looping IMAP logins sees no error while the
first process drains (a session it holds still works, its /healthz says 503 so a balancer would take it out)
and exits, and the other takes every new connection."""
from __future__ import annotations

import signal
import threading
import time

from clients import recv_until
from fleet_support import ConfigMailTunnel, healthz, imap_login, owner_pid, tls_context, upgrade_config
from procs import free_port, wait_until

LOGINS = 150


def test_two_processes_share_a_port_and_sigterm_to_one_loses_no_session(mailtunnel_bin, workdir, dovecot):
    port = free_port()
    text = upgrade_config(port, dovecot.imap_port)
    metrics = free_port()
    old = ConfigMailTunnel(mailtunnel_bin, workdir, text, port, "old", ["--metrics", f"127.0.0.1:{metrics}"]).start()
    new = ConfigMailTunnel(mailtunnel_bin, workdir, text, port, "new").start()
    ctx = tls_context("1.3")
    try:
        # A session on the old process, held open across its SIGTERM.
        held = None
        for _ in range(40):
            s = ctx.wrap_socket(__import__("socket").create_connection(("127.0.0.1", port), timeout=15),
                                server_hostname="localhost")
            recv_until(s, lambda d: d.endswith(b"\r\n"))
            if owner_pid(s.getsockname()[1], [old.pid, new.pid]) == old.pid:
                held = s
                break
            s.close()
        assert held is not None, "the kernel never sent a connection to the first process"
        assert healthz(metrics) == 200
        held.sendall(b"h1 LOGIN alice secret\r\n")
        assert b"h1 OK" in recv_until(held, lambda d: b"h1 " in d and d.endswith(b"\r\n"))[0]

        done, errors = [], []

        def loop():
            for i in range(LOGINS):
                try:
                    imap_login(port, ctx)
                    done.append(i)
                except Exception as e:       # every failure is reported, not only the first
                    errors.append(f"login {i}: {e!r}")

        client = threading.Thread(target=loop, daemon=True)
        client.start()
        wait_until(lambda: len(done) + len(errors) >= LOGINS // 3, 120, what="a third of the logins")
        stopping_mark = old.log_mark()
        old.process.signal(signal.SIGTERM)
        old.wait_for_log("stopping", since=stopping_mark)
        # Draining: the health check fails, the held session still works and ends normally.
        assert healthz(metrics) == 503
        held.sendall(b"h2 NOOP\r\n")
        assert b"h2 OK" in recv_until(held, lambda d: b"h2 " in d and d.endswith(b"\r\n"))[0]
        held.sendall(b"h3 LOGOUT\r\n")
        recv_until(held, lambda d: b"h3 " in d and d.endswith(b"\r\n"))
        held.close()
        wait_until(lambda: not old.running(), 30, what="the old process to exit after its last session")
        assert old.process.popen.returncode == 0
        client.join(timeout=300)
        assert not client.is_alive(), "the login loop did not finish within 300 s"
        assert errors == [], f"{len(errors)} of {LOGINS} logins failed: {errors[:5]}"
        assert len(done) == LOGINS
        served_old = len(old.find_log(r"connection ended"))
        served_new = len(new.find_log(r"connection ended", since=0))
        assert served_old >= 2 and served_new >= 2, (served_old, served_new)   # the port really was shared
        assert new.running()
    finally:
        old.stop()
        new.stop()
