"""Keys and certificates kept in an NSS database (certmonger's NSSDB storage type).

The engine makes keys and CSRs in Python, so this store has to move PEM keys in and out
of a database with NSS's own tools (certutil, pk12util; see `nsstools`).  The database
ends up laid out as certmonger leaves it (key and certificate under the nickname, the
certificate trusted `u,u,u`), so certmonger, certutil and every NSS application read it
the usual way.  Keys must be exportable, which those on the database's own token are;
keys on hardware tokens usually are not, and reading them fails.

How a key gets in.  certutil cannot import a bare private key and pk12util wants a
certificate with it, so `write_key` wraps the key in a PKCS#12 with a throw-away
self-signed *placeholder* certificate whose friendly name is the key's nickname, imports
it, and deletes the placeholder again (`certutil -D` removes a certificate and leaves its
key).  The key stays behind under that nickname; NSS gives it the usual CKA_ID (a hash of
the public key), so the certificate `certutil -A` adds later pairs with it.  Placeholders
carry the organisation `PLACEHOLDER_ORG`, and `read_cert` never returns one.

How a key gets out.  `read_key` exports the certificate and its key with `pk12util -o`.
A key without a certificate (a fresh key, a rekey candidate) is exported through a
temporary self-signed certificate made for it with `certutil -S -k <key id>`, which is
deleted right after.

Names, as certmonger uses them: the key is `<key nickname>`, a rekey candidate
`<key nickname> (candidate <marker>)`, and with key_preserve the replaced key is kept as
`<key nickname> (serial <old certificate serial, hex>)`.  While saving, certificates
being replaced are parked as `<cert nickname> (replaced)`.

NSS quirks this works around: pk12util names a certificate after any certificate with
the same subject already there, and quietly renames it when its nickname belongs to a
certificate with another subject; so placeholders get unique subjects and nothing else
may hold the nickname while one is imported.  `certutil -D -n` and `--rename` pick an
arbitrary certificate when several share a nickname, so this module never lets a
nickname it deletes by be shared with one it keeps.  Old-style (dbm) databases allow one
nickname per subject and cannot rename; there, parked certificates are deleted at once.

Crash safety.  NSS offers no transaction across tool runs, so `save_cert` runs steps
that each leave a state `read_cert`/`read_key` make sense of, and it converges: calling
it again with the same certificate and marker finishes the job.  In order:

1. certificates named `<cert nickname>` are renamed to `... (replaced)`;
   (crash: `read_cert` gives None, the candidate is intact, the old certificate remains)
2. rekey only: the old key is deleted, or renamed to `(serial N)` with key_preserve;
   (crash: `read_key()` gives None, `read_key(marker)` the candidate)
3. rekey only: the candidate key is renamed to the key nickname;
   (crash: `read_key(marker)` gives None, `read_key()` the new key)
4. the new certificate is added with trust `u,u,u`;
   (from here `read_cert` and `read_key()` give the new pair)
5. parked certificates and stale candidates are deleted, owners and modes applied.

So after a crash in SAVING_CERT the engine calls `save_cert` again with the issued
certificate it has on record, before relying on what the database holds.

A database directory that exists but holds no database is initialised on the first
write (`certutil -N`, with the PIN as its password when one is configured, else with an
empty password), as certmonger does; a missing directory is an error.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import secrets
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from ..crypto.keys import describe_key
from ..model import Request
from .base import KeyStore, KeyStoreError, KeyStorePermissionError, KeyStorePinError, StoredKey
from .nsstools import (
    INTERNAL_TOKENS,
    KeyEntry,
    NotFound,
    NSSTools,
    database_directory,
    database_exists,
    owner_ids,
)

__all__ = [
    "PLACEHOLDER_ORG",
    "USER_TRUST",
    "NSSDBKeyStore",
    "candidate_nickname",
    "database_exists",
    "key_id",
    "preserved_nickname",
    "save_ca_certs",
]

USER_TRUST = "u,u,u"  # what certmonger gives the certificate it saves
PLACEHOLDER_ORG = "pycertmonger key placeholder"

_KEY_FILES = ("key4.db", "key3.db")
_CERT_FILES = ("cert9.db", "cert8.db", "pkcs11.txt", "secmod.db")

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | dsa.DSAPrivateKey


def candidate_nickname(nickname: str, marker: str) -> str:
    """The NSS nickname certmonger gives a rekey candidate key."""
    return f"{nickname} (candidate {marker})"


def preserved_nickname(nickname: str, serial: str) -> str:
    """The NSS nickname of a key kept after a rekey (key_preserve)."""
    return f"{nickname} (serial {serial})"


def _replaced(nickname: str) -> str:
    return f"{nickname} (replaced)"


def _moved(nickname: str) -> str:
    return f"{nickname} (moved)"


def key_id(public_key: object) -> str:
    """NSS's CKA_ID for a public key, as `certutil -K` shows it.

    NSS derives it as SHA-1 of the RSA modulus, the EC public point or the DSA public
    value.
    """
    if isinstance(public_key, rsa.RSAPublicKey):
        n = public_key.public_numbers().n
        data = n.to_bytes((n.bit_length() + 7) // 8, "big")
    elif isinstance(public_key, ec.EllipticCurvePublicKey):
        data = public_key.public_bytes(serialization.Encoding.X962,
                                       serialization.PublicFormat.UncompressedPoint)
    elif isinstance(public_key, dsa.DSAPublicKey):
        y = public_key.public_numbers().y
        data = y.to_bytes((y.bit_length() + 7) // 8, "big")
    else:
        raise KeyStoreError("Only RSA, EC and DSA keys can be kept in an NSS database.")
    return hashlib.sha1(data).hexdigest()


def _serial_hex(cert: x509.Certificate) -> str:
    # The DER INTEGER's content octets, as certmonger records cert_serial.
    n = cert.serial_number
    return n.to_bytes(n.bit_length() // 8 + 1, "big").hex().upper()


def _load_key(key_pem: bytes) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(key_pem, password=None,
                                                     unsafe_skip_rsa_key_validation=True)
    except ValueError as e:
        raise KeyStoreError(f"Not a usable private key: {e}.") from e
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, dsa.DSAPrivateKey)):
        raise KeyStoreError("Only RSA, EC and DSA keys can be kept in an NSS database.")
    return key


def _load_pkcs12(data: bytes, password: str) -> PrivateKey:
    # pk12util writes BER (indefinite lengths); cryptography reads it but warns.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        bundle = pkcs12.load_pkcs12(data, password.encode())
    key = bundle.key
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, dsa.DSAPrivateKey)):
        raise NotFound("The NSS export holds no usable private key.")
    return key


def _placeholder(key: PrivateKey) -> x509.Certificate:
    """A throw-away self-signed certificate that carries `key` into the database.

    Its subject is unique, so NSS has no other certificate to borrow a nickname from.
    """
    name = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME,
                           f"{key_id(key.public_key())} {secrets.token_hex(4)}"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, PLACEHOLDER_ORG),
    ])
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))


def _is_placeholder(cert: x509.Certificate) -> bool:
    orgs = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return any(a.value == PLACEHOLDER_ORG for a in orgs)


def _certs(pems: Sequence[str]) -> list[x509.Certificate]:
    return [x509.load_pem_x509_certificate(p.encode()) for p in pems]


def _real(certs: Sequence[x509.Certificate]) -> list[x509.Certificate]:
    return [c for c in certs if not _is_placeholder(c)]


def _read_pin(request: Request) -> str | None:
    """The database password: key_pin, else the first line of key_pin_file."""
    if request.key_pin:
        return request.key_pin
    if request.key_pin_file:
        try:
            with open(request.key_pin_file, encoding="utf-8") as f:
                return f.readline().rstrip("\r\n")
        except OSError as e:
            raise KeyStorePinError(f'Cannot read PIN file "{request.key_pin_file}": '
                                   f"{e.strerror}.") from e
    return None


class NSSDBKeyStore(KeyStore):
    """Keys and certificates in NSS databases, through certutil and pk12util.

    `tmp_dir` is where the private directories for password and transfer files are made
    (the daemon's CERTMONGER_TMPDIR; None: the system default).
    """

    def __init__(self, *, tmp_dir: Path | None = None, timeout: float = 120.0) -> None:
        self.tmp_dir = tmp_dir
        self.timeout = timeout

    # -- KeyStore -----------------------------------------------------------------------

    def read_key(self, request: Request, marker: str | None = None) -> StoredKey | None:
        """The current key (or the candidate with `marker`); None when there is none."""
        nickname = self._key_nickname(request)
        with self._key_db(request) as db:
            if not db.exists():
                return None
            db.check_token()
            if marker is None and self._same_db(request):
                # The usual case: the key that pairs with the certificate.
                try:
                    return describe_key(self._export(db, self._cert_nickname(request)))
                except NotFound:
                    pass
            wanted = nickname if marker is None else candidate_nickname(nickname, marker)
            for entry in db.private_keys():
                if entry.name == wanted:
                    return describe_key(self._export_key(db, entry, nickname))
            return None

    def write_key(self, request: Request, key_pem: bytes, marker: str | None = None) -> None:
        """Store a new key under the key nickname, or as the candidate `marker`."""
        key = _load_key(key_pem)
        nickname = self._key_nickname(request)
        with self._key_db(request) as db:
            self._ensure_db(db)
            db.check_token()
            keys = db.private_keys()
            if marker is None:
                label = nickname
                # The key location is being (re)filled: drop whatever key holds the name.
                stale = [k for k in keys if k.name == nickname]
            else:
                label = candidate_nickname(nickname, marker)
                # certmonger removes any older candidate when it makes a new one.
                stale = [k for k in keys if k.name.startswith(f"{nickname} (candidate ")]
                self._delete_certs(db, lambda n: n.startswith(f"{nickname} (candidate "))
            new_id = key_id(key.public_key())
            for entry in stale:
                if entry.key_id != new_id:
                    db.delete_key(entry.key_id)
            self._import_key(db, key, label)
        self._apply_owners(request.key_storage_location, request)

    def discard_candidate(self, request: Request, marker: str) -> None:
        """Remove the candidate key `marker` (and any placeholder left with it)."""
        label = candidate_nickname(self._key_nickname(request), marker)
        with self._key_db(request) as db:
            if not db.exists():
                return
            db.check_token()
            in_use = set()
            if self._same_db(request):
                in_use = {key_id(c.public_key())
                          for c in _real(_certs(db.cert_pems(self._cert_nickname(request))))}
            for entry in db.private_keys():
                if entry.name == label and entry.key_id not in in_use:
                    db.delete_key(entry.key_id)
            self._delete_certs(db, lambda n: n == label)

    def read_cert(self, request: Request) -> str | None:
        """The certificate stored under the nickname as PEM, or None."""
        with self._cert_db(request, writing=False) as db:
            if not db.exists():
                return None
            db.check_token()
            certs = _real(_certs(db.cert_pems(self._cert_nickname(request))))
            if not certs:
                return None
            # Several can share a nickname (older certmonger kept renewed ones); NSS
            # itself prefers the newest, so do the same.
            best = max(certs, key=lambda c: (c.not_valid_before_utc, c.not_valid_after_utc))
            return best.public_bytes(serialization.Encoding.PEM).decode()

    def save_cert(self, request: Request, cert_pem: str, marker: str | None = None) -> None:
        """Store the issued certificate under the nickname (trust u,u,u).

        With `marker`, a certificate for the candidate key promotes it to the key
        nickname and retires the old key; one for the old key discards the candidate.
        Safe to call again after a crash: see the module documentation.
        """
        try:
            cert = x509.load_pem_x509_certificate(cert_pem.encode())
        except ValueError as e:
            raise KeyStoreError(f"Not a certificate: {e}.") from e
        pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        key_nick, cert_nick = self._key_nickname(request), self._cert_nickname(request)
        new_id = key_id(cert.public_key())
        with self._cert_db(request) as cdb, self._key_db(request) as kdb:
            self._ensure_db(cdb)
            cdb.check_token()
            if not self._same_db(request):
                self._ensure_db(kdb)
                kdb.check_token()
            current = _certs(cdb.cert_pems(cert_nick))
            already = len(current) == 1 and current[0] == cert

            promote: PrivateKey | None = None
            retire: list[tuple[KeyEntry, PrivateKey | None, str]] = []
            stale: list[KeyEntry] = []
            if marker is not None:
                keys = kdb.private_keys()
                by_id = {k.key_id: k for k in keys}
                new_key = by_id.get(new_id)
                # A certificate for a key that is not here changes no key.
                if new_key is not None:
                    if new_key.name != key_nick:
                        promote = self._export_key(kdb, new_key, key_nick)
                    retire = self._old_keys(request, kdb, keys, current, new_id)
                    stale = [k for k in keys if k.key_id != new_id and
                             k.name.startswith(f"{key_nick} (candidate ")]
                    already = already and promote is None and not retire

            if not already:
                # 1. Park what holds the nickname now.
                self._park(cdb, cert_nick, len(current))
                # 2. Retire the old key.
                for entry, old_key, serial in retire:
                    if old_key is not None:
                        self._import_key(kdb, old_key, preserved_nickname(key_nick, serial))
                    else:
                        kdb.delete_key(entry.key_id)
                # 3. Promote the candidate.
                if promote is not None:
                    self._import_key(kdb, promote, key_nick)
                # 4. The new certificate pairs with its key by CKA_ID.
                cdb.add_cert(cert_nick, pem, USER_TRUST)
                if cdb.legacy and cert not in _certs(cdb.cert_pems(cert_nick)):
                    raise KeyStoreError(f'The certificate\'s subject is already stored in '
                                        f'"{cdb.location}" under another nickname.')
            # 5. Clean up.
            for entry in stale:
                kdb.delete_key(entry.key_id)
            self._sweep(cdb, kdb if not self._same_db(request) else None, key_nick,
                        cert_nick, candidates=marker is not None)
        self._apply_owners(self._cert_location(request), request)
        if not self._same_db(request):
            self._apply_owners(request.key_storage_location, request)

    # -- CA certificates ----------------------------------------------------------------

    def save_ca_certs(self, location: str, certs: Sequence[tuple[str, str]], trust: str, *,
                      pin: str | None = None) -> None:
        """Add CA certificates (nickname, PEM) to a database with `trust`.

        certmonger uses nss_ca_trust (`CT,C,C`) for roots and nss_other_trust (`,,`)
        for other certificates, and never prunes these databases.  A certificate already
        there keeps its nickname and gets `trust`; a nickname taken by a certificate
        with another subject gets NSS's own " #2", " #3"... suffix.
        """
        with NSSTools(location, pin=pin, tmp_dir=self.tmp_dir, timeout=self.timeout) as db:
            self._ensure_db(db)
            for nickname, pem in certs:
                self._add_ca_cert(db, nickname, pem, trust)

    @staticmethod
    def _add_ca_cert(db: NSSTools, nickname: str, pem: str, trust: str) -> None:
        cert = x509.load_pem_x509_certificate(pem.encode())
        candidates = [nickname] + [f"{nickname} #{n}" for n in range(2, 100)]
        for name in candidates:
            held = _certs(db.cert_pems(name))
            if held and all(c.subject != cert.subject for c in held):
                continue
            db.add_cert(name, cert.public_bytes(serialization.Encoding.PEM).decode(), trust)
            return
        raise KeyStoreError(f'No free nickname for CA certificate "{nickname}".')

    # -- helpers ------------------------------------------------------------------------

    @staticmethod
    def _key_nickname(request: Request) -> str:
        return request.key_nickname or request.cert_nickname or request.nickname

    @staticmethod
    def _cert_nickname(request: Request) -> str:
        return request.cert_nickname or request.key_nickname or request.nickname

    @staticmethod
    def _cert_location(request: Request) -> str:
        return request.cert_storage_location or request.key_storage_location

    def _same_db(self, request: Request) -> bool:
        """Whether key and certificate live in one database and token (the usual case)."""
        def token(name: str) -> str:
            return "" if name in INTERNAL_TOKENS else name

        return (database_directory(self._cert_location(request))
                == database_directory(request.key_storage_location)
                and token(request.cert_token) == token(request.key_token))

    def _key_db(self, request: Request) -> NSSTools:
        return NSSTools(request.key_storage_location, token=request.key_token,
                        pin=_read_pin(request), user=request.nss_user, tmp_dir=self.tmp_dir,
                        timeout=self.timeout)

    def _cert_db(self, request: Request, *, writing: bool = True) -> NSSTools:
        # Reading a certificate needs no login, so no PIN either.
        return NSSTools(self._cert_location(request), token=request.cert_token,
                        pin=_read_pin(request) if writing else None, user=request.nss_user,
                        tmp_dir=self.tmp_dir, timeout=self.timeout)

    @staticmethod
    def _ensure_db(db: NSSTools) -> None:
        if not db.exists():
            db.create()

    @staticmethod
    def _export(db: NSSTools, nickname: str) -> PrivateKey:
        data, password = db.export_pkcs12(nickname)
        return _load_pkcs12(data, password)

    def _export_key(self, db: NSSTools, entry: KeyEntry, nickname: str) -> PrivateKey:
        """A key that may have no certificate: export it through a temporary one."""
        label = f"{nickname} (export {secrets.token_hex(4)})"
        db.self_sign(entry.key_id, label,
                     f"CN={entry.key_id} {secrets.token_hex(4)},O={PLACEHOLDER_ORG}")
        try:
            return self._export(db, label)
        finally:
            db.delete_cert(label)

    @staticmethod
    def _park(db: NSSTools, nickname: str, count: int) -> None:
        """Take `count` certificates off `nickname`, to be deleted once all is saved."""
        for _ in range(count):
            if db.legacy:
                # Old-style databases cannot rename: the only way off is out.
                db.delete_cert(nickname)
            else:
                db.rename_cert(nickname, _replaced(nickname))

    def _import_key(self, db: NSSTools, key: PrivateKey, label: str) -> None:
        """Put `key` in the database under nickname `label` (relabelling it if there)."""
        # pk12util would rename the key if a certificate held `label`: move them aside
        # (old-style databases cannot, so there they go: they belong to the key that
        # this one replaces).
        held = db.cert_nicknames().count(label)
        if db.legacy:
            self._park(db, label, held)
            held = 0
        for _ in range(held):
            db.rename_cert(label, _moved(label))
        password = secrets.token_urlsafe(24)
        bundle = pkcs12.serialize_key_and_certificates(
            label.encode(), key, _placeholder(key), None,
            serialization.BestAvailableEncryption(password.encode()))
        db.import_pkcs12(bundle, password)
        # The placeholder is now the only certificate named `label`.
        db.delete_cert(label)
        for _ in range(held):
            db.rename_cert(_moved(label), label)

    def _old_keys(self, request: Request, kdb: NSSTools, keys: list[KeyEntry],
                  current: list[x509.Certificate], new_id: str
                  ) -> list[tuple[KeyEntry, PrivateKey | None, str]]:
        """The keys a rekey replaces, each with its PEM when it is to be preserved."""
        key_nick = self._key_nickname(request)
        serials = {key_id(c.public_key()): _serial_hex(c) for c in _real(current)}
        by_id = {k.key_id: k for k in keys}
        ids = [k.key_id for k in keys if k.name == key_nick]
        ids += [i for i in serials if i in by_id and i not in ids]
        retire = []
        for i in ids:
            if i == new_id:
                continue
            entry = by_id[i]
            serial = serials.get(i) or request.cert_serial or i[:16].upper()
            old = self._export_key(kdb, entry, key_nick) if request.key_preserve else None
            retire.append((entry, old, serial))
        return retire

    @staticmethod
    def _delete_certs(db: NSSTools, match: Callable[[str], bool]) -> None:
        for name in db.cert_nicknames():
            if match(name):
                db.delete_cert(name)

    @staticmethod
    def _sweep(cdb: NSSTools, kdb: NSSTools | None, key_nick: str, cert_nick: str, *,
               candidates: bool) -> None:
        """Delete what interrupted saves, imports and exports may have left behind.

        `kdb` is the key database when it is not `cdb`.  Certificates parked under the
        certificate nickname are superseded by the one just saved; one moved aside from
        a different key nickname goes back to it.
        """
        placeholders: tuple[str, ...] = (f"{key_nick} (export ", f"{key_nick} (serial ")
        if candidates:
            placeholders += (f"{key_nick} (candidate ",)
        superseded = (_replaced(cert_nick), _moved(cert_nick))
        for db, is_cert_db, is_key_db in ((cdb, True, kdb is None), (kdb, False, True)):
            if db is None:
                continue
            names = db.cert_nicknames()
            for name in names:
                if (is_cert_db and name in superseded) or (
                        is_key_db and name.startswith(placeholders)):
                    db.delete_cert(name)
            if (is_key_db and key_nick != cert_nick and _moved(key_nick) in names
                    and key_nick not in names):
                db.rename_cert(_moved(key_nick), key_nick)

    @staticmethod
    def _apply_owners(location: str, request: Request) -> None:
        """Give the database files the requested owners and modes (only when set)."""
        if not location:
            return
        directory = database_directory(location)
        plan = [(_KEY_FILES, request.key_owner, request.key_perms),
                (_CERT_FILES, request.cert_owner, request.cert_perms)]
        for names, owner, perms in plan:
            if not owner and not perms:
                continue
            uid, gid = owner_ids(owner) if owner else (-1, -1)
            for name in names:
                path = directory / name
                if not path.exists():
                    continue
                try:
                    if owner:
                        os.chown(path, uid, gid)
                    if perms:
                        os.chmod(path, perms)
                except PermissionError as e:
                    raise KeyStorePermissionError(f'Cannot set owner or mode of "{path}": '
                                                  f"{e.strerror}.") from e


def save_ca_certs(location: str, certs: Sequence[tuple[str, str]], trust: str, *,
                  pin: str | None = None, tmp_dir: Path | None = None) -> None:
    """Add CA certificates (nickname, PEM) to the NSS database at `location` with `trust`.

    See `NSSDBKeyStore.save_ca_certs`.
    """
    NSSDBKeyStore(tmp_dir=tmp_dir).save_ca_certs(location, certs, trust, pin=pin)
