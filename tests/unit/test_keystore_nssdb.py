"""NSSDB key storage, against real NSS databases made and read with certutil and pk12util."""

from __future__ import annotations

import datetime
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from pycertmonger.keystores import nsstools
from pycertmonger.keystores.base import (
    KeyStoreError,
    KeyStorePermissionError,
    KeyStorePinError,
    KeyStoreTokenError,
)
from pycertmonger.keystores.nssdb import NSSDBKeyStore, database_exists, key_id, save_ca_certs
from pycertmonger.keystores.nsstools import NSSTools, parse_cert_list, parse_key_list
from pycertmonger.model import Request
from tests.support.bus import Daemon, Getcert, PrivateBus, StateDirs, have_stock

pytestmark = pytest.mark.skipif(
    not (shutil.which("certutil") and shutil.which("pk12util")),
    reason="NSS tools (certutil, pk12util) are not installed",
)

NICK = "srv"
PIN = "s3cret pin"


# -- helpers ----------------------------------------------------------------------------

def _key(kind: str = "ec") -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(65537, 2048)
    return ec.generate_private_key(ec.SECP256R1())


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class _CA:
    def __init__(self, cn: str = "Test CA") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = self._sign(self.key.public_key(), _name(cn), days=3650, ca=True)

    def _sign(self, public_key: object, subject: x509.Name, days: int,
              ca: bool = False) -> x509.Certificate:
        now = datetime.datetime.now(datetime.UTC)
        return (x509.CertificateBuilder().subject_name(subject)
                .issuer_name(self.cert.subject if not ca else subject)
                .public_key(public_key)  # type: ignore[arg-type]
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=days))
                .not_valid_after(now + datetime.timedelta(days=days))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                .sign(self.key, hashes.SHA256()))

    def issue(self, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, cn: str = "srv.example",
              days: int = 30) -> str:
        cert = self._sign(key.public_key(), _name(cn), days)
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()


def _request(dbdir: Path, nickname: str = NICK, **fields: object) -> Request:
    location = f"sql:{dbdir}"
    req = Request(nickname="req1", key_storage_type="NSSDB", key_storage_location=location,
                  key_nickname=nickname, key_token="NSS Certificate DB",
                  cert_storage_type="NSSDB", cert_storage_location=location,
                  cert_nickname=nickname, cert_token="NSS Certificate DB")
    for name, value in fields.items():
        setattr(req, name, value)
    return req


def _pwfile(tmp_path: Path, pin: str) -> Path:
    path = tmp_path / f"pw-{abs(hash(pin))}"
    path.write_text(pin + "\n")
    path.chmod(0o600)
    return path


def _certutil(dbdir: Path, *args: str, pwfile: Path | None = None) -> str:
    argv = ["certutil", args[0], "-d", f"sql:{dbdir}", *args[1:]]
    if pwfile is not None:
        argv += ["-f", str(pwfile)]
    result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                            check=False)
    return result.stdout


def _cert_listing(dbdir: Path) -> list[tuple[str, str]]:
    """(nickname, trust) for every certificate, as `certutil -L` shows them."""
    out = _certutil(dbdir, "-L")
    rows = []
    for line in out.splitlines()[3:]:
        if line.strip():
            name, trust = line.rstrip().rsplit(None, 1)
            rows.append((name.strip(), trust))
    return rows


def _key_listing(dbdir: Path, pwfile: Path) -> list[tuple[str, str]]:
    """(key id, name) for every key, as `certutil -K` shows them."""
    return [(k.key_id, k.name)
            for k in parse_key_list(_certutil(dbdir, "-K", pwfile=pwfile))]


def _public_id(pem: bytes | str) -> str:
    data = pem.encode() if isinstance(pem, str) else pem
    if b"CERTIFICATE" in data:
        return key_id(x509.load_pem_x509_certificate(data).public_key())
    return key_id(serialization.load_pem_private_key(data, None).public_key())


# -- fixtures ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ca() -> _CA:
    return _CA()


@pytest.fixture
def store() -> NSSDBKeyStore:
    return NSSDBKeyStore()


