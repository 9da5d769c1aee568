"""Our daemon on a private system bus, driven by the stock getcert and by ours."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.support.bus import Daemon, Getcert, StateDirs


def files(tmp_path: Path, name: str) -> tuple[str, str]:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return str(out / f"{name}.crt"), str(out / f"{name}.key")


def request(getcert: Getcert, tmp_path: Path, name: str, ca: str = "SelfSign",
            *extra: str):
    crt, key = files(tmp_path, name)
    return getcert("request", "-w", "-c", ca, "-I", name, "-f", crt, "-k", key,
                   "-N", f"CN={name}.example.test", "-D", f"{name}.example.test", *extra)


def listing(getcert: Getcert, *args: str) -> str:
    result = getcert("list", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_selfsign_request_reaches_monitoring(daemon: Daemon, getcert: Getcert,
                                             tmp_path: Path) -> None:
    result = request(getcert, tmp_path, "ss")
    assert result.returncode == 0, result.stdout
    assert result.stdout == 'New signing request "ss" added.\n'
    out = listing(getcert, "-i", "ss")
    assert "\tstatus: MONITORING\n" in out
    assert "\tissuer: CN=ss.example.test\n" in out
    crt, key = files(tmp_path, "ss")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(crt).st_mode) == 0o644


def test_local_request_reaches_monitoring_and_saves_the_ca(daemon: Daemon, getcert: Getcert,
                                                          tmp_path: Path) -> None:
    ca_file = str(tmp_path / "ca.pem")
    result = request(getcert, tmp_path, "loc", "local", "-F", ca_file, "-G", "EC", "-g", "256")
    assert result.returncode == 0, result.stdout
    out = listing(getcert, "-i", "loc")
    assert "\tCA: local\n" in out
    assert ",CN=Local Signing Authority\n" in out
    assert Path(ca_file).read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_list_shows_the_stock_fields_in_order(daemon: Daemon, getcert: Getcert,
                                              tmp_path: Path) -> None:
    assert request(getcert, tmp_path, "fields").returncode == 0
    lines = listing(getcert).splitlines()
    assert lines[0] == "Number of certificates and requests being tracked: 1."
    assert lines[1] == "Request ID 'fields':"
    keys = [line.split(":", 1)[0].strip() for line in lines[2:]]
    assert keys == ["status", "stuck", "key pair storage", "certificate", "CA", "issuer",
                    "subject", "issued", "expires", "dns", "pre-save command",
                    "post-save command", "track", "auto-renew"]


def test_requests_survive_a_daemon_restart(daemon: Daemon, getcert: Getcert,
                                           tmp_path: Path) -> None:
    assert request(getcert, tmp_path, "a").returncode == 0
    assert request(getcert, tmp_path, "b", "local").returncode == 0
    before = listing(getcert)
    daemon.restart()
    assert listing(getcert) == before


def test_stop_tracking_leaves_the_files_in_place(daemon: Daemon, getcert: Getcert,
                                                 tmp_path: Path) -> None:
    assert request(getcert, tmp_path, "gone").returncode == 0
    result = getcert("stop-tracking", "-i", "gone")
    assert result.returncode == 0
    assert result.stdout == 'Request "gone" removed.\n'
    crt, key = files(tmp_path, "gone")
    assert Path(crt).exists() and Path(key).exists()
    assert listing(getcert).startswith("Number of certificates and requests being tracked: 0.")
    assert os.listdir(daemon.dirs.requests) == []


def test_start_tracking_an_existing_pair_goes_straight_to_monitoring(
        daemon: Daemon, getcert: Getcert, tmp_path: Path) -> None:
    assert request(getcert, tmp_path, "orig").returncode == 0
    assert getcert("stop-tracking", "-i", "orig").returncode == 0
    crt, key = files(tmp_path, "orig")
    before = Path(crt).read_text()
    result = getcert("start-tracking", "-w", "-c", "SelfSign", "-I", "again", "-f", crt,
                     "-k", key)
    assert result.returncode == 0, result.stdout
    assert result.stdout == 'New tracking request "again" added.\n'
    out = listing(getcert, "-i", "again")
    assert "\tstatus: MONITORING\n" in out and "\tsubject: CN=orig.example.test\n" in out
    assert Path(crt).read_text() == before  # nothing was reissued


def test_unknown_ca_is_refused_with_nothing_stored(daemon: Daemon, getcert: Getcert,
                                                   tmp_path: Path) -> None:
    crt, key = files(tmp_path, "x")
    result = getcert("request", "-c", "nosuch", "-f", crt, "-k", key)
    assert result.returncode == 1
    assert 'No CA with name "nosuch" found.' in result.stdout
    assert os.listdir(daemon.dirs.requests) == []


def test_a_missing_parent_directory_is_refused(daemon: Daemon, getcert: Getcert,
                                               tmp_path: Path) -> None:
    result = getcert("request", "-c", "SelfSign", "-f", "/nonexistent/dir/x.crt",
                     "-k", str(tmp_path / "x.key"))
    assert result.returncode == 1
    assert 'Path "/nonexistent/dir": No such file or directory.' in result.stdout
    assert os.listdir(daemon.dirs.requests) == []


def test_a_relative_path_is_made_absolute_with_a_notice(daemon: Daemon, getcert: Getcert,
                                                        tmp_path: Path) -> None:
    crt = tmp_path / "rel.crt"
    result = getcert("request", "-w", "-c", "SelfSign", "-I", "rel", "-f", "rel.crt",
                     "-k", str(tmp_path / "rel.key"), cwd=str(tmp_path))
    assert f'Path "rel.crt" is not absolute, attempting to use "{crt}" instead.' \
        in result.stdout
    assert result.returncode == 0
    assert crt.exists()


def test_a_duplicate_nickname_is_refused_with_nothing_stored(daemon: Daemon, getcert: Getcert,
                                                             tmp_path: Path) -> None:
    assert request(getcert, tmp_path, "dup").returncode == 0
    crt, key = files(tmp_path, "dup2")
    result = getcert("request", "-c", "SelfSign", "-I", "DUP", "-f", crt, "-k", key)
    assert result.returncode == 1
    assert 'There is already a request with the nickname "dup".' in result.stdout
    assert len(os.listdir(daemon.dirs.requests)) == 1


def test_a_duplicate_certificate_location_is_refused(daemon: Daemon, getcert: Getcert,
                                                     tmp_path: Path) -> None:
    assert request(getcert, tmp_path, "here").returncode == 0
    crt, _ = files(tmp_path, "here")
    result = getcert("request", "-c", "SelfSign", "-I", "there", "-f", crt,
                     "-k", str(tmp_path / "other.key"))
    assert result.returncode == 1
    assert ('Certificate at same location is already used by request with nickname '
            '"here".') in result.stdout


def test_a_key_without_a_certificate_location_is_refused(daemon: Daemon, getcert: Getcert,
                                                         tmp_path: Path) -> None:
    result = getcert("request", "-c", "SelfSign", "-k", str(tmp_path / "k.key"))
    assert result.returncode == 1
    assert os.listdir(daemon.dirs.requests) == []


def test_status_exit_codes(daemon: Daemon, getcert: Getcert, tmp_path: Path) -> None:
    assert request(getcert, tmp_path, "st").returncode == 0
    assert getcert("status", "-i", "st").returncode == 0
    assert getcert("status", "-i", "nosuch").returncode == 1


def test_resubmit_with_a_new_name_reissues(daemon: Daemon, getcert: Getcert,
                                           tmp_path: Path) -> None:
    assert request(getcert, tmp_path, "re").returncode == 0
    result = getcert("resubmit", "-w", "-i", "re", "-D", "re2.example.test")
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith('Resubmitting "re" to "SelfSign".')
    assert "\tdns: re2.example.test\n" in listing(getcert, "-i", "re")


def test_the_daemon_answers_to_a_fresh_state_directory(bus, tmp_path: Path) -> None:
    # A daemon started on an empty state writes the four built-in CAs, as stock does.
    dirs = StateDirs(tmp_path / "fresh")
    d = Daemon(bus, dirs).start()
    try:
        names = sorted(p.read_text().split("\n", 1)[0] for p in dirs.cas.iterdir())
        assert names == ["id=IPA", "id=SelfSign", "id=dogtag-ipa-renew-agent", "id=local"]
    finally:
        d.stop()
