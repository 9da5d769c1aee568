"""Running child programs the way certmonger runs them.

CA helpers, pre/post-save commands and notification commands all go through here:

* the command line is split into words by `split_command` (certmonger's oddjob-style
  rules) and executed directly: never through a shell;
* the environment is rebuilt from scratch by `base_environment`;
* the child gets umask 077, cwd `/`, a new session (so the whole process group can be
  killed), and no file descriptors other than 0, 1 and 2.

Deliberate differences from certmonger 0.79.17 (no helper or hook can depend on the
original behaviour):

* stdin is `/dev/null` instead of a closed descriptor.  certmonger opens `/dev/null` on
  fd 0 but its close-on-exec sweep closes it again, so helpers start with no fd 0; a
  program that then opens a file gets fd 0 for it, and a later read of "stdin" reads
  that file.  `/dev/null` gives the same "no input" with none of the surprise.
* `run` has a timeout and a cap on the output it collects.  certmonger waits forever
  and buffers without limit, so one hung or chatty helper blocks its request (or CA)
  for good.  On either limit the child's whole process group is killed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_HELPER_TIMEOUT = 300.0  # seconds
DEFAULT_HELPER_OUTPUT_LIMIT = 1 << 20  # bytes
DEFAULT_HOOK_TIMEOUT = 600.0  # seconds

# certmonger's fixed values for the rebuilt environment (src/subproc.c).
SAFE_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
SYSTEM_HOME = "/run/certmonger"  # HOME given to children of the system daemon (observed)
DEFAULT_LOCAL_CA_DIR = "/var/lib/certmonger/local"

# After the child exits, how long to keep reading output still held open by a
# grandchild it left behind, before giving up on the rest.
_EOF_GRACE = 1.0

_WORD_BREAKS = " \t\r\n"


def split_command(text: str) -> list[str]:
    """Split a command line into argv words the way certmonger does (no shell).

    Space, tab, CR and LF separate words; single and double quotes group (inside
    either, every other character is literal, backslash included); outside quotes a
    backslash makes the next character literal.  Raises ValueError for an unmatched
    quote or a backslash at the very end.

    As in certmonger, an empty quoted word (`''`) yields no argument.  Unlike
    certmonger, a backslash escapes exactly one character: certmonger's parser leaves
    its escape flag set after an ordinary character, so `a\\b c` came out as the one
    word `ab c`; nobody can want that.
    """
    words: list[str] = []
    current: list[str] = []
    quote = ""  # the open quote character, if any
    escape = False
    for ch in text:
        if escape:
            current.append(ch)
            escape = False
        elif quote:
            if ch == quote:
                quote = ""
            else:
                current.append(ch)
        elif ch == "\\":
            escape = True
        elif ch in ("'", '"'):
            quote = ch
        elif ch in _WORD_BREAKS:
            if current:
                words.append("".join(current))
                current = []
        else:
            current.append(ch)
    if quote:
        raise ValueError(f"Unmatched {quote}")
    if escape:
        raise ValueError("Attempt to escape end-of-command")
    if current:
        words.append("".join(current))
    return words


# Variables copied from the daemon's environment, as certmonger does.
_PASSED_THROUGH = ("DBUS_SESSION_BUS_ADDRESS", "CERTMONGER_PVT_ADDRESS", "LANG")
# Our extensions (see base_environment).
_EXTRA_PASSED_THROUGH = (
    "CERTMONGER_REQUESTS_DIR",
    "CERTMONGER_CAS_DIR",
    "KRB5_CONFIG",
    "KRB5CCNAME",
    "KRB5_KTNAME",
    "DBUS_SYSTEM_BUS_ADDRESS",
)


def base_environment(daemon_env: Mapping[str, str], *, session: bool = False) -> dict[str, str]:
    """The environment certmonger gives every child, built from the daemon's own.

    Always: HOME (`/run/certmonger` for the system daemon, the user's home for a
    session daemon), PATH, SHELL=/bin/sh, TERM=dumb, LC_CTYPE=C.UTF-8 and
    CERTMONGER_LOCAL_CA_DIR.  When the daemon has them: CERTMONGER_CONFIG_DIR and
    TMPDIR (the daemon's CERTMONGER_TMPDIR, its own tmp dir).  Copied through:
    DBUS_SESSION_BUS_ADDRESS, CERTMONGER_PVT_ADDRESS, LANG, every LC_* and every
    *_PROXY / *_proxy variable.

    Deliberate extensions, passed through when set: CERTMONGER_REQUESTS_DIR and
    CERTMONGER_CAS_DIR (documented as passed by certmonger, although 0.79.17 was seen
    not to), and KRB5_CONFIG, KRB5CCNAME, KRB5_KTNAME and DBUS_SYSTEM_BUS_ADDRESS, so
    that a daemon run against a private bus or a test KDC gives its helpers the same.
    On a production system none of the latter is set, and the result is certmonger's.
    """
    if session:
        home = daemon_env.get("HOME") or _home_of_current_user()
    else:
        home = SYSTEM_HOME
    env = {
        "HOME": home,
        "PATH": SAFE_PATH,
        "SHELL": "/bin/sh",
        "TERM": "dumb",
        "LC_CTYPE": "C.UTF-8",
        "CERTMONGER_LOCAL_CA_DIR": daemon_env.get("CERTMONGER_LOCAL_CA_DIR")
        or DEFAULT_LOCAL_CA_DIR,
    }
    if daemon_env.get("CERTMONGER_CONFIG_DIR"):
        env["CERTMONGER_CONFIG_DIR"] = daemon_env["CERTMONGER_CONFIG_DIR"]
    if daemon_env.get("CERTMONGER_TMPDIR"):
        env["TMPDIR"] = daemon_env["CERTMONGER_TMPDIR"]
    # setdefault: the fixed values above (LC_CTYPE among them) win over the daemon's.
    for name, value in daemon_env.items():
        if (
            name in _PASSED_THROUGH
            or name in _EXTRA_PASSED_THROUGH
            or name.startswith("LC_")
            or name.endswith(("_PROXY", "_proxy"))
        ):
            env.setdefault(name, value)
    return env


def _home_of_current_user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        return "/"


@dataclass
class RunResult:
    """How a child program ended and what it printed on stdout.

    `exit_code` is set when it exited, `signal` when a signal killed it; both are None
    when it never started, and then `error` says why.  `timed_out` and `truncated`
    mean we killed it for running too long or printing too much.
    """

    exit_code: int | None = None
    signal: int | None = None
    stdout: bytes = b""
    timed_out: bool = False
    truncated: bool = False
    error: str = ""

    @property
    def started(self) -> bool:
        """Whether the program was executed at all."""
        return self.exit_code is not None or self.signal is not None

    def describe(self, timeout: float | None = None, output_limit: int | None = None) -> str:
        """A short phrase saying how the program ended, for logs and ca-error."""
        if self.error and not self.started:
            return self.error
        if self.timed_out:
            return f"timed out after {_seconds(timeout)} s" if timeout else "timed out"
        if self.truncated:
            if output_limit is not None:
                return f"printed more than {output_limit} bytes"
            return "printed too much"
        if self.signal is not None:
            return f"was killed by signal {_signal_name(self.signal)}"
        return f"exited with status {self.exit_code}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


class _Capture:
    """Collects a child's stdout from a pipe, up to a size limit."""

    def __init__(self, fd: int, limit: int, loop: asyncio.AbstractEventLoop) -> None:
        self.fd = fd
        self.limit = limit
        self.loop = loop
        self.buf = bytearray()
        self.truncated = False
        self.finished: asyncio.Future[None] = loop.create_future()
        os.set_blocking(fd, False)
        loop.add_reader(fd, self._on_readable)
        self._reading = True

    def _on_readable(self) -> None:
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._finish()
            return
        room = self.limit - len(self.buf)
        if len(data) > room:
            self.buf += data[:room]
            self.truncated = True
            self._finish()
            return
        self.buf += data

    def _finish(self) -> None:
        if self._reading:
            self.loop.remove_reader(self.fd)
            self._reading = False
        if not self.finished.done():
            self.finished.set_result(None)

    def close(self) -> None:
        self._finish()
        try:
            os.close(self.fd)
        except OSError:
            pass


def _user_switch(uid: int | None) -> tuple[dict[str, Any], str]:
    """Popen arguments that make the child run as `uid`, or an error saying why not.

    Like certmonger's hooks: the user's passwd entry gives the primary group, and the
    supplementary groups are the user's own (initgroups).
    """
    if uid is None or uid == os.geteuid():
        return {}, ""
    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        return {}, f"no user with UID {uid}"
    if os.geteuid() != 0:
        return {}, f"cannot run as UID {uid} ({entry.pw_name}) without root privileges"
    try:
        groups = os.getgrouplist(entry.pw_name, entry.pw_gid)
    except OSError as exc:
        return {}, f"cannot list the groups of {entry.pw_name}: {exc.strerror}"
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": groups}, ""


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


async def run(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    stdin: bytes | None = None,
    timeout: float,
    output_limit: int,
    uid: int | None = None,
    cwd: str = "/",
    close_std: bool = False,
) -> RunResult:
    """Run `argv` (no shell; a bare name is looked up in env's PATH) and collect stdout.

    stdin is `/dev/null` unless `stdin` bytes are given; stderr is the daemon's (the
    journal).  With `close_std`, stdout and stderr are `/dev/null` too and nothing is
    collected (hooks and notification commands).  With `uid`, the child runs as that
    user with its groups; when that is impossible nothing is run and `error` says why.

    The child is killed, with its whole process group, after `timeout` seconds or as
    soon as it prints more than `output_limit` bytes.  Never raises for the child's
    failures: they are described in the result.
    """
    if not argv:
        return RunResult(error="empty command")
    switch, problem = _user_switch(uid)
    if problem:
        return RunResult(error=problem)
    loop = asyncio.get_running_loop()
    read_fd = write_fd = -1
    if not close_std:
        read_fd, write_fd = os.pipe()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL if close_std else write_fd,
            stderr=subprocess.DEVNULL if close_std else None,
            env=dict(env),
            cwd=cwd,
            close_fds=True,
            start_new_session=True,
            umask=0o077,
            **switch,
        )
    except OSError as exc:
        if read_fd >= 0:
            os.close(read_fd)
        reason = exc.strerror or str(exc)
        return RunResult(error=f"cannot run {argv[0]!r}: {reason}")
    except (ValueError, subprocess.SubprocessError) as exc:
        if read_fd >= 0:
            os.close(read_fd)
        return RunResult(error=f"cannot run {argv[0]!r}: {exc}")
    finally:
        if write_fd >= 0:
            os.close(write_fd)

    capture = _Capture(read_fd, output_limit, loop) if read_fd >= 0 else None
    feeder = None
    if stdin is not None and proc.stdin is not None:
        feeder = asyncio.ensure_future(_feed(proc.stdin, stdin))
    result = RunResult()
    try:
        await _supervise(proc, capture, timeout, result)
    finally:
        if capture is not None:
            result.stdout = bytes(capture.buf)
            result.truncated = capture.truncated
            capture.close()
        if feeder is not None and not feeder.done():
            feeder.cancel()
    code = proc.returncode
    if code is not None and code < 0:
        result.signal = -code
    else:
        result.exit_code = code
    return result


