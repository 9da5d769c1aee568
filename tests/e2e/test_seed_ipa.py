"""An administrator's IdM enrollment, end to end: stock ipa-getcert and getcert, our daemon.

The procedure is the one certmonger's documentation gives for obtaining an IdM-signed
certificate for a service: `ipa-getcert request -K <service principal> -D <host> ...`,
then `getcert list`, `stop-tracking`, `start-tracking` of the same files, and
`resubmit` with changed names.  Our daemon serves the stock IPA CA record in process
and reaches a FreeIPA JSON-RPC endpoint (real TLS, real Kerberos) through the client
configuration in its environment.  One realm and endpoint serve the whole module; each
test gets its own bus, state directories and daemon.

Stock behaviour matched here (checked against certmonger 0.79.17): `resubmit -D`
replaces the whole hostname list of the template rather than adding to it, and a
rejection of a request that already holds a certificate sends it back to MONITORING
with the CA's message as `ca-error`, so `resubmit -w` exits 0.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.support.bus import Daemon, Getcert, PrivateBus, StateDirs, have_stock
from tests.support.ipa_server import IPAPeer, IPAServer, aci_error
from tests.support.kdc import have_kdc

try:
    import gssapi  # noqa: F401
    import requests_gssapi  # noqa: F401
except ImportError:  # pragma: no cover - depends on the machine
    HAVE_GSSAPI = False
else:
    HAVE_GSSAPI = True

STOCK_IPA_GETCERT = "/usr/bin/ipa-getcert"

pytestmark = [
    pytest.mark.skipif(not have_kdc(), reason="MIT krb5kdc is not installed"),
    pytest.mark.skipif(not HAVE_GSSAPI, reason="python gssapi / requests-gssapi missing"),
    pytest.mark.skipif(not (have_stock() and os.access(STOCK_IPA_GETCERT, os.X_OK)),
                       reason="certmonger's getcert / ipa-getcert are not installed"),
]

HOST = "web.ipa.test"
NEW_HOST = "www.ipa.test"
ADDED = re.compile(r'^New signing request "([^"]+)" added\.$')


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IPAPeer]:
    """The realm and the IPA endpoint, shared by the module."""
    started = IPAPeer.start(tmp_path_factory.mktemp("ipa"))
    yield started
    started.stop()


@pytest.fixture
def server(peer: IPAPeer) -> Iterator[IPAServer]:
    """The endpoint, answering normally and with no calls recorded."""
    peer.server.reset()
    yield peer.server
    peer.server.reset()


@pytest.fixture
def daemon(bus: PrivateBus, dirs: StateDirs, peer: IPAPeer,
           server: IPAServer) -> Iterator[Daemon]:
    """Our daemon on the private bus, configured as an enrolled IPA client."""
    d = Daemon(bus, dirs, extra_env=peer.env()).start()
    yield d
    d.stop()


@pytest.fixture
def ipa_getcert(bus: PrivateBus, daemon: Daemon) -> Getcert:
    """The stock ipa-getcert (getcert with the CA fixed to IPA)."""
    return Getcert(bus, stock=True, program="ipa-getcert")


@pytest.fixture
def getcert(bus: PrivateBus, daemon: Daemon) -> Getcert:
    """The stock getcert."""
    return Getcert(bus, stock=True)


@dataclass
class Enrollment:
    """Where step 1 of the procedure left things."""

    request_id: str
    cert: Path
    key: Path
    marker: Path
    principal: str

    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert.read_bytes())

    def post_save_runs(self) -> int:
        return len(self.marker.read_text().splitlines()) if self.marker.exists() else 0


@pytest.fixture
def enrolled(ipa_getcert: Getcert, peer: IPAPeer, tmp_path: Path) -> Enrollment:
    """Step 1: `ipa-getcert request` for an HTTP service, waiting for the outcome."""
    tls = tmp_path / "tls"
    tls.mkdir()
    marker = tls / "post-save.log"
    principal = f"HTTP/{HOST}@{peer.realm.realm}"
    result = ipa_getcert(
        "request", "-K", principal, "-k", str(tls / "web.key"), "-f", str(tls / "web.crt"),
        "-g", "2048", "-D", HOST, "-C", f"sh -c {shlex.quote(f'echo saved >> {marker}')}",
        "-w")
    assert result.returncode == 0, result.stdout + result.stderr
    match = ADDED.match(result.stdout.strip())
    assert match, result.stdout
    return Enrollment(match.group(1), tls / "web.crt", tls / "web.key", marker, principal)


# --- helpers --------------------------------------------------------------------------


def listing(getcert: Getcert, *selector: str) -> dict[str, str]:
    """`getcert list <selector>` for one request, as {label: value} of its lines."""
    result = getcert("list", *selector)
    assert result.returncode == 0, result.stdout + result.stderr
    fields: dict[str, str] = {}
    for line in result.stdout.splitlines():
        if line.startswith("\t") and ":" in line:
            label, _, value = line.strip().partition(":")
            fields[label] = value.strip()
    return fields


def dns_names(cert: x509.Certificate) -> list[str]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return san.get_values_for_type(x509.DNSName)


def public_key_der(key: object) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,  # type: ignore[attr-defined]
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def csr_dns_names(server: IPAServer, index: int) -> list[str]:
    """The DNS names the `index`th recorded cert_request's CSR asked for."""
    csr = x509.load_der_x509_csr(base64.b64decode(server.cert_requests[index].csr_b64))
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return san.get_values_for_type(x509.DNSName)


