"""The Debian package, as an administrator meets it: `Scripts/package` builds dist/mailtunnel_<version>_<arch>.deb
(a release build linked with the Swift runtime statically), lintian finds no error, `apt-get install ./dist/…deb`
installs it without starting anything, the installed binary needs no Swift library, checks every shipped example
and serves IMAPS in front of Dovecot, and `apt-get purge` leaves nothing under /etc/mailtunnel.

The package is built and installed once for this module (the build is long: `slow`, which CI still runs) and
purged at the end whatever happened. systemd is not PID 1 in the test machine: the maintainer scripts must
cope, and nothing may be left running."""
from __future__ import annotations

import imaplib
import os
import pwd
import re
import ssl
import subprocess
from pathlib import Path

import pytest

from conftest import REPO
from mailtunnel import MailTunnel

pytestmark = pytest.mark.slow

INSTALLED = "/usr/sbin/mailtunnel"
APT = ["apt-get", "-o", "DPkg::Lock::Timeout=600", "-y"]
ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")


def run(argv, timeout=600, check=True, **kw) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=ENV, **kw)
    if check:
        assert done.returncode == 0, f"{' '.join(map(str, argv))} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def installed() -> bool:
    status = run(["dpkg-query", "-W", "-f=${Status}", "mailtunnel"], check=False).stdout
    return "installed" in status or "config-files" in status


