"""Notifications: certmonger's messages about a request, and delivering them.

certmonger 0.79.17 (`src/notify.c`) tells the administrator when a certificate is
about to expire, was rejected, was issued and saved (or not).  The message wording is
fixed (scripts match on it), and depends on whether the certificate lives in a file or
an NSS database.  It goes to syslog, to `mail`, to a command (in
`CERTMONGER_NOTIFICATION`), or nowhere.  Delivery failures are logged and never change
the request.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import shutil
import syslog
import time
from collections.abc import Mapping

from . import subproc
from .model import Request

log = logging.getLogger(__name__)


class NotifyEvent(enum.Enum):
    """What happened to a request that is worth telling someone."""

    VALIDITY_ENDING = "validity-ending"  # or already ended: the message says which
    REJECTED = "rejected"
    ISSUED_SAVED = "issued-saved"
    ISSUED_NOT_SAVED = "issued-not-saved"
    ISSUED_CA_NOT_SAVED = "issued-ca-not-saved"
    CA_NOT_SAVED = "ca-not-saved"


def display_time(when: int) -> str:
    """A time as certmonger writes it in messages: local time and zone name."""
    local = time.localtime(when)
    zone = local.tm_zone or "UTC"
    return time.strftime("%Y-%m-%d %H:%M:%S", local) + f" {zone}"


def message_for(event: NotifyEvent, request: Request, *, now: float | None = None) -> str:
    """certmonger's message for `event` about `request` (FILE or NSSDB wording).

    For VALIDITY_ENDING the certificate's notAfter is compared with `now` (default:
    the current time) to choose between "will not be valid after" and "is no longer
    valid".
    """
    now = time.time() if now is None else now
    if request.cert_storage_type == "NSSDB":
        where = f'named "{request.cert_nickname}"'
        if request.cert_token:
            where += f' in token "{request.cert_token}"'
        where += f' in database "{request.cert_storage_location}"'
        # certmonger's NSS wording: "to be named ..." and, with no token, "will expire at".
        stored, ending = where, ("will not be valid after" if request.cert_token
                                 else "will expire at")
    else:
        where = f'in file "{request.cert_storage_location}"'
        stored, ending = f"stored {where}", "will not be valid after"
    if event is NotifyEvent.VALIDITY_ENDING:
        if request.cert_not_after > now:
            return f"Certificate {where} {ending} {display_time(request.cert_not_after)}."
        return f"Certificate {where} is no longer valid."
    if event is NotifyEvent.REJECTED:
        return f"Request for certificate to be {stored} rejected by CA."
    if event is NotifyEvent.ISSUED_SAVED:
        return f"Certificate {where} issued by CA and saved."
    if event is NotifyEvent.ISSUED_NOT_SAVED:
        return f"Certificate {where} issued by CA but not saved."
    if event is NotifyEvent.ISSUED_CA_NOT_SAVED:
        return (f"Certificate {where} issued by CA and saved, "
                "but the CA certificate was not saved.")
    return f'CA certificate for certificate {where} (CA "{request.ca_name}") not saved.'


_FACILITIES = {
    "auth": syslog.LOG_AUTH,
    "authpriv": syslog.LOG_AUTHPRIV,
    "cron": syslog.LOG_CRON,
    "daemon": syslog.LOG_DAEMON,
    "ftp": getattr(syslog, "LOG_FTP", 11 << 3),
    "kern": syslog.LOG_KERN,
    "lpr": syslog.LOG_LPR,
    "mail": syslog.LOG_MAIL,
    "news": syslog.LOG_NEWS,
    "user": syslog.LOG_USER,
    "uucp": syslog.LOG_UUCP,
    **{f"local{n}": getattr(syslog, f"LOG_LOCAL{n}") for n in range(8)},
}
_PRIORITIES = {
    "emerg": syslog.LOG_EMERG,
    "alert": syslog.LOG_ALERT,
    "crit": syslog.LOG_CRIT,
    "err": syslog.LOG_ERR,
    "warning": syslog.LOG_WARNING,
    "notice": syslog.LOG_NOTICE,
    "info": syslog.LOG_INFO,
    "debug": syslog.LOG_DEBUG,
}


def parse_syslog_destination(destination: str) -> tuple[int, int]:
    """(facility, priority) from a destination such as `daemon.notice`.

    As certmonger: the text is cut at any of `.,:/|`; each piece naming a facility or
    a priority (case-insensitive) sets it; the rest is ignored; user.notice otherwise.
    """
    facility, priority = syslog.LOG_USER, syslog.LOG_NOTICE
    for token in _split_tokens(destination):
        token = token.lower()
        facility = _FACILITIES.get(token, facility)
        priority = _PRIORITIES.get(token, priority)
    return facility, priority


def _split_tokens(text: str) -> list[str]:
    for sep in ",:/|":
        text = text.replace(sep, ".")
    return [token for token in text.split(".") if token]


_MAIL_METHODS = {"mail", "email", "mailto"}


async def notify(
    method: str,
    destination: str,
    message: str,
    env: Mapping[str, str],
    *,
    timeout: float = subproc.DEFAULT_HOOK_TIMEOUT,
) -> bool:
    """Deliver `message` by `method` to `destination`; True when it was handed over.

    Methods: `syslog` (destination = facility.priority), `mail`/`email`/`mailto`
    (`mail -s MESSAGE DESTINATION`, empty body; default address root), `command` (the
    destination is split into argv and run without a shell, fds 0-2 on /dev/null, the
    message in CERTMONGER_NOTIFICATION), `stdout` (for tests), `none`.  An unknown
    method is treated as syslog, the default.  `env` is the base environment for the
    programs run.  Never raises: failures are logged.
    """
    kind = (method or "syslog").strip().lower()
    try:
        if kind == "none":
            return True
        if kind == "stdout":
            print(message, flush=True)
            return True
        if kind in _MAIL_METHODS:
            return await _mail(destination or "root", message, env, timeout)
        if kind == "command":
            return await _command(destination, message, env, timeout)
        if kind != "syslog":
            log.warning('Unknown notification method "%s"; using syslog.', method)
        facility, priority = parse_syslog_destination(destination)
        # syslog() can block on a busy or absent /dev/log reader: keep it off the loop.
        await asyncio.to_thread(syslog.syslog, facility | priority, message)
        return True
    except Exception:  # a notification must never take the daemon down
        log.exception("Error sending notification %r.", message)
        return False


async def _mail(address: str, message: str, env: Mapping[str, str], timeout: float) -> bool:
    program = shutil.which("mail", path=env.get("PATH", subproc.SAFE_PATH))
    if program is None:
        log.warning('No "mail" program; not mailing %r to %s.', message, address)
        return False
    result = await subproc.run(
        [program, "-s", message, address], env, timeout=timeout, output_limit=0, close_std=True
    )
    if result.exit_code != 0:
        log.warning("Mailing notification to %s: mail %s.", address, result.describe(timeout))
        return False
    return True


async def _command(
    destination: str, message: str, env: Mapping[str, str], timeout: float
) -> bool:
    try:
        argv = subproc.split_command(destination)
    except ValueError as exc:
        log.error('Error parsing "%s": %s.', destination, exc)
        return False
    if not argv:
        log.warning("No notification command set; not delivering %r.", message)
        return False
    child_env = dict(env)
    child_env["CERTMONGER_NOTIFICATION"] = message
    log.info('Running notification helper "%s".', argv[0])
    result = await subproc.run(
        argv, child_env, timeout=timeout, output_limit=0, close_std=True
    )
    if result.exit_code != 0:
        log.warning('Notification command "%s" %s.', destination, result.describe(timeout))
        return False
    return True
