"""The two daemons under test, each started on its own private bus with scratch state."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.support.bus import BUS_NAME, STOCK_DAEMON, STOCK_GETCERT, PrivateBus, StateDirs

__all__ = ["BUS_NAME", "STOCK_GETCERT", "DaemonSpec", "DaemonUnderTest", "ours", "stock"]


@dataclass(frozen=True)
class DaemonSpec:
    """Which daemon to run: a short name for reports and its command line."""

    name: str
    command: tuple[str, ...]


def stock() -> DaemonSpec:
    """Debian's certmonger, in the foreground on the system bus (``-S -n``)."""
    return DaemonSpec("stock", (STOCK_DAEMON, "-S", "-n"))


def ours(python: str = sys.executable) -> DaemonSpec:
    """pycertmonger's daemon run by `python`, with the same flags as the stock one."""
    return DaemonSpec("ours", (python, "-m", "pycertmonger.daemon", "-S", "-n"))


class DaemonUnderTest:
    """A daemon on a fresh private system-like bus, with state directories under `root`.

    Use it as a context manager: the bus and the daemon are started on entry and stopped
    (by their own process ids) on exit.
    """

    def __init__(self, spec: DaemonSpec, root: Path) -> None:
        self.spec = spec
        self.root = Path(root)
        self.bus = PrivateBus(self.root / "bus")
        self.dirs = StateDirs(self.root / "state")
        self.log = self.root / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """The daemon's process id."""
        if self.proc is None:
            raise RuntimeError("daemon not started")
        return self.proc.pid

    @property
    def bus_address(self) -> str:
        """The D-Bus address of the daemon's private bus."""
        return self.bus.address

    def client_env(self) -> dict[str, str]:
        """The environment for a client (getcert) that talks to this daemon."""
        return self.bus.env()

    def start(self, timeout: float = 30) -> Self:
        """Starts the bus, then the daemon, and waits until it owns its bus name."""
        self.bus.start()
        env = self.bus.env(**self.dirs.env())
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(list(self.spec.command), env=env, stdout=log,
                                         stderr=subprocess.STDOUT, cwd="/")
        deadline = time.monotonic() + timeout
        while not self.bus.name_has_owner(BUS_NAME):
            if self.proc.poll() is not None:
                tail = self.log.read_text(errors="replace")[-1500:]
                raise RuntimeError(f"{self.spec.name} daemon exited "
                                   f"(status {self.proc.returncode}): {tail.strip()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.spec.name} daemon did not take {BUS_NAME}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """Stops the daemon (SIGTERM, then SIGKILL after 15 s) and the bus."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.bus.stop()

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