@pytest.fixture
def dbdir(tmp_path: Path) -> Path:
    path = tmp_path / "nssdb"
    path.mkdir()
    return path


@pytest.fixture
def nopin(tmp_path: Path) -> Path:
    return _pwfile(tmp_path, "")


@pytest.fixture(scope="module")
def _enrolled_template(tmp_path_factory: pytest.TempPathFactory, ca: _CA
                       ) -> tuple[Path, bytes, str]:
    path = tmp_path_factory.mktemp("enrolled") / "nssdb"
    path.mkdir()
    key = _key()
    cert = ca.issue(key)
    store = NSSDBKeyStore()
    store.write_key(_request(path), _pem(key))
    store.save_cert(_request(path), cert)
    return path, _pem(key), cert


@pytest.fixture
def enrolled(tmp_path: Path, _enrolled_template: tuple[Path, bytes, str]
             ) -> tuple[Path, bytes, str]:
    """A database holding a key and its certificate under NICK: (dir, key PEM, cert PEM)."""
    template, key_pem, cert = _enrolled_template
    path = tmp_path / "enrolled"
    shutil.copytree(template, path)
    return path, key_pem, cert


# -- database discovery -----------------------------------------------------------------

def test_database_exists_needs_the_database_files_not_just_the_directory(dbdir: Path) -> None:
    assert not database_exists(f"sql:{dbdir}")
    subprocess.run(["certutil", "-N", "-d", f"sql:{dbdir}", "--empty-password"], check=True)
    assert database_exists(f"sql:{dbdir}")
    assert database_exists(str(dbdir))
    assert not database_exists(f"dbm:{dbdir}")


def test_reading_a_directory_without_database_finds_nothing_and_creates_nothing(
        store: NSSDBKeyStore, dbdir: Path) -> None:
    req = _request(dbdir)
    assert store.read_key(req) is None
    assert store.read_cert(req) is None
    assert list(dbdir.iterdir()) == []


def test_first_write_creates_the_database_with_an_empty_password(
        store: NSSDBKeyStore, dbdir: Path, nopin: Path) -> None:
    key = _key()
    store.write_key(_request(dbdir), _pem(key))
    assert (dbdir / "cert9.db").exists() and (dbdir / "key4.db").exists()
    assert _key_listing(dbdir, nopin) == [(_public_id(_pem(key)), NICK)]


def test_writing_into_a_missing_directory_is_an_error(store: NSSDBKeyStore,
                                                      tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError, match="does not exist"):
        store.write_key(_request(tmp_path / "absent"), _pem(_key()))


# -- enrollment -------------------------------------------------------------------------

def test_new_key_then_certificate_shows_the_nickname_with_user_trust_and_its_key(
        store: NSSDBKeyStore, dbdir: Path, nopin: Path, ca: _CA) -> None:
    key = _key("rsa")
    req = _request(dbdir)
    store.write_key(req, _pem(key))
    store.save_cert(req, ca.issue(key))
    assert _cert_listing(dbdir) == [(NICK, "u,u,u")]
    assert _key_listing(dbdir, nopin) == [(_public_id(_pem(key)), NICK)]


def test_a_new_key_is_readable_before_any_certificate_and_leaves_no_certificate_behind(
        store: NSSDBKeyStore, dbdir: Path) -> None:
    key = _key()
    req = _request(dbdir)
    store.write_key(req, _pem(key))
    stored = store.read_key(req)
    assert stored is not None and stored.pem == _pem(key)
    assert _cert_listing(dbdir) == []
    assert store.read_cert(req) is None


