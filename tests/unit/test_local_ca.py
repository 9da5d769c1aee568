"""The local signer and its directory, shared with certmonger's local-submit."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID

from pycertmonger.cas import local
from pycertmonger.cas.base import CADataOp, OutcomeKind, Submission
from pycertmonger.crypto import certinfo, csr, keys

STOCK_HELPER = "/usr/lib/certmonger/local-submit"
needs_stock_helper = pytest.mark.skipif(not os.access(STOCK_HELPER, os.X_OK),
                                        reason="certmonger's local-submit is not installed")
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl")
YEAR = 365 * 86400
START = 1_900_000_000


class Clock:
    """A settable clock."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def leaf_key() -> bytes:
    return keys.generate_key_pem("EC", 256)


@pytest.fixture(scope="module")
def leaf_csr(leaf_key: bytes) -> str:
    return csr.build_csr(leaf_key, csr.CsrTemplate(
        nickname="loc", subject="CN=loc.example.test", hostnames=["loc.example.test"],
        ku="101", eku=["id-kp-serverAuth"]))


@pytest.fixture(scope="module")
def ca_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local CA directory, made once for the read-only tests."""
    directory = tmp_path_factory.mktemp("local") / "ca"
    local.LocalCA(directory, validity=YEAR, clock=Clock()).roots()
    return directory


def load_creds(directory: Path) -> pkcs12.PKCS12KeyAndCertificates:
    return pkcs12.load_pkcs12((directory / "creds").read_bytes(), b"")


def cert_of(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


# --- the directory ---------------------------------------------------------------------

def test_directory_holds_creds_serial_and_lock_readable_by_owner_only(ca_dir: Path) -> None:
    for name in ("creds", "serial", "lock"):
        assert stat.S_IMODE((ca_dir / name).stat().st_mode) == 0o600, name


def test_creds_hold_key_and_certificate_named_local_signing_authority(ca_dir: Path) -> None:
    creds = load_creds(ca_dir)
    assert creds.key is not None
    assert creds.cert is not None
    assert creds.cert.friendly_name == b"Local Signing Authority"


def test_serial_file_holds_the_next_serial_in_uppercase_hex(ca_dir: Path) -> None:
    text = (ca_dir / "serial").read_text()
    ca = load_creds(ca_dir).cert.certificate
    assert text == local.serial_hex(ca.serial_number + 1) + "\n"
    assert text.strip() == text.strip().upper()


@pytest.mark.parametrize(("serial", "text"), [(1, "01"), (0x0E9D, "0E9D"), (0x80, "0080"),
                                              (0xB164, "00B164"), (0x7F, "7F")])
def test_serial_hex_uses_whole_octets_and_a_zero_before_a_high_bit(serial: int, text: str) -> None:
    assert local.serial_hex(serial) == text


# --- the CA certificate ----------------------------------------------------------------

def test_ca_subject_is_local_signing_authority_then_uuid(ca_dir: Path) -> None:
    ca = load_creds(ca_dir).cert.certificate
    first, second = (next(iter(rdn)) for rdn in ca.subject.rdns)
    assert (first.oid, first.value) == (NameOID.COMMON_NAME, "Local Signing Authority")
    assert second.oid == NameOID.COMMON_NAME
    assert all(a._type == _ASN1Type.UTF8String for a in (first, second))
    words = second.value.split("-")
    assert [len(w) for w in words] == [8, 8, 8, 8]
    # The serial is the uuid.
    assert int("".join(words), 16) == ca.serial_number
    assert ca.issuer == ca.subject


def test_ca_certificate_extensions(ca_dir: Path) -> None:
    ca = load_creds(ca_dir).cert.certificate
    exts = ca.extensions
    bc = exts.get_extension_for_class(x509.BasicConstraints)
    ku = exts.get_extension_for_class(x509.KeyUsage)
    assert bc.critical and bc.value.ca
    assert ku.critical
    assert (ku.value.digital_signature, ku.value.key_cert_sign, ku.value.crl_sign) == (
        True, True, True)
    assert not ku.value.key_encipherment
    skid = exts.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    akid = exts.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    spki = ca.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    assert skid == akid == hashlib.sha1(spki).digest()
    assert ca.public_key().key_size == 2048


def test_ca_validity_comes_from_the_configuration(ca_dir: Path) -> None:
    ca = load_creds(ca_dir).cert.certificate
    assert ca.not_valid_before_utc.timestamp() == START
    assert ca.not_valid_after_utc.timestamp() == START + YEAR


def test_roots_name_the_current_certificate(ca_dir: Path) -> None:
    roots = local.LocalCA(ca_dir, clock=Clock()).roots()
    assert [n for n, _ in roots] == ["Local Signing Authority"]
    assert cert_of(roots[0][1]) == load_creds(ca_dir).cert.certificate


def test_ca_is_replaced_when_less_than_half_its_life_is_left(tmp_path: Path) -> None:
    clock = Clock()
    ca = local.LocalCA(tmp_path / "ca", validity=1000, clock=clock)
    first = cert_of(ca.roots()[0][1])
    clock.now += 499
    assert cert_of(ca.roots()[0][1]) == first
    clock.now += 2
    roots = ca.roots()
    assert [n for n, _ in roots] == ["Local Signing Authority", "Local Signing Authority 2"]
    new, old = (cert_of(p) for _, p in roots)
    assert old == first
    assert new.subject == first.subject
    assert new.serial_number == first.serial_number + 1
    assert new.public_key() != first.public_key()
    clock.now += 501
    assert [n for n, _ in ca.roots()][1:] == ["Local Signing Authority 2",
                                               "Local Signing Authority 3"]


def test_ca_not_yet_valid_is_replaced(tmp_path: Path) -> None:
    clock = Clock()
    ca = local.LocalCA(tmp_path / "ca", validity=YEAR, clock=clock)
    first = cert_of(ca.roots()[0][1])
    clock.now -= 10
    assert cert_of(ca.roots()[0][1]) != first


# --- issuing ---------------------------------------------------------------------------

def test_issued_certificate_chains_to_the_ca(tmp_path: Path, leaf_csr: str) -> None:
    ca = local.LocalCA(tmp_path / "ca", clock=Clock())
    leaf = cert_of(ca.issue(leaf_csr))
    root = cert_of(ca.roots()[0][1])
    leaf.verify_directly_issued_by(root)
    assert leaf.issuer == root.subject
    assert leaf.subject.public_bytes() == csr.load_csr(leaf_csr).subject.public_bytes()


def test_issued_certificate_ends_with_the_ca(tmp_path: Path, leaf_csr: str) -> None:
    clock = Clock()
    ca = local.LocalCA(tmp_path / "ca", validity=YEAR, clock=clock)
    ca.roots()
    clock.now += 1000
    leaf = cert_of(ca.issue(leaf_csr))
    assert leaf.not_valid_before_utc.timestamp() == START + 1000
    assert leaf.not_valid_after_utc.timestamp() == START + YEAR


def test_serials_come_from_the_serial_file(tmp_path: Path, leaf_csr: str) -> None:
    directory = tmp_path / "ca"
    ca = local.LocalCA(directory, clock=Clock())
    ca.roots()
    (directory / "serial").write_text("0E9D\n")
    assert cert_of(ca.issue(leaf_csr)).serial_number == 0x0E9D
    assert cert_of(ca.issue(leaf_csr)).serial_number == 0x0E9E
    assert (directory / "serial").read_text() == "0E9F\n"


def test_requested_extensions_are_copied_then_akid_added(tmp_path: Path, leaf_csr: str) -> None:
    ca = local.LocalCA(tmp_path / "ca", clock=Clock())
    leaf = cert_of(ca.issue(leaf_csr))
    requested = csr.requested_extensions(csr.load_csr(leaf_csr))
    issued = certinfo.certificate_extensions(leaf)
    assert issued[:-1] == requested
    assert issued[-1].oid == "2.5.29.35"
    root = cert_of(ca.roots()[0][1])
    akid = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    skid = root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert akid.key_identifier == skid.digest


def test_bare_csr_gets_basic_constraints_and_key_ids(tmp_path: Path, leaf_key: bytes) -> None:
    key = keys.load_private_key(leaf_key)
    bare = (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bare")]))
            .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
    leaf = cert_of(local.LocalCA(tmp_path / "ca", clock=Clock()).issue(bare))
    assert [e.oid for e in certinfo.certificate_extensions(leaf)] == [
        "2.5.29.19", "2.5.29.35", "2.5.29.14"]
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).critical
    skid = leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert skid == x509.SubjectKeyIdentifier.from_public_key(key.public_key())


def test_unreadable_csr_is_a_bad_request(tmp_path: Path) -> None:
    with pytest.raises(local.BadRequestError):
        local.LocalCA(tmp_path / "ca").issue("garbage")


def test_issue_waits_for_the_lock(tmp_path: Path, leaf_csr: str) -> None:
    directory = tmp_path / "ca"
    local.LocalCA(directory, clock=Clock()).roots()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         ("import fcntl, os, time\n"
          f"fd = os.open({str(directory / 'lock')!r}, os.O_RDWR)\n"
          "fcntl.lockf(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(0.4)\n")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        local.LocalCA(directory, clock=Clock()).issue(leaf_csr)
        assert time.monotonic() - started > 0.2
    finally:
        holder.wait()


# --- the back-end ----------------------------------------------------------------------

def test_backend_submit_issues(tmp_path: Path, leaf_csr: str) -> None:
    backend = local.LocalBackend(tmp_path / "ca", clock=Clock())
    out = asyncio.run(backend.submit(Submission("local", leaf_csr)))
    assert out.kind is OutcomeKind.ISSUED
    assert cert_of(out.cert).subject.rfc4514_string() == "CN=loc.example.test"


def test_backend_without_csr_is_unconfigured(tmp_path: Path) -> None:
    out = asyncio.run(local.LocalBackend(tmp_path / "ca").submit(Submission("local", "")))
    assert out.kind is OutcomeKind.UNCONFIGURED


def test_backend_rejects_garbage(tmp_path: Path) -> None:
    out = asyncio.run(local.LocalBackend(tmp_path / "ca").submit(Submission("local", "junk")))
    assert out.kind is OutcomeKind.REJECTED


def test_backend_unusable_directory_is_unreachable(tmp_path: Path, leaf_csr: str) -> None:
    (tmp_path / "file").write_text("")
    out = asyncio.run(local.LocalBackend(tmp_path / "file" / "ca").submit(
        Submission("local", leaf_csr)))
    assert out.kind is OutcomeKind.UNREACHABLE


def test_backend_ca_data(ca_dir: Path) -> None:
    backend = local.LocalBackend(ca_dir, clock=Clock())
    ident = asyncio.run(backend.fetch_data(CADataOp.IDENTIFY))
    assert ident.text == "Local Signing Authority (certmonger 0.79.17)\n"
    reqs = asyncio.run(backend.fetch_data(CADataOp.GET_NEW_REQUEST_REQUIREMENTS))
    assert (reqs.kind, reqs.text) == (OutcomeKind.ISSUED, "")
    roots = asyncio.run(backend.fetch_data(CADataOp.FETCH_ROOTS))
    assert roots.text.startswith("Local Signing Authority\n-----BEGIN CERTIFICATE-----\n")
    templates = asyncio.run(backend.fetch_data(CADataOp.GET_DEFAULT_TEMPLATE))
    assert templates.kind is OutcomeKind.NOT_SUPPORTED


# --- the helper program ----------------------------------------------------------------

def run_helper(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
               env: dict[str, str], argv: list[str]) -> tuple[int, str]:
    for name in ("CERTMONGER_OPERATION", "CERTMONGER_CSR", "CERTMONGER_LOCAL_CA_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("CERTMONGER_CONFIG_DIR", "/nonexistent")
    code = local.helper_main(argv)
    return code, capsys.readouterr().out


def test_helper_identifies(monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    assert run_helper(monkeypatch, capsys, {"CERTMONGER_OPERATION": "identify"}, []) == (
        0, "Local Signing Authority (certmonger 0.79.17)\n")


def test_helper_unknown_operation_is_not_supported(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run_helper(monkeypatch, capsys, {"CERTMONGER_OPERATION": "GET-DEFAULT-TEMPLATE"}, [])
    assert code == 6


def test_helper_without_csr_is_unconfigured(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    code, out = run_helper(monkeypatch, capsys, {"CERTMONGER_OPERATION": "SUBMIT"},
                           ["-d", str(tmp_path / "ca")])
    assert (code, out) == (4, "Unable to read signing request.\n")


def test_helper_submits_from_the_environment(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        leaf_csr: str) -> None:
    code, out = run_helper(monkeypatch, capsys, {
        "CERTMONGER_OPERATION": "SUBMIT", "CERTMONGER_CSR": leaf_csr,
        "CERTMONGER_LOCAL_CA_DIR": str(tmp_path / "ca")}, [])
    assert code == 0
    assert cert_of(out).subject.rfc4514_string() == "CN=loc.example.test"


def test_helper_reads_a_csr_file_and_the_d_option(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        leaf_csr: str) -> None:
    (tmp_path / "req.csr").write_text(leaf_csr)
    code, out = run_helper(monkeypatch, capsys, {"CERTMONGER_OPERATION": "POLL"},
                           ["--ca-data-directory=" + str(tmp_path / "d"),
                            str(tmp_path / "req.csr")])
    assert code == 0
    assert out.startswith("-----BEGIN CERTIFICATE-----")
    assert (tmp_path / "d" / "creds").exists()


def test_helper_fetch_roots(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                            ca_dir: Path) -> None:
    code, out = run_helper(monkeypatch, capsys, {"CERTMONGER_OPERATION": "FETCH-ROOTS"},
                           ["-d", str(ca_dir)])
    assert code == 0
    assert out.startswith("Local Signing Authority\n-----BEGIN CERTIFICATE-----")


def test_helper_rejects_garbage(monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _ = run_helper(monkeypatch, capsys, {"CERTMONGER_OPERATION": "SUBMIT",
                                               "CERTMONGER_CSR": "junk"},
                         ["-d", str(tmp_path / "ca")])
    assert code == 2


def test_helper_bad_option_is_unconfigured(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run_helper(monkeypatch, capsys, {"CERTMONGER_OPERATION": "SUBMIT"}, ["--bogus"])
    assert code == 4


# --- interoperation with certmonger's local-submit ---------------------------------------

def run_stock(directory: Path, operation: str, csr_pem: str = "") -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "CERTMONGER_OPERATION": operation,
           "CERTMONGER_LOCAL_CA_DIR": str(directory), "CERTMONGER_CONFIG_DIR": "/nonexistent"}
    if csr_pem:
        env["CERTMONGER_CSR"] = csr_pem
    return subprocess.run([STOCK_HELPER], env=env, capture_output=True, text=True, check=False)


@pytest.mark.stock
@needs_stock_helper
@needs_openssl
def test_stock_helper_issues_from_our_directory(tmp_path: Path, leaf_csr: str) -> None:
    directory = tmp_path / "ca"
    ours = local.LocalCA(directory, clock=time.time)
    root_pem = ours.roots()[0][1]
    next_serial = int((directory / "serial").read_text(), 16)
    result = run_stock(directory, "SUBMIT", leaf_csr)
    assert result.returncode == 0, result.stderr
    leaf = cert_of(result.stdout)
    assert leaf.serial_number == next_serial
    (tmp_path / "root.pem").write_text(root_pem)
    (tmp_path / "leaf.pem").write_text(result.stdout)
    verify = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"),
                             str(tmp_path / "leaf.pem")], capture_output=True, text=True,
                            check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    # ... and it still sees our CA certificate as its current one.
    roots = run_stock(directory, "FETCH-ROOTS")
    assert roots.stdout == local.format_roots(ours.roots())


@pytest.mark.stock
@needs_stock_helper
@needs_openssl
def test_we_issue_from_a_stock_directory(tmp_path: Path, leaf_csr: str) -> None:
    directory = tmp_path / "ca"
    directory.mkdir()
    first = run_stock(directory, "SUBMIT", leaf_csr)
    assert first.returncode == 0, first.stderr
    stock_serial = int((directory / "serial").read_text(), 16)
    ours = local.LocalCA(directory, clock=time.time)
    leaf = cert_of(ours.issue(leaf_csr))
    assert leaf.serial_number == stock_serial
    root_pem = run_stock(directory, "FETCH-ROOTS").stdout.split("\n", 1)[1]
    root = cert_of(root_pem)
    leaf.verify_directly_issued_by(root)
    assert leaf.not_valid_after_utc == root.not_valid_after_utc
    (tmp_path / "root.pem").write_text(root_pem)
    (tmp_path / "leaf.pem").write_text(leaf.public_bytes(serialization.Encoding.PEM).decode())
    verify = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"),
                             str(tmp_path / "leaf.pem")], capture_output=True, text=True,
                            check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert cert_of(ours.roots()[0][1]) == root



def test_concurrent_first_use_in_one_process_makes_one_ca(tmp_path: Path,
                                                          leaf_csr: str) -> None:
    backend = local.LocalBackend(tmp_path / "ca", clock=Clock())

    async def both() -> tuple[object, object]:
        return await asyncio.gather(backend.submit(Submission("local", leaf_csr)),
                                    backend.fetch_data(CADataOp.FETCH_ROOTS))

    issued, roots = asyncio.run(both())
    root = cert_of(roots.text.split("\n", 1)[1])
    cert_of(issued.cert).verify_directly_issued_by(root)
