"""What an administrator meets before the first connection: `--help`, mistakes in a config file, the man
pages, the shell completions, and the systemd unit's privilege settings. All against the real binary.

- `--help` prints one usage block and says `(required)`, never `(default: (required))`.
- A misspelled key or flag gets "did you mean"; a file that cannot be read says whether it is missing,
  a directory, not readable by the daemon's user, or not UTF-8 (and where).
- Both man pages render with `groff -ww` and `man -l` without a warning; mailtunnel.conf(5) documents every
  option `--help` lists.
- Every flag `--help` lists is in both completions; bash really completes them and their values; zsh parses its file.
- A process already running as the configured `user` (the unit's `User=mailtunnel` with a migrated
  `setuid = mailtunnel`) starts instead of failing on setgroups; the unit's system-call filter, as systemd
  expands its groups, allows the calls that `user`/`group` make."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from conftest import REPO
from procs import free_port, port_accepts, wait_until
from procs import Process

MAN8 = REPO / "packaging" / "man" / "mailtunnel.8"
MAN5 = REPO / "packaging" / "man" / "mailtunnel.conf.5"
BASH = REPO / "packaging" / "completions" / "mailtunnel.bash"
ZSH = REPO / "packaging" / "completions" / "_mailtunnel"
UNIT = REPO / "Config" / "systemd" / "mailtunnel@.service"
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]


def run(argv, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=60, **kw)


def help_flags(binary: str) -> list[str]:
    """Every flag `--help` lists (a line starting with two spaces and --)."""
    out = run([binary, "--help"]).stdout
    return sorted({m.group(1) for m in re.finditer(r"^  (--[a-z0-9-]+)", out, re.M)})


def test_help_shows_one_usage_block_and_no_required_default(mailtunnel_bin):
    out = run([mailtunnel_bin, "--help"]).stdout
    assert out.count("usage:") == 1, out
    assert "(default: (required))" not in out.replace("\n      ", " "), out
    assert re.search(r"--accept \[HOST:\]PORT\n .*\n? *.*\(required\)", out), out


def test_misspelled_key_and_flag_get_did_you_mean(mailtunnel_bin, workdir):
    conf = workdir / "imaps.conf"
    conf.write_text("accept = 993\nconnect = 143\nidle-timout = 10m\n")
    done = run([mailtunnel_bin, "--check", "--config", conf])
    assert done.returncode == 1
    assert f"{conf}:3: idle-timout: unknown key; did you mean 'idle-timeout'?" in done.stderr, done.stderr
    done = run([mailtunnel_bin, "--check", "--accept", "993", "--connect", "143", "--shutdown-gace=5s"])
    assert done.returncode == 1
    assert "--shutdown-gace: unknown option; did you mean '--shutdown-grace'?" in done.stderr, done.stderr


def test_unreadable_config_says_why(mailtunnel_bin, workdir):
    secret = workdir / "secret.conf"
    secret.write_text("accept = 993\nconnect = 143\n")
    os.chmod(secret, 0o600)
    latin1 = workdir / "latin1.conf"
    latin1.write_bytes(b"accept = 993\nconnect = 143\n# caf\xe9\n")
    cases = {
        workdir / "missing.conf": "cannot read the file: it does not exist",
        workdir: "cannot read the file: it is a directory",
        latin1: "cannot read the file: it is not UTF-8 text (byte 0xE9 on line 3)",
    }
    for path, expected in cases.items():
        done = run([mailtunnel_bin, "--check", "--config", path])
        assert done.returncode == 1 and f"{path}: {expected}" in done.stderr, (path, done.stderr)
    done = run(NOBODY + [mailtunnel_bin, "--check", "--config", secret])
    assert done.returncode == 1
    assert f"{secret}: cannot read the file: permission denied (running as uid 65534)" in done.stderr, done.stderr


def test_man_pages_render_without_warnings_and_list_every_option(mailtunnel_bin):
    for page in (MAN8, MAN5):
        groff = run(["groff", "-ww", "-man", "-z", page])
        assert groff.returncode == 0 and groff.stderr == "", (page.name, groff.stderr)
        for width in ("80", "120"):
            man = run(["man", "-l", page], env=dict(os.environ, MANWIDTH=width, MAN_KEEP_FORMATTING="0"))
            assert man.returncode == 0 and man.stderr == "", (page.name, width, man.stderr)
    page = MAN5.read_text()
    options = [f for f in help_flags(mailtunnel_bin)
               if f not in ("--config", "--stunnel-config", "--check", "--help", "--version")]
    assert len(options) > 30, options
    for flag in options:
        key = flag[2:].replace("-", "\\-")
        assert f"\\fB{key}\\fR = " in page, f"mailtunnel.conf(5) lacks {flag[2:]}"
    man8 = MAN8.read_text()
    for section in ("SYNOPSIS", "OPTIONS", "SIGNALS", "EXIT STATUS", "FILES", "EXAMPLES"):
        assert f".SH {section}" in man8, section


def test_completions_offer_every_help_flag(mailtunnel_bin):
    flags = help_flags(mailtunnel_bin)
    bash, zsh = BASH.read_text(), ZSH.read_text()
    for flag in flags:
        assert re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", bash), f"bash completion lacks {flag}"
        assert re.search(rf"'\*?{re.escape(flag)}(=|\[)", zsh), f"zsh completion lacks {flag}"
    assert run(["zsh", "-n", ZSH]).returncode == 0

    def complete(*words: str) -> list[str]:
        script = (f"source {BASH}; COMP_WORDS=({' '.join(repr(w) for w in ('mailtunnel',) + words)}); "
                  f"COMP_CWORD={len(words)}; _mailtunnel; printf '%s\\n' \"${{COMPREPLY[@]}}\"")
        done = run(["bash", "-c", script])
        assert done.returncode == 0, done.stderr
        return done.stdout.split()
    assert complete("--idle-t") == ["--idle-timeout"]
    assert sorted(complete("--protocol", "")) == ["imap", "none", "pop3", "smtp"]
    assert complete("--tls-min", "1.") == ["1.2", "1.3"]
    assert sorted(complete("--")) == flags


def test_already_the_configured_user_starts(mailtunnel_bin, workdir, echo_port):
    """As under the unit (User=mailtunnel) with `user = mailtunnel` in the config: nobody with --user nobody."""
    state = workdir / "state"
    state.mkdir()
    os.chown(state, 65534, 65534)
    port = free_port()
    daemon = Process(NOBODY + [mailtunnel_bin, "--accept", f"127.0.0.1:{port}", "--connect", str(echo_port),
                               "--user", "nobody", "--group", "nogroup", "--state-dir", state],
                     workdir, "as-nobody", env={"MAILTUNNEL_LOG": "stderr", "PATH": "/usr/bin:/bin"})
    try:
        wait_until(lambda: not daemon.running() or port_accepts("127.0.0.1", port), 20, what="listening as nobody")
        assert daemon.running(), daemon.describe()
    finally:
        daemon.stop()


def test_unit_system_call_filter_allows_user_and_group():
    """The unit's SystemCallFilter lines, expanded with systemd's own group lists, in systemd's order:
    the first (an allow list) sets the base, later `~` lines remove, later allow lines add back."""
    def expand(names: list[str]) -> set[str]:
        calls: set[str] = set()
        for name in names:
            if name.startswith("@"):
                listing = run(["systemd-analyze", "syscall-filter", name]).stdout
                nested = [l.strip() for l in listing.splitlines()[1:] if l.strip() and not l.strip().startswith("#")]
                calls |= expand(nested)
            else:
                calls.add(name)
        return calls

    filters = re.findall(r"^SystemCallFilter=(.*)$", UNIT.read_text(), re.M)
    assert filters and not filters[0].startswith("~"), filters
    allowed: set[str] = set()
    for line in filters:
        if line.startswith("~"):
            allowed -= expand(line[1:].split())
        else:
            allowed |= expand(line.split())
    needed = {"setuid", "setgid", "setgroups", "setresuid", "setresgid"}
    assert needed <= allowed, f"the unit's filter forbids {sorted(needed - allowed)}"
    assert "reboot" not in allowed and "mount" not in allowed, "the filter no longer denies @privileged"
    bounding = re.search(r"^CapabilityBoundingSet=(.*)$", UNIT.read_text(), re.M).group(1).split()
    assert {"CAP_SETUID", "CAP_SETGID", "CAP_NET_BIND_SERVICE"} <= set(bounding), bounding
