"""SCEP against a real server: micromdm's scepserver, on a private loopback network.

First our pkiMessages alone, sent by a minimal client (GET PKIOperation, RFC 8894 §4.3);
then the engine, in process, with the stock `scep-submit` as its CA helper, configured
as `getcert add-scep-ca -c SCEP -u URL` would: CA data, message building, submission,
decryption of the CertRep, MONITORING; then renewal and rekeying; last, our daemon driven
by the stock `getcert`.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from pycertmonger.cas import scep_messages as sm
from pycertmonger.cas import scep_pkcs7 as p7
from pycertmonger.clock import Clock
from pycertmonger.config import Config
from pycertmonger.crypto.keys import encode_private_key
from pycertmonger.engine import Engine
from pycertmonger.model import CA, Request, State
from pycertmonger.paths import Paths
from tests.support.bus import Daemon, Getcert, PrivateBus, StateDirs, have_stock
from tests.support.scep_server import (
    SCEPServer,
    can_make_private_network,
    have_scepserver,
    private_network,
)

SCEP_SUBMIT = "/usr/lib/certmonger/scep-submit"
CHALLENGE = "secret123"
OID_CHALLENGE_PASSWORD = x509.ObjectIdentifier("1.2.840.113549.1.9.7")

pytestmark = [
    pytest.mark.skipif(not have_scepserver(), reason="micromdm's scepserver is not installed"),
    pytest.mark.skipif(not can_make_private_network(),
                       reason="cannot make a private network namespace"),
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[SCEPServer]:
    """A scepserver requiring CHALLENGE; the test runs in its private network."""
    with private_network():
        scep = SCEPServer(tmp_path / "scep", challenge=CHALLENGE).start()
        try:
            yield scep
        finally:
            scep.stop()


# --- our messages, sent by hand -------------------------------------------------------


def scep_get(server: SCEPServer, operation: str, message: bytes | None = None
             ) -> requests.Response:
    params = {"operation": operation}
    if message is not None:
        params["message"] = base64.b64encode(message).decode()
    return requests.get(server.url, params=params, timeout=30)


def csr_for(key: rsa.RSAPrivateKey, cn: str, challenge: str) -> bytes:
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
    if challenge:
        builder = builder.add_attribute(OID_CHALLENGE_PASSWORD, challenge.encode())
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def enroll_by_hand(server: SCEPServer, cn: str, challenge: str
                   ) -> tuple[sm.PkiMessage, sm.MessageSet, bytes]:
    caps = scep_get(server, "GetCACaps").text.split()
    ra_cert = scep_get(server, "GetCACert").content
    key = rsa.generate_private_key(65537, 2048)
    key_pem = encode_private_key(key)
    csr = csr_for(key, cn, challenge)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]).public_bytes()
    minicert = sm.build_minicert(key_pem, subject, time.time())
    messages = sm.build_message_set(csr=csr, key_pem=key_pem, minicert=minicert,
                                    ra_cert=ra_cert, cipher=sm.choose_cipher(caps),
                                    digest=sm.choose_digest(caps), now=time.time())
    assert messages.pkcs_req is not None
    reply = scep_get(server, "PKIOperation", messages.pkcs_req)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/x-pki-message"
    return sm.read_pki_message(reply.content), messages, key_pem


def test_our_pkcsreq_gets_a_certificate_from_scepserver(server: SCEPServer) -> None:
    rep, messages, key_pem = enroll_by_hand(server, "byhand.example.test", CHALLENGE)
    assert rep.message_type == sm.MESSAGE_CERT_REP
    assert rep.pki_status == sm.STATUS_SUCCESS
    assert rep.recipient_nonce == messages.nonce
    assert rep.transaction_id == sm.read_pki_message(messages.pkcs_req or b"").transaction_id
    [cert] = pkcs7.load_der_pkcs7_certificates(p7.decrypt_envelope(rep.content, [key_pem]))
    ca = x509.load_pem_x509_certificate(server.ca_pem.encode())
    cert.verify_directly_issued_by(ca)
    assert cert.subject.rfc4514_string() == "CN=byhand.example.test"


def test_a_wrong_challenge_password_gets_a_failure_certrep(server: SCEPServer) -> None:
    rep, _, _ = enroll_by_hand(server, "refused.example.test", "not-the-secret")
    assert rep.pki_status == sm.STATUS_FAILURE
    assert sm.FAIL_INFO_NAMES[rep.fail_info] == "badRequest"
    assert server.issued() == []


# --- the engine with the stock scep-submit --------------------------------------------


class WallClock(Clock):
    """The wall clock, with a wait that a cancellation always ends.

    Python 3.11's `asyncio.wait_for`, which `Clock.sleep_until` uses, drops a
    cancellation that arrives as the awaited event fires; `Engine.stop` then waits for
    its timer task until the next wake-up.
    """

    async def sleep_until(self, when: float, wake: asyncio.Event) -> None:
        waiter = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait([waiter], timeout=max(0.0, when - self.time()))
        finally:
            waiter.cancel()


def make_paths(root: Path) -> Paths:
    for d in ("requests", "cas", "local", "config", "tmp"):
        (root / d).mkdir(parents=True, exist_ok=True)
    return Paths(requests_dir=root / "requests", cas_dir=root / "cas",
                 local_ca_dir=root / "local", config_dir=root / "config",
                 tmp_dir=root / "tmp", lock_file=root / "lock")


async def wait_until(check, what: str, timeout: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def wait_for(request: Request, state: State, timeout: float = 60) -> None:
    await wait_until(lambda: request.state is state,
                     f"{request.nickname} to reach {state} (now {request.state}, "
                     f"ca-error {request.ca_error!r})", timeout)


async def start_engine(tmp_path: Path, server: SCEPServer) -> tuple[Engine, CA]:
    """An engine with a SCEP CA as `getcert add-scep-ca -c SCEP -u URL` makes it.

    On the wall clock: the server checks the messages' signingTime against the validity
    of the certificate they are signed with, which it has just issued.
    """
    engine = Engine(make_paths(tmp_path / "state"), config=Config.from_text(""),
                    clock=WallClock(), environ=dict(os.environ))
    await engine.start()
    ca = CA(nickname="SCEP", external_helper=f"{SCEP_SUBMIT} -u {server.url}")
    engine.add_ca(ca)
    await wait_until(lambda: bool(ca.encryption_cert and ca.capabilities),
                     "the CA's SCEP capabilities and RA certificate")
    return engine, ca


def scep_request(tmp_path: Path, nickname: str) -> Request:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return Request(nickname=nickname, ca_name="SCEP", key_storage_type="FILE",
                   key_storage_location=str(out / f"{nickname}.key"),
                   cert_storage_type="FILE", cert_storage_location=str(out / f"{nickname}.crt"),
                   template_subject=f"CN={nickname}.example.test",
                   template_hostname=[f"{nickname}.example.test"],
                   template_challenge_password=CHALLENGE)


def stored_cert(request: Request) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(request.cert_storage_location).read_bytes())


def signer_of(message_pem: str) -> bytes:
    return sm.read_pki_message(p7.pem_to_der(message_pem, "PKCS7")).signer


def test_engine_enrolls_through_the_stock_scep_submit(tmp_path: Path,
                                                     server: SCEPServer) -> None:
    async def scenario() -> None:
        engine, ca = await start_engine(tmp_path, server)
        try:
            assert ca.aka == "SCEP (certmonger 0.79.17)"
            req = scep_request(tmp_path, "enrolled")
            engine.add_request(req)
            await wait_for(req, State.MONITORING)
            cert = stored_cert(req)
            cert.verify_directly_issued_by(x509.load_pem_x509_certificate(
                server.ca_pem.encode()))
            assert cert.subject.rfc4514_string() == "CN=enrolled.example.test"
            assert req.cert_hostname == ["enrolled.example.test"]
            assert req.cert_spki == req.key_pubkey_info
            assert req.ca_error == ""
            # The messages went out once, signed with the minicert.
            assert req.scep_last_nonce == req.scep_nonce != ""
            assert signer_of(req.scep_req) == base64.b64decode(req.minicert)
            csr = x509.load_pem_x509_csr(req.csr.encode())
            password = csr.attributes.get_attribute_for_oid(OID_CHALLENGE_PASSWORD).value
            assert password == CHALLENGE.encode()
        finally:
            await engine.stop()
    asyncio.run(scenario())


def test_engine_renews_signing_with_the_certificate_it_holds(tmp_path: Path,
                                                            server: SCEPServer) -> None:
    async def scenario() -> None:
        engine, _ = await start_engine(tmp_path, server)
        try:
            req = scep_request(tmp_path, "renewed")
            engine.add_request(req)
            await wait_for(req, State.MONITORING)
            first, first_serial = stored_cert(req), req.cert_serial
            engine.resubmit(req)
            await wait_until(lambda: req.cert_serial != first_serial
                             and req.state is State.MONITORING, "the renewed certificate")
            second = stored_cert(req)
            assert second.serial_number != first.serial_number
            assert second.public_key() == first.public_key()
            assert signer_of(req.scep_req) == first.public_bytes(serialization.Encoding.DER)
        finally:
            await engine.stop()
    asyncio.run(scenario())


def test_engine_rekeys_and_opens_an_answer_sealed_to_the_old_key(tmp_path: Path,
                                                                server: SCEPServer) -> None:
    async def scenario() -> None:
        engine, _ = await start_engine(tmp_path, server)
        try:
            req = scep_request(tmp_path, "rekeyed")
            engine.add_request(req)
            await wait_for(req, State.MONITORING)
            first = stored_cert(req)
            old_spki = req.key_pubkey_info
            engine.rekey(req)
            await wait_until(lambda: req.key_pubkey_info != old_spki
                             and req.state is State.MONITORING, "the rekeyed certificate")
            assert req.cert_spki == req.key_pubkey_info
            # scep-submit sent the message signed with the old certificate (the server
            # offers "Renewal"), so the answer was sealed to the old key.
            assert signer_of(req.scep_req) == first.public_bytes(serialization.Encoding.DER)
            assert req.scep_req_next
            assert stored_cert(req).serial_number != first.serial_number
        finally:
            await engine.stop()
    asyncio.run(scenario())


# --- our daemon, the stock getcert and the stock scep-submit --------------------------


@pytest.mark.stock
@pytest.mark.skipif(not have_stock(), reason="Debian's certmonger is not installed")
def test_stock_getcert_enrolls_and_resubmits_through_our_daemon(
        tmp_path: Path, server: SCEPServer, bus: PrivateBus, dirs: StateDirs) -> None:
    # Started here, inside the server's private network, so that its helpers reach it.
    daemon = Daemon(bus, dirs).start()
    try:
        getcert = Getcert(bus, stock=True)
        added = getcert("add-scep-ca", "-c", "SCEP", "-u", server.url)
        assert added.returncode == 0, added.stderr
        deadline = time.monotonic() + 30
        while "SCEP CA certificate thumbprint" not in getcert("list-cas", "-c", "SCEP").stdout:
            assert time.monotonic() < deadline, "the CA's RA certificate never arrived"
            time.sleep(0.05)
        out = tmp_path / "out"
        out.mkdir()
        issued = getcert("request", "-c", "SCEP", "-I", "viagetcert",
                         "-f", str(out / "s.crt"), "-k", str(out / "s.key"),
                         "-N", "CN=viagetcert.example.test", "-D", "viagetcert.example.test",
                         "-L", CHALLENGE, "-w", "--wait-timeout=60")
        assert issued.returncode == 0, getcert("list").stdout
        first = x509.load_pem_x509_certificate((out / "s.crt").read_bytes())
        first.verify_directly_issued_by(x509.load_pem_x509_certificate(server.ca_pem.encode()))
        assert first.subject.rfc4514_string() == "CN=viagetcert.example.test"
        renewed = getcert("resubmit", "-i", "viagetcert", "-w", "--wait-timeout=60")
        assert renewed.returncode == 0, getcert("list").stdout
        second = x509.load_pem_x509_certificate((out / "s.crt").read_bytes())
        assert second.serial_number != first.serial_number
        assert len(server.issued()) == 2
    finally:
        daemon.stop()
