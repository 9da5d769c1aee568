"""Running child programs the certmonger way: argv splitting, environment, limits."""

from __future__ import annotations

import asyncio
import os
import pwd
import sys
from pathlib import Path

import pytest

from pycertmonger.subproc import RunResult, base_environment, run, split_command

PY = sys.executable


def _run(argv, env=None, **kw) -> RunResult:
    kw.setdefault("timeout", 10)
    kw.setdefault("output_limit", 1 << 20)
    return asyncio.run(run(argv, env if env is not None else {"PATH": "/usr/bin:/bin"}, **kw))


# --- split_command ---------------------------------------------------------------------


def test_split_separates_words_on_space_tab_cr_and_lf():
    assert split_command("a b\tc\rd\ne") == ["a", "b", "c", "d", "e"]


def test_split_collapses_runs_of_separators_and_trims_the_ends():
    assert split_command("  /usr/bin/helper   -x  ") == ["/usr/bin/helper", "-x"]


def test_split_double_quotes_group_words():
    assert split_command('helper "two words" three') == ["helper", "two words", "three"]


def test_split_single_quotes_group_words():
    assert split_command("helper 'two words'") == ["helper", "two words"]


def test_split_quotes_join_adjacent_text_into_one_word():
    assert split_command("a'b c'd") == ["ab cd"]


def test_split_backslash_inside_quotes_is_literal():
    assert split_command(r'"a\b" ' + r"'c\d'") == [r"a\b", r"c\d"]


def test_split_other_quote_inside_quotes_is_literal():
    assert split_command("\"it's\" 'say \"hi\"'") == ["it's", 'say "hi"']


def test_split_backslash_escapes_a_space_outside_quotes():
    assert split_command(r"a\ b c") == ["a b", "c"]


def test_split_backslash_escapes_only_the_next_character():
    assert split_command(r"a\b c") == ["ab", "c"]


def test_split_backslash_escapes_a_quote():
    assert split_command(r"say \"hi\"") == ["say", '"hi"']


def test_split_empty_quotes_give_no_argument():
    assert split_command("helper '' x") == ["helper", "x"]


def test_split_unmatched_double_quote_is_an_error():
    with pytest.raises(ValueError, match='Unmatched "'):
        split_command('helper "oops')


def test_split_unmatched_single_quote_is_an_error():
    with pytest.raises(ValueError, match="Unmatched '"):
        split_command("helper 'oops")


def test_split_trailing_backslash_is_an_error():
    with pytest.raises(ValueError, match="escape end-of-command"):
        split_command("helper \\")


def test_split_empty_text_gives_no_words():
    assert split_command(" \t\n") == []


# --- base_environment ------------------------------------------------------------------


def test_environment_has_certmongers_fixed_values():
    env = base_environment({})
    assert env == {
        "HOME": "/run/certmonger",
        "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
        "SHELL": "/bin/sh",
        "TERM": "dumb",
        "LC_CTYPE": "C.UTF-8",
        "CERTMONGER_LOCAL_CA_DIR": "/var/lib/certmonger/local",
    }


def test_environment_drops_everything_else_from_the_daemon():
    env = base_environment({"FOO": "bar", "PATH": "/evil", "HOME": "/root", "SHELL": "zsh"})
    assert "FOO" not in env
    assert env["PATH"] == "/usr/bin:/bin:/usr/sbin:/sbin"
    assert env["HOME"] == "/run/certmonger"
    assert env["SHELL"] == "/bin/sh"


def test_environment_keeps_lc_ctype_fixed():
    assert base_environment({"LC_CTYPE": "de_DE"})["LC_CTYPE"] == "C.UTF-8"


def test_environment_uses_the_daemons_local_ca_dir():
    env = base_environment({"CERTMONGER_LOCAL_CA_DIR": "/srv/local"})
    assert env["CERTMONGER_LOCAL_CA_DIR"] == "/srv/local"


def test_environment_passes_the_config_dir_when_the_daemon_has_one():
    assert base_environment({"CERTMONGER_CONFIG_DIR": "/c"})["CERTMONGER_CONFIG_DIR"] == "/c"


def test_environment_tmpdir_is_the_daemons_certmonger_tmpdir():
    env = base_environment({"CERTMONGER_TMPDIR": "/run/cm", "TMPDIR": "/tmp/other"})
    assert env["TMPDIR"] == "/run/cm"


def test_environment_has_no_tmpdir_without_certmonger_tmpdir():
    assert "TMPDIR" not in base_environment({"TMPDIR": "/tmp/other"})


@pytest.mark.parametrize(
    "name",
    ["DBUS_SESSION_BUS_ADDRESS", "CERTMONGER_PVT_ADDRESS", "LANG", "LC_ALL", "LC_MESSAGES",
     "HTTPS_PROXY", "no_proxy", "http_proxy"],
)
def test_environment_copies_certmongers_pass_through_variables(name):
    assert base_environment({name: "v"})[name] == "v"


@pytest.mark.parametrize(
    "name",
    ["CERTMONGER_REQUESTS_DIR", "CERTMONGER_CAS_DIR", "KRB5_CONFIG", "KRB5CCNAME",
     "KRB5_KTNAME", "DBUS_SYSTEM_BUS_ADDRESS"],
)
def test_environment_copies_our_extra_pass_through_variables(name):
    assert base_environment({name: "v"})[name] == "v"