def test_read_key_gives_the_key_of_the_stored_certificate(
        store: NSSDBKeyStore, enrolled: tuple[Path, bytes, str]) -> None:
    dbdir, key_pem, cert = enrolled
    stored = store.read_key(_request(dbdir))
    assert stored is not None
    assert stored.pem == key_pem
    assert _public_id(stored.pem) == _public_id(cert)
    spki = x509.load_pem_x509_certificate(cert.encode()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert (stored.key_type, stored.key_size, stored.pubkey_info) == (
        "EC", 256, spki.hex().upper())


def test_read_cert_gives_the_stored_certificate(
        store: NSSDBKeyStore, enrolled: tuple[Path, bytes, str]) -> None:
    dbdir, _, cert = enrolled
    assert store.read_cert(_request(dbdir)) == cert


@pytest.mark.filterwarnings("ignore:PKCS#12 bundle could not be parsed as DER")
def test_pk12util_exports_the_key_and_certificate_together(
        enrolled: tuple[Path, bytes, str], tmp_path: Path, nopin: Path) -> None:
    dbdir, key_pem, cert = enrolled
    out, pw = tmp_path / "out.p12", _pwfile(tmp_path, "transport")
    subprocess.run(["pk12util", "-o", str(out), "-n", NICK, "-d", f"sql:{dbdir}",
                    "-w", str(pw), "-k", str(nopin)], check=True, capture_output=True)
    bundle = pkcs12.load_pkcs12(out.read_bytes(), b"transport")
    assert bundle.cert is not None and bundle.key is not None
    assert bundle.cert.certificate == x509.load_pem_x509_certificate(cert.encode())
    assert _public_id(bundle.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())) == _public_id(key_pem)


def test_renewal_with_the_same_key_replaces_the_certificate(
        store: NSSDBKeyStore, enrolled: tuple[Path, bytes, str], ca: _CA, nopin: Path) -> None:
    dbdir, key_pem, _ = enrolled
    renewed = ca.issue(serialization.load_pem_private_key(key_pem, None), days=60)  # type: ignore[arg-type]
    store.save_cert(_request(dbdir), renewed)
    assert _cert_listing(dbdir) == [(NICK, "u,u,u")]
    assert store.read_cert(_request(dbdir)) == renewed
    assert _key_listing(dbdir, nopin) == [(_public_id(key_pem), NICK)]


def test_saving_the_same_certificate_twice_keeps_one_copy(
        store: NSSDBKeyStore, enrolled: tuple[Path, bytes, str]) -> None:
    dbdir, _, cert = enrolled
    store.save_cert(_request(dbdir), cert)
    assert _cert_listing(dbdir) == [(NICK, "u,u,u")]


def test_key_and_certificate_nicknames_may_differ(store: NSSDBKeyStore, dbdir: Path,
                                                  ca: _CA, nopin: Path) -> None:
    req = _request(dbdir, key_nickname="the key", cert_nickname="the cert")
    key = _key()
    store.write_key(req, _pem(key))
    store.save_cert(req, ca.issue(key))
    assert _cert_listing(dbdir) == [("the cert", "u,u,u")]
    assert _key_listing(dbdir, nopin) == [(_public_id(_pem(key)), "the key")]
    stored = store.read_key(req)
    assert stored is not None and stored.pem == _pem(key)


class _Crash(Exception):
    pass


def _crash(*args: object, **kwargs: object) -> None:
    raise _Crash()


def test_an_interrupted_first_write_leaves_no_certificate_and_the_next_save_cleans_up(
        store: NSSDBKeyStore, dbdir: Path, ca: _CA, monkeypatch: pytest.MonkeyPatch) -> None:
    req = _request(dbdir)
    key = _key()
    with monkeypatch.context() as m:
        # Dies after the key went in, before its placeholder certificate is deleted.
        m.setattr(NSSTools, "delete_cert", _crash)
        with pytest.raises(_Crash):
            store.write_key(req, _pem(key))
    assert store.read_cert(req) is None
    stored = store.read_key(req)
    assert stored is not None and stored.pem == _pem(key)

    cert = ca.issue(key)
    store.save_cert(req, cert)
    assert _cert_listing(dbdir) == [(NICK, "u,u,u")]
    assert store.read_cert(req) == cert


def test_a_certificate_with_another_subject_replaces_the_old_one(
        store: NSSDBKeyStore, enrolled: tuple[Path, bytes, str], ca: _CA) -> None:
    dbdir, key_pem, _ = enrolled
    other = ca.issue(serialization.load_pem_private_key(key_pem, None),  # type: ignore[arg-type]
                     cn="renamed.example")
    store.save_cert(_request(dbdir), other)
    assert _cert_listing(dbdir) == [(NICK, "u,u,u")]
    assert store.read_cert(_request(dbdir)) == other


