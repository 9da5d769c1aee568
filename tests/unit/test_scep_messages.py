"""SCEP pkiMessages as certmonger's daemon builds them, their envelopes, and the engine hooks."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from pycertmonger.cas import scep_messages as sm
from pycertmonger.cas import scep_pkcs7 as p7
from pycertmonger.cas.base import Submission
from pycertmonger.crypto import der as der_
from pycertmonger.crypto.keys import describe_key, encode_private_key
from pycertmonger.keystores.base import KeyStorePinError, StoredKey
from pycertmonger.machine import Outcome
from pycertmonger.model import CA, Request

NOW = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC
OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl tool is not installed")


def name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def self_signed(key: rsa.RSAPrivateKey, cn: str) -> x509.Certificate:
    start = dt.datetime.fromtimestamp(NOW - 86400, dt.UTC)
    return (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn))
            .public_key(key.public_key()).serial_number(7)
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))


def issued(ca_key: rsa.RSAPrivateKey, ca: x509.Certificate, key: rsa.RSAPrivateKey,
           cn: str) -> x509.Certificate:
    start = dt.datetime.fromtimestamp(NOW - 3600, dt.UTC)
    return (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(1234)
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=365))
            .sign(ca_key, hashes.SHA256()))


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class World:
    """A CA that is its own RA, a request key with a CSR and a certificate, a next key."""

    ra_key: rsa.RSAPrivateKey
    ra: x509.Certificate
    key: rsa.RSAPrivateKey
    key_pem: bytes
    next_key: rsa.RSAPrivateKey
    next_key_pem: bytes
    csr: bytes  # for `key`
    next_csr: bytes  # for `next_key`
    cert: x509.Certificate  # `key`'s, issued by the RA
    ra_key_pem: bytes = field(default=b"")


def make_csr(key: rsa.RSAPrivateKey, cn: str) -> bytes:
    return (x509.CertificateSigningRequestBuilder().subject_name(name(cn))
            .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))


@pytest.fixture(scope="module")
def w() -> World:
    ra_key = rsa.generate_private_key(65537, 2048)
    ra = self_signed(ra_key, "Test SCEP CA")
    key = rsa.generate_private_key(65537, 2048)
    next_key = rsa.generate_private_key(65537, 2048)
    return World(ra_key=ra_key, ra=ra, key=key, key_pem=encode_private_key(key),
                 next_key=next_key, next_key_pem=encode_private_key(next_key),
                 csr=make_csr(key, "host.example.test"),
                 next_csr=make_csr(next_key, "host.example.test"),
                 cert=issued(ra_key, ra, key, "held.example.test"),
                 ra_key_pem=encode_private_key(ra_key))


def minicert_for(key_pem: bytes, csr: bytes) -> bytes:
    subject, _ = p7.csr_parts(csr)
    return sm.build_minicert(key_pem, subject, NOW)


def opened(message: bytes, w: World) -> bytes:
    """The plaintext inside a pkiMessage's envelope, opened with the RA's key."""
    return p7.decrypt_envelope(sm.read_pki_message(message).content, [w.ra_key_pem])


# --- cipher and digest choice ---------------------------------------------------------


def test_the_bare_aes_capability_gives_aes_256() -> None:
    caps = ["Renewal", "SHA-1", "SHA-256", "AES", "DES3", "SCEPStandard"]
    assert sm.choose_cipher(caps).name == "AES256"


def test_the_strongest_offered_cipher_is_chosen() -> None:
    assert sm.choose_cipher(["DES", "AES-128", "DES3"]).name == "AES128"
    assert sm.choose_cipher(["DES", "DES3"]).name == "DES3"
    assert sm.choose_cipher(["DES"]).name == "DES"


def test_no_cipher_capability_gives_aes_256() -> None:
    assert sm.choose_cipher(["Renewal", "SHA-256"]).name == "AES256"


def test_the_cas_cipher_override_wins_and_an_unknown_one_is_ignored() -> None:
    assert sm.choose_cipher(["AES"], override="des3").name == "DES3"
    assert sm.choose_cipher(["DES3"], override="blowfish").name == "DES3"


def test_the_strongest_offered_digest_is_chosen_else_sha256() -> None:
    assert sm.choose_digest(["SHA-1", "SHA-512", "SHA-256"]).name == "SHA512"
    assert sm.choose_digest(["SHA-1"]).name == "SHA1"
    assert sm.choose_digest(["AES"]).name == "SHA256"


def test_the_cas_digest_override_wins() -> None:
    assert sm.choose_digest(["SHA-512"], override="SHA-384").name == "SHA384"


# --- transaction ID and minicert ------------------------------------------------------


def test_the_transaction_id_is_the_decimal_sha256_of_the_spki_as_certmonger_makes_it() -> None:
    # From a record written by the stock certmonger 0.79.17 (tests/fixtures/stock).
    spki = bytes.fromhex(
        "3059301306072A8648CE3D020106082A8648CE3D03010703420004AEBF74F1E5B289CDFB174EFDA5"
        "EEC4A569D3F6613836993B57DA276ECD2647315078B17860FA5545F22A42893128494599681CAF11"
        "4C0121CB89303238626A37")
    assert sm.transaction_id(spki) == (
        "114953757145353782437781536118402755162817970982553784753711117076942719058232")


def test_the_minicert_is_a_self_signed_v1_certificate_named_after_the_csr(w: World) -> None:
    cert = x509.load_der_x509_certificate(minicert_for(w.key_pem, w.csr))
    assert cert.version is x509.Version.v1
    assert cert.subject == cert.issuer == name("host.example.test")
    cert.verify_directly_issued_by(cert)
    assert cert.public_key() == w.key.public_key()


def test_the_minicert_serial_is_the_transaction_id(w: World) -> None:
    cert = x509.load_der_x509_certificate(minicert_for(w.key_pem, w.csr))
    spki = w.key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    assert str(cert.serial_number) == sm.transaction_id(spki)


def test_the_minicert_runs_a_hundred_years_from_midnight(w: World) -> None:
    cert = x509.load_der_x509_certificate(minicert_for(w.key_pem, w.csr))
    assert cert.not_valid_before_utc == dt.datetime(2027, 1, 15, tzinfo=dt.UTC)
    assert cert.not_valid_after_utc == dt.datetime(2127, 1, 15, tzinfo=dt.UTC)


def test_an_ec_key_gets_a_minicert_too() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = name("ec.example.test").public_bytes()
    cert = x509.load_der_x509_certificate(sm.build_minicert(encode_private_key(key),
                                                            subject, NOW))
    cert.verify_directly_issued_by(cert)


def test_a_new_csr_gets_a_transaction_id_and_minicert_and_drops_old_messages(
        w: World) -> None:
    csr_pem = x509.load_der_x509_csr(w.csr).public_bytes(serialization.Encoding.PEM).decode()
    fields = sm.fields_for_new_csr(w.key_pem, csr_pem, NOW)
    assert set(fields) == set(sm.CSR_FIELDS)
    mini = x509.load_der_x509_certificate(base64.b64decode(fields["minicert"]))
    assert str(mini.serial_number) == fields["scep_tx"]
    assert all(fields[k] == "" for k in sm.CSR_FIELDS if k not in ("scep_tx", "minicert"))


# --- envelopes ------------------------------------------------------------------------


def test_an_envelope_opens_with_the_recipients_key(w: World) -> None:
    sealed = p7.envelope(b"the payload", der(w.ra), p7.CIPHERS["AES256"])
    assert p7.decrypt_envelope(sealed, [w.ra_key_pem]) == b"the payload"


@pytest.mark.parametrize("cipher", ["DES", "DES3", "AES128", "AES192"])
def test_every_cipher_round_trips(w: World, cipher: str) -> None:
    sealed = p7.envelope(b"x" * 37, der(w.ra), p7.CIPHERS[cipher])
    assert p7.decrypt_envelope(sealed, [w.ra_key_pem]) == b"x" * 37


@needs_openssl
@pytest.mark.parametrize("cipher", ["AES256", "DES3"])
def test_openssl_opens_our_envelope(w: World, tmp_path: Path, cipher: str) -> None:
    (tmp_path / "in.der").write_bytes(p7.envelope(b"for openssl", der(w.ra),
                                                  p7.CIPHERS[cipher]))
    (tmp_path / "key.pem").write_bytes(w.ra_key_pem)
    out = subprocess.run([OPENSSL, "cms", "-decrypt", "-inform", "DER", "-binary",
                          "-in", str(tmp_path / "in.der"), "-inkey", str(tmp_path / "key.pem")],
                         capture_output=True, check=True)
    assert out.stdout == b"for openssl"


def test_an_envelope_from_cryptography_opens(w: World) -> None:
    sealed = (pkcs7.PKCS7EnvelopeBuilder().set_data(b"sealed elsewhere").add_recipient(w.ra)
              .encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary]))
    assert p7.decrypt_envelope(sealed, [w.ra_key_pem]) == b"sealed elsewhere"


@needs_openssl
def test_an_indefinite_length_ber_envelope_opens(w: World, tmp_path: Path) -> None:
    (tmp_path / "data").write_bytes(b"streamed")
    (tmp_path / "ra.pem").write_text(pem(w.ra))
    out = subprocess.run([OPENSSL, "cms", "-encrypt", "-binary", "-stream", "-outform", "DER",
                          "-aes256", "-in", str(tmp_path / "data"), str(tmp_path / "ra.pem")],
                         capture_output=True, check=True)
    assert out.stdout[1] == 0x80  # indefinite length
    assert p7.decrypt_envelope(out.stdout, [w.ra_key_pem]) == b"streamed"


def test_each_key_is_tried_in_turn(w: World) -> None:
    sealed = p7.envelope(b"for the second key", der(w.ra), p7.CIPHERS["DES"])
    assert p7.decrypt_envelope(sealed, [w.key_pem, w.ra_key_pem]) == b"for the second key"


def test_an_envelope_for_nobody_we_know_is_an_error(w: World) -> None:
    sealed = p7.envelope(b"not ours", der(w.ra), p7.CIPHERS["AES256"])
    with pytest.raises(sm.SCEPMessageError, match="not addressed"):
        p7.decrypt_envelope(sealed, [w.key_pem])


def test_a_truncated_envelope_is_an_error(w: World) -> None:
    sealed = p7.envelope(b"cut short", der(w.ra), p7.CIPHERS["AES256"])
    broken = der_.sequence(der_.oid(p7.OID_ENVELOPED_DATA),
                           der_.explicit(0, der_.sequence(der_.integer(0))))
    with pytest.raises(sm.SCEPMessageError):
        p7.decrypt_envelope(broken, [w.ra_key_pem])
    with pytest.raises(sm.SCEPMessageError):
        p7.decrypt_envelope(sealed[:-5], [w.ra_key_pem])


def test_signed_data_is_not_an_envelope(w: World) -> None:
    with pytest.raises(sm.SCEPMessageError, match="not enveloped"):
        p7.decrypt_envelope(pkcs7.serialize_certificates([w.ra], serialization.Encoding.DER),
                            [w.ra_key_pem])


# --- signed pkiMessages ---------------------------------------------------------------


def signed(w: World, content: bytes = b"content", **kw) -> bytes:
    args = {"key_pem": w.key_pem, "signer_cert": der(w.cert), "digest": p7.DIGESTS["SHA256"],
            "message_type": sm.MESSAGE_PKCS_REQ, "transaction": "12345",
            "sender_nonce": b"n" * 16, "signing_time": NOW}
    return sm.sign_pki_message(content, **{**args, **kw})


def test_a_pki_message_reads_back_with_its_scep_attributes(w: World) -> None:
    message = sm.read_pki_message(signed(w, recipient_nonce=b"r" * 16, pki_status="3"))
    assert (message.message_type, message.transaction_id, message.sender_nonce,
            message.recipient_nonce, message.pki_status) == ("19", "12345", b"n" * 16,
                                                             b"r" * 16, "3")
    assert message.content == b"content"
    assert message.digest == "SHA256"
    assert message.signer == der(w.cert)


@needs_openssl
def test_openssl_verifies_our_signature(w: World, tmp_path: Path) -> None:
    (tmp_path / "m.der").write_bytes(signed(w, b"verify me", digest=p7.DIGESTS["SHA512"]))
    out = subprocess.run([OPENSSL, "cms", "-verify", "-noverify", "-inform", "DER",
                          "-in", str(tmp_path / "m.der")], capture_output=True, check=True)
    assert out.stdout == b"verify me"


@needs_openssl
def test_the_attributes_are_those_rfc_8894_names(w: World, tmp_path: Path) -> None:
    (tmp_path / "m.der").write_bytes(signed(w))
    out = subprocess.run([OPENSSL, "cms", "-cmsout", "-print", "-inform", "DER",
                          "-in", str(tmp_path / "m.der")], capture_output=True, text=True,
                         check=True).stdout
    for oid in ("contentType", "signingTime", "messageDigest", "2.16.840.1.113733.1.9.2",
                "2.16.840.1.113733.1.9.5", "2.16.840.1.113733.1.9.7"):
        assert oid in out


def test_the_signed_attributes_are_in_der_set_order(w: World) -> None:
    # X.690 §11.6: a SET OF is sorted; verifiers that re-encode would see another text.
    signed_data = p7.children(p7.one(p7.content_info(signed(w))[1], der_.SEQUENCE))
    signer_info = p7.children(signed_data[-1][1])[0][1]
    attributes = [whole for _, _, whole in p7.children(p7.children(signer_info)[3][1])]
    assert len(attributes) == 6
    assert attributes == sorted(attributes)


def test_a_tampered_message_is_refused(w: World) -> None:
    message = bytearray(signed(w, b"original content"))
    at = bytes(message).index(b"original")
    message[at] ^= 0x01
    with pytest.raises(sm.SCEPMessageError, match="messageDigest"):
        sm.read_pki_message(bytes(message))


def test_a_message_signed_by_another_key_is_refused(w: World) -> None:
    with pytest.raises(sm.SCEPMessageError, match="bad signature"):
        sm.read_pki_message(signed(w, key_pem=w.next_key_pem))


# --- certmonger's message set ---------------------------------------------------------


def message_set(w: World, **kw) -> sm.MessageSet:
    args = {"csr": w.csr, "key_pem": w.key_pem, "minicert": minicert_for(w.key_pem, w.csr),
            "ra_cert": der(w.ra), "cipher": p7.CIPHERS["AES256"],
            "digest": p7.DIGESTS["SHA256"], "now": NOW}
    return sm.build_message_set(**{**args, **kw})


def test_a_first_request_signs_with_the_minicert_and_has_no_rekey_variants(w: World) -> None:
    mini = minicert_for(w.key_pem, w.csr)
    messages = message_set(w, minicert=mini)
    assert messages.pkcs_req_rekey is None and messages.get_cert_initial_rekey is None
    assert messages.pkcs_req and messages.get_cert_initial
    for m in (messages.pkcs_req, messages.get_cert_initial):
        assert sm.read_pki_message(m).signer == mini


def test_the_pkcsreq_carries_the_csr_sealed_to_the_ra(w: World) -> None:
    messages = message_set(w)
    assert sm.read_pki_message(messages.pkcs_req or b"").message_type == sm.MESSAGE_PKCS_REQ
    assert opened(messages.pkcs_req or b"", w) == w.csr


def test_the_getcertinitial_names_the_ca_and_the_requester(w: World) -> None:
    messages = message_set(w)
    gic = messages.get_cert_initial or b""
    assert sm.read_pki_message(gic).message_type == sm.MESSAGE_CERT_POLL
    expected = sm.issuer_and_subject(der(w.ra), minicert_for(w.key_pem, w.csr))
    assert opened(gic, w) == expected


def test_every_message_shares_the_nonce_and_the_csr_keys_transaction_id(w: World) -> None:
    messages = message_set(w, csr=w.next_csr, next_key_pem=w.next_key_pem, cert=der(w.cert),
                           minicert=minicert_for(w.next_key_pem, w.next_csr))
    spki = w.next_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    for m in (messages.pkcs_req, messages.get_cert_initial, messages.pkcs_req_rekey,
              messages.get_cert_initial_rekey):
        read = sm.read_pki_message(m or b"")
        assert read.sender_nonce == messages.nonce
        assert read.transaction_id == sm.transaction_id(spki)


def test_a_renewal_signs_with_the_certificate_held(w: World) -> None:
    messages = message_set(w, cert=der(w.cert))
    assert sm.read_pki_message(messages.pkcs_req or b"").signer == der(w.cert)
    assert opened(messages.get_cert_initial or b"", w) == sm.issuer_and_subject(der(w.ra),
                                                                               der(w.cert))


def test_a_held_certificate_of_another_key_is_not_used_to_sign(w: World) -> None:
    stranger = issued(w.ra_key, w.ra, w.next_key, "someone.example.test")
    mini = minicert_for(w.key_pem, w.csr)
    messages = message_set(w, cert=der(stranger), minicert=mini)
    assert sm.read_pki_message(messages.pkcs_req or b"").signer == mini


def test_a_rekey_signs_the_rekey_variants_with_the_new_key_and_minicert(w: World) -> None:
    mini = minicert_for(w.next_key_pem, w.next_csr)
    messages = message_set(w, csr=w.next_csr, next_key_pem=w.next_key_pem, cert=der(w.cert),
                           minicert=mini)
    assert sm.read_pki_message(messages.pkcs_req or b"").signer == der(w.cert)
    assert sm.read_pki_message(messages.pkcs_req_rekey or b"").signer == mini
    assert opened(messages.pkcs_req_rekey or b"", w) == w.next_csr


def test_a_rekey_without_a_certificate_sends_only_the_rekey_variants(w: World) -> None:
    messages = message_set(w, csr=w.next_csr, next_key_pem=w.next_key_pem,
                           minicert=minicert_for(w.next_key_pem, w.next_csr))
    assert messages.pkcs_req is None and messages.get_cert_initial is None
    assert messages.pkcs_req_rekey and messages.get_cert_initial_rekey


def test_messages_are_stored_as_pem_pkcs7_like_certmonger_0_79_17(w: World) -> None:
    message = message_set(w).pkcs_req or b""
    text = sm.pkcs7_pem(message)
    assert text.startswith("-----BEGIN PKCS7-----\n")
    assert p7.pem_to_der(text, "PKCS7") == message


# --- record fields and helper variables -----------------------------------------------


def csr_pem(csr: bytes) -> str:
    return x509.load_der_x509_csr(csr).public_bytes(serialization.Encoding.PEM).decode()


def inputs(w: World, **kw) -> sm.MessageInputs:
    args = {"csr_pem": csr_pem(w.csr), "key_pem": w.key_pem, "next_key_pem": None,
            "cert_pem": "", "chain_pems": [], "minicert_b64": "", "ra_cert_pem": pem(w.ra),
            "ca_cert_pem": "", "capabilities": ["AES", "SHA-256"], "cipher_override": "",
            "digest_override": "", "now": NOW}
    return sm.MessageInputs(**{**args, **kw})


def test_message_fields_hold_a_fresh_set_as_pem(w: World) -> None:
    fields = sm.make_message_fields(inputs(w))
    assert set(fields) == set(sm.MESSAGE_FIELDS)
    assert fields["scep_req"].startswith("-----BEGIN PKCS7-----")
    assert fields["scep_req_next"] == "" and fields["scep_gic_next"] == ""
    nonce = base64.b64decode(fields["scep_nonce"])
    assert sm.read_pki_message(p7.pem_to_der(fields["scep_gic"])).sender_nonce == nonce


def test_a_minicert_of_another_key_is_made_again(w: World) -> None:
    stale = base64.b64encode(minicert_for(w.next_key_pem, w.next_csr)).decode()
    fields = sm.make_message_fields(inputs(w, minicert_b64=stale))
    assert fields["minicert"] != stale
    mini = x509.load_der_x509_certificate(base64.b64decode(fields["minicert"]))
    assert mini.public_key() == w.key.public_key()


def test_the_cas_cipher_choice_is_used(w: World) -> None:
    fields = sm.make_message_fields(inputs(w, cipher_override="DES3"))
    envelope = sm.read_pki_message(p7.pem_to_der(fields["scep_req"])).content
    assert bytes.fromhex("06082a864886f70d0307") in envelope  # des-ede3-cbc


def scep_ca(w: World, **kw) -> CA:
    return CA(nickname="SCEP", encryption_cert=pem(w.ra), capabilities=["AES"], **kw)


def test_unsent_messages_and_the_cas_certificates_go_to_the_helper(w: World) -> None:
    request = Request(nickname="r", scep_nonce="N1", scep_req="REQ", scep_gic="GIC")
    env = sm.scep_variables(request, scep_ca(w, encryption_cert_pool="POOL",
                                             scep_ca_identifier="7"))
    assert env["CERTMONGER_PKCSREQ"] == "REQ" and env["CERTMONGER_GETCERTINITIAL"] == "GIC"
    assert env["CERTMONGER_SCEP_RA_CERTIFICATE"] == pem(w.ra)
    assert env["CERTMONGER_SCEP_CERTIFICATES"] == "POOL"
    assert env["CERTMONGER_SCEP_CA_IDENTIFIER"] == "7"
    assert "CERTMONGER_PKCSREQ_REKEY" not in env


def test_messages_already_sent_are_withheld(w: World) -> None:
    request = Request(nickname="r", scep_nonce="N1", scep_last_nonce="N1", scep_req="REQ")
    env = sm.scep_variables(request, scep_ca(w))
    assert "CERTMONGER_PKCSREQ" not in env
    assert "CERTMONGER_SCEP_RA_CERTIFICATE" in env


def test_sending_marks_the_nonce_used_once(w: World) -> None:
    request = Request(nickname="r", scep_nonce="N1", scep_last_nonce="N0")
    assert sm.mark_messages_sent(request) == {"scep_last_nonce"}
    assert request.scep_last_nonce == "N1"
    assert sm.mark_messages_sent(request) == set()


def test_a_self_signed_ra_certificate_also_stands_for_the_ca(w: World) -> None:
    env = sm.scep_variables(Request(nickname="r"), scep_ca(w))
    assert env["CERTMONGER_SCEP_CA_CERTIFICATE"] == pem(w.ra)


def test_a_named_ca_certificate_is_passed_as_given(w: World) -> None:
    env = sm.scep_variables(Request(nickname="r"), scep_ca(w, encryption_issuer_cert="CA"))
    assert env["CERTMONGER_SCEP_CA_CERTIFICATE"] == "CA"


def test_an_ra_certificate_issued_by_someone_else_is_not_taken_for_the_ca(w: World) -> None:
    ca = CA(nickname="SCEP", encryption_cert=pem(w.cert))
    assert "CERTMONGER_SCEP_CA_CERTIFICATE" not in sm.scep_variables(Request(nickname="r"), ca)


def test_an_answer_is_opened_with_the_submission_keys(w: World) -> None:
    sealed = p7.envelope(b"the certificate", der(w.cert), p7.CIPHERS["DES"])
    submission = Submission(ca_nickname="SCEP", csr="", key_pem=w.next_key_pem,
                            envelope_keys=[w.key_pem])
    assert sm.decrypt_submission_envelope(submission, sealed) == b"the certificate"


# --- the engine hooks -----------------------------------------------------------------


class FakeStore:
    def __init__(self, keys: dict[str | None, bytes], error: Exception | None = None) -> None:
        self.keys = keys
        self.error = error

    def read_key(self, request: Request, marker: str | None = None) -> StoredKey | None:
        if self.error is not None:
            raise self.error
        pem_ = self.keys.get(marker)
        if pem_ is None:
            return None
        from pycertmonger.crypto.keys import load_private_key
        return describe_key(load_private_key(pem_))


def fake_effects(store: FakeStore) -> SimpleNamespace:
    engine = SimpleNamespace(executor=ThreadPoolExecutor(2),
                             clock=SimpleNamespace(time=lambda: NOW),
                             config=SimpleNamespace(digest="sha256"))
    return SimpleNamespace(engine=engine, keystore=lambda kind: store)


def scep_request(w: World, **kw) -> Request:
    return Request(nickname="r", key_storage_type="FILE", csr=csr_pem(w.csr), **kw)


def test_building_messages_fills_the_record(w: World) -> None:
    request = scep_request(w, ca_error="old trouble")
    effects = fake_effects(FakeStore({None: w.key_pem}))
    result = asyncio.run(sm.build_scep_messages(effects, request, scep_ca(w)))
    assert result.outcome is Outcome.OK
    assert {"scep_nonce", "scep_req", "scep_gic", "ca_error"} <= result.changed
    assert request.scep_req.startswith("-----BEGIN PKCS7-----") and request.ca_error == ""


def test_a_ca_without_an_ra_certificate_needs_one(w: World) -> None:
    request = scep_request(w)
    effects = fake_effects(FakeStore({None: w.key_pem}))
    result = asyncio.run(sm.build_scep_messages(effects, request, CA(nickname="SCEP")))
    assert result.outcome is Outcome.NEED_ENCRYPTION_CERT
    assert request.ca_error


def test_an_ra_certificate_without_an_rsa_key_cannot_be_used(w: World) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    start = dt.datetime.fromtimestamp(NOW, dt.UTC)
    ec_ra = (x509.CertificateBuilder().subject_name(name("EC RA")).issuer_name(name("EC RA"))
             .public_key(ec_key.public_key()).serial_number(1).not_valid_before(start)
             .not_valid_after(start + dt.timedelta(days=1)).sign(ec_key, hashes.SHA256()))
    result = asyncio.run(sm.build_scep_messages(fake_effects(FakeStore({None: w.key_pem})),
                                                scep_request(w),
                                                CA(nickname="SCEP", encryption_cert=pem(ec_ra))))
    assert result.outcome is Outcome.NEED_ENCRYPTION_CERT


def test_an_ec_key_needs_an_rsa_key(w: World) -> None:
    ec_pem = encode_private_key(ec.generate_private_key(ec.SECP256R1()))
    result = asyncio.run(sm.build_scep_messages(fake_effects(FakeStore({None: ec_pem})),
                                                scep_request(w), scep_ca(w)))
    assert result.outcome is Outcome.NEED_RSA_KEY


def test_a_key_locked_by_a_pin_needs_the_pin(w: World) -> None:
    store = FakeStore({}, error=KeyStorePinError("PIN needed"))
    result = asyncio.run(sm.build_scep_messages(fake_effects(store), scep_request(w),
                                                scep_ca(w)))
    assert result.outcome is Outcome.PIN


def test_a_rekey_builds_with_both_keys(w: World) -> None:
    request = scep_request(w, key_next_marker="m1", cert=pem(w.cert))
    request.csr = csr_pem(w.next_csr)
    effects = fake_effects(FakeStore({None: w.key_pem, "m1": w.next_key_pem}))
    assert asyncio.run(sm.build_scep_messages(effects, request, scep_ca(w))).outcome \
        is Outcome.OK
    assert sm.read_pki_message(p7.pem_to_der(request.scep_req)).signer == der(w.cert)
    assert request.scep_req_next


def test_a_submission_during_a_rekey_can_open_answers_for_the_current_key(w: World) -> None:
    request = scep_request(w, key_next_marker="m1", scep_nonce="N", scep_req="REQ")
    submission = Submission(ca_nickname="SCEP", csr="", key_pem=w.next_key_pem)
    effects = fake_effects(FakeStore({None: w.key_pem, "m1": w.next_key_pem}))
    changed = asyncio.run(sm.prepare_scep_submission(effects, request, scep_ca(w), submission))
    assert changed == {"scep_last_nonce"}
    assert submission.scep["CERTMONGER_PKCSREQ"] == "REQ"
    assert submission.envelope_keys == [w.key_pem]

