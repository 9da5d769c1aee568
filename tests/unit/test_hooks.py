"""Pre/post-save commands: which ones run around a save, and how they are run."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pycertmonger.hooks import collect_ca_commands, collect_commands, run_hooks
from pycertmonger.model import CA, Request

PY = sys.executable


def req(nickname: str = "r", *, pre: str = "", post: str = "", uid: str = "0", **kw) -> Request:
    return Request(nickname=nickname, pre_certsave_command=pre, pre_certsave_uid=uid if pre else "",
                   post_certsave_command=post, post_certsave_uid=uid if post else "", **kw)


def ca(nickname: str = "c", *, pre: str = "", post: str = "", uid: str = "0", **kw) -> CA:
    return CA(nickname=nickname, pre_save_command=pre, pre_save_uid=uid if pre else "",
              post_save_command=post, post_save_uid=uid if post else "", **kw)


# --- collect_commands ----------------------------------------------------------------


def test_own_hook_alone():
    me = req(pre="/usr/bin/stop-httpd", uid="0")
    assert collect_commands(me, [], [], "pre") == [("/usr/bin/stop-httpd", 0)]


def test_pre_and_post_pick_their_own_commands():
    me = req(pre="stop", post="start", uid="48")
    assert collect_commands(me, [], [], "post") == [("start", 48)]


def test_no_command_means_no_hook():
    assert collect_commands(req(), [], [], "pre") == []


def test_hook_without_uid_is_left_out():
    me = Request(nickname="r", pre_certsave_command="stop")
    assert collect_commands(me, [], [], "pre") == []


def test_hook_with_non_numeric_uid_is_left_out():
    me = Request(nickname="r", pre_certsave_command="stop", pre_certsave_uid="apache")
    assert collect_commands(me, [], [], "pre") == []


def test_request_sharing_a_root_file_brings_its_hook_before_ours():
    me = req("me", pre="mine", root_cert_files=["/etc/pki/ca.pem"])
    other = req("other", pre="theirs", uid="5", other_root_cert_files=["/etc/pki/ca.pem"])
    assert collect_commands(me, [other], [], "pre") == [("theirs", 5), ("mine", 0)]


def test_request_sharing_an_nss_database_brings_its_hook():
    me = req("me", other_cert_dbs=["sql:/etc/pki/nssdb"])
    other = req("other", post="reload", root_cert_dbs=["sql:/etc/pki/nssdb"])
    assert collect_commands(me, [other], [], "post") == [("reload", 0)]


def test_request_sharing_nothing_brings_no_hook():
    me = req("me", root_cert_files=["/a.pem"], root_cert_dbs=["sql:/db1"])
    other = req("other", pre="theirs", root_cert_files=["/b.pem"], root_cert_dbs=["sql:/db2"])
    assert collect_commands(me, [other], [], "pre") == []


def test_a_file_never_matches_a_database_of_the_same_name():
    me = req("me", root_cert_files=["/etc/pki/x"])
    other = req("other", pre="theirs", root_cert_dbs=["/etc/pki/x"])
    assert collect_commands(me, [other], [], "pre") == []


def test_ca_sharing_a_location_brings_its_hook_before_requests():
    me = req("me", pre="mine", root_cert_files=["/ca.pem"])
    other = req("other", pre="request-hook", root_cert_files=["/ca.pem"])
    authority = ca("IPA", pre="ca-hook", root_cert_files=["/ca.pem"])
    assert collect_commands(me, [other], [authority], "pre") == [
        ("ca-hook", 0), ("request-hook", 0), ("mine", 0)]


def test_locations_are_walked_roots_then_other_roots_then_others():
    me = req("me", root_cert_files=["/roots"], other_root_cert_files=["/oroots"],
             other_cert_files=["/others"])
    a = req("a", pre="third", other_cert_files=["/others"])
    b = req("b", pre="second", root_cert_files=["/oroots"])
    c = req("c", pre="first", root_cert_files=["/roots"])
    assert [cmd for cmd, _ in collect_commands(me, [a, b, c], [], "pre")] == [
        "first", "second", "third"]


def test_same_command_and_uid_run_once():
    me = req("me", pre="reload", root_cert_files=["/ca.pem"])
    other = req("other", pre="reload", root_cert_files=["/ca.pem"])
    authority = ca("c", pre="reload", other_cert_files=["/ca.pem"])
    assert collect_commands(me, [other], [authority], "pre") == [("reload", 0)]


def test_same_command_for_different_uids_runs_for_each():
    me = req("me", pre="reload", uid="0", root_cert_files=["/ca.pem"])
    other = req("other", pre="reload", uid="48", root_cert_files=["/ca.pem"])
    assert collect_commands(me, [other], [], "pre") == [("reload", 48), ("reload", 0)]


def test_request_in_the_table_runs_its_own_hook_at_its_place():
    me = req("me", pre="mine", root_cert_files=["/ca.pem"])
    later = req("later", pre="theirs", root_cert_files=["/ca.pem"])
    assert collect_commands(me, [me, later], [], "pre") == [("mine", 0), ("theirs", 0)]


def test_ca_save_collects_hooks_of_those_sharing_the_cas_locations():
    authority = ca("IPA", post="ca-own", root_cert_files=["/ipa.pem"])
    user = req("web", post="restart-web", other_root_cert_files=["/ipa.pem"])
    stranger = req("mail", post="restart-mail", root_cert_files=["/other.pem"])
    assert collect_ca_commands(authority, [user, stranger], [authority], "post") == [
        ("ca-own", 0), ("restart-web", 0)]


# --- run_hooks -----------------------------------------------------------------------


def run(commands, env=None, timeout=10.0):
    return asyncio.run(run_hooks(commands, env if env is not None else {"PATH": "/usr/bin:/bin"},
                                 timeout))


ME = os.geteuid()


def test_hooks_run_one_after_another_in_order(tmp_path: Path):
    log = tmp_path / "log"
    slow = f"{PY} -c \"import time; time.sleep(0.2); open('{log}', 'a').write('1')\""
    fast = f"{PY} -c \"open('{log}', 'a').write('2')\""
    results = run([(slow, ME), (fast, ME)])
    assert [r.ok for r in results] == [True, True]
    assert log.read_text() == "12"


def test_hooks_run_without_a_shell(tmp_path: Path):
    out = tmp_path / "out"
    run([(f"{PY} -c \"import sys; open('{out}', 'w').write(repr(sys.argv[1:]))\" $HOME *", ME)])
    assert out.read_text() == "['$HOME', '*']"


def test_hook_gets_exactly_the_given_environment(tmp_path: Path):
    out = tmp_path / "env"
    run([(f"{PY} -I -S -c \"import os; open('{out}', 'w').write(repr(sorted(os.environ)))\"",
          ME)], env={"PATH": "/usr/bin:/bin", "HOME": "/run/certmonger", "LC_CTYPE": "C.UTF-8"})
    assert out.read_text() == "['HOME', 'LC_CTYPE', 'PATH']"


def test_hook_has_dev_null_on_descriptors_0_to_2(tmp_path: Path):
    out = tmp_path / "fds"
    code = (f"import os; open('{out}', 'w').write(' '.join("
            "os.readlink(f'/proc/self/fd/{n}') for n in (0, 1, 2)))")
    run([(f'{PY} -c "{code}"', ME)])
    assert out.read_text() == "/dev/null /dev/null /dev/null"


def test_a_failing_hook_does_not_stop_the_next_and_is_reported(tmp_path: Path):
    marker = tmp_path / "ran"
    results = run([("false", ME), (f"touch {marker}", ME)])
    assert (results[0].ran, results[0].exit_code, results[0].ok) == (True, 1, False)
    assert results[0].error == "exited with status 1"
    assert results[1].ok and marker.exists()


def test_unparseable_hook_is_not_run():
    [result] = run([("touch 'unterminated", ME)])
    assert not result.ran and "Unmatched" in result.error


def test_missing_hook_program_is_reported():
    [result] = run([("/nonexistent/hook", ME)])
    assert not result.ran and "No such file" in result.error


def test_hook_that_overruns_the_timeout_is_killed():
    [result] = run([("sleep 30", ME)], timeout=0.3)
    assert result.ran and result.timed_out and not result.ok
    assert result.error == "timed out after 0.3 s"


def test_hook_for_an_unknown_uid_is_skipped():
    [result] = run([("true", 4_000_000_000)])
    assert not result.ran and "no user with UID" in result.error


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory any user may write to (for a hook running as someone else)."""
    path = Path(tempfile.mkdtemp(prefix="hooks-"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path)


@pytest.mark.skipif(os.geteuid() != 0, reason="running a hook as another user needs root")
def test_hook_runs_as_its_stored_uid(shared_dir: Path):
    nobody = pwd.getpwnam("nobody").pw_uid
    out = shared_dir / "id"
    [result] = run([(f"sh -c 'id -u > {out}'", nobody)])
    assert result.ok
    assert out.read_text().strip() == str(nobody)
    assert out.stat().st_mode & 0o777 == 0o600  # umask 077
