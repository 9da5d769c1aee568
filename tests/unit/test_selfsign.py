"""The SelfSign CA: each request signed with its own key."""

from __future__ import annotations

import asyncio
import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from pycertmonger.cas.base import CADataOp, OutcomeKind, Submission
from pycertmonger.cas.selfsign import IDENTITY, SelfSignBackend, self_sign
from pycertmonger.crypto import csr, keys
from pycertmonger.crypto.certinfo import certificate_extensions

NOW = 1_900_000_000


@pytest.fixture(scope="module")
def key_pem() -> bytes:
    return keys.generate_key_pem("EC", 256)


@pytest.fixture(scope="module")
def other_key_pem() -> bytes:
    return keys.generate_key_pem("EC", 256)


@pytest.fixture(scope="module")
def csr_pem(key_pem: bytes) -> str:
    return csr.build_csr(key_pem, csr.CsrTemplate(
        nickname="n", subject="CN=ss.example.test,O=Example", hostnames=["ss.example.test"],
        ku="101", eku=["id-kp-serverAuth"], profile="p"))


def cert_of(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def test_certificate_is_issued_by_its_own_subject(csr_pem: str, key_pem: bytes) -> None:
    cert = cert_of(self_sign(csr_pem, key_pem, 7, NOW, 86400))
    request = csr.load_csr(csr_pem)
    assert cert.issuer == cert.subject == request.subject
    assert cert.subject.public_bytes() == request.subject.public_bytes()
    cert.verify_directly_issued_by(cert)


def test_serial_validity_and_version(csr_pem: str, key_pem: bytes) -> None:
    cert = cert_of(self_sign(csr_pem, key_pem, 7, NOW, 86400))
    assert cert.serial_number == 7
    assert cert.version is x509.Version.v3
    assert cert.not_valid_before_utc == datetime.datetime.fromtimestamp(NOW, datetime.UTC)
    assert cert.not_valid_after_utc == datetime.datetime.fromtimestamp(NOW + 86400, datetime.UTC)


def test_requested_extensions_are_copied_byte_for_byte(csr_pem: str, key_pem: bytes) -> None:

    cert = cert_of(self_sign(csr_pem, key_pem, 1, NOW, 86400))
    requested = csr.requested_extensions(csr.load_csr(csr_pem))
    assert certificate_extensions(cert) == requested


def test_basic_constraints_are_added_when_the_csr_has_none(key_pem: bytes) -> None:
    key = keys.load_private_key(key_pem)
    bare = (x509.CertificateSigningRequestBuilder()
            .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "b")]))
            .sign(key, hashes.SHA256()))
    pem = bare.public_bytes(serialization.Encoding.PEM).decode()
    cert = cert_of(self_sign(pem, key_pem, 1, NOW, 86400))
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca


def test_digest_is_used(csr_pem: str, key_pem: bytes) -> None:
    cert = cert_of(self_sign(csr_pem, key_pem, 1, NOW, 86400, "sha512"))
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA512)


def test_csr_of_another_key_is_refused(csr_pem: str, other_key_pem: bytes) -> None:
    with pytest.raises(ValueError, match="not made with this key"):
        self_sign(csr_pem, other_key_pem, 1, NOW, 86400)


class Serials:
    def __init__(self) -> None:
        self.next = 1

    def __call__(self) -> int:
        self.next += 1
        return self.next - 1


def test_backend_issues_with_the_next_serial_and_the_clock(csr_pem: str, key_pem: bytes) -> None:
    serials = Serials()
    backend = SelfSignBackend(next_serial=serials, validity=3600, clock=lambda: NOW)
    out = asyncio.run(backend.submit(Submission("SelfSign", csr_pem, key_pem=key_pem)))
    assert out.kind is OutcomeKind.ISSUED
    cert = cert_of(out.cert)
    assert cert.serial_number == 1 and serials.next == 2
    assert cert.not_valid_after_utc.timestamp() == NOW + 3600


def test_backend_without_a_key_is_unconfigured(csr_pem: str) -> None:
    backend = SelfSignBackend(next_serial=Serials())
    out = asyncio.run(backend.submit(Submission("SelfSign", csr_pem)))
    assert out.kind is OutcomeKind.UNCONFIGURED


def test_backend_rejects_a_foreign_csr_without_using_a_serial(
        csr_pem: str, other_key_pem: bytes) -> None:
    serials = Serials()
    backend = SelfSignBackend(next_serial=serials)
    out = asyncio.run(backend.submit(Submission("SelfSign", csr_pem, key_pem=other_key_pem)))
    assert out.kind is OutcomeKind.REJECTED
    assert serials.next == 1


def test_backend_identifies_as_certmonger_selfsign() -> None:
    backend = SelfSignBackend(next_serial=Serials())
    out = asyncio.run(backend.fetch_data(CADataOp.IDENTIFY))
    assert (out.kind, out.text) == (OutcomeKind.ISSUED, IDENTITY)
    assert IDENTITY == "SelfSign (certmonger 0.79.17)"


@pytest.mark.parametrize("op", [op for op in CADataOp if op is not CADataOp.IDENTIFY])
def test_backend_supports_no_other_ca_data(op: CADataOp) -> None:
    out = asyncio.run(SelfSignBackend(next_serial=Serials()).fetch_data(op))
    assert out.kind is OutcomeKind.NOT_SUPPORTED