def test_session_environment_home_is_the_users_home():
    assert base_environment({"HOME": "/home/u"}, session=True)["HOME"] == "/home/u"


# --- run -------------------------------------------------------------------------------


def test_run_collects_stdout_and_exit_status():
    result = _run([PY, "-c", "import sys; print('hello'); sys.exit(3)"])
    assert (result.exit_code, result.stdout) == (3, b"hello\n")
    assert result.started and not result.timed_out and not result.truncated


def test_run_looks_up_a_bare_name_in_the_environments_path():
    assert _run(["true"]).exit_code == 0


def test_run_passes_exactly_the_given_environment():
    result = _run(["/usr/bin/env"], {"ONLY": "1"})
    assert result.stdout == b"ONLY=1\n"


def test_run_child_has_umask_077():
    result = _run([PY, "-c", "import os; print(oct(os.umask(0)))"])
    assert result.stdout.strip() == b"0o77"


def test_run_child_starts_in_root_directory_by_default():
    assert _run([PY, "-c", "import os; print(os.getcwd())"]).stdout.strip() == b"/"


def test_run_child_has_dev_null_as_stdin():
    result = _run([PY, "-c", "import os; print(os.readlink('/proc/self/fd/0'))"])
    assert result.stdout.strip() == b"/dev/null"


def test_run_child_gets_no_descriptors_beyond_the_standard_three():
    leaked = os.open("/dev/null", os.O_RDONLY)
    os.set_inheritable(leaked, True)
    try:
        listing = "import os; print(sorted(int(f) for f in os.listdir('/proc/self/fd')))"
        result = _run([PY, "-c", listing])
    finally:
        os.close(leaked)
    # 3 is the directory listing itself.
    assert result.stdout.strip() == b"[0, 1, 2, 3]"


def test_run_child_is_a_session_leader():
    result = _run([PY, "-c", "import os; print(os.getsid(0) == os.getpid())"])
    assert result.stdout.strip() == b"True"


def test_run_feeds_stdin_bytes_when_given():
    assert _run(["cat"], stdin=b"input").stdout == b"input"


def test_run_reports_a_missing_program_without_raising():
    result = _run(["/nonexistent/helper"])
    assert not result.started
    assert "No such file" in result.error


def test_run_reports_an_empty_command():
    assert _run([]).error == "empty command"


def test_run_reports_a_signal_death():
    result = _run([PY, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"])
    assert result.exit_code is None and result.signal == 15
    assert result.describe() == "was killed by signal SIGTERM"


def test_run_kills_a_program_that_overruns_its_timeout():
    result = _run(["sleep", "30"], timeout=0.3)
    assert result.timed_out and result.signal == 9
    assert result.describe(0.3) == "timed out after 0.3 s"


def test_run_timeout_kills_the_whole_process_group(tmp_path: Path):
    marker = tmp_path / "child-alive"
    script = f"sleep 0.6; touch {marker}"
    result = _run(["sh", "-c", f"sh -c '{script}' & wait"], timeout=0.2)
    assert result.timed_out
    asyncio.run(asyncio.sleep(0.9))
    assert not marker.exists()


def test_run_stops_a_program_that_prints_more_than_the_cap():
    result = _run(["yes"], output_limit=1000)
    assert result.truncated and len(result.stdout) == 1000
    assert result.signal == 9


def test_run_does_not_wait_long_for_output_held_by_a_grandchild():
    result = _run(["sh", "-c", "(sleep 20) & echo done"], timeout=10)
    assert result.exit_code == 0 and result.stdout == b"done\n"
    assert not result.timed_out


def test_run_with_close_std_collects_nothing():
    result = _run(["echo", "lost"], close_std=True)
    assert result.exit_code == 0 and result.stdout == b""


def test_run_with_close_std_gives_the_child_dev_null_on_all_three(tmp_path: Path):
    out = tmp_path / "fds"
    code = (
        f"import os; open({str(out)!r}, 'w').write("
        "' '.join(os.readlink(f'/proc/self/fd/{n}') for n in (0, 1, 2)))"
    )
    _run([PY, "-c", code], close_std=True)
    assert out.read_text() == "/dev/null /dev/null /dev/null"


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_run_as_another_uid_switches_user_and_groups():
    nobody = pwd.getpwnam("nobody")
    result = _run(["id", "-u"], uid=nobody.pw_uid)
    assert result.stdout.strip() == str(nobody.pw_uid).encode()
    groups = _run(["id", "-G"], uid=nobody.pw_uid).stdout.split()
    assert b"0" not in groups


def test_run_as_an_unknown_uid_is_skipped_and_reported():
    result = _run(["true"], uid=4_000_000_000)
    assert not result.started and "no user with UID" in result.error


@pytest.mark.skipif(os.geteuid() == 0, reason="only meaningful without root")
def test_run_as_another_uid_without_root_is_skipped_and_reported():
    result = _run(["true"], uid=0)
    assert not result.started and "without root" in result.error


def test_run_as_own_uid_needs_no_privileges():
    assert _run(["true"], uid=os.geteuid()).exit_code == 0