# --- 1. request -----------------------------------------------------------------------


def test_request_is_issued_and_monitored(enrolled: Enrollment, getcert: Getcert) -> None:
    status = getcert("status", "-i", enrolled.request_id, "-v")
    assert status.returncode == 0
    assert status.stdout == "State MONITORING, stuck: no.\n"


def test_request_asks_the_endpoint_once_for_the_service_principal(
        enrolled: Enrollment, server: IPAServer, peer: IPAPeer) -> None:
    [call] = server.cert_requests
    assert call.options == {"principal": enrolled.principal, "add": True}
    assert call.client_principal == peer.realm.host_principal


def test_issued_certificate_names_the_host_and_holds_the_new_key(
        enrolled: Enrollment, server: IPAServer) -> None:
    cert = enrolled.certificate()
    assert dns_names(cert) == [HOST]
    assert cert.issuer == server.ca.cert.subject
    key = serialization.load_pem_private_key(enrolled.key.read_bytes(), password=None)
    assert public_key_der(cert.public_key()) == public_key_der(key.public_key())
    assert key.key_size == 2048  # type: ignore[union-attr]


def test_key_file_is_readable_by_its_owner_only(enrolled: Enrollment) -> None:
    assert stat.S_IMODE(enrolled.key.stat().st_mode) == 0o600


def test_post_save_command_runs_once(enrolled: Enrollment) -> None:
    assert enrolled.post_save_runs() == 1


# --- 2, 3. list -----------------------------------------------------------------------


def test_list_by_file_shows_the_ipa_ca_and_the_issued_certificate(
        enrolled: Enrollment, getcert: Getcert) -> None:
    fields = listing(getcert, "-f", str(enrolled.cert))
    cert = enrolled.certificate()
    assert fields["status"] == "MONITORING"
    assert fields["CA"] == "IPA"
    assert fields["subject"] == cert.subject.rfc4514_string()
    assert fields["issuer"] == cert.issuer.rfc4514_string()
    assert fields["dns"] == HOST
    assert fields["principal name"] == enrolled.principal
    assert fields["certificate"] == f"type=FILE,location='{enrolled.cert}'"
    assert "ca-error" not in fields


def test_list_by_id_verbose_shows_the_request(enrolled: Enrollment, getcert: Getcert) -> None:
    result = getcert("list", "-i", enrolled.request_id, "-v")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Request ID '{enrolled.request_id}':" in result.stdout.splitlines()
    assert listing(getcert, "-i", enrolled.request_id, "-v")["CA"] == "IPA"


# --- 4, 5. stop and start tracking ----------------------------------------------------