async def _feed(writer: asyncio.StreamWriter, data: bytes) -> None:
    try:
        writer.write(data)
        await writer.drain()
        writer.close()
    except (BrokenPipeError, ConnectionResetError):
        pass


async def _supervise(
    proc: asyncio.subprocess.Process,
    capture: _Capture | None,
    timeout: float,
    result: RunResult,
) -> None:
    """Wait for the child to exit and its output to end, enforcing the limits."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    exited = asyncio.ensure_future(proc.wait())
    try:
        while True:
            if capture is not None and capture.truncated:
                _kill_group(proc.pid)
                break
            output_done = capture is None or capture.finished.done()
            if exited.done() and output_done:
                break
            remaining = deadline - loop.time()
            if remaining <= 0:
                result.timed_out = True
                _kill_group(proc.pid)
                break
            if exited.done():
                # The child is gone but something it started still holds stdout.
                # certmonger would wait for that too; we take what we have.
                assert capture is not None
                await asyncio.wait([capture.finished], timeout=min(remaining, _EOF_GRACE))
                break
            watch: list[asyncio.Future[Any]] = [exited]
            if capture is not None and not capture.finished.done():
                watch.append(capture.finished)
            await asyncio.wait(watch, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        await exited
    except asyncio.CancelledError:
        _kill_group(proc.pid)
        exited.cancel()
        raise
