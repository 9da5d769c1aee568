"""The `certmonger` command line: version, PID file, -c, the single-instance lock."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.bus import OUR_DAEMON, Daemon, PrivateBus, StateDirs


def run_daemon(bus: PrivateBus, dirs: StateDirs, *args: str,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*OUR_DAEMON, *args], env=bus.env(**dirs.env()), capture_output=True,
                          text=True, timeout=timeout, check=False)


def test_version_names_the_certmonger_version_it_is_compatible_with(
        bus: PrivateBus, dirs: StateDirs) -> None:
    result = run_daemon(bus, dirs, "-v")
    assert result.returncode == 0
    assert result.stdout.startswith("certmonger 0.79.17 ")


def test_an_unknown_option_is_a_usage_error(bus: PrivateBus, dirs: StateDirs) -> None:
    result = run_daemon(bus, dirs, "--bogus")
    assert result.returncode == 1
    assert "Usage: certmonger" in result.stderr


def test_command_runs_once_ready_and_its_status_is_the_daemons(
        bus: PrivateBus, dirs: StateDirs, tmp_path: Path) -> None:
    pidfile = tmp_path / "cm.pid"
    script = tmp_path / "probe.sh"
    script.write_text(
        "#!/bin/sh\n"
        f"test -s {pidfile} || exit 9\n"
        "dbus-send --system --print-reply --dest=org.fedorahosted.certmonger "
        "/org/fedorahosted/certmonger org.fedorahosted.certmonger.get_known_cas "
        f"> {tmp_path}/cas.txt || exit 8\n"
        "exit 3\n")
    script.chmod(0o755)
    result = run_daemon(bus, dirs, "-n", "-S", "-p", str(pidfile), "-c", str(script))
    assert result.returncode == 3, result.stderr
    assert "/org/fedorahosted/certmonger/cas/CA4" in (tmp_path / "cas.txt").read_text()
    assert not pidfile.exists()  # removed on exit


def test_a_second_daemon_on_the_same_state_refuses_to_start(
        bus: PrivateBus, dirs: StateDirs) -> None:
    first = Daemon(bus, dirs).start()
    try:
        result = run_daemon(bus, dirs, "-n", "-S", timeout=30)
        assert result.returncode == 1
        assert "another instance" in result.stderr
    finally:
        first.stop()


def test_sigterm_stops_the_daemon_cleanly(bus: PrivateBus, dirs: StateDirs) -> None:
    daemon = Daemon(bus, dirs).start()
    assert daemon.stop() == 0
    assert not bus.name_has_owner()