# -- rekey ------------------------------------------------------------------------------

def test_a_candidate_key_sits_beside_the_current_key(
        store: NSSDBKeyStore, enrolled: tuple[Path, bytes, str], nopin: Path) -> None:
    dbdir, key_pem, cert = enrolled
    req = _request(dbdir)
    new = _key()
    store.write_key(req, _pem(new), "MARK1")
    assert sorted(_key_listing(dbdir, nopin), key=lambda k: k[1]) == [
        (_public_id(key_pem), NICK), (_public_id(_pem(new)), f"{NICK} (candidate MARK1)")]
    candidate, current = store.read_key(req, "MARK1"), store.read_key(req)
    assert candidate is not None and candidate.pem == _pem(new)
    assert current is not None and current.pem == key_pem
    assert store.read_cert(req) == cert


def test_saving_the_certificate_for_the_candidate_promotes_it_and_drops_the_old_key(
        store: NSSDBKeyStore, enrolled: tuple[Path, bytes, str], ca: _CA, nopin: Path) -> None:
    dbdir, _, _ = enrolled
    req = _request(dbdir)
    new = _key()
    store.write_key(req, _pem(new), "MARK1")
    cert = ca.issue(new)
    store.save_cert(req, cert, "MARK1")
    assert _cert_listing(dbdir) == [(NICK, "u,u,u")]
    assert _key_listing(dbdir, nopin) == [(_public_id(_pem(new)), NICK)]
    assert store.read_key(req, "MARK1") is None
    current = store.read_key(req)
    assert current is not None and current.pem == _pem(new)
    assert store.read_cert(req) == cert


