"""Config files: every shipped Config/*.conf passes `--check` with every key printed; broken configs fail with
file:line and key; `--check` output is itself a valid config; a broken config never starts a daemon."""
import re
import subprocess
from pathlib import Path

import pytest

from conftest import REPO
from daemon_support import run_check
from procs import free_port, port_accepts

SHIPPED = sorted((REPO / "Config").glob("*.conf"))

# Every key of the SPEC's table: `--check` prints each one, with a value or as "not set".
LISTENER_KEYS = ["accept", "connect", "protocol", "starttls", "cert", "key", "tls-min", "ciphers", "ciphersuites",
                 "verify", "ca-file", "ca-path", "crl-file", "verify-depth", "allow-subject", "auth",
                 "sasl-service", "sasl-config-dir", "xclient", "proxy-protocol", "accept-proxy-protocol",
                 "accept-proxy-from", "handshake-timeout", "connect-timeout", "idle-timeout", "max-connections",
                 "max-connections-per-ip", "shutdown-grace"]
DAEMON_KEYS = ["metrics", "user", "group", "pid-file", "log-level", "state-dir"]


def key_is_printed(text: str, key: str) -> bool:
    return re.search(rf"^(#\s*)?{re.escape(key)}\b", text, re.M) is not None


def section(text: str, name: str) -> str:
    """The lines of `[name]` in --check output, up to the next section."""
    m = re.search(rf"^\[{re.escape(name)}\]\s*$(.*?)(?=^\[|\Z)", text, re.M | re.S)
    assert m, f"no [{name}] section in --check output:\n{text}"
    return m.group(1)


def value_of(block: str, key: str) -> list[str]:
    return re.findall(rf"^{re.escape(key)}\s*=\s*(.*?)\s*$", block, re.M)


def test_config_dir_has_the_shipped_files():
    names = {p.name for p in SHIPPED}
    assert {"imaps.conf", "pop3s.conf", "submissions.conf", "imap-starttls.conf", "pop3-starttls.conf",
            "submission-starttls.conf"} <= names, names


