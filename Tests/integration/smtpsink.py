"""Postfix's smtp-sink as an SMTP backend that writes every received message to its own file."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from procs import Process, free_port, port_accepts, wait_until

SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"


class SmtpSink:
    def __init__(self, root: Path, host: str = "127.0.0.1", port: int | None = None):
        self.root = Path(root)
        self.host = host
        self.port = port or free_port(host)
        self.dump_dir = self.root / "messages"
        self.process: Process | None = None

    def start(self, timeout: float = 15.0) -> "SmtpSink":
        self.dump_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        os.chmod(self.dump_dir, 0o777)   # smtp-sink -u nobody writes here
        # -d DIR/%M.: one file per mail transaction; 100 = listen backlog.
        self.process = Process([SMTP_SINK, "-u", "nobody", "-d", f"{self.dump_dir}/%M.",
                                f"{self.host}:{self.port}", "100"], self.root, "smtp-sink")
        try:
            wait_until(lambda: not self.process.running() or port_accepts(self.host, self.port),
                       timeout, what="smtp-sink to listen")
            if not self.process.running():
                raise RuntimeError("smtp-sink exited")
        except Exception:
            self.stop()
            raise RuntimeError(f"smtp-sink did not start\n{self.process.describe()}")
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=5)

    def files(self) -> list[Path]:
        return sorted(p for p in self.dump_dir.rglob("*") if p.is_file())

    def wait_for_message(self, needle: bytes, timeout: float = 15.0) -> bytes:
        """The dump (envelope records + message) of the first transaction containing `needle`."""
        def find():
            for p in self.files():
                data = p.read_bytes()
                if needle in data:
                    return data
            return None
        return wait_until(find, timeout, what=f"smtp-sink to store a message containing {needle!r}")
