"""Pre-save and post-save commands: which ones run around a save, and running them.

certmonger 0.79.17 (`src/hook.c`): besides a request's own command, every request and
every CA that stores CA certificates in one of the same files or NSS databases as the
request has its command run too, since rewriting those files concerns it as well.
Commands run one after another, without a shell, as the user that set them, with only
the base environment; their exit status never stops a save.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from . import subproc
from .model import CA, Request

log = logging.getLogger(__name__)

Which = Literal["pre", "post"]
HookCommand = tuple[str, int]  # (command line, UID to run it as)

_NUMERIC_UID = re.compile(r"\s*[+-]?\d+")


def _uid(text: str) -> int | None:
    """A stored UID, read as certmonger reads it (a decimal number), or None."""
    if not text or not _NUMERIC_UID.fullmatch(text):
        if text:
            log.info('Error parsing "%s" as a numeric UID.', text)
        return None
    return int(text)


@dataclass
class _Holder:
    """One request or CA as far as hooks go: its command and where it keeps CA certs."""

    command: str
    uid: str
    files: tuple[list[str], ...]
    dbs: tuple[list[str], ...]


def _request_holder(request: Request, which: Which) -> _Holder:
    if which == "pre":
        command, uid = request.pre_certsave_command, request.pre_certsave_uid
    else:
        command, uid = request.post_certsave_command, request.post_certsave_uid
    return _Holder(
        command,
        uid,
        (request.root_cert_files, request.other_root_cert_files, request.other_cert_files),
        (request.root_cert_dbs, request.other_root_cert_dbs, request.other_cert_dbs),
    )


def _ca_holder(ca: CA, which: Which) -> _Holder:
    if which == "pre":
        command, uid = ca.pre_save_command, ca.pre_save_uid
    else:
        command, uid = ca.post_save_command, ca.post_save_uid
    return _Holder(
        command,
        uid,
        (ca.root_cert_files, ca.other_root_cert_files, ca.other_cert_files),
        (ca.root_cert_dbs, ca.other_root_cert_dbs, ca.other_cert_dbs),
    )


class _Collector:
    """An ordered list of commands where a (command, UID) pair appears once."""

    def __init__(self) -> None:
        self.commands: list[HookCommand] = []

    def add(self, command: str, uid_text: str) -> None:
        # certmonger skips a hook whose command or UID is unset.
        if not command or not uid_text:
            return
        uid = _uid(uid_text)
        if uid is not None and (command, uid) not in self.commands:
            self.commands.append((command, uid))

    def add_sharing(
        self, holders: Sequence[_Holder], files: Sequence[str], dbs: Sequence[str]
    ) -> None:
        """Add the hook of every holder storing CA certs in one of `files` or `dbs`."""
        for holder in holders:
            if not holder.command or not holder.uid:
                continue
            shares = any(set(files) & set(own) for own in holder.files) or any(
                set(dbs) & set(own) for own in holder.dbs
            )
            if shares:
                self.add(holder.command, holder.uid)


def _locations(holder: _Holder) -> Iterator[tuple[list[str], list[str]]]:
    """The (files, databases) pairs for roots, other roots and other certs, in order."""
    yield from zip(holder.files, holder.dbs, strict=True)


def collect_commands(
    request: Request, others: Sequence[Request], cas: Sequence[CA], which: Which
) -> list[HookCommand]:
    """The pre- or post-save commands to run around saving `request`'s certificate.

    For the request's root, other-root and other CA-cert locations in turn: the hooks
    of the CAs, then of the requests in `others`, that store CA certs in any of the
    same files or NSS databases; and finally the request's own hook.  A command with
    the same text and UID appears once, where it first came.  `others` may include
    the request itself (the whole table, as certmonger walks it); its own hook then
    runs at its place in that walk.  Hooks with an unset or non-numeric UID are left
    out, as certmonger leaves them out.
    """
    found = _Collector()
    own = _request_holder(request, which)
    if not any(any(files) or any(dbs) for files, dbs in _locations(own)):
        # No CA-cert locations: nothing is shared, only the request's own hook applies
        # (and the table need not be walked: this is the common case, on every save).
        found.add(own.command, own.uid)
        return found.commands
    holders = [_ca_holder(ca, which) for ca in cas] + [_request_holder(r, which) for r in others]
    for files, dbs in _locations(own):
        found.add_sharing(holders, files, dbs)
    found.add(own.command, own.uid)
    return found.commands


def collect_ca_commands(
    ca: CA, requests: Sequence[Request], cas: Sequence[CA], which: Which
) -> list[HookCommand]:
    """The commands to run around saving a CA's fetched certificates.

    Like `collect_commands` for the CA's own locations; `cas` may include the CA itself
    (its own hook then runs only if it names locations, as in certmonger).
    """
    holders = [_ca_holder(c, which) for c in cas] + [_request_holder(r, which) for r in requests]
    found = _Collector()
    for files, dbs in _locations(_ca_holder(ca, which)):
        found.add_sharing(holders, files, dbs)
    return found.commands


@dataclass
class HookResult:
    """How one pre/post-save command went; `ran` is False when it could not be started."""

    command: str
    uid: int
    ran: bool
    exit_code: int | None = None
    signal: int | None = None
    timed_out: bool = False
    error: str = ""

    @property
    def ok(self) -> bool:
        """Whether the command ran and exited with status 0."""
        return self.ran and self.exit_code == 0 and not self.timed_out

    def __str__(self) -> str:
        if not self.ran:
            return f"not run: {self.error or 'could not be started'}"
        if self.timed_out:
            return "timed out and was killed"
        if self.signal is not None:
            return f"killed by signal {self.signal}"
        return f"exited with status {self.exit_code}"


async def run_hooks(
    commands: Sequence[HookCommand],
    env: Mapping[str, str],
    timeout: float = subproc.DEFAULT_HOOK_TIMEOUT,
    *,
    cwd: str = "/",
) -> list[HookResult]:
    """Run the commands one after another and report how each went.

    Each runs without a shell as its UID (with that user's groups), with `env` (the
    base environment: certmonger gives hooks nothing else) and fds 0-2 on /dev/null.
    A failure never stops the others nor the save; the results are for the caller to
    log and record.  Differences from certmonger: a command that runs longer than
    `timeout` seconds is killed with its process group, and a command is done when it
    exits, even if something it started lives on (certmonger waited for that too).
    """
    results = []
    for command, uid in commands:
        results.append(await _run_one(command, uid, env, timeout, cwd))
    return results


async def _run_one(
    command: str, uid: int, env: Mapping[str, str], timeout: float, cwd: str
) -> HookResult:
    try:
        argv = subproc.split_command(command)
    except ValueError as exc:
        log.error('Error parsing "%s": %s; not running it.', command, exc)
        return HookResult(command, uid, ran=False, error=f"cannot parse: {exc}")
    if not argv:
        return HookResult(command, uid, ran=False, error="empty command")
    outcome = await subproc.run(
        argv, env, timeout=timeout, output_limit=0, uid=uid, cwd=cwd, close_std=True
    )
    if not outcome.started:
        log.error('Not running "%s": %s.', command, outcome.error)
        return HookResult(command, uid, ran=False, error=outcome.error)
    result = HookResult(
        command,
        uid,
        ran=True,
        exit_code=outcome.exit_code,
        signal=outcome.signal,
        timed_out=outcome.timed_out,
        error="" if outcome.exit_code == 0 else outcome.describe(timeout),
    )
    if not result.ok:
        log.warning('Command "%s" %s.', command, result.error)
    return result