def mailtunnel_processes() -> list[int]:
    """PIDs running the installed binary (read from /proc, not by name)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "exe") == INSTALLED:
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


@pytest.fixture(scope="module")
def package():
    version = re.search(r'string = "([^"]+)"', (REPO / "Sources/MailTunnel/Version.swift").read_text()).group(1)
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    deb = REPO / "dist" / f"mailtunnel_{version}_{arch}.deb"
    if installed():   # left over from an interrupted run
        run(APT + ["purge", "mailtunnel"])
    built = run([str(REPO / "Scripts/package")], timeout=3600, cwd=REPO)
    assert deb.is_file(), f"Scripts/package did not write {deb}\n{built.stderr}"
    lintian = run(["lintian", "--tag-display-limit", "0", str(deb)], check=False, timeout=900)
    install = run(APT + ["install", f"./{deb.relative_to(REPO)}"], cwd=REPO, timeout=1200)
    try:
        yield {"deb": deb, "lintian": lintian, "install": install}
    finally:
        if installed():
            run(APT + ["purge", "mailtunnel"], check=False)


def test_lintian_reports_no_errors(package, figures):
    lintian = package["lintian"]
    errors = [line for line in lintian.stdout.splitlines() if line.startswith("E:")]
    assert not errors, lintian.stdout
    assert "Traceback" not in lintian.stderr, lintian.stderr
    figures(deb_bytes=package["deb"].stat().st_size,
            installed_size_kib=run(["dpkg-query", "-W", "-f=${Installed-Size}", "mailtunnel"]).stdout.strip(),
            lintian=(lintian.stdout.strip().replace("\n", " | ") or "clean"))


def test_installed_files_user_and_nothing_running(package):
    for path in [INSTALLED, "/lib/systemd/system/mailtunnel@.service", "/lib/systemd/system/mailtunnel@.socket",
                 "/lib/systemd/system/mailtunnel@imaps.socket.d/listen.conf",
                 "/usr/share/man/man8/mailtunnel.8.gz", "/usr/share/man/man5/mailtunnel.conf.5.gz",
                 "/usr/share/bash-completion/completions/mailtunnel", "/usr/share/zsh/vendor-completions/_mailtunnel",
                 "/etc/fail2ban/filter.d/mailtunnel.conf", "/etc/fail2ban/jail.d/mailtunnel.conf",
                 "/usr/share/doc/mailtunnel/copyright", "/usr/share/doc/mailtunnel/changelog.Debian.gz"]:
        assert Path(path).exists(), f"{path} not installed"
    unit = Path("/lib/systemd/system/mailtunnel@.service").read_text()
    assert f"ExecStart={INSTALLED} " in unit and "/usr/local/bin" not in unit, unit
    socket_unit = Path("/lib/systemd/system/mailtunnel@.socket").read_text()
    assert not re.search(r"^ListenStream", socket_unit, re.M), "the socket template names a port"
    assert "ListenStream=993" in Path("/lib/systemd/system/mailtunnel@imaps.socket.d/listen.conf").read_text()
    conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", "mailtunnel"]).stdout
    for example in (REPO / "Config").glob("*.conf"):
        assert f"/etc/mailtunnel/{example.name} " in conffiles, conffiles
    user = pwd.getpwnam("mailtunnel")
    assert user.pw_uid < 1000 and user.pw_shell in ("/usr/sbin/nologin", "/bin/false"), user
    state = os.stat("/var/lib/mailtunnel")
    assert (state.st_uid, state.st_mode & 0o777) == (user.pw_uid, 0o700), state
    assert run(["man", "-w", "mailtunnel"]).stdout.strip().endswith("mailtunnel.8.gz")
    assert run(["man", "-w", "5", "mailtunnel.conf"]).stdout.strip().endswith("mailtunnel.conf.5.gz")
    assert mailtunnel_processes() == [], "installing the package started mailtunnel"


def test_installed_binary_needs_no_swift_library(package):
    ldd = run(["ldd", INSTALLED]).stdout
    assert "libswift" not in ldd and "not found" not in ldd, ldd
    assert "libssl.so.3" in ldd and "libsasl2.so.2" in ldd, ldd
    depends = run(["dpkg-query", "-W", "-f=${Depends}", "mailtunnel"]).stdout
    assert "libssl3" in depends and "libsasl2-2" in depends and "swift" not in depends, depends


def test_every_shipped_example_checks(package):
    examples = sorted(Path("/etc/mailtunnel").glob("*.conf"))
    assert [p.name for p in examples] == sorted(p.name for p in (REPO / "Config").glob("*.conf"))
    for example in examples:
        check = run([INSTALLED, "--check", "--config", str(example)], check=False)
        assert check.returncode == 0 and "configuration is valid" in check.stdout, f"{example}: {check.stderr}"


def test_installed_binary_serves_imaps(package, dovecot, workdir):
    mt = MailTunnel(INSTALLED, workdir, [f"127.0.0.1:{dovecot.imap_port}"], "imap")
    mt.start()
    try:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with imaplib.IMAP4_SSL("127.0.0.1", mt.accept_port, ssl_context=ctx, timeout=30) as imap:
            assert imap.login(dovecot.user, dovecot.password)[0] == "OK"
            imap.select("INBOX", readonly=True)
            typ, data = imap.fetch("1", "(BODY.PEEK[])")
            assert typ == "OK" and data[0][1] == dovecot.message
            imap.logout()
        line = mt.connection_ended(timeout=15)[0]
        assert line.get("tls", "").startswith("TLSv1.") and line.get("backend") == f"127.0.0.1:{dovecot.imap_port}"
    finally:
        status = mt.stop()
    assert status == 0, mt.log_text()


def test_purge_leaves_nothing(package):
    # What a running service would have made: the generated self-signed pair in the state directory.
    Path("/var/lib/mailtunnel/selfsigned-cert.pem").write_text("x")
    run(APT + ["purge", "mailtunnel"])
    assert not installed()
    assert not Path(INSTALLED).exists()
    assert not Path("/etc/mailtunnel").exists() or not any(Path("/etc/mailtunnel").iterdir()), \
        list(Path("/etc/mailtunnel").rglob("*"))
    assert not Path("/etc/fail2ban/filter.d/mailtunnel.conf").exists()
    assert not Path("/var/lib/mailtunnel").exists()
    assert mailtunnel_processes() == []