def test_stop_tracking_removes_the_request_and_keeps_the_files(
        enrolled: Enrollment, ipa_getcert: Getcert, getcert: Getcert) -> None:
    result = ipa_getcert("stop-tracking", "-i", enrolled.request_id)
    assert (result.returncode, result.stdout) == (
        0, f'Request "{enrolled.request_id}" removed.\n')
    assert getcert("list").stdout.startswith(
        "Number of certificates and requests being tracked: 0.")
    assert enrolled.cert.exists() and enrolled.key.exists()


# ipa-getcert has its CA fixed and refuses `-c`; getcert names the IPA CA with it.
@pytest.mark.parametrize("client,ca_args", [("ipa-getcert", []), ("getcert", ["-c", "IPA"])])
def test_start_tracking_the_files_again_goes_straight_to_monitoring(
        enrolled: Enrollment, bus: PrivateBus, server: IPAServer, getcert: Getcert,
        client: str, ca_args: list[str]) -> None:
    tool = Getcert(bus, stock=True, program=client)
    assert tool("stop-tracking", "-i", enrolled.request_id).returncode == 0
    before = enrolled.cert.read_bytes()
    result = tool("start-tracking", *ca_args, "-f", str(enrolled.cert),
                  "-k", str(enrolled.key), "-w")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.fullmatch(r'New tracking request "[^"]+" added\.\n', result.stdout)
    fields = listing(getcert, "-f", str(enrolled.cert))
    assert (fields["status"], fields["CA"], fields["dns"]) == ("MONITORING", "IPA", HOST)
    assert len(server.cert_requests) == 1
    assert enrolled.cert.read_bytes() == before


# --- 6. resubmit ----------------------------------------------------------------------


def test_resubmit_with_both_names_issues_a_certificate_for_both(
        enrolled: Enrollment, ipa_getcert: Getcert, server: IPAServer) -> None:
    result = ipa_getcert("resubmit", "-i", enrolled.request_id, "-D", HOST, "-D", NEW_HOST,
                         "-w")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == f'Resubmitting "{enrolled.request_id}" to "IPA".\n'
    assert len(server.cert_requests) == 2
    assert server.cert_requests[1].options == {"principal": enrolled.principal, "add": True}
    assert csr_dns_names(server, 1) == [HOST, NEW_HOST]
    assert dns_names(enrolled.certificate()) == [HOST, NEW_HOST]


def test_resubmit_with_one_name_replaces_the_hostname_list(
        enrolled: Enrollment, ipa_getcert: Getcert, getcert: Getcert,
        server: IPAServer) -> None:
    assert ipa_getcert("resubmit", "-i", enrolled.request_id, "-D", NEW_HOST,
                       "-w").returncode == 0
    assert csr_dns_names(server, 1) == [NEW_HOST]
    assert dns_names(enrolled.certificate()) == [NEW_HOST]
    assert listing(getcert, "-i", enrolled.request_id)["dns"] == NEW_HOST


def test_resubmit_runs_the_post_save_command_again(
        enrolled: Enrollment, ipa_getcert: Getcert) -> None:
    assert ipa_getcert("resubmit", "-i", enrolled.request_id, "-D", NEW_HOST,
                       "-w").returncode == 0
    assert enrolled.post_save_runs() == 2


# --- 7. a rejection -------------------------------------------------------------------


def test_rejected_resubmit_keeps_the_certificate_and_reports_the_error(
        enrolled: Enrollment, ipa_getcert: Getcert, getcert: Getcert,
        server: IPAServer) -> None:
    before = enrolled.cert.read_bytes()
    server.reject = aci_error("Insufficient 'add' privilege")
    result = ipa_getcert("resubmit", "-i", enrolled.request_id, "-D", NEW_HOST, "-w")
    # certmonger: a request that already holds a certificate goes back to MONITORING
    # when the CA rejects a new one, so the wait ends as for an issued one.
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(server.cert_requests) == 2
    fields = listing(getcert, "-i", enrolled.request_id)
    assert fields["status"] == "MONITORING"
    assert fields["ca-error"] == (
        f"Server at {server.url} denied our request, giving up: 2100 "
        "(Insufficient access: Insufficient 'add' privilege).")
    assert enrolled.cert.read_bytes() == before
    assert enrolled.post_save_runs() == 1
