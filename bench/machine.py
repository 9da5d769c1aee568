"""Facts about the machine and the software versions a benchmark ran with."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata
from pathlib import Path


def _first_line(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10,
                             check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0].strip() if lines and out.returncode == 0 else None


def _last_word(line: str | None) -> str | None:
    # "D-Bus Message Bus Daemon 1.14.10" -> "1.14.10"
    return line.split()[-1] if line else None


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def _memory_gib() -> str | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return None


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _commit() -> str | None:
    repo = Path(__file__).resolve().parents[1]
    return _first_line(["git", "-C", str(repo), "describe", "--always", "--dirty"])


def machine_facts(python: str | None = None) -> dict[str, str | int | None]:
    """CPU count and model, RAM, kernel, and the versions of everything under test."""
    ours_python = _first_line([python, "--version"]) if python else None
    return {
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "ram": _memory_gib(),
        "kernel": f"{platform.system()} {platform.release()}",
        # Other work on the machine skews the figures; the load at the start shows it.
        "load average at start": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "stock certmonger": _first_line(["dpkg-query", "-W", "-f", "${Version}", "certmonger"]),
        "dbus-daemon": _last_word(_first_line(["dbus-daemon", "--version"])),
        "pycertmonger": _package_version("pycertmonger"),
        "pycertmonger commit": _commit(),
        "python (ours)": ours_python,
        "dbus-fast": _package_version("dbus-fast"),
        "cryptography": _package_version("cryptography"),
    }
