"""Where Scripts/unpack-backends put the backends that cannot be installed beside Dovecot and Postfix
(Cyrus IMAP/POP3 3.6, Sendmail 8.17): DIR/<name>/root, DIR from $MAILTUNNEL_BACKENDS_DIR or
/var/cache/mailtunnel-test."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

BACKENDS_DIR = Path(os.environ.get("MAILTUNNEL_BACKENDS_DIR", "/var/cache/mailtunnel-test"))


def unpacked_root(name: str, must_exist: str) -> Path:
    """The private root of `name`; the test run fails (never skips) when it is missing."""
    root = BACKENDS_DIR / name / "root"
    if not (root / must_exist).exists():
        pytest.fail(f"{root / must_exist} is missing: run Scripts/setup (it calls Scripts/unpack-backends) "
                    f"or set MAILTUNNEL_BACKENDS_DIR", pytrace=False)
    return root
