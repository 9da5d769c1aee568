"""Private keys: generation, PKCS#8 encoding with and without a PIN, reading back."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from pycertmonger.crypto import keys

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl")


@pytest.fixture(scope="module")
def rsa_pem() -> bytes:
    return keys.generate_key_pem("RSA", 2048)


@pytest.fixture(scope="module")
def ec_pem() -> bytes:
    return keys.generate_key_pem("EC", 256)


def test_generated_key_is_unencrypted_pkcs8_pem(ec_pem: bytes) -> None:
    assert ec_pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")


def test_rsa_key_has_requested_size_and_exponent_65537(rsa_pem: bytes) -> None:
    key = keys.load_private_key(rsa_pem)
    assert isinstance(key, rsa.RSAPrivateKey)
    assert key.key_size == 2048
    assert key.public_key().public_numbers().e == 65537


def test_rsa_size_zero_means_2048(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes = []
    monkeypatch.setattr(rsa, "generate_private_key",
                        lambda public_exponent, key_size: sizes.append(key_size))
    keys.generate_key("RSA", 0)
    assert sizes == [2048]


def test_rsa_size_below_1024_is_raised_to_1024(monkeypatch: pytest.MonkeyPatch) -> None:
    sizes = []
    monkeypatch.setattr(rsa, "generate_private_key",
                        lambda public_exponent, key_size: sizes.append(key_size))
    keys.generate_key("rsa", 512)
    assert sizes == [1024]


@pytest.mark.parametrize(("size", "curve"), [(0, "secp256r1"), (256, "secp256r1"),
                                             (384, "secp384r1"), (521, "secp521r1")])
def test_ec_size_picks_the_nist_curve(size: int, curve: str) -> None:
    key = keys.load_private_key(keys.generate_key_pem("EC", size))
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert key.curve.name == curve


def test_ecdsa_is_an_alias_for_ec() -> None:
    assert isinstance(keys.generate_key("ECDSA", 256), ec.EllipticCurvePrivateKey)


def test_unknown_key_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported key type"):
        keys.generate_key_pem("ED25519", 0)


def test_key_with_pin_is_encrypted_pkcs8(ec_pem: bytes) -> None:
    encrypted = keys.encode_private_key(ec_pem, "s3cret")
    assert encrypted.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    assert b"BEGIN PRIVATE KEY" not in encrypted


def test_key_without_pin_stays_plain(ec_pem: bytes) -> None:
    assert keys.encode_private_key(ec_pem, None) == keys.encode_private_key(ec_pem, "")
    assert keys.encode_private_key(ec_pem, None).startswith(b"-----BEGIN PRIVATE KEY-----")


@needs_openssl
@pytest.mark.parametrize(("cipher", "openssl_name"), [("aes128", "aes-128-cbc"),
                                                      ("aes256", "aes-256-cbc"),
                                                      ("aes", "aes-128-cbc"),
                                                      ("aes-256", "aes-256-cbc")])
def test_encrypted_key_is_readable_by_openssl_with_the_pin(
        tmp_path: Path, ec_pem: bytes, cipher: str, openssl_name: str) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(keys.encode_private_key(ec_pem, "pin 1", cipher))
    out = subprocess.run(["openssl", "pkey", "-in", str(path), "-passin", "pass:pin 1"],
                         capture_output=True, check=True)
    assert out.stdout.strip() == ec_pem.strip()
    parsed = subprocess.run(["openssl", "asn1parse", "-in", str(path)],
                            capture_output=True, text=True, check=True).stdout
    assert openssl_name in parsed
    assert "hmacWithSHA256" in parsed


def test_unknown_cipher_is_refused(ec_pem: bytes) -> None:
    with pytest.raises(ValueError, match="cipher"):
        keys.encode_private_key(ec_pem, "pin", "rc4")


def test_encrypted_key_reads_back_with_the_pin(ec_pem: bytes) -> None:
    key = keys.load_private_key(keys.encode_private_key(ec_pem, "pin"), "pin")
    assert keys.encode_private_key(key) == ec_pem


def test_encrypted_key_without_pin_is_a_pin_error(ec_pem: bytes) -> None:
    with pytest.raises(keys.KeyPinError):
        keys.load_private_key(keys.encode_private_key(ec_pem, "pin"), None)


def test_encrypted_key_with_wrong_pin_is_a_pin_error(ec_pem: bytes) -> None:
    with pytest.raises(keys.KeyPinError):
        keys.load_private_key(keys.encode_private_key(ec_pem, "pin"), "wrong")


def test_pin_for_an_unencrypted_key_is_ignored(ec_pem: bytes) -> None:
    assert keys.encode_private_key(keys.load_private_key(ec_pem, "unneeded")) == ec_pem


def test_traditional_openssl_encrypted_pem_is_read(ec_pem: bytes) -> None:
    key = keys.load_private_key(ec_pem)
    legacy = key.private_bytes(serialization.Encoding.PEM,
                               serialization.PrivateFormat.TraditionalOpenSSL,
                               serialization.BestAvailableEncryption(b"pin"))
    with pytest.raises(keys.KeyPinError):
        keys.load_private_key(legacy, None)
    assert keys.encode_private_key(keys.load_private_key(legacy, "pin")) == ec_pem


def test_garbage_is_a_value_error_not_a_pin_error() -> None:
    with pytest.raises(ValueError) as info:
        keys.load_private_key(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    assert not isinstance(info.value, keys.KeyPinError)


def test_describe_rsa_key(rsa_pem: bytes) -> None:
    key = keys.load_private_key(rsa_pem)
    info = keys.describe_key(key)
    spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)
    pkcs1 = key.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.PKCS1)
    assert (info.key_type, info.key_size) == ("RSA", 2048)
    assert info.pubkey_info == spki.hex().upper()
    assert info.pubkey == pkcs1.hex().upper()
    assert info.pem == rsa_pem


def test_describe_ec_key_gives_the_point(ec_pem: bytes) -> None:
    key = keys.load_private_key(ec_pem)
    info = keys.describe_key(key)
    point = key.public_key().public_bytes(serialization.Encoding.X962,
                                          serialization.PublicFormat.UncompressedPoint)
    assert (info.key_type, info.key_size) == ("EC", 256)
    assert info.pubkey == point.hex().upper()
    assert info.pubkey_info.startswith("3059301306072A8648CE3D0201")