@pytest.mark.parametrize("conf", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_config_passes_check(mailtunnel_bin, conf, workdir):
    r = run_check(mailtunnel_bin, "--config", conf)
    assert r.returncode == 0, f"--check --config {conf} exited {r.returncode}\n{r.stdout}\n{r.stderr}"
    name = conf.stem
    block = section(r.stdout, name)
    for key in LISTENER_KEYS:
        assert key_is_printed(block, key), f"[{name}] lacks {key}:\n{block}"
    for key in DAEMON_KEYS:
        assert key_is_printed(r.stdout, key), f"--check output lacks {key}:\n{r.stdout}"

    # the values written in the file are the effective ones
    written = {}
    for line in conf.read_text().splitlines():
        m = re.match(r"^\s*([a-z-]+)\s*=\s*(\S+)\s*$", line)
        if m:
            written.setdefault(m.group(1), []).append(m.group(2))
    port = written["accept"][0].rsplit(":", 1)[-1]
    assert any(v.rsplit(":", 1)[-1] == port for v in value_of(block, "accept")), block
    assert value_of(block, "connect") == written["connect"], block
    for key in ("protocol", "starttls", "idle-timeout", "handshake-timeout", "max-connections", "tls-min"):
        if key in written:
            assert value_of(block, key) == written[key], f"{key}: {block}"

    # the output is a config an administrator can paste back: it passes --check itself
    pasted = workdir / f"{name}.conf"
    pasted.write_text(r.stdout)
    r2 = run_check(mailtunnel_bin, "--config", pasted)
    assert r2.returncode == 0, f"--check output does not pass --check:\n{r.stdout}\n---\n{r2.stderr}"


def test_check_prints_effective_defaults(mailtunnel_bin, workdir):
    conf = workdir / "minimal.conf"
    conf.write_text("accept = 127.0.0.1:10993\nconnect = 127.0.0.1:10143\n")
    r = run_check(mailtunnel_bin, "--config", conf)
    assert r.returncode == 0, r.stderr
    block = section(r.stdout, "minimal")
    expected = {"idle-timeout": "30m", "shutdown-grace": "30s", "max-connections": "10000", "verify-depth": "9",
                "verify": "none", "starttls": "no", "tls-min": "1.2", "auth": "none", "xclient": "no",
                "proxy-protocol": "none", "accept-proxy-protocol": "no", "accept-proxy-from": "127.0.0.0/8, ::1",
                "sasl-service": "smtp",
                "protocol": "none"}
    for key, value in expected.items():
        assert value_of(block, key) == [value], f"{key}: expected {value!r}\n{block}"
    # the protocol is inferred from a well-known accept port
    conf2 = workdir / "imaps.conf"
    conf2.write_text("accept = 127.0.0.1:993\nconnect = 127.0.0.1:143\n")
    r = run_check(mailtunnel_bin, "--config", conf2)
    assert r.returncode == 0, r.stderr
    assert value_of(section(r.stdout, "imaps"), "protocol") == ["imap"], r.stdout


def test_flags_override_the_file(mailtunnel_bin, workdir):
    conf = workdir / "imaps.conf"
    conf.write_text("accept = 127.0.0.1:10993\nconnect = 127.0.0.1:10143\nidle-timeout = 5m\n")
    r = run_check(mailtunnel_bin, "--config", conf, "--idle-timeout", "7m")
    assert r.returncode == 0, r.stderr
    assert value_of(section(r.stdout, "imaps"), "idle-timeout") == ["7m"], r.stdout


def test_sections_make_several_listeners(mailtunnel_bin, workdir):
    conf = workdir / "mail.conf"
    conf.write_text("# shared\nconnect-timeout = 3s\n\n[imaps]\naccept = 127.0.0.1:10993\nconnect = 127.0.0.1:10143\n"
                    "protocol = imap\n\n[pop3s]\naccept = 127.0.0.1:10995\nconnect = 127.0.0.1:10110\n"
                    "protocol = pop3\n")
    r = run_check(mailtunnel_bin, "--config", conf)
    assert r.returncode == 0, r.stderr
    for name, proto in (("imaps", "imap"), ("pop3s", "pop3")):
        block = section(r.stdout, name)
        assert value_of(block, "protocol") == [proto], block
        assert value_of(block, "connect-timeout") == ["3s"], block


# ---- broken configs --------------------------------------------------------------------------------
def broken_cases(workdir: Path):
    """(id, files {name: text}, [(file, line, key)] expected in the errors)."""
    a, b = free_port(), free_port()
    cert_dir = workdir / "a-directory.pem"
    cert_dir.mkdir()
    head = f"# test config\naccept = 127.0.0.1:{a}\nconnect = 127.0.0.1:{b}\n"
    return [
        ("unknown-key", {"f.conf": head + "protocol = imap\nidel-timeout = 5m\n"}, [("f.conf", 5, "idel-timeout")]),
        ("bad-duration", {"f.conf": head + "idle-timeout = soon\n"}, [("f.conf", 4, "idle-timeout")]),
        ("bad-integer", {"f.conf": head + "max-connections = many\n"}, [("f.conf", 4, "max-connections")]),
        ("bad-choice", {"f.conf": head + "verify = maybe\n"}, [("f.conf", 4, "verify")]),
        ("bad-port", {"f.conf": f"accept = 127.0.0.1:99999\nconnect = 127.0.0.1:{b}\n"}, [("f.conf", 1, "accept")]),
        ("missing-connect", {"f.conf": f"# one listener\n[imaps]\naccept = 127.0.0.1:{a}\nprotocol = imap\n"},
         [("f.conf", 2, "connect")]),
        ("duplicate-accept", {"one.conf": head, "two.conf": f"# second\n\naccept = 127.0.0.1:{a}\n"
                                                             f"connect = 127.0.0.1:{b}\n"},
         [("two.conf", 3, "accept")]),
        ("cert-missing", {"f.conf": head + f"cert = {workdir}/no-such-cert.pem\n"}, [("f.conf", 4, "cert")]),
        ("cert-is-directory", {"f.conf": head + f"cert = {cert_dir}\n"}, [("f.conf", 4, "cert")]),
        ("all-errors-at-once", {"f.conf": head + "idle-timeout = soon\nbogus = 1\nverify = maybe\n"},
         [("f.conf", 4, "idle-timeout"), ("f.conf", 5, "bogus"), ("f.conf", 6, "verify")]),
    ]


CASE_IDS = ["unknown-key", "bad-duration", "bad-integer", "bad-choice", "bad-port", "missing-connect",
            "duplicate-accept", "cert-missing", "cert-is-directory", "all-errors-at-once"]


@pytest.mark.parametrize("case", CASE_IDS)
def test_broken_config_names_file_line_and_key(mailtunnel_bin, workdir, case):
    _, files, expected = next(c for c in broken_cases(workdir) if c[0] == case)
    paths = []
    for name, text in files.items():
        p = workdir / name
        p.write_text(text)
        paths.append(p)
    args = [a for p in paths for a in ("--config", p)]
    r = run_check(mailtunnel_bin, *args)
    out = r.stdout + r.stderr
    assert r.returncode == 1, f"expected exit 1, got {r.returncode}\n{out}"
    assert "configuration is valid" not in r.stdout, out
    for fname, line, key in expected:
        where = f"{workdir / fname}:{line}"
        hits = [l for l in out.splitlines() if where in l]
        assert hits, f"no error naming {where}:\n{out}"
        assert any(key in l for l in hits), f"the error at {where} does not name {key}:\n{out}"


def test_broken_config_does_not_start(mailtunnel_bin, workdir):
    port = free_port()
    conf = workdir / "imaps.conf"
    conf.write_text(f"accept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{free_port()}\nidle-timeout = soon\n")
    r = subprocess.run([mailtunnel_bin, "--config", str(conf)], capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 1, r.stderr
    assert f"{conf}:3" in r.stderr and "idle-timeout" in r.stderr, r.stderr
    assert not port_accepts("127.0.0.1", port)
