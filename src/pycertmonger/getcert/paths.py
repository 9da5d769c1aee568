"""Client-side checks of the files and directories named on getcert's command line.

The stock client checks locations before it talks to the daemon: a relative path is
made absolute (and it says so), the path is normalised, and the parent directory (for
a PEM file) or the directory itself (for an NSS database) must exist and be readable
and writable. ``add-scep-ca`` also insists that its certificate files hold PEM. Each
check either returns the value to send or raises `PathError`; the messages to print
on the way are handed to a callback, so they come out in command-line order.
"""

from __future__ import annotations

import base64
import binascii
import errno
import os
import stat
from collections.abc import Callable

NSS_PREFIXES = ("sql:", "dbm:", "rdb:", "extern:")

Say = Callable[[str], None]


class PathError(Exception):
    """A location the stock client would refuse; the message has already been shown."""


def canonicalize(path: str) -> str:
    """Lexical clean-up as certmonger does it: no ``//``, ``.`` or ``..``, no trailing ``/``.

    ``..`` is resolved without looking at the file system (the directory it leaves
    need not exist). The root directory comes out as the empty string, as it does in
    certmonger (which then fails to find it).
    """
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts) if parts else ""


def make_absolute(path: str, say: Say, cwd: str | None = None) -> str:
    """Prefix a relative path with the working directory, telling the user so."""
    if path.startswith("/"):
        return path
    here = cwd if cwd is not None else os.getcwd()
    absolute = f"{here}/{path}"
    say(f'Path "{path}" is not absolute, attempting to use "{absolute}" instead.')
    return absolute


def check_directory(path: str, say: Say) -> None:
    """The directory must exist, be a directory, and be readable and writable."""
    try:
        st = os.stat(path)
    except OSError as e:
        say(f'Path "{path}": {os.strerror(e.errno or errno.EIO)}.')
        raise PathError(path) from e
    if not stat.S_ISDIR(st.st_mode):
        say(f'Path "{path}" is not a directory.')
        raise PathError(path)
    if not os.access(path, os.R_OK | os.W_OK):
        say(f'Path "{path}": insufficient permissions.')
        raise PathError(path)


def check_regular_or_missing(path: str, say: Say) -> None:
    """The path must name a regular file, or nothing yet."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        say(f'Path "{path}" is not a regular file.')
        raise PathError(path) from e
    if not stat.S_ISREG(st.st_mode):
        say(f'Path "{path}" is not a regular file.')
        raise PathError(path)


def ensure_pem(path: str, say: Say, cwd: str | None = None) -> str:
    """A PEM file location (-f, -k, -F): absolute, normalised, in a usable directory."""
    location = canonicalize(make_absolute(path, say, cwd))
    slash = location.rfind("/")
    parent = location[:slash] if slash > 0 else "/"
    check_directory(parent, say)
    check_regular_or_missing(location, say)
    return location


def ensure_nss(path: str, say: Say, cwd: str | None = None) -> str:
    """An NSS database location (-d, -a): the directory must be usable.

    A ``sql:``/``dbm:``/``rdb:``/``extern:`` prefix is kept in front of the cleaned-up
    path (prefixes are case-sensitive, as in certmonger).
    """
    prefix = next((p for p in NSS_PREFIXES if path.startswith(p)), "")
    location = canonicalize(make_absolute(path[len(prefix):], say, cwd))
    check_directory(location, say)
    return prefix + location


def pem_blocks_valid(text: str) -> bool:
    """Whether text holds at least one PEM block and every block's body is base64.

    Anything outside the blocks is ignored and the BEGIN and END labels need not
    agree, as in certmonger. An unterminated block is invalid (certmonger's client
    loops forever on one).
    """
    found = False
    rest = text
    while (begin := rest.find("-----BEGIN")) >= 0:
        header_end = rest.find("-----", begin + len("-----BEGIN"))
        if header_end < 0:
            return False
        body_start = header_end + len("-----")
        end = rest.find("-----END", body_start)
        if end < 0:
            return False
        body = rest[body_start:end].replace("\r", "").replace("\n", "")
        try:
            if not body or not base64.b64decode(body, validate=True):
                return False
        except (binascii.Error, ValueError):
            return False
        found = True
        trailer = rest.find("-----", end + len("-----END"))
        rest = rest[trailer + len("-----"):] if trailer >= 0 else ""
    return found


def check_pem_file(path: str, what: str, say: Say) -> None:
    """add-scep-ca's check of a certificate file: readable, not empty, PEM inside.

    `what` completes "The ... in <path> is not valid PEM" ("root certificate(s)",
    "RA certificate(s)", "certificate(s)").
    """
    invalid = f"The {what} in {path} is not valid PEM"
    try:
        with open(path, "rb") as f:
            data = f.read()
    except IsADirectoryError:
        say(f"Error reading {path}: {os.strerror(errno.EISDIR)}.")
        say(invalid)
        raise PathError(path) from None
    except OSError as e:
        say(f"Unable to open {path} for reading: {os.strerror(e.errno or errno.EIO)}")
        say(invalid)
        raise PathError(path) from e
    if not data:
        say(f"{path} is an empty file.")
        say(invalid)
        raise PathError(path)
    if not pem_blocks_valid(data.decode("latin-1")):
        say(invalid)
        raise PathError(path)
