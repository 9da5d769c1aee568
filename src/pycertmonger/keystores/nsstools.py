"""One NSS database as seen through NSS's own command-line tools, certutil and pk12util.

Every call runs one tool as a subprocess (never through a shell), with stdin closed so a
tool can never stop to prompt.  Secrets never appear on a command line: the database
password and each PKCS#12 transport password go through files in a private directory
(mode 0700, files 0600) that lives only as long as the `NSSTools` context.

Failures are turned into the key-store errors the engine understands: a wrong or missing
password is `KeyStorePinError`, an absent token `KeyStoreTokenError`, a database the
(effective) user cannot open or write `KeyStorePermissionError`; "no such certificate
or key" is `NotFound`, which callers turn into "nothing stored".
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import secrets
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from .base import (
    KeyStoreError,
    KeyStorePermissionError,
    KeyStorePinError,
    KeyStoreTokenError,
)

CERTUTIL = "certutil"
PK12UTIL = "pk12util"

# The token of the database's own key and certificate store.  certmonger records it as
# the default key_token/cert_token; "" means the same.
INTERNAL_TOKENS = frozenset({"", "NSS Certificate DB", "NSS FIPS 140-2 Certificate DB"})

_PREFIXES = ("sql:", "dbm:", "extern:", "rdb:", "multiaccess:")
_SQL_FILES = ("cert9.db", "key4.db", "pkcs11.txt")
_DBM_FILES = ("cert8.db", "key3.db", "secmod.db")

# "< 0> rsa      c03b86c892e116d016e0b349f1fa663084299f85   srv"
_KEY_LINE = re.compile(r"^<\s*\d+>\s+(\S+)\s+([0-9A-Fa-f]+)\s+(.*?)\s*$")
# "srv                                                          u,u,u"
_CERT_LINE = re.compile(r"^(\S.*?)\s+([A-Za-z]*,[A-Za-z]*,[A-Za-z]*)\s*$")
_ORPHAN = "(orphan)"


class NotFound(KeyStoreError):
    """The certificate or key asked for is not in the database."""


@dataclass(frozen=True)
class KeyEntry:
    """One private key as `certutil -K` lists it."""

    key_id: str  # lowercase hex CKA_ID (NSS derives it from the public key)
    key_type: str  # "rsa", "ec", "dsa"
    name: str  # the key's nickname, else its certificate's nickname, else ""


def database_directory(location: str) -> Path:
    """The directory of an NSS database location (`sql:DIR`, `dbm:DIR` or `DIR`)."""
    for prefix in _PREFIXES:
        if location.startswith(prefix):
            return Path(location[len(prefix):])
    return Path(location)


def database_files(location: str) -> tuple[str, ...]:
    """The file names that make up a database of the location's type."""
    if location.startswith("dbm:"):
        return _DBM_FILES
    if location.startswith("sql:"):
        return _SQL_FILES
    # Without a prefix NSS opens whichever format is there (sql by default).
    directory = database_directory(location)
    if (directory / "cert8.db").exists() and not (directory / "cert9.db").exists():
        return _DBM_FILES
    return _SQL_FILES


def database_exists(location: str) -> bool:
    """Whether `location` holds an NSS certificate database (not just a directory)."""
    directory = database_directory(location)
    if location.startswith("dbm:"):
        return (directory / "cert8.db").is_file()
    if location.startswith("sql:"):
        return (directory / "cert9.db").is_file()
    return (directory / "cert9.db").is_file() or (directory / "cert8.db").is_file()


def parse_key_list(text: str) -> list[KeyEntry]:
    """The keys in `certutil -K` output."""
    keys = []
    for line in text.splitlines():
        match = _KEY_LINE.match(line)
        if match:
            name = match.group(3)
            keys.append(KeyEntry(match.group(2).lower(), match.group(1).lower(),
                                 "" if name == _ORPHAN else name))
    return keys


def parse_cert_list(text: str) -> list[str]:
    """The certificate nicknames in `certutil -L` output, once per certificate."""
    names = []
    for line in text.splitlines():
        match = _CERT_LINE.match(line)
        if match:
            names.append(match.group(1))
    return names


