"""FILE key storage: private atomic writes, PINs, candidates and the crash-safe pair swap."""

from __future__ import annotations

import builtins
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

from pycertmonger.cas.selfsign import self_sign
from pycertmonger.crypto import certinfo, csr, keys
from pycertmonger.keystores import file as filestore
from pycertmonger.keystores.base import KeyStoreError, KeyStorePermissionError, KeyStorePinError
from pycertmonger.keystores.file import FileKeyStore
from pycertmonger.model import Request

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")


def new_key() -> bytes:
    return keys.generate_key_pem("EC", 256)


def cert_for(key_pem: bytes, serial: int) -> str:
    request = csr.build_csr(key_pem, csr.CsrTemplate(subject="CN=t"))
    return self_sign(request, key_pem, serial, time.time(), 86400)


def spki_of(pem: bytes) -> bytes:
    return keys.spki_der(keys.load_private_key(pem))


def mode(path: Path | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def request_(tmp_path: Path) -> Request:
    return Request(nickname="t", key_storage_type="FILE",
                   key_storage_location=str(tmp_path / "t.key"),
                   cert_storage_type="FILE", cert_storage_location=str(tmp_path / "t.crt"))


@pytest.fixture
def store() -> FileKeyStore:
    return FileKeyStore()


# --- keys ------------------------------------------------------------------------------

def test_new_key_file_is_owner_only(store: FileKeyStore, request_: Request) -> None:
    store.write_key(request_, new_key())
    assert mode(request_.key_storage_location) == 0o600


def test_key_is_never_readable_by_others_while_written(
        store: FileKeyStore, request_: Request, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, bytes]] = []
    real_replace = os.replace

    def spy(src: str, dst: str) -> None:
        seen.append((mode(src), Path(src).read_bytes()))
        real_replace(src, dst)

    old_umask = os.umask(0)  # a permissive umask must not widen the temp file
    try:
        monkeypatch.setattr(os, "replace", spy)
        store.write_key(request_, new_key())
    finally:
        os.umask(old_umask)
    assert seen and all(m & 0o077 == 0 for m, _ in seen)
    assert seen[0][1].startswith(b"-----BEGIN PRIVATE KEY-----")


