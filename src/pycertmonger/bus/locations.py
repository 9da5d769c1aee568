"""Storage locations in requests: the checks certmonger makes before accepting one.

A certificate or key file must be an absolute path in a directory the daemon can read and
write, and either a regular file or not there yet; an NSS database must be such a
directory (its `sql:`/`dbm:`/`rdb:`/`extern:` prefix is kept).  The messages are
certmonger's, word for word.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import BadArgError

NSS_PREFIXES = ("sql:", "dbm:", "rdb:", "extern:")

MSG_NOT_ABSOLUTE = 'The location "{}" must be an absolute path.'
MSG_PARENT_INVALID = 'The parent of location "{}" must be a valid directory.'
MSG_PARENT_ACCESS = ('The parent of location "{}" could not be accessed due to insufficient '
                     'permissions.')
MSG_NOT_FILE = 'The location "{}" must be a file.'
MSG_NOT_DIRECTORY = 'The location "{}" must be a directory.'
MSG_DIR_ACCESS = 'The location "{}" could not be accessed due to insufficient permissions.'


@dataclass(frozen=True)
class FileSystem:
    """The two system calls the location checks make (replaceable in tests)."""

    stat: Callable[[str], os.stat_result] = os.stat
    access: Callable[[str, int], bool] = os.access


LOCAL_FS = FileSystem()


def strip_nss_prefix(location: str) -> str:
    """An NSS database location without its `sql:`/`dbm:`/`rdb:`/`extern:` prefix."""
    for prefix in NSS_PREFIXES:
        if location.startswith(prefix):
            return location[len(prefix):]
    return location


def canonical_nss_location(location: str) -> str:
    """An NSS database location without trailing slashes, its prefix kept."""
    bare = strip_nss_prefix(location)
    prefix = location[: len(location) - len(bare)]
    return prefix + (bare.rstrip("/") or "/")


def _parent(path: str) -> str:
    head = path.rsplit("/", 1)[0]
    return head or "/"


def check_file_location(path: str, argname: str, fs: FileSystem = LOCAL_FS) -> None:
    """A certificate, key or CA-bundle file: absolute, in a usable directory, and either a
    regular file or not there yet."""
    if not path.startswith("/"):
        raise BadArgError(MSG_NOT_ABSOLUTE.format(path), argname)
    parent = _parent(path)
    try:
        st = fs.stat(parent)
    except PermissionError:
        raise BadArgError(MSG_PARENT_ACCESS.format(path), argname) from None
    except OSError:
        raise BadArgError(MSG_PARENT_INVALID.format(path), argname) from None
    if not stat.S_ISDIR(st.st_mode):
        raise BadArgError(MSG_PARENT_INVALID.format(path), argname)
    if not fs.access(parent, os.R_OK | os.W_OK):
        raise BadArgError(MSG_PARENT_ACCESS.format(path), argname)
    try:
        st = fs.stat(path)
    except FileNotFoundError:
        return
    except OSError:
        raise BadArgError(MSG_NOT_FILE.format(path), argname) from None
    if not stat.S_ISREG(st.st_mode):
        raise BadArgError(MSG_NOT_FILE.format(path), argname)


def check_nss_location(location: str, argname: str, fs: FileSystem = LOCAL_FS, *,
                       access_message: bool = True) -> None:
    """An NSS database directory: absolute (after any prefix) and a writable directory.

    certmonger says "insufficient permissions" for an unreadable certificate database or
    CA-bundle database, but only "must be a directory" for a key database.
    """
    bare = strip_nss_prefix(location)
    if not bare.startswith("/"):
        raise BadArgError(MSG_NOT_ABSOLUTE.format(location), argname)
    denied = False
    try:
        st = fs.stat(bare)
        usable = stat.S_ISDIR(st.st_mode) and fs.access(bare, os.R_OK | os.W_OK)
        denied = stat.S_ISDIR(st.st_mode) and not usable
    except PermissionError:
        usable, denied = False, True
    except OSError:
        usable = False
    if not usable:
        message = MSG_DIR_ACCESS if denied and access_message else MSG_NOT_DIRECTORY
        raise BadArgError(message.format(location), argname)


def check_absolute(path: str, argname: str) -> None:
    """A PIN or challenge-password file: only its form is checked."""
    if not path.startswith("/"):
        raise BadArgError(MSG_NOT_ABSOLUTE.format(path), argname)