@dataclass(frozen=True)
class _User:
    uid: int
    gid: int
    groups: tuple[int, ...]


def _lookup_user(name: str) -> _User:
    try:
        entry = pwd.getpwnam(name) if not name.isdigit() else pwd.getpwuid(int(name))
    except KeyError as e:
        raise KeyStoreError(f'Unknown NSS user "{name}".') from e
    groups = tuple(os.getgrouplist(entry.pw_name, entry.pw_gid))
    return _User(entry.pw_uid, entry.pw_gid, groups)


def _may_access(path: Path, user: _User | None, mode: int) -> bool:
    """Whether `user` (None: this process) may access `path` with `mode` (os.R_OK...)."""
    if user is None:
        return os.access(path, mode)
    if user.uid == 0:
        return True
    try:
        st = path.stat()
    except OSError:
        return False
    if st.st_uid == user.uid:
        shift = 6
    elif st.st_gid in user.groups:
        shift = 3
    else:
        shift = 0
    bits = (st.st_mode >> shift) & 0o7
    wanted = ((4 if mode & os.R_OK else 0) | (2 if mode & os.W_OK else 0)
              | (1 if mode & os.X_OK else 0))
    return bits & wanted == wanted


class NSSTools:
    """certutil and pk12util bound to one database, one token and one password.

    Use as a context manager: the private directory for password and transfer files is
    made on first need and removed on exit.  With `user`, the tools run as that user
    (certmonger's `nss_user`), which needs root; the private directory then lives in
    the database directory, which that user can reach by definition.
    """

    def __init__(self, location: str, *, token: str = "", pin: str | None = None,
                 user: str = "", tmp_dir: Path | None = None, timeout: float = 120.0) -> None:
        self.location = location
        self.directory = database_directory(location)
        self.token = "" if token in INTERNAL_TOKENS else token
        self.pin = pin
        self.timeout = timeout
        self._tmp_parent = tmp_dir
        self._workdir: Path | None = None
        self._user: _User | None = None
        if user:
            target = _lookup_user(user)
            if target.uid != os.geteuid():
                self._user = target

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Remove the private directory and everything in it."""
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    # -- the database as a whole ------------------------------------------------------

    def exists(self) -> bool:
        """Whether the database files are there."""
        return database_exists(self.location)

    @property
    def legacy(self) -> bool:
        """Whether this is an old-style (dbm: cert8.db) database.

        Those keep one nickname per subject: `--rename` does nothing there, and a
        certificate added with a subject already present takes that subject's nickname.
        """
        return database_files(self.location) == _DBM_FILES

    def create(self) -> None:
        """Make a new database in the (existing) directory, protected by the PIN if any."""
        if not self.directory.is_dir():
            raise KeyStoreError(f'NSS database directory "{self.directory}" does not exist.')
        if self.pin:
            self._certutil("-N", "-f", self._pin_file())
        else:
            self._certutil("-N", "--empty-password")

    def tokens(self) -> list[str]:
        """The names of the tokens NSS sees with this database open."""
        out = self._certutil("-U").stdout
        return [line.split(":", 1)[1].strip() for line in out.splitlines()
                if line.strip().startswith("token:")]

    def check_token(self) -> None:
        """Raise KeyStoreTokenError unless the configured token is present."""
        if self.token and self.token not in self.tokens():
            raise KeyStoreTokenError(f'Token "{self.token}" not found.')

    # -- certificates -------------------------------------------------------------------

    def cert_nicknames(self) -> list[str]:
        """The nickname of every certificate, repeated when several share one."""
        return parse_cert_list(self._certutil("-L", *self._token_args()).stdout)

    def cert_pems(self, nickname: str) -> list[str]:
        """The PEM of every certificate with `nickname` ([] when there is none)."""
        try:
            out = self._certutil("-L", "-n", self._qualified(nickname), "-a").stdout
        except NotFound:
            return []
        begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
        return [block[block.index(begin):] + end + "\n"
                for block in out.replace("\r\n", "\n").split(end) if begin in block]

    def add_cert(self, nickname: str, pem: str, trust: str) -> None:
        """Add a certificate under `nickname` with `trust` (certutil -A)."""
        path = self._write_file("cert.pem", pem.encode())
        self._certutil("-A", "-n", nickname, "-t", trust, "-a", "-i", path,
                       "-f", self._pin_file(), *self._token_args())

    def delete_cert(self, nickname: str) -> None:
        """Delete one certificate with `nickname`, leaving its key (certutil -D)."""
        self._certutil("-D", "-n", self._qualified(nickname), "-f", self._pin_file())

    def rename_cert(self, nickname: str, new_nickname: str) -> None:
        """Give one certificate with `nickname` a new nickname (certutil --rename)."""
        self._certutil("--rename", "-n", self._qualified(nickname), "--new-n", new_nickname,
                       "-f", self._pin_file())

    # -- keys ---------------------------------------------------------------------------

    def private_keys(self) -> list[KeyEntry]:
        """The private keys in the token ([] when there is none)."""
        try:
            out = self._certutil("-K", "-f", self._pin_file(), *self._token_args()).stdout
        except NotFound:
            return []
        return parse_key_list(out)

    def delete_key(self, key_id: str) -> None:
        """Delete the private key with CKA_ID `key_id` (certutil -F -k), not its certs."""
        self._certutil("-F", "-k", key_id, "-f", self._pin_file(), *self._token_args())

    def self_sign(self, key_id: str, nickname: str, subject: str) -> None:
        """Make a throw-away self-signed certificate for an existing key (certutil -S)."""
        noise = self._write_file("noise", secrets.token_bytes(64))
        self._certutil("-S", "-k", key_id, "-n", nickname, "-s", subject, "-x", "-t", ",,",
                       "-m", str(secrets.randbits(30) + 1), "-v", "12", "-z", noise,
                       "-f", self._pin_file(), *self._token_args())

    # -- PKCS#12 transfer ---------------------------------------------------------------

    def import_pkcs12(self, data: bytes, password: str) -> None:
        """Import a PKCS#12 file's key and certificate under its friendly name.

        NSS silently picks another nickname when the friendly name is taken by a
        certificate with a different subject ("using nickname: ..."); that would leave
        the key under a name nobody looks for, so it is an error here.
        """
        p12 = self._write_file("in.p12", data)
        result = self._pk12util("-i", p12, "-w", self._write_file("in.pw", password.encode()),
                                "-k", self._pin_file(), *self._token_args())
        renamed = re.search(r"using nickname: (.*)", result.stdout + result.stderr)
        if renamed:
            raise KeyStoreError(f'NSS stored the key as "{renamed.group(1).strip()}".')

    def export_pkcs12(self, nickname: str) -> tuple[bytes, str]:
        """The certificate(s) with `nickname` and their key as PKCS#12, and its password.

        Raises NotFound when no certificate with that nickname has a key here.
        """
        password = secrets.token_urlsafe(24)
        out = self._path("out.p12")
        out.unlink(missing_ok=True)
        # Certificates are public: leaving them unencrypted (-C NONE) halves the time
        # NSS spends on its 600000-round password hashing.
        self._pk12util("-o", str(out), "-n", self._qualified(nickname), "-C", "NONE",
                       "-w", self._write_file("out.pw", password.encode()),
                       "-k", self._pin_file())
        try:
            return out.read_bytes(), password
        finally:
            out.unlink(missing_ok=True)

    # -- running the tools --------------------------------------------------------------

    def _token_args(self) -> list[str]:
        return ["-h", self.token] if self.token else []

    def _qualified(self, nickname: str) -> str:
        # Objects on a token other than the database's own are named "token:nickname".
        return f"{self.token}:{nickname}" if self.token else nickname

    def _certutil(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self._run([CERTUTIL, *args[:1], "-d", self.location, *args[1:]])

    def _pk12util(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self._run([PK12UTIL, *args[:2], "-d", self.location, *args[2:]])

    def _run(self, argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        user = self._user
        try:
            result = subprocess.run(
                list(argv), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=self.timeout, check=False,
                user=user.uid if user else None, group=user.gid if user else None,
                extra_groups=list(user.groups) if user else None)
        except FileNotFoundError as e:
            raise KeyStoreError(f"{argv[0]} is not installed.") from e
        except PermissionError as e:
            raise KeyStorePermissionError(f"Cannot run {argv[0]}: {e}.") from e
        except subprocess.TimeoutExpired as e:
            raise KeyStoreError(f"{argv[0]} did not finish in {self.timeout:g} s.") from e
        if result.returncode != 0:
            raise self._failure(argv[0], result)
        return result

    def _failure(self, tool: str, result: subprocess.CompletedProcess[str]) -> KeyStoreError:
        text = (result.stderr + result.stdout).strip()
        message = f"{tool} failed on {self.location}: {text or f'exit {result.returncode}'}"
        if any(s in text for s in ("SEC_ERROR_BAD_PASSWORD", "Incorrect password",
                                   "SEC_ERROR_TOKEN_NOT_LOGGED_IN")):
            return KeyStorePinError(message)
        if any(s in text for s in ("PR_NO_ACCESS_RIGHTS_ERROR", "SEC_ERROR_READ_ONLY",
                                   "PR_READ_ONLY_FILESYSTEM_ERROR", "Permission denied")):
            return KeyStorePermissionError(message)
        if "SEC_ERROR_BAD_DATABASE" in text:
            # NSS says "bad database" both when there is none and when it may not open
            # the one there; certmonger tells these apart the same way (the files are
            # there, but not for us).
            if not self._accessible():
                return KeyStorePermissionError(message)
            if not self.exists():
                return NotFound(message)
        if any(s in text for s in ("SEC_ERROR_UNKNOWN_CERT", "Could not find cert",
                                   "could not find certificate named", "no keys found",
                                   "no user certs from given nickname")):
            return NotFound(message)
        if "SEC_ERROR_NO_TOKEN" in text or "SEC_ERROR_TOKEN_NOT_FOUND" in text:
            return KeyStoreTokenError(message)
        return KeyStoreError(message)

    def _accessible(self) -> bool:
        """Whether the tools' user may use the directory and the database files in it."""
        if not _may_access(self.directory, self._user, os.R_OK | os.W_OK | os.X_OK):
            return not self.directory.exists()
        for name in database_files(self.location):
            path = self.directory / name
            if path.exists() and not _may_access(path, self._user, os.R_OK | os.W_OK):
                return False
        return True

    # -- the private directory ----------------------------------------------------------

    def _dir(self) -> Path:
        if self._workdir is None:
            if self._user is not None:
                parent: Path | None = self.directory
            else:
                parent = self._tmp_parent
            path = Path(tempfile.mkdtemp(prefix=".pycertmonger-nss-", dir=parent))
            if self._user is not None:
                os.chown(path, self._user.uid, self._user.gid)
            self._workdir = path
        return self._workdir

    def _path(self, name: str) -> Path:
        return self._dir() / name

    def _write_file(self, name: str, data: bytes) -> str:
        path = self._path(name)
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, stat.S_IRUSR
                     | stat.S_IWUSR)
        try:
            if self._user is not None:
                os.fchown(fd, self._user.uid, self._user.gid)
            os.write(fd, data)
        finally:
            os.close(fd)
        return str(path)

    def _pin_file(self) -> str:
        # Always hand the tools a password file, empty when there is no PIN: without one
        # they would try to prompt on a terminal.
        path = self._path("db.pw")
        if not path.exists():
            self._write_file("db.pw", ((self.pin or "") + "\n").encode())
        return str(path)


def owner_ids(owner: str) -> tuple[int, int]:
    """Resolve certmonger's `user[:group]` to (uid, gid); -1 leaves a part unchanged."""
    user, _, group = owner.partition(":")
    uid = gid = -1
    try:
        if user:
            uid = int(user) if user.isdigit() else pwd.getpwnam(user).pw_uid
        if group:
            gid = int(group) if group.isdigit() else grp.getgrnam(group).gr_gid
    except KeyError as e:
        raise KeyStoreError(f'Unknown owner "{owner}".') from e
    return uid, gid
