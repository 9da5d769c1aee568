"""CSRs built as certmonger builds them, compared with CSRs the stock daemon made."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509.oid import ExtensionOID

from pycertmonger.crypto import csr, der, extensions, keys
from tests.unit._stock_records import stock_request

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl")
SKID = ExtensionOID.SUBJECT_KEY_IDENTIFIER.dotted_string


@pytest.fixture(scope="module")
def rsa_pem() -> bytes:
    return keys.generate_key_pem("RSA", 2048)


@pytest.fixture(scope="module")
def ec_pem() -> bytes:
    return keys.generate_key_pem("EC", 256)


def template_of(name: str) -> csr.CsrTemplate:
    """The template a stock request record was made from."""
    r = stock_request(name)
    return csr.CsrTemplate(
        nickname=r.cert_nickname or r.key_nickname or r.nickname, subject=r.template_subject,
        hostnames=r.template_hostname, emails=r.template_email,
        principals=r.template_principal, ip_addresses=r.template_ipaddress, ku=r.template_ku,
        eku=r.template_eku, is_ca=r.template_is_ca, ca_path_length=r.template_ca_path_length,
        profile=r.template_profile)


def exts_of(pem: str) -> list[extensions.RawExtension]:
    return csr.requested_extensions(csr.load_csr(pem))


def without_skid(exts: list[extensions.RawExtension]) -> list[tuple[str, bool, bytes]]:
    return [(e.oid, e.critical, e.value) for e in exts if e.oid != SKID]


@pytest.mark.parametrize("name", ["ss1", "loc1", "nss1"])
def test_extensions_match_the_stock_csr(name: str, rsa_pem: bytes) -> None:
    stock = stock_request(name)
    ours = csr.build_csr(rsa_pem, template_of(name))
    # Everything but the key ID (certmonger 0.79.17 hashes stray memory for it).
    assert without_skid(exts_of(ours)) == without_skid(exts_of(stock.csr))
    assert [e.oid for e in exts_of(ours)] == [e.oid for e in exts_of(stock.csr)]


@pytest.mark.parametrize("name", ["ss1", "loc1", "nss1"])
def test_subject_and_attributes_match_the_stock_csr(name: str, rsa_pem: bytes) -> None:
    stock = csr.load_csr(stock_request(name).csr)
    ours = csr.load_csr(csr.build_csr(rsa_pem, template_of(name)))
    assert ours.subject.public_bytes() == stock.subject.public_bytes()
    friendly = x509.ObjectIdentifier("1.2.840.113549.1.9.20")
    assert ours.attributes.get_attribute_for_oid(friendly).value == \
        stock.attributes.get_attribute_for_oid(friendly).value


def test_a_subject_is_built_in_the_order_written(ec_pem: bytes) -> None:
    request = csr.load_csr(csr.build_csr(ec_pem, csr.CsrTemplate(subject="CN=a,O=b")))
    assert request.subject.rfc4514_string() == "O=b,CN=a"  # RFC 4514 lists the last RDN first


def test_a_subject_in_nss_order_is_built_last_rdn_first(ec_pem: bytes) -> None:
    # certmonger parses a subject for an NSS database key with NSS (RFC 4514 order).
    template = csr.CsrTemplate(subject="CN=a,O=b", subject_nss_order=True)
    request = csr.load_csr(csr.build_csr(ec_pem, template))
    assert request.subject.rfc4514_string() == "CN=a,O=b"


def test_csr_is_pem_with_a_trailing_newline_and_a_valid_signature(rsa_pem: bytes) -> None:
    pem = csr.build_csr(rsa_pem, csr.CsrTemplate(subject="CN=a"))
    assert pem.startswith("-----BEGIN CERTIFICATE REQUEST-----\n")
    assert pem.endswith("-----END CERTIFICATE REQUEST-----\n")
    assert csr.load_csr(pem).is_signature_valid


def test_ec_key_csr_is_signed_with_ecdsa(ec_pem: bytes) -> None:
    request = csr.load_csr(csr.build_csr(ec_pem, csr.CsrTemplate(subject="CN=a")))
    assert request.signature_algorithm_oid.dotted_string == "1.2.840.10045.4.3.2"
    assert request.is_signature_valid


def test_digest_setting_is_used(ec_pem: bytes) -> None:
    request = csr.load_csr(csr.build_csr(ec_pem, csr.CsrTemplate(subject="CN=a"), "sha384"))
    assert isinstance(request.signature_hash_algorithm, hashes.SHA384)


@pytest.mark.parametrize("weak", ["sha1", "md5"])
def test_weak_digest_setting_signs_with_sha256(ec_pem: bytes, weak: str) -> None:
    request = csr.load_csr(csr.build_csr(ec_pem, csr.CsrTemplate(subject="CN=a"), weak))
    assert isinstance(request.signature_hash_algorithm, hashes.SHA256)


def test_unknown_digest_is_refused(ec_pem: bytes) -> None:
    with pytest.raises(ValueError, match="digest"):
        csr.build_csr(ec_pem, csr.CsrTemplate(subject="CN=a"), "whirlpool")


def test_missing_subject_falls_back_to_cn_localhost(ec_pem: bytes) -> None:
    request = csr.load_csr(csr.build_csr(ec_pem, csr.CsrTemplate()))
    assert request.subject.rfc4514_string() == "CN=localhost"


def test_basic_constraints_default_to_critical_ca_false(ec_pem: bytes) -> None:
    request = csr.load_csr(csr.build_csr(ec_pem, csr.CsrTemplate(subject="CN=a")))
    bc = request.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and not bc.value.ca


def test_ca_request_has_path_length_and_a_self_authority_key_id(ec_pem: bytes) -> None:
    pem = csr.build_csr(ec_pem, csr.CsrTemplate(subject="CN=ca", is_ca=True, ca_path_length=2))
    request = csr.load_csr(pem)
    bc = request.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert bc.ca and bc.path_length == 2
    akid = request.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    skid = request.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert akid.key_identifier == skid.digest


def test_ca_request_without_path_length_has_none(ec_pem: bytes) -> None:
    pem = csr.build_csr(ec_pem, csr.CsrTemplate(subject="CN=ca", is_ca=True))
    bc = csr.load_csr(pem).extensions.get_extension_for_class(x509.BasicConstraints).value
    assert bc.ca and bc.path_length is None


def test_subject_key_id_is_sha1_of_the_public_key(ec_pem: bytes) -> None:
    request = csr.load_csr(csr.build_csr(ec_pem, csr.CsrTemplate(subject="CN=a")))
    point = keys.bare_public_key(keys.load_private_key(ec_pem))
    skid = request.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert skid.digest == hashlib.sha1(point).digest()


def test_key_usage_keeps_odd_bit_patterns(ec_pem: bytes) -> None:
    pem = csr.build_csr(ec_pem, csr.CsrTemplate(subject="CN=a", ku="00000001"))
    (ku,) = [e for e in exts_of(pem) if e.oid == "2.5.29.15"]
    assert ku.value == bytes.fromhex("03020001")  # encipherOnly: bit 7


def test_no_key_usage_when_no_bit_is_set(ec_pem: bytes) -> None:
    pem = csr.build_csr(ec_pem, csr.CsrTemplate(subject="CN=a", ku="000"))
    assert "2.5.29.15" not in [e.oid for e in exts_of(pem)]


def test_eku_names_become_oids_and_junk_is_left_out(ec_pem: bytes) -> None:
    pem = csr.build_csr(ec_pem, csr.CsrTemplate(subject="CN=a",
                                                eku=["id-kp-serverAuth", "junk", "1.2.3"]))
    eku = csr.load_csr(pem).extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert [o.dotted_string for o in eku] == ["1.3.6.1.5.5.7.3.1", "1.2.3"]


def test_san_order_is_dns_email_principals_ip(ec_pem: bytes) -> None:
    template = csr.CsrTemplate(subject="CN=a", ip_addresses=["2001:db8::1", "bad ip"],
                               principals=["p@R", "p@R"], emails=["e@x.test"],
                               hostnames=["h.test", "bücher.test"])
    san = csr.load_csr(csr.build_csr(ec_pem, template)).extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    kinds = [type(n).__name__ for n in san]
    assert kinds == ["DNSName", "DNSName", "RFC822Name", "OtherName", "OtherName", "IPAddress"]
    assert san.get_values_for_type(x509.DNSName) == ["h.test", "xn--bcher-kva.test"]


def test_optional_extensions_are_added_in_certmonger_order(ec_pem: bytes) -> None:
    template = csr.CsrTemplate(
        subject="CN=a", ocsp=["http://ocsp.test"], crldp=["http://crl.test/a.crl"],
        freshest_crl=["http://crl.test/delta.crl"], ns_comment="hello",
        no_ocsp_check=True, profile="webserver", ms_template="1.2.3.4:100:5",
        ns_certtype="client,server")
    oids = [e.oid for e in exts_of(csr.build_csr(ec_pem, template))]
    assert oids == ["2.5.29.19", SKID, "1.3.6.1.5.5.7.1.1", "2.5.29.31", "2.5.29.46",
                    "2.16.840.1.113730.1.13", "1.3.6.1.5.5.7.48.1.5", "1.3.6.1.4.1.311.20.2",
                    "1.3.6.1.4.1.311.21.7", "2.16.840.1.113730.1.1"]


def test_optional_extensions_read_back(ec_pem: bytes) -> None:
    template = csr.CsrTemplate(
        subject="CN=a", ocsp=["http://ocsp.test"], crldp=["http://crl.test/a.crl"],
        freshest_crl=["http://crl.test/delta.crl"], ns_comment="hello",
        no_ocsp_check=True, profile="webserver", ns_certtype="client,sslCA")
    fields = extensions.read_extensions(exts_of(csr.build_csr(ec_pem, template)))
    assert fields.ocsp == ["http://ocsp.test"]
    assert fields.crldp == ["http://crl.test/a.crl"]
    assert fields.freshest_crl == ["http://crl.test/delta.crl"]
    assert (fields.ns_comment, fields.profile, fields.no_ocsp_check) == (
        "hello", "webserver", True)
    assert fields.ns_certtype == "client,sslCA"


def test_ms_template_spec_is_encoded_as_oid_major_minor() -> None:
    assert csr.parse_ms_template_spec("1.2.3.4:100:5") == der.sequence(
        der.oid("1.2.3.4"), der.integer(100), der.integer(5))
    assert csr.parse_ms_template_spec("1.2.3.4:7") == der.sequence(
        der.oid("1.2.3.4"), der.integer(7))


@pytest.mark.parametrize("spec", ["bad", "1.2.3.4", "1.2.3.4:x", "1.2.3.4:1:2:3", "x.y:1"])
def test_bad_ms_template_spec_gives_certmonger_message(spec: str) -> None:
    with pytest.raises(ValueError) as info:
        csr.parse_ms_template_spec(spec)
    assert str(info.value) == f"Invalid V2 certificate template specifier: {spec}"


def test_challenge_password_attribute_is_printable_string(ec_pem: bytes) -> None:
    pem = csr.build_csr(ec_pem, csr.CsrTemplate(subject="CN=a", challenge_password="otp 123"))
    attr = csr.load_csr(pem).attributes.get_attribute_for_oid(csr.OID_CHALLENGE_PASSWORD)
    assert attr.value == b"otp 123"
    assert attr._type == 19  # PrintableString


def test_no_challenge_password_attribute_unless_set(ec_pem: bytes) -> None:
    request = csr.load_csr(csr.build_csr(ec_pem, csr.CsrTemplate(subject="CN=a")))
    with pytest.raises(x509.AttributeNotFound):
        request.attributes.get_attribute_for_oid(csr.OID_CHALLENGE_PASSWORD)


def test_spkac_is_signed_by_the_key_over_key_and_challenge(rsa_pem: bytes) -> None:
    data = base64.b64decode(csr.build_spkac(rsa_pem, "chal"))
    (_, pkac, pkac_raw), (_, alg, _), (_, sig, _) = der.raw_children(der.read_one(data, 0x30))
    spki, challenge = der.children(pkac)
    assert der.tlv(0x30, spki[1]) == keys.spki_der(keys.load_private_key(rsa_pem))
    assert challenge == (der.IA5_STRING, b"chal")
    assert der.decode_oid(der.children(alg)[0][1]) == "1.2.840.113549.1.1.11"
    key = keys.load_private_key(rsa_pem).public_key()
    key.verify(sig[1:], pkac_raw, padding.PKCS1v15(), hashes.SHA256())


@needs_openssl
def test_spkac_is_accepted_by_openssl(tmp_path: Path, ec_pem: bytes) -> None:
    path = tmp_path / "spkac.txt"
    path.write_text("SPKAC=" + csr.build_spkac(ec_pem) + "\n")
    out = subprocess.run(["openssl", "spkac", "-in", str(path), "-verify"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert "Signature OK" in out.stderr + out.stdout


def test_stock_spkac_has_the_same_shape_as_ours(rsa_pem: bytes) -> None:
    stock = base64.b64decode(stock_request("ss1").spkac)
    ours = base64.b64decode(csr.build_spkac(rsa_pem))
    assert [t for t, _ in der.children(der.read_one(stock, 0x30))] == \
        [t for t, _ in der.children(der.read_one(ours, 0x30))]


def test_spki_b64_is_the_der_subject_public_key_info(ec_pem: bytes) -> None:
    key = keys.load_private_key(ec_pem)
    expected = key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    assert base64.b64decode(csr.spki_b64(ec_pem)) == expected


def test_csr_info_of_a_stock_csr() -> None:
    info = csr.read_csr_info(stock_request("ss1").csr)
    assert info == csr.CsrInfo(
        subject="CN=ss1.example.test", emails=["admin@example.test"],
        dns=["ss1.example.test"], principals=["host/ss1.example.test@EXAMPLE.TEST"], ku=5,
        eku=["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"])


def test_csr_info_accepts_the_new_certificate_request_armor() -> None:
    pem = stock_request("loc1").csr.replace("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")
    assert csr.read_csr_info(pem).dns == ["loc1.example.test"]


def test_csr_info_of_garbage_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        csr.read_csr_info("not a CSR")
