"""A private system-like D-Bus daemon and certmonger daemons (ours or stock) on it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUS_NAME = "org.fedorahosted.certmonger"
STOCK_DAEMON = "/usr/sbin/certmonger"
STOCK_GETCERT = "/usr/bin/getcert"
STOCK_HELPERS = Path("/usr/lib/certmonger")
OUR_DAEMON = [sys.executable, "-m", "pycertmonger.daemon"]
OUR_GETCERT = [sys.executable, "-m", "pycertmonger.getcert.cli"]

_PERMISSIVE_POLICY = """
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
"""

# The system bus's own default policy (as Debian ships it), so that our policy file
# for the certmonger name is the only thing that lets callers in.
_SYSTEM_POLICY = """
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Monitoring"/>
  </policy>
"""


def have_stock() -> bool:
    """Whether Debian's certmonger package (daemon, getcert, helpers) is installed."""
    return os.path.exists(STOCK_DAEMON) and os.path.exists(STOCK_GETCERT)


class PrivateBus:
    """A dbus-daemon of type "system" listening on a socket in `workdir`."""

    def __init__(self, workdir: Path, *, policy_file: Path | None = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.socket = self.workdir / "system_bus_socket"
        self.address = f"unix:path={self.socket}"
        if policy_file is None:
            policy = _PERMISSIVE_POLICY
        else:
            policy = _SYSTEM_POLICY + f'  <include ignore_missing="no">{policy_file}</include>\n'
        self.config = self.workdir / "bus.conf"
        self.config.write_text(
            '<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"\n'
            ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">\n'
            "<busconfig>\n  <type>system</type>\n"
            f"  <listen>{self.address}</listen>\n  <auth>EXTERNAL</auth>\n"
            f"{policy}</busconfig>\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PrivateBus:
        self.proc = subprocess.Popen(
            ["dbus-daemon", f"--config-file={self.config}", "--nofork", "--nopidfile"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("dbus-daemon did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def env(self, **extra: str) -> dict[str, str]:
        """An environment whose system bus is this one."""
        env = dict(os.environ)
        env["DBUS_SYSTEM_BUS_ADDRESS"] = self.address
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        env.update(extra)
        return env

    def name_has_owner(self, name: str = BUS_NAME) -> bool:
        out = subprocess.run(
            ["dbus-send", "--system", "--print-reply=literal", "--dest=org.freedesktop.DBus",
             "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", f"string:{name}"],
            env=self.env(), capture_output=True, text=True, timeout=10, check=False,
        )
        return "true" in out.stdout


class StateDirs:
    """A daemon's state directories (requests, CAs, local CA, config, tmp) under `root`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.requests = self.root / "requests"
        self.cas = self.root / "cas"
        self.local = self.root / "local"
        self.config = self.root / "config"
        self.tmp = self.root / "tmp"
        self.lock = self.root / "lock"
        for d in (self.requests, self.cas, self.local, self.config, self.tmp):
            d.mkdir(parents=True, exist_ok=True)

    def env(self) -> dict[str, str]:
        return {
            "CERTMONGER_REQUESTS_DIR": str(self.requests),
            "CERTMONGER_CAS_DIR": str(self.cas),
            "CERTMONGER_LOCAL_CA_DIR": str(self.local),
            "CERTMONGER_CONFIG_DIR": str(self.config),
            "CERTMONGER_TMPDIR": str(self.tmp),
            "CERTMONGER_SYSTEM_LOCK_FILE": str(self.lock),
        }


class Daemon:
    """A certmonger daemon (ours, or the stock one) on a private bus."""

    def __init__(self, bus: PrivateBus, dirs: StateDirs, *, stock: bool = False,
                 extra_args: list[str] | None = None, extra_env: dict[str, str] | None = None):
        self.bus = bus
        self.dirs = dirs
        self.stock = stock
        self.extra_args = extra_args or []
        self.extra_env = extra_env or {}
        self.log = dirs.root / ("stock-daemon.log" if stock else "daemon.log")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def command(self) -> list[str]:
        base = [STOCK_DAEMON] if self.stock else list(OUR_DAEMON)
        return base + ["-S", "-n"] + self.extra_args

    def env(self) -> dict[str, str]:
        return self.bus.env(**self.dirs.env(), **self.extra_env)

    def start(self, timeout: float = 20) -> Daemon:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.command, env=self.env(), stdout=log,
                                         stderr=subprocess.STDOUT, cwd="/")
        deadline = time.monotonic() + timeout
        while not self.bus.name_has_owner():
            if self.proc.poll() is not None:
                raise RuntimeError(f"daemon exited: {self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError("daemon did not take its bus name")
            time.sleep(0.02)
        return self

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        deadline = time.monotonic() + 5
        while self.bus.name_has_owner() and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.proc.returncode if self.proc else None

    def restart(self) -> Daemon:
        self.stop()
        return self.start()


class Getcert:
    """Runs a getcert client (stock or ours) against a daemon's bus."""

    def __init__(self, bus: PrivateBus, *, stock: bool, dirs: StateDirs | None = None,
                 program: str = "getcert") -> None:
        self.bus = bus
        self.stock = stock
        self.dirs = dirs
        self.program = program

    def argv(self, *args: str) -> list[str]:
        if self.stock:
            return [shutil.which(self.program) or f"/usr/bin/{self.program}", *args]
        module = "pycertmonger.getcert.cli"
        code = (f"import sys; from {module} import run; "
                f"sys.exit(run(sys.argv[1:], prog={self.program!r}))")
        return [sys.executable, "-c", code, *args]

    def __call__(self, *args: str, timeout: float = 60, env: dict[str, str] | None = None,
                 cwd: str | None = None) -> subprocess.CompletedProcess[str]:
        full_env = self.bus.env(**(self.dirs.env() if self.dirs else {}))
        full_env.update(env or {})
        return subprocess.run(self.argv(*args), env=full_env, capture_output=True, text=True,
                              timeout=timeout, cwd=cwd, check=False)
