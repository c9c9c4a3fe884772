"""Issue 15: docs/SCALING.md shows only configurations the tests run. Each one is a file under Config/scaling/,
included in the page verbatim after a `<!-- Config/scaling/NAME -->` marker; this checks that page and files agree
and that every file is shown. The files themselves are run by test_fleet_tickets.py (imaps-fleet.conf, haproxy.cfg,
rotate-ticket-keys) and test_reuse_port.py (imaps-upgrade.conf), through fleet_support."""
from __future__ import annotations

import re
from pathlib import Path

from fleet_support import REPO, SCALING_CONFIGS

DOC = REPO / "docs" / "SCALING.md"
BLOCK = re.compile(r"(?:<!-- (Config/scaling/[^ ]+) -->\n)?```[a-z]*\n(.*?)```", re.S)


def shown_blocks() -> list[tuple[str | None, str]]:
    return BLOCK.findall(DOC.read_text())


def test_every_block_in_scaling_md_is_a_file_under_config_scaling_verbatim():
    blocks = shown_blocks()
    assert blocks, "no configuration blocks found in docs/SCALING.md"
    for name, body in blocks:
        assert name, f"a block in SCALING.md has no <!-- Config/scaling/NAME --> marker:\n{body[:300]}"
        assert (REPO / name).read_text() == body, f"SCALING.md's copy of {name} differs from the file"


def test_every_file_under_config_scaling_is_shown_and_run_by_a_test():
    shown = {name for name, _ in shown_blocks()}
    tests = "".join(p.read_text() for p in Path(__file__).parent.glob("*.py") if p.name != Path(__file__).name)
    for path in sorted(SCALING_CONFIGS.iterdir()):
        assert f"Config/scaling/{path.name}" in shown, f"{path.name} is not shown in SCALING.md"
        assert f'"{path.name}"' in tests, f"no test runs Config/scaling/{path.name}"
