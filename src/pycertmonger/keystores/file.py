"""FILE key storage: a request's key and certificate as PEM files.

Keys are PKCS#8 PEM, encrypted with the request's PIN (`key_pin`, or the first line of
`key_pin_file`) when it has one.  Every file is replaced atomically: a temp file in the
same directory, created with O_EXCL and mode 0600 from the start so that a key is never
readable by anyone else, not even while it is written; then fsync, owner and mode, rename
over the target, fsync of the directory.  Modes: a key gets `key_perms` or, if 0, the
mode of the file it replaces or 0600; a certificate gets `cert_perms` or the mode of the
file it replaces or, for a new file, 0644 (certmonger 0.79.17 leaves new certificates at
0600 through its umask; a certificate is public and services need to read it).  Owners
(`user[:group]`, the user's primary group by default) are set as certmonger sets them:
an unknown user or a failing chown is logged and otherwise ignored.

Rekey: a candidate key is written beside the key as `<keyfile>.<marker>.key`
(certmonger's naming).  Promotion with the new certificate, `save_cert(marker=...)`, is
a pair swap in this order:

1. with `key_preserve`, copy the old key to `<keyfile>.<old-cert-serial>.key`;
2. replace the certificate file with the new certificate (atomically);
3. rename the candidate over the key file (atomic: the candidate disappears in the
   same step), then fsync the directory.

Before step 2 the pair on disk is old key + old certificate.  After step 3 it is new
key + new certificate.  Between 2 and 3 the certificate is new and the key old, but
the candidate holding the new key is still there, and the request record still names it
(`key_next_marker` is cleared only after `save_cert` returns): `read_key` checks the
certificate's public key against the key and, when they differ and that candidate
matches the certificate, finishes the promotion (step 3) before answering.  So a reader going
through `read_key` sees old+old or new+new, whenever a crash happens.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import logging
import os
import pwd
import secrets
import stat

from ..crypto import certinfo, keys
from ..model import Request
from .base import KeyStore, KeyStoreError, KeyStorePermissionError, KeyStorePinError, StoredKey

log = logging.getLogger(__name__)

DEFAULT_KEY_MODE = 0o600
DEFAULT_CERT_MODE = 0o644


def candidate_path(key_path: str, marker: str) -> str:
    """Where the candidate key with `marker` lives: `<keyfile>.<marker>.key`."""
    return f"{key_path}.{marker}.key"


def preserved_path(key_path: str, serial_hex: str) -> str:
    """Where a replaced key is kept with key_preserve: `<keyfile>.<old serial>.key`."""
    return f"{key_path}.{serial_hex}.key"


def _os_error(exc: OSError, what: str) -> KeyStoreError:
    message = f"{what}: {exc.strerror or exc}"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return KeyStorePermissionError(message)
    return KeyStoreError(message)


def _owner_ids(owner: str) -> tuple[int, int] | None:
    """(uid, gid) for `user[:group]`; None when the user is unknown (certmonger skips)."""
    user, _, group = owner.partition(":")
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except KeyError:
        log.warning("Error looking up user %r, not setting ownership.", user)
        return None
    gid = entry.pw_gid
    if group:
        try:
            gid = (grp.getgrgid(int(group)) if group.isdigit() else grp.getgrnam(group)).gr_gid
        except KeyError:
            log.warning("Error looking up group %r, using the primary group of %r.", group, user)
    return entry.pw_uid, gid


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: str, data: bytes, *, owner: str = "", perms: int = 0,
               default_mode: int = DEFAULT_KEY_MODE) -> None:
    """Replace `path` with `data` atomically and durably (see the module docstring).

    The mode is `perms`, else that of the file being replaced, else `default_mode`; the
    owner is `owner`, else that of the file being replaced (when allowed to keep it).
    """
    directory = os.path.dirname(os.path.abspath(path))
    try:
        previous: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        previous = None
    base = os.path.basename(path)
    while True:
        tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600)
            break
        except FileExistsError:
            continue
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            ids = _owner_ids(owner) if owner else None
            if ids is None and previous is not None and not owner:
                ids = (previous.st_uid, previous.st_gid)
            if ids is not None and (ids[0] != os.geteuid() or ids[1] != os.getegid()):
                try:
                    os.fchown(fd, ids[0], ids[1])
                except OSError as exc:
                    if owner:
                        log.warning("Error setting ownership on %s: %s.", path, exc.strerror)
            if perms:
                mode = perms
            elif previous is not None:
                mode = stat.S_IMODE(previous.st_mode)
            else:
                mode = default_mode
            os.fchmod(fd, mode)
            os.fsync(fd)  # contents, owner and mode are durable before the rename
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


class FileKeyStore(KeyStore):
    """Keys and certificates in PEM files (certmonger's FILE storage)."""

    def __init__(self, cipher: str = "aes128", new_cert_mode: int = DEFAULT_CERT_MODE) -> None:
        self.cipher = cipher
        self.new_cert_mode = new_cert_mode

    # -- PINs and paths ----------------------------------------------------------------

    @staticmethod
    def pin_for(request: Request) -> str | None:
        """The request's key PIN: `key_pin`, or the first line of `key_pin_file`."""
        if request.key_pin:
            return request.key_pin
        if request.key_pin_file:
            try:
                with open(request.key_pin_file, encoding="utf-8", errors="replace") as fh:
                    text = fh.read()
            except OSError as exc:
                raise KeyStorePinError(
                    f"Error reading PIN file {request.key_pin_file}: {exc.strerror}") from exc
            return text.split("\n", 1)[0].rstrip("\r") or None
        return None

    @staticmethod
    def _key_path(request: Request) -> str:
        if not request.key_storage_location:
            raise KeyStoreError("The request has no key file location.")
        return request.key_storage_location

    @staticmethod
    def _cert_path(request: Request) -> str:
        if not request.cert_storage_location:
            raise KeyStoreError("The request has no certificate file location.")
        return request.cert_storage_location

    # -- reading -----------------------------------------------------------------------

    def _load(self, path: str, pin: str | None) -> keys.PrivateKey | None:
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _os_error(exc, f"Error reading key {path}") from exc
        try:
            return keys.load_private_key(data, pin)
        except keys.KeyPinError as exc:
            raise KeyStorePinError(f"Error reading key {path}: {exc}") from exc
        except ValueError as exc:
            raise KeyStoreError(f"Error reading key {path}: {exc}") from exc

    def _cert_spki(self, request: Request) -> bytes | None:
        text = self.read_cert(request)
        if text is None:
            return None
        try:
            return bytes.fromhex(certinfo.read_cert_info(text).cert_spki)
        except ValueError:
            return None

    def read_key(self, request: Request, marker: str | None = None) -> StoredKey | None:
        """The key (or the candidate `marker`), finishing an interrupted pair swap first."""
        path = self._key_path(request)
        pin = self.pin_for(request)
        if marker:
            key = self._load(candidate_path(path, marker), pin)
            return keys.describe_key(key) if key is not None else None
        key = self._load(path, pin)
        if key is None:
            return None
        if request.cert_storage_location:
            recovered = self._recover_swap(request, path, key, pin)
            if recovered is not None:
                key = recovered
        return keys.describe_key(key)

    def _recover_swap(self, request: Request, path: str, key: keys.PrivateKey,
                      pin: str | None) -> keys.PrivateKey | None:
        """Finish a promotion that stopped after the certificate was written (step 3)."""
        try:
            spki = self._cert_spki(request)
        except KeyStoreError:
            return None
        if spki is None or spki == keys.spki_der(key):
            return None
        # Only the request's own candidate is considered: a preserved old key (same
        # naming pattern) must never be mistaken for it.
        if not request.key_next_marker:
            return None
        name = candidate_path(path, request.key_next_marker)
        try:
            candidate = self._load(name, pin)
        except KeyStoreError:
            return None
        if candidate is None or keys.spki_der(candidate) != spki:
            return None
        log.warning("Finishing an interrupted key replacement: %s -> %s", name, path)
        self._promote(name, path)
        return candidate

    def read_cert(self, request: Request) -> str | None:
        """The first certificate in the certificate file, as PEM; None when there is none."""
        path = self._cert_path(request)
        try:
            with open(path, encoding="ascii", errors="replace") as fh:
                text = fh.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _os_error(exc, f"Error reading certificate {path}") from exc
        return certinfo.first_certificate_pem(text)

    # -- writing -----------------------------------------------------------------------

    def write_key(self, request: Request, key_pem: bytes, marker: str | None = None) -> None:
        """Store a new key at the key location, or as candidate `marker` beside it."""
        path = self._key_path(request)
        target = candidate_path(path, marker) if marker else path
        pin = self.pin_for(request)
        try:
            data = keys.encode_private_key(key_pem, pin, self.cipher)
        except keys.KeyPinError as exc:
            raise KeyStorePinError(str(exc)) from exc
        except ValueError as exc:
            raise KeyStoreError(f"Error encoding key: {exc}") from exc
        perms = request.key_perms
        if not perms and marker:
            # The candidate will be renamed over the key: give it the key's mode now.
            with contextlib.suppress(OSError):
                perms = stat.S_IMODE(os.stat(path).st_mode)
        try:
            write_file(target, data, owner=request.key_owner, perms=perms,
                       default_mode=DEFAULT_KEY_MODE)
        except OSError as exc:
            raise _os_error(exc, f"Error writing key {target}") from exc

    def discard_candidate(self, request: Request, marker: str) -> None:
        """Remove candidate key `marker`, if it is there."""
        path = candidate_path(self._key_path(request), marker)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise _os_error(exc, f"Error removing candidate key {path}") from exc
        with contextlib.suppress(OSError):
            _fsync_dir(os.path.dirname(os.path.abspath(path)))

    def _write_cert(self, request: Request, pem: str) -> None:
        path = self._cert_path(request)
        try:
            write_file(path, pem.encode("ascii"), owner=request.cert_owner,
                       perms=request.cert_perms, default_mode=self.new_cert_mode)
        except OSError as exc:
            raise _os_error(exc, f"Error saving certificate {path}") from exc

    @staticmethod
    def _promote(candidate: str, path: str) -> None:
        try:
            os.replace(candidate, path)
            _fsync_dir(os.path.dirname(os.path.abspath(path)))
        except OSError as exc:
            raise _os_error(exc, f"Error replacing key {path}") from exc

    def _preserve_old_key(self, request: Request, path: str) -> None:
        """Keep the key about to be replaced as `<keyfile>.<old serial>.key`."""
        serial = ""
        try:
            old = self.read_cert(request)
            if old is not None:
                serial = certinfo.read_cert_info(old).cert_serial
        except (KeyStoreError, ValueError):
            serial = ""
        serial = serial or request.cert_serial
        if not serial:
            log.warning("No serial number for the old key %s; not preserving it.", path)
            return
        try:
            with open(path, "rb") as fh:
                data = fh.read()
            write_file(preserved_path(path, serial), data, owner=request.key_owner,
                       perms=request.key_perms, default_mode=DEFAULT_KEY_MODE)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise _os_error(exc, f"Error preserving key {path}") from exc

    def save_cert(self, request: Request, cert_pem: str, marker: str | None = None) -> None:
        """Store the certificate; with `marker`, promote that candidate key with it."""
        pem = certinfo.first_certificate_pem(cert_pem)
        if pem is None:
            raise KeyStoreError("There is no certificate to save.")
        if not marker:
            self._write_cert(request, pem)
            return
        path = self._key_path(request)
        candidate = candidate_path(path, marker)
        pin = self.pin_for(request)
        cert_spki = bytes.fromhex(certinfo.read_cert_info(pem).cert_spki)
        new_key = self._load(candidate, pin)
        if new_key is None:
            # Either already promoted (a repeat after a crash) or lost.
            current = self._load(path, pin)
            if current is None or keys.spki_der(current) != cert_spki:
                raise KeyStoreError(f"The candidate key {candidate} is missing.")
            self._write_cert(request, pem)
            return
        if keys.spki_der(new_key) != cert_spki:
            # Promoting would pair the certificate with a key it does not certify.
            raise KeyStoreError(f"The certificate is not for the candidate key {candidate}.")
        if request.key_preserve:
            self._preserve_old_key(request, path)
        self._write_cert(request, pem)  # step 2: certificate new, key old, candidate kept
        self._promote(candidate, path)  # step 3: key new, candidate gone