def test_temp_file_is_created_exclusively_with_mode_0600(
        store: FileKeyStore, request_: Request, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[tuple[int, int]] = []
    real_open = os.open

    def spy(path: str, flags: int, mode_: int = 0o777, *args: object) -> int:
        if str(path).endswith(".tmp"):
            opened.append((flags, mode_))
        return real_open(path, flags, mode_, *args)

    monkeypatch.setattr(os, "open", spy)
    store.write_key(request_, new_key())
    (flags, created_mode), = opened
    assert flags & os.O_EXCL and flags & os.O_CREAT
    assert created_mode == 0o600


def test_no_temp_file_is_left_behind(store: FileKeyStore, request_: Request,
                                     tmp_path: Path) -> None:
    store.write_key(request_, new_key())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.key"]


def test_key_perms_are_applied(store: FileKeyStore, request_: Request) -> None:
    request_.key_perms = 0o640
    store.write_key(request_, new_key())
    assert mode(request_.key_storage_location) == 0o640


def test_replaced_key_keeps_its_mode(store: FileKeyStore, request_: Request) -> None:
    store.write_key(request_, new_key())
    os.chmod(request_.key_storage_location, 0o400)
    store.write_key(request_, new_key())
    assert mode(request_.key_storage_location) == 0o400


@needs_root
def test_key_owner_is_applied(store: FileKeyStore, request_: Request) -> None:
    request_.key_owner = "nobody:nogroup"
    store.write_key(request_, new_key())
    st = os.stat(request_.key_storage_location)
    assert (st.st_uid, st.st_gid) == (65534, 65534)


def test_unknown_owner_is_ignored(store: FileKeyStore, request_: Request) -> None:
    request_.key_owner = "no-such-user-here"
    store.write_key(request_, new_key())
    assert os.stat(request_.key_storage_location).st_uid == os.geteuid()


def test_key_reads_back_with_what_certmonger_records(store: FileKeyStore,
                                                     request_: Request) -> None:
    pem = new_key()
    store.write_key(request_, pem)
    stored = store.read_key(request_)
    assert stored is not None
    assert stored.pem == pem
    assert stored.pubkey_info == spki_of(pem).hex().upper()


def test_missing_key_reads_as_none(store: FileKeyStore, request_: Request) -> None:
    assert store.read_key(request_) is None


@needs_openssl
def test_key_with_pin_is_encrypted_and_readable_by_openssl(store: FileKeyStore,
                                                           request_: Request) -> None:
    request_.key_pin = "s3cret"
    pem = new_key()
    store.write_key(request_, pem)
    text = Path(request_.key_storage_location).read_bytes()
    assert text.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    out = subprocess.run(["openssl", "pkey", "-in", request_.key_storage_location,
                          "-passin", "pass:s3cret"], capture_output=True, check=True)
    assert out.stdout.strip() == pem.strip()


def test_pin_file_first_line_is_the_pin(store: FileKeyStore, request_: Request,
                                        tmp_path: Path) -> None:
    (tmp_path / "pin").write_text("filepin\n")
    request_.key_pin_file = str(tmp_path / "pin")
    store.write_key(request_, new_key())
    assert keys.load_private_key(Path(request_.key_storage_location).read_bytes(), "filepin")


def test_unreadable_pin_file_is_a_pin_error(store: FileKeyStore, request_: Request,
                                            tmp_path: Path) -> None:
    request_.key_pin_file = str(tmp_path / "missing")
    with pytest.raises(KeyStorePinError):
        store.write_key(request_, new_key())


def test_wrong_pin_is_a_pin_error(store: FileKeyStore, request_: Request) -> None:
    request_.key_pin = "right"
    store.write_key(request_, new_key())
    request_.key_pin = "wrong"
    with pytest.raises(KeyStorePinError):
        store.read_key(request_)


def test_missing_pin_is_a_pin_error(store: FileKeyStore, request_: Request) -> None:
    request_.key_pin = "right"
    store.write_key(request_, new_key())
    request_.key_pin = ""
    with pytest.raises(KeyStorePinError):
        store.read_key(request_)


def test_permission_denied_reading_is_a_perms_error(
        store: FileKeyStore, request_: Request, monkeypatch: pytest.MonkeyPatch) -> None:
    store.write_key(request_, new_key())
    real_open = builtins.open

    def deny(path: object, *args: object, **kwargs: object) -> object:
        if str(path) == request_.key_storage_location:
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", deny)
    with pytest.raises(KeyStorePermissionError):
        store.read_key(request_)


def test_permission_denied_writing_is_a_perms_error(
        store: FileKeyStore, request_: Request, monkeypatch: pytest.MonkeyPatch) -> None:
    def deny(*args: object, **kwargs: object) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", deny)
    with pytest.raises(KeyStorePermissionError):
        store.write_key(request_, new_key())


def test_other_write_errors_are_key_store_errors(store: FileKeyStore, tmp_path: Path) -> None:
    request = Request(key_storage_location=str(tmp_path / "no" / "dir" / "k.key"))
    with pytest.raises(KeyStoreError) as info:
        store.write_key(request, new_key())
    assert not isinstance(info.value, KeyStorePermissionError)


# --- certificates ----------------------------------------------------------------------

def test_new_certificate_file_is_world_readable(store: FileKeyStore, request_: Request) -> None:
    store.save_cert(request_, cert_for(new_key(), 1))
    assert mode(request_.cert_storage_location) == 0o644


def test_replaced_certificate_keeps_its_mode(store: FileKeyStore, request_: Request) -> None:
    pem = new_key()
    store.save_cert(request_, cert_for(pem, 1))
    os.chmod(request_.cert_storage_location, 0o600)
    store.save_cert(request_, cert_for(pem, 2))
    assert mode(request_.cert_storage_location) == 0o600


def test_cert_perms_are_applied(store: FileKeyStore, request_: Request) -> None:
    request_.cert_perms = 0o640
    store.save_cert(request_, cert_for(new_key(), 1))
    assert mode(request_.cert_storage_location) == 0o640


def test_certificate_reads_back_normalised(store: FileKeyStore, request_: Request) -> None:
    cert = cert_for(new_key(), 1)
    Path(request_.cert_storage_location).write_text("noise\n" + cert + cert_for(new_key(), 2))
    assert store.read_cert(request_) == cert


def test_missing_certificate_reads_as_none(store: FileKeyStore, request_: Request) -> None:
    assert store.read_cert(request_) is None


def test_saving_nothing_is_an_error(store: FileKeyStore, request_: Request) -> None:
    with pytest.raises(KeyStoreError):
        store.save_cert(request_, "not a certificate")


# --- candidates and the pair swap --------------------------------------------------------

def setup_rekey(store: FileKeyStore, request: Request, marker: str = "AbCd_123"
                ) -> tuple[bytes, bytes, str, str]:
    """Old key + old cert in place, a candidate key written; returns both pairs."""
    old_key, new_key_pem = new_key(), new_key()
    old_cert, new_cert = cert_for(old_key, 1), cert_for(new_key_pem, 2)
    store.write_key(request, old_key)
    store.save_cert(request, old_cert)
    store.write_key(request, new_key_pem, marker)
    request.key_next_marker = marker
    return old_key, new_key_pem, old_cert, new_cert


def test_candidate_lives_beside_the_key(store: FileKeyStore, request_: Request) -> None:
    _old, new, _oc, _nc = setup_rekey(store, request_)
    path = Path(request_.key_storage_location + ".AbCd_123.key")
    assert path.exists() and mode(path) == 0o600
    stored = store.read_key(request_, "AbCd_123")
    assert stored is not None and stored.pem == new


def test_candidate_takes_the_key_files_mode(store: FileKeyStore, request_: Request) -> None:
    store.write_key(request_, new_key())
    os.chmod(request_.key_storage_location, 0o440)
    store.write_key(request_, new_key(), "m")
    assert mode(request_.key_storage_location + ".m.key") == 0o440


def test_discarded_candidate_is_gone(store: FileKeyStore, request_: Request) -> None:
    setup_rekey(store, request_)
    store.discard_candidate(request_, "AbCd_123")
    assert store.read_key(request_, "AbCd_123") is None
    store.discard_candidate(request_, "AbCd_123")  # twice is fine


def test_save_with_marker_promotes_the_candidate(store: FileKeyStore, request_: Request) -> None:
    _old, new, _oc, new_cert = setup_rekey(store, request_)
    store.save_cert(request_, new_cert, "AbCd_123")
    assert Path(request_.key_storage_location).read_bytes() == new
    assert store.read_cert(request_) == new_cert
    assert not Path(request_.key_storage_location + ".AbCd_123.key").exists()


def test_key_preserve_keeps_the_old_key_under_the_old_serial(
        store: FileKeyStore, request_: Request) -> None:
    old, _new, _oc, new_cert = setup_rekey(store, request_)
    request_.key_preserve = True
    store.save_cert(request_, new_cert, "AbCd_123")
    kept = Path(request_.key_storage_location + ".01.key")
    assert kept.read_bytes() == old
    assert mode(kept) == 0o600


def test_repeated_promotion_after_it_completed_is_harmless(
        store: FileKeyStore, request_: Request) -> None:
    _old, new, _oc, new_cert = setup_rekey(store, request_)
    store.save_cert(request_, new_cert, "AbCd_123")
    store.save_cert(request_, new_cert, "AbCd_123")
    assert Path(request_.key_storage_location).read_bytes() == new


def test_promotion_with_a_lost_candidate_is_an_error(store: FileKeyStore,
                                                     request_: Request) -> None:
    _old, _new, _oc, new_cert = setup_rekey(store, request_)
    store.discard_candidate(request_, "AbCd_123")
    with pytest.raises(KeyStoreError):
        store.save_cert(request_, new_cert, "AbCd_123")


def test_promotion_with_a_certificate_for_another_key_is_refused(
        store: FileKeyStore, request_: Request) -> None:
    old, _new, old_cert, _nc = setup_rekey(store, request_)
    with pytest.raises(KeyStoreError):
        store.save_cert(request_, cert_for(new_key(), 3), "AbCd_123")
    assert Path(request_.key_storage_location).read_bytes() == old
    assert store.read_cert(request_) == old_cert


class Crash(Exception):
    """Stands for the process dying at a given point."""


@pytest.mark.parametrize("preserve", [False, True])
@pytest.mark.parametrize("crash_at", [0, 1, 2, 3])
def test_a_crash_at_any_rename_leaves_a_consistent_pair(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash_at: int, preserve: bool) -> None:
    request = Request(nickname="t", key_storage_location=str(tmp_path / "t.key"),
                      cert_storage_location=str(tmp_path / "t.crt"), key_preserve=preserve)
    store = FileKeyStore()
    old_key, new_key_pem, old_cert, new_cert = setup_rekey(store, request)
    calls = 0
    real_replace = os.replace

    def crashing_replace(src: str, dst: str) -> None:
        nonlocal calls
        calls += 1
        if calls > crash_at:
            raise Crash(f"crash before rename {calls}")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crashing_replace)
    try:
        store.save_cert(request, new_cert, "AbCd_123")
        finished = True
    except Crash:
        finished = False
    monkeypatch.setattr(os, "replace", real_replace)

    # "Restart": a fresh store reads the pair back, as the daemon does at start-up.
    restarted = FileKeyStore()
    key = restarted.read_key(request)
    cert = restarted.read_cert(request)
    assert key is not None and cert is not None
    pair = (key.pem, cert)
    assert pair in [(old_key, old_cert), (new_key_pem, new_cert)]
    assert bytes.fromhex(certinfo.read_cert_info(cert).cert_spki) == spki_of(key.pem)
    if finished:
        assert pair == (new_key_pem, new_cert)


def test_recovery_needs_the_requests_own_candidate(store: FileKeyStore,
                                                   request_: Request) -> None:
    old, new, _oc, new_cert = setup_rekey(store, request_)
    # The certificate is new but the key old: the state after step 2 of the swap.
    filestore.write_file(request_.cert_storage_location, new_cert.encode(),
                         default_mode=0o644)
    request_.key_next_marker = ""
    stored = store.read_key(request_)
    assert stored is not None and stored.pem == old  # not guessed from file names
    request_.key_next_marker = "AbCd_123"
    stored = store.read_key(request_)
    assert stored is not None and stored.pem == new
    assert not Path(request_.key_storage_location + ".AbCd_123.key").exists()