def test_key_preserve_keeps_the_old_key_under_its_certificate_serial(
        store: NSSDBKeyStore, enrolled: tuple[Path, bytes, str], ca: _CA, nopin: Path) -> None:
    dbdir, key_pem, old_cert = enrolled
    req = _request(dbdir, key_preserve=True)
    new = _key()
    store.write_key(req, _pem(new), "MARK1")
    store.save_cert(req, ca.issue(new), "MARK1")
    serial = x509.load_pem_x509_certificate(old_cert.encode()).serial_number
    serial_hex = serial.to_bytes(serial.bit_length() // 8 + 1, "big").hex().upper()
    assert sorted(_key_listing(dbdir, nopin), key=lambda k: k[1]) == [
        (_public_id(_pem(new)), NICK), (_public_id(key_pem), f"{NICK} (serial {serial_hex})")]
    assert _cert_listing(dbdir) == [(NICK, "u,u,u")]


def test_a_certificate_for_the_old_key_discards_the_candidate(
        store: NSSDBKeyStore, enrolled: tuple[Path, bytes, str], ca: _CA, nopin: Path) -> None:
    dbdir, key_pem, _ = enrolled
    req = _request(dbdir)
    store.write_key(req, _pem(_key()), "MARK1")
    renewed = ca.issue(serialization.load_pem_private_key(key_pem, None))  # type: ignore[arg-type]
    store.save_cert(req, renewed, "MARK1")
    assert _key_listing(dbdir, nopin) == [(_public_id(key_pem), NICK)]
    assert store.read_cert(req) == renewed


def test_a_new_candidate_replaces_an_older_one(
        store: NSSDBKeyStore, enrolled: tuple[Path, bytes, str], nopin: Path) -> None:
    dbdir, key_pem, _ = enrolled
    req = _request(dbdir)
    store.write_key(req, _pem(_key()), "OLD")
    newer = _key()
    store.write_key(req, _pem(newer), "NEW")
    assert sorted(_key_listing(dbdir, nopin), key=lambda k: k[1]) == [
        (_public_id(key_pem), NICK), (_public_id(_pem(newer)), f"{NICK} (candidate NEW)")]


def test_discarding_a_candidate_leaves_the_current_pair(
        store: NSSDBKeyStore, enrolled: tuple[Path, bytes, str], nopin: Path) -> None:
    dbdir, key_pem, _ = enrolled
    req = _request(dbdir)
    store.write_key(req, _pem(_key()), "MARK1")
    store.discard_candidate(req, "MARK1")
    assert _key_listing(dbdir, nopin) == [(_public_id(key_pem), NICK)]
    assert _cert_listing(dbdir) == [(NICK, "u,u,u")]
    assert store.read_key(req, "MARK1") is None


@pytest.mark.parametrize("step", ["import_pkcs12", "add_cert"])
def test_an_interrupted_rekey_save_is_finished_by_saving_again(
        store: NSSDBKeyStore, enrolled: tuple[Path, bytes, str], ca: _CA, nopin: Path,
        monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    dbdir, _, _ = enrolled
    req = _request(dbdir)
    new = _key()
    store.write_key(req, _pem(new), "MARK1")
    cert = ca.issue(new)

    with monkeypatch.context() as m:
        m.setattr(NSSTools, step, _crash)
        with pytest.raises(_Crash):
            store.save_cert(req, cert, "MARK1")
    # Between the steps the certificate is absent and the new key is still reachable.
    assert store.read_cert(req) is None
    reachable = store.read_key(req, "MARK1") or store.read_key(req)
    assert reachable is not None and reachable.pem == _pem(new)

    store.save_cert(req, cert, "MARK1")
    assert _cert_listing(dbdir) == [(NICK, "u,u,u")]
    assert _key_listing(dbdir, nopin) == [(_public_id(_pem(new)), NICK)]
    assert store.read_cert(req) == cert


def test_an_old_style_dbm_database_ends_up_the_same_after_enrollment_and_rekey(
        store: NSSDBKeyStore, dbdir: Path, ca: _CA, nopin: Path) -> None:
    req = _request(dbdir, key_storage_location=f"dbm:{dbdir}",
                   cert_storage_location=f"dbm:{dbdir}")
    first, second = _key(), _key()
    store.write_key(req, _pem(first))
    store.save_cert(req, ca.issue(first))
    store.save_cert(req, ca.issue(first, days=60))
    store.write_key(req, _pem(second), "MARK1")
    cert = ca.issue(second)
    store.save_cert(req, cert, "MARK1")
    assert (dbdir / "cert8.db").exists() and not (dbdir / "cert9.db").exists()
    listing = subprocess.run(["certutil", "-L", "-d", f"dbm:{dbdir}"], capture_output=True,
                             text=True, check=True).stdout
    assert parse_cert_list(listing) == [NICK]
    keys = subprocess.run(["certutil", "-K", "-d", f"dbm:{dbdir}", "-f", str(nopin)],
                          capture_output=True, text=True, check=True).stdout
    assert [(k.key_id, k.name) for k in parse_key_list(keys)] == [(_public_id(cert), NICK)]
    assert store.read_cert(req) == cert


# -- PINs -------------------------------------------------------------------------------

@pytest.fixture
def pin_db(dbdir: Path, tmp_path: Path) -> Path:
    """An empty database whose password is PIN."""
    subprocess.run(["certutil", "-N", "-d", f"sql:{dbdir}", "-f", str(_pwfile(tmp_path, PIN))],
                   check=True, capture_output=True)
    return dbdir


def test_a_pin_protected_database_works_with_key_pin(
        store: NSSDBKeyStore, pin_db: Path, ca: _CA, tmp_path: Path) -> None:
    req = _request(pin_db, key_pin=PIN)
    key = _key()
    store.write_key(req, _pem(key))
    store.save_cert(req, ca.issue(key))
    stored = store.read_key(req)
    assert stored is not None and stored.pem == _pem(key)
    assert _key_listing(pin_db, _pwfile(tmp_path, PIN)) == [(_public_id(_pem(key)), NICK)]


def test_a_pin_protected_database_works_with_key_pin_file(
        store: NSSDBKeyStore, pin_db: Path, tmp_path: Path) -> None:
    req = _request(pin_db, key_pin_file=str(_pwfile(tmp_path, PIN)))
    key = _key()
    store.write_key(req, _pem(key))
    stored = store.read_key(req)
    assert stored is not None and stored.pem == _pem(key)


def test_a_wrong_pin_is_a_pin_error(store: NSSDBKeyStore, pin_db: Path) -> None:
    req = _request(pin_db, key_pin="not it")
    with pytest.raises(KeyStorePinError):
        store.write_key(req, _pem(_key()))
    with pytest.raises(KeyStorePinError):
        store.read_key(req)


def test_a_missing_pin_for_a_protected_database_is_a_pin_error(
        store: NSSDBKeyStore, pin_db: Path) -> None:
    with pytest.raises(KeyStorePinError):
        store.write_key(_request(pin_db), _pem(_key()))


def test_an_unreadable_pin_file_is_a_pin_error(store: NSSDBKeyStore, pin_db: Path,
                                               tmp_path: Path) -> None:
    with pytest.raises(KeyStorePinError):
        store.read_key(_request(pin_db, key_pin_file=str(tmp_path / "no-such-file")))


def test_a_new_database_takes_the_pin_as_its_password(
        store: NSSDBKeyStore, dbdir: Path, tmp_path: Path) -> None:
    store.write_key(_request(dbdir, key_pin=PIN), _pem(_key()))
    assert _key_listing(dbdir, _pwfile(tmp_path, "")) == []
    assert len(_key_listing(dbdir, _pwfile(tmp_path, PIN))) == 1


def test_reading_the_certificate_needs_no_pin(
        store: NSSDBKeyStore, pin_db: Path, ca: _CA) -> None:
    key = _key()
    store.write_key(_request(pin_db, key_pin=PIN), _pem(key))
    cert = ca.issue(key)
    store.save_cert(_request(pin_db, key_pin=PIN), cert)
    assert store.read_cert(_request(pin_db)) == cert


# -- tokens, users, owners --------------------------------------------------------------

def test_an_unknown_token_is_a_token_error(store: NSSDBKeyStore,
                                           enrolled: tuple[Path, bytes, str]) -> None:
    dbdir, _, _ = enrolled
    with pytest.raises(KeyStoreTokenError):
        store.read_key(_request(dbdir, key_token="No Such HSM"))


def test_owner_and_modes_are_applied_to_the_database_files(
        store: NSSDBKeyStore, dbdir: Path, ca: _CA) -> None:
    req = _request(dbdir, key_perms=0o640, cert_perms=0o644)
    key = _key()
    store.write_key(req, _pem(key))
    store.save_cert(req, ca.issue(key))
    assert stat.S_IMODE((dbdir / "key4.db").stat().st_mode) == 0o640
    assert stat.S_IMODE((dbdir / "cert9.db").stat().st_mode) == 0o644
    assert stat.S_IMODE((dbdir / "pkcs11.txt").stat().st_mode) == 0o644


def test_unset_owner_and_modes_leave_the_files_as_nss_made_them(
        store: NSSDBKeyStore, dbdir: Path) -> None:
    store.write_key(_request(dbdir), _pem(_key()))
    assert stat.S_IMODE((dbdir / "key4.db").stat().st_mode) == 0o600


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")


@pytest.fixture
def nobody_dir() -> Iterator[Path]:
    """A directory owned by `nobody` that `nobody` can reach."""
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user nobody")
    with tempfile.TemporaryDirectory() as top:
        os.chmod(top, 0o755)
        path = Path(top) / "nssdb"
        path.mkdir()
        os.chown(path, nobody.pw_uid, nobody.pw_gid)
        yield path


@needs_root
def test_nss_user_runs_the_tools_as_that_user(store: NSSDBKeyStore, nobody_dir: Path,
                                              ca: _CA) -> None:
    req = _request(nobody_dir, nss_user="nobody")
    key = _key()
    store.write_key(req, _pem(key))
    store.save_cert(req, ca.issue(key))
    nobody = pwd.getpwnam("nobody").pw_uid
    assert {(nobody_dir / f).stat().st_uid for f in ("cert9.db", "key4.db")} == {nobody}
    assert [p.name for p in nobody_dir.iterdir() if p.name.startswith(".")] == []


@needs_root
def test_a_database_the_nss_user_cannot_open_is_a_permission_error(
        store: NSSDBKeyStore, enrolled: tuple[Path, bytes, str]) -> None:
    dbdir, _, _ = enrolled
    with pytest.raises(KeyStorePermissionError):
        store.read_key(_request(dbdir, nss_user="nobody"))


@needs_root
def test_key_owner_is_applied_to_the_key_database(store: NSSDBKeyStore, dbdir: Path) -> None:
    store.write_key(_request(dbdir, key_owner="nobody"), _pem(_key()))
    assert (dbdir / "key4.db").stat().st_uid == pwd.getpwnam("nobody").pw_uid
    assert (dbdir / "cert9.db").stat().st_uid == os.geteuid()


# -- CA certificates --------------------------------------------------------------------

def test_ca_certificates_are_added_with_the_given_trust(store: NSSDBKeyStore, dbdir: Path,
                                                        ca: _CA) -> None:
    other = _CA("Intermediate CA")
    store.save_ca_certs(f"sql:{dbdir}", [("Test CA", ca.pem)], "CT,C,C")
    save_ca_certs(f"sql:{dbdir}", [("Intermediate", other.pem)], ",,")
    assert sorted(_cert_listing(dbdir)) == [("Intermediate", ",,"), ("Test CA", "CT,C,C")]


def test_saving_a_ca_certificate_again_updates_its_trust(store: NSSDBKeyStore, dbdir: Path,
                                                         ca: _CA) -> None:
    store.save_ca_certs(f"sql:{dbdir}", [("Test CA", ca.pem)], ",,")
    store.save_ca_certs(f"sql:{dbdir}", [("Test CA", ca.pem)], "CT,C,C")
    assert _cert_listing(dbdir) == [("Test CA", "CT,C,C")]


def test_a_ca_nickname_taken_by_another_subject_gets_a_numbered_suffix(
        store: NSSDBKeyStore, dbdir: Path, ca: _CA) -> None:
    store.save_ca_certs(f"sql:{dbdir}", [("Local Signing Authority", ca.pem)], "CT,C,C")
    replacement = _CA("Regenerated CA")
    store.save_ca_certs(f"sql:{dbdir}", [("Local Signing Authority", replacement.pem)],
                        "CT,C,C")
    assert sorted(_cert_listing(dbdir)) == [("Local Signing Authority", "CT,C,C"),
                                            ("Local Signing Authority #2", "CT,C,C")]


# -- output parsing ---------------------------------------------------------------------

def test_key_listing_parses_names_with_spaces_and_orphans() -> None:
    text = ('certutil: Checking token "NSS Certificate DB" in slot "NSS User Private Key"\n'
            "< 0> rsa      8c4246187b6fd1111f180eaa765edbd6cbe75153   NSS Certificate DB:srv\n"
            "< 1> ec       1A27304218BFF35DAA1940477CB39162D9721D01   srv (candidate EK01OCTF)\n"
            "< 2> rsa      0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f   (orphan)\n")
    assert parse_key_list(text) == [
        nsstools.KeyEntry("8c4246187b6fd1111f180eaa765edbd6cbe75153", "rsa",
                          "NSS Certificate DB:srv"),
        nsstools.KeyEntry("1a27304218bff35daa1940477cb39162d9721d01", "ec",
                          "srv (candidate EK01OCTF)"),
        nsstools.KeyEntry("0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f", "rsa", ""),
    ]


def test_certificate_listing_parses_nicknames_and_skips_the_header() -> None:
    text = ("\nCertificate Nickname                                         Trust Attributes\n"
            "                                                             SSL,S/MIME,JAR/XPI\n"
            "\n"
            "srv                                                          u,u,u\n"
            "Local Signing Authority                                      CT,C,C\n"
            "srv                                                          u,u,u\n"
            "other                                                        ,,   \n")
    assert parse_cert_list(text) == ["srv", "Local Signing Authority", "srv", "other"]


# -- a database made by certmonger itself -----------------------------------------------

@pytest.mark.usefixtures("stock_daemon")
def test_reads_key_and_certificate_that_stock_certmonger_put_in_a_database(
        stock_getcert: Getcert, tmp_path: Path, store: NSSDBKeyStore) -> None:
    dbdir = tmp_path / "stockdb"
    dbdir.mkdir()
    result = stock_getcert("request", "-d", f"sql:{dbdir}", "-n", "stock-cert",
                           "-c", "local", "-w", "--wait-timeout", "60")
    assert result.returncode == 0, result.stdout + result.stderr
    req = _request(dbdir, "stock-cert")

    cert = store.read_cert(req)
    exported = subprocess.run(["certutil", "-L", "-d", f"sql:{dbdir}", "-n", "stock-cert", "-a"],
                              capture_output=True, text=True, check=True).stdout
    assert cert is not None
    assert x509.load_pem_x509_certificate(cert.encode()) == \
        x509.load_pem_x509_certificate(exported.encode())
    key = store.read_key(req)
    assert key is not None and _public_id(key.pem) == _public_id(cert)


@pytest.mark.usefixtures("stock_daemon")
def test_stock_certmonger_tracks_the_key_and_certificate_we_stored(
        stock_getcert: Getcert, dirs: StateDirs, enrolled: tuple[Path, bytes, str]) -> None:
    dbdir, key_pem, _ = enrolled
    result = stock_getcert("start-tracking", "-d", f"sql:{dbdir}", "-n", NICK, "-I", "ours",
                           "-w", "--wait-timeout", "60")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "status: MONITORING" in stock_getcert("list", "-i", "ours").stdout
    record = next(dirs.requests.iterdir()).read_text()
    pubkey_info = next(line.split("=", 1)[1] for line in record.splitlines()
                       if line.startswith("key_pubkey_info="))
    public = serialization.load_pem_private_key(key_pem, None).public_key()
    assert pubkey_info == public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo).hex().upper()


_WAITING_HELPER = """#!/bin/sh
# A CA that never issues: every request waits.
case "$CERTMONGER_OPERATION" in
SUBMIT|POLL) echo waiting; exit 1;;
*) exit 6;;
esac
"""


def test_a_rekey_candidate_left_by_stock_certmonger_is_read_and_promoted(
        bus: PrivateBus, dirs: StateDirs, tmp_path: Path, store: NSSDBKeyStore, ca: _CA,
        nopin: Path) -> None:
    if not have_stock():
        pytest.skip("Debian's certmonger is not installed")
    helper = tmp_path / "waiting-submit"
    helper.write_text(_WAITING_HELPER)
    helper.chmod(0o755)
    (dirs.cas / "waiting").write_text(
        f"id=waiting\nca_type=EXTERNAL\nca_external_helper={helper}\n")
    dbdir = tmp_path / "stockdb"
    dbdir.mkdir()
    daemon = Daemon(bus, dirs, stock=True).start()
    try:
        getcert = Getcert(bus, stock=True)
        assert getcert("request", "-d", f"sql:{dbdir}", "-n", NICK, "-c", "local", "-I", "r",
                       "-w", "--wait-timeout", "60").returncode == 0
        getcert("rekey", "-i", "r", "-c", "waiting", "-w", "--wait-timeout", "60")
    finally:
        daemon.stop()
    record = dict(line.split("=", 1) for line in
                  next(dirs.requests.iterdir()).read_text().splitlines() if "=" in line)
    marker = record["key_next_marker"]
    assert (f"{NICK} (candidate {marker})" in
            [name for _, name in _key_listing(dbdir, nopin)])

    req = _request(dbdir)
    candidate = store.read_key(req, marker)
    assert candidate is not None
    assert candidate.pubkey_info == record["key_next_pubkey_info"]
    cert = ca.issue(serialization.load_pem_private_key(candidate.pem, None))  # type: ignore[arg-type]
    store.save_cert(req, cert, marker)
    assert _key_listing(dbdir, nopin) == [(_public_id(cert), NICK)]
    assert _cert_listing(dbdir) == [(NICK, "u,u,u")]
    assert store.read_cert(req) == cert
