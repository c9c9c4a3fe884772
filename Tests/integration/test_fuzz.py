"""The libFuzzer targets of Fuzz/ (issue 12), each run for 20 s through Scripts/fuzz: the STARTTLS dialogues,
the SMTP relay guard against its model backend, the SMTP auth gate, the PROXY decoder and both config parsers.
Every target checks its invariants on every input; a violation or a sanitizer report is a crash and fails this
test with the target's name and the crash input's path (replay it with the target binary, then make it a unit
test in Tests/MailTunnelProtocolsTests). Asserts only that each target ran and found nothing; the executions and
coverage are reported as figures."""
from __future__ import annotations

import os
import re
import subprocess

import pytest

from conftest import REPO

TARGETS = ["starttls-imap", "starttls-pop3", "starttls-smtp", "relay-guard", "auth-gate", "proxy-protocol",
           "native-config", "stunnel-config", "starttls-client", "smtp-address"]
SECONDS = 20
# The fuzz package's first build (the root package again, with sanitizers) plus 9 runs of 20 s.
TIMEOUT = 1200


@pytest.mark.slow
def test_every_fuzz_target_runs_clean(tmp_path, figures):
    env = dict(os.environ, FUZZ_WORK=str(tmp_path / "fuzz"))
    r = subprocess.run([str(REPO / "Scripts" / "fuzz"), "all", str(SECONDS)], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=TIMEOUT)
    results = {m[0]: m for m in re.findall(r"^FUZZ (\S+): executions=(\d+) cov=(\d+) ft=(\d+) exit=(\d+)$",
                                            r.stdout, re.M)}
    assert r.returncode == 0, f"Scripts/fuzz exited {r.returncode}:\n{r.stdout}\n{r.stderr[-6000:]}"
    assert sorted(results) == sorted(TARGETS), f"targets that did not report: {r.stdout}\n{r.stderr[-3000:]}"
    for name, (_, executions, cov, _ft, code) in results.items():
        assert code == "0", f"{name} exited {code}"
        assert int(executions) > 0 and int(cov) > 0, f"{name} ran no inputs: {results[name]}"
    figures(**{f"fuzz_{name.replace('-', '_')}_executions": int(m[1]) for name, m in results.items()},
            **{f"fuzz_{name.replace('-', '_')}_cov": int(m[2]) for name, m in results.items()})
