"""The IPA CA back-end against a FreeIPA JSON-RPC endpoint behind real TLS and Kerberos.

One throwaway MIT realm and one endpoint serve the whole module.  The same endpoint
also serves certmonger's own `ipa-submit`, so the requests of the two can be compared.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pycertmonger.cas import helper_output, ipa_submit
from pycertmonger.cas.base import CADataOp, OutcomeKind, Submission, SubmitOutcome
from pycertmonger.cas.ipa import IPABackend
from pycertmonger.crypto import csr as csrmod
from pycertmonger.crypto import keys
from pycertmonger.subproc import split_command
from tests.support.ipa_server import (
    IPAPeer,
    IPAServer,
    aci_error,
    certificate_operation_error,
)
from tests.support.kdc import free_port, have_kdc

try:
    import gssapi  # noqa: F401
    import requests_gssapi  # noqa: F401
except ImportError:  # pragma: no cover - depends on the machine
    HAVE_GSSAPI = False
else:
    HAVE_GSSAPI = True

pytestmark = [
    pytest.mark.skipif(not have_kdc(), reason="MIT krb5kdc is not installed"),
    pytest.mark.skipif(not HAVE_GSSAPI, reason="python gssapi / requests-gssapi missing"),
]

STOCK_IPA_SUBMIT = "/usr/lib/certmonger/ipa-submit"
needs_stock = pytest.mark.skipif(not os.access(STOCK_IPA_SUBMIT, os.X_OK),
                                 reason="certmonger's ipa-submit is not installed")
_SCRIPT = Path(sys.executable).parent / "pycertmonger-ipa-submit"
OUR_IPA_SUBMIT = ([str(_SCRIPT)] if os.access(_SCRIPT, os.X_OK)
                  else [sys.executable, "-m", "pycertmonger.cas.ipa_submit"])
SERVICE = "HTTP/web.ipa.test@IPA.TEST"


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IPAPeer]:
    """The realm and endpoint; this process's Kerberos library uses the realm's krb5.conf."""
    started = IPAPeer.start(tmp_path_factory.mktemp("ipa"))
    saved = {name: os.environ.get(name) for name in started.realm.env()}
    os.environ.update(started.realm.env())
    yield started
    started.stop()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def server(peer: IPAPeer) -> Iterator[IPAServer]:
    """The endpoint, answering normally and with no calls recorded."""
    peer.server.reset()
    yield peer.server
    peer.server.reset()


@pytest.fixture(scope="module")
def chained_server(peer: IPAPeer,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[IPAServer]:
    """A second endpoint whose IPA CA sits under an external root."""
    with IPAServer(tmp_path_factory.mktemp("chained"), peer.realm,
                   external_root=True) as other:
        yield other


@pytest.fixture
def chained(chained_server: IPAServer) -> Iterator[IPAServer]:
    """The chained endpoint, answering normally and with no calls recorded."""
    chained_server.reset()
    yield chained_server
    chained_server.reset()


@pytest.fixture
def program_env(peer: IPAPeer, csr_pem: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's environment as certmonger sets it up for a SUBMIT by ipa-submit."""
    for name in list(os.environ):
        if name.startswith("CERTMONGER_"):
            monkeypatch.delenv(name)
    for name, value in {**helper_env(peer, csr_pem), **peer.env()}.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def csr_pem() -> str:
    """A CSR as our daemon builds it, for web.ipa.test."""
    key = keys.generate_key_pem("EC", 256)
    return csrmod.build_csr(key, csrmod.CsrTemplate(subject="CN=web.ipa.test",
                                                    hostnames=["web.ipa.test"]))


def backend(peer: IPAPeer, *options: str, **env: str) -> IPABackend:
    """Our back-end as the engine makes it for the stock CA record, with `options`."""
    return IPABackend.from_command(["/usr/lib/certmonger/ipa-submit", *options],
                                   env={**os.environ, **peer.env(), **env})


def submit(b: IPABackend, csr_pem: str, principal: str = SERVICE, profile: str = "",
           issuer: str = "") -> SubmitOutcome:
    """One SUBMIT through the back-end."""
    return asyncio.run(b.submit(Submission(
        ca_nickname="IPA", csr=csr_pem, principals=[principal] if principal else [],
        profile=profile, issuer=issuer)))


def helper_env(peer: IPAPeer, csr_pem: str, **extra: str) -> dict[str, str]:
    """The environment certmonger gives ipa-submit for a SUBMIT, plus the realm's."""
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": "/", "LC_CTYPE": "C.UTF-8",
           "CERTMONGER_OPERATION": "SUBMIT", "CERTMONGER_CA_NICKNAME": "IPA",
           "CERTMONGER_CSR": csr_pem, "CERTMONGER_REQ_PRINCIPAL": SERVICE,
           **peer.realm.env()}
    env.update(extra)
    return {name: value for name, value in env.items() if value}


def run_helper(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a helper program as certmonger would (no stdin)."""
    return subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=60, check=False)


def our_env(peer: IPAPeer, csr_pem: str, **extra: str) -> dict[str, str]:
    """The helper environment for our program, which finds default.conf via IPA_CONFDIR."""
    env = helper_env(peer, csr_pem, **extra)
    env.update(peer.env())
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    return env


def public_key_der(obj: x509.Certificate | x509.CertificateSigningRequest) -> bytes:
    return obj.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


# --- our back-end: issuing ------------------------------------------------------------


def test_issues_a_certificate_for_the_submitted_csr(peer: IPAPeer, server: IPAServer,
                                                    csr_pem: str) -> None:
    out = submit(backend(peer), csr_pem)
    assert out.kind is OutcomeKind.ISSUED, out.error
    cert = x509.load_pem_x509_certificate(out.cert.encode())
    request = x509.load_pem_x509_csr(csr_pem.encode())
    assert public_key_der(cert) == public_key_der(request)
    assert cert.issuer == server.ca.cert.subject
    assert cert.subject == request.subject


def test_sends_the_cert_request_body_of_ipa_submit(peer: IPAPeer, server: IPAServer,
                                                   csr_pem: str) -> None:
    submit(backend(peer), csr_pem, profile="caIPAserviceCert", issuer="ipa")
    [call] = server.cert_requests
    assert call.options == {"principal": SERVICE, "profile_id": "caIPAserviceCert",
                            "cacn": "ipa", "add": True}
    # The CSR goes as one line of base64, without its armor: the very CSR submitted.
    assert call.csr_b64 == "".join(csr_pem.strip().splitlines()[1:-1])


def test_leaves_out_profile_and_cacn_when_unset(peer: IPAPeer, server: IPAServer,
                                                csr_pem: str) -> None:
    submit(backend(peer), csr_pem)
    assert server.cert_requests[0].options == {"principal": SERVICE, "add": True}


def test_sends_json_headers_and_the_url_as_referer(peer: IPAPeer, server: IPAServer,
                                                   csr_pem: str) -> None:
    submit(backend(peer), csr_pem)
    headers = server.cert_requests[0].headers
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept"] == "application/json"
    assert headers["Referer"] == server.url


def test_authenticates_as_the_host_principal(peer: IPAPeer, server: IPAServer,
                                             csr_pem: str) -> None:
    submit(backend(peer), csr_pem)
    assert server.cert_requests[0].client_principal == peer.realm.host_principal


def test_uses_only_the_first_requested_principal(peer: IPAPeer, server: IPAServer,
                                                 csr_pem: str) -> None:
    asyncio.run(backend(peer).submit(Submission(
        ca_nickname="IPA", csr=csr_pem, principals=[SERVICE, "HTTP/other.ipa.test@IPA.TEST"])))
    assert server.cert_requests[0].options["principal"] == SERVICE


def test_options_override_the_request(peer: IPAPeer, server: IPAServer, csr_pem: str) -> None:
    b = backend(peer, "-P", "HTTP/other.ipa.test@IPA.TEST", "-T", "optProfile", "-X", "sub")
    submit(b, csr_pem, profile="reqProfile", issuer="ipa")
    assert server.cert_requests[0].options == {
        "principal": "HTTP/other.ipa.test@IPA.TEST", "profile_id": "optProfile",
        "cacn": "sub", "add": True}


def test_command_line_endpoint_keytab_and_principal_are_used(peer: IPAPeer, server: IPAServer,
                                                             csr_pem: str) -> None:
    b = backend(peer, "-J", server.url, "-c", str(server.ca_file),
                "-t", str(peer.realm.host_keytab), "-k", peer.realm.host_principal,
                IPA_CONFDIR=str(peer.confdir.parent / "nowhere"))
    assert submit(b, csr_pem).kind is OutcomeKind.ISSUED


def test_returns_the_chain_when_the_server_sends_one(peer: IPAPeer, chained: IPAServer,
                                                     csr_pem: str) -> None:
    chained.send_chain = True
    out = submit(backend(peer, "-J", chained.url, "-c", str(chained.ca_file)), csr_pem)
    assert out.kind is OutcomeKind.ISSUED, out.error
    chain = [x509.load_pem_x509_certificate(pem.encode()) for _, pem in out.chain]
    assert chain == chained.ca.chain
    assert x509.load_pem_x509_certificate(out.cert.encode()).issuer == chained.ca.cert.subject


# --- our back-end: failures -----------------------------------------------------------


def test_option_error_retries_without_cacn_then_without_profile(
        peer: IPAPeer, server: IPAServer, csr_pem: str) -> None:
    server.unknown_options = {"cacn", "profile_id"}
    out = submit(backend(peer), csr_pem, profile="caIPAserviceCert", issuer="ipa")
    assert out.kind is OutcomeKind.ISSUED, out.error
    assert [c.options for c in server.cert_requests] == [
        {"principal": SERVICE, "profile_id": "caIPAserviceCert", "cacn": "ipa", "add": True},
        {"principal": SERVICE, "profile_id": "caIPAserviceCert", "add": True},
        {"principal": SERVICE, "add": True},
    ]


def test_option_error_without_options_to_drop_is_rejected(peer: IPAPeer, server: IPAServer,
                                                          csr_pem: str) -> None:
    server.unknown_options = {"add"}
    out = submit(backend(peer), csr_pem)
    assert out.kind is OutcomeKind.REJECTED
    assert len(server.cert_requests) == 1


def test_authorization_error_is_rejected_with_certmonger_message(
        peer: IPAPeer, server: IPAServer, csr_pem: str) -> None:
    server.reject = aci_error("Insufficient 'add' privilege")
    out = submit(backend(peer), csr_pem)
    assert out.kind is OutcomeKind.REJECTED
    assert out.error == (f"Server at {server.url} denied our request, giving up: 2100 "
                         "(Insufficient access: Insufficient 'add' privilege).")


def test_malformed_principal_is_rejected(peer: IPAPeer, server: IPAServer,
                                         csr_pem: str) -> None:
    out = submit(backend(peer), csr_pem, principal="not a principal")
    assert out.kind is OutcomeKind.REJECTED
    assert "3009" in out.error


def test_execution_error_is_unreachable(peer: IPAPeer, server: IPAServer, csr_pem: str) -> None:
    server.reject = certificate_operation_error("the CA is offline")
    out = submit(backend(peer), csr_pem)
    assert out.kind is OutcomeKind.UNREACHABLE
    assert out.error == (f"Server at {server.url} failed request, will retry: 4301 "
                         "(Certificate operation cannot be completed: the CA is offline).")


def test_http_error_status_is_unreachable(peer: IPAPeer, server: IPAServer,
                                          csr_pem: str) -> None:
    server.http_status = 500
    out = submit(backend(peer), csr_pem)
    assert out.kind is OutcomeKind.UNREACHABLE
    assert out.error == "JSON-RPC call failed with HTTP status code: 500"


def test_no_principal_is_unconfigured_without_asking_the_server(
        peer: IPAPeer, server: IPAServer, csr_pem: str) -> None:
    out = submit(backend(peer), csr_pem, principal="")
    assert out.kind is OutcomeKind.UNCONFIGURED
    assert out.error == "Unable to determine principal name for signing request."
    assert server.calls == []


def test_missing_keytab_is_unconfigured(peer: IPAPeer, server: IPAServer, tmp_path: Path,
                                        csr_pem: str) -> None:
    out = submit(backend(peer, "-t", str(tmp_path / "missing.keytab")), csr_pem)
    assert out.kind is OutcomeKind.UNCONFIGURED
    assert "missing.keytab" in out.error
    assert server.calls == []


def test_principal_absent_from_keytab_is_unconfigured(peer: IPAPeer, server: IPAServer,
                                                      csr_pem: str) -> None:
    out = submit(backend(peer, "-k", "host/elsewhere.ipa.test@IPA.TEST"), csr_pem)
    assert out.kind is OutcomeKind.UNCONFIGURED
    assert "host/elsewhere.ipa.test@IPA.TEST" in out.error


def test_unreachable_kdc_is_unreachable(peer: IPAPeer, server: IPAServer, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch, csr_pem: str) -> None:
    dead = tmp_path / "krb5.conf"
    dead.write_text(peer.realm.krb5_conf.read_text().replace(
        f"127.0.0.1:{peer.realm.port}", f"127.0.0.1:{free_port()}"))
    monkeypatch.setenv("KRB5_CONFIG", str(dead))
    out = submit(backend(peer), csr_pem)
    assert out.kind is OutcomeKind.UNREACHABLE
    assert "KDC" in out.error


def test_untrusted_server_certificate_is_unreachable(peer: IPAPeer, server: IPAServer,
                                                     chained: IPAServer, csr_pem: str) -> None:
    out = submit(backend(peer, "-J", chained.url, "-c", str(server.ca_file)), csr_pem)
    assert out.kind is OutcomeKind.UNREACHABLE
    assert "CERTIFICATE_VERIFY_FAILED" in out.error
    assert chained.calls == []


def test_bad_command_line_is_unconfigured(peer: IPAPeer, server: IPAServer,
                                          csr_pem: str) -> None:
    out = submit(backend(peer, "-K", "-t", "/etc/krb5.keytab"), csr_pem)
    assert out.kind is OutcomeKind.UNCONFIGURED
    assert out.error == "The -t option can not be used with the -K option."


# --- our back-end: CA data ------------------------------------------------------------


def test_identifies_as_ipa_submit(peer: IPAPeer) -> None:
    out = asyncio.run(backend(peer).fetch_data(CADataOp.IDENTIFY))
    assert out.text == "IPA (certmonger 0.79.17)\n"


def test_new_request_requirements_are_principal_and_subject(peer: IPAPeer) -> None:
    out = asyncio.run(backend(peer).fetch_data(CADataOp.GET_NEW_REQUEST_REQUIREMENTS))
    assert helper_output.parse_list(out.text) == ["CERTMONGER_REQ_PRINCIPAL",
                                                  "CERTMONGER_REQ_SUBJECT"]


def test_other_ca_data_is_not_supported(peer: IPAPeer) -> None:
    out = asyncio.run(backend(peer).fetch_data(CADataOp.GET_SUPPORTED_TEMPLATES))
    assert out.kind is OutcomeKind.NOT_SUPPORTED


def test_fetch_roots_gives_the_ipa_ca_from_ca_show(peer: IPAPeer, server: IPAServer) -> None:
    out = asyncio.run(backend(peer).fetch_data(CADataOp.FETCH_ROOTS))
    assert out.kind is OutcomeKind.ISSUED, out.error
    assert [c.method for c in server.calls] == ["ca_show"]
    roots, other_roots, others = helper_output.parse_roots(out.text)
    assert [nick for nick, _ in roots] == ["IPA.TEST IPA CA"]
    assert x509.load_pem_x509_certificate(roots[0][1].encode()) == server.ca.cert
    assert other_roots == others == []


def test_fetch_roots_gives_the_whole_chain(peer: IPAPeer, chained: IPAServer) -> None:
    b = backend(peer, "-J", chained.url, "-c", str(chained.ca_file))
    out = asyncio.run(b.fetch_data(CADataOp.FETCH_ROOTS))
    expected_ca, expected_root = chained.ca.chain
    roots, _, others = helper_output.parse_roots(out.text)
    assert [(n, x509.load_pem_x509_certificate(p.encode())) for n, p in roots] == [
        ("IPA.TEST IPA CA 2", expected_root)]
    assert [(n, x509.load_pem_x509_certificate(p.encode())) for n, p in others] == [
        ("IPA.TEST IPA CA", expected_ca)]


def test_fetch_roots_falls_back_to_the_ca_file(peer: IPAPeer, server: IPAServer) -> None:
    server.http_status = 500
    out = asyncio.run(backend(peer).fetch_data(CADataOp.FETCH_ROOTS))
    roots, _, _ = helper_output.parse_roots(out.text)
    assert [x509.load_pem_x509_certificate(p.encode()) for _, p in roots] == [server.ca.cert]


# --- our helper program ---------------------------------------------------------------


def test_our_helper_program_prints_the_issued_certificate(peer: IPAPeer, server: IPAServer,
                                                          csr_pem: str) -> None:
    result = run_helper(OUR_IPA_SUBMIT, our_env(peer, csr_pem))
    assert result.returncode == 0, result.stdout + result.stderr
    cert = x509.load_pem_x509_certificate(result.stdout.encode())
    assert cert.issuer == server.ca.cert.subject
    assert server.cert_requests[0].options == {"principal": SERVICE, "add": True}
    assert result.stderr == f'Submitting request to "{server.url}".\n'


@pytest.mark.usefixtures("program_env")
def test_our_helper_reads_the_csr_from_a_file(server: IPAServer, tmp_path: Path, csr_pem: str,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "req.csr").write_text(csr_pem)
    monkeypatch.delenv("CERTMONGER_CSR")
    assert ipa_submit.main([str(tmp_path / "req.csr")]) == 0
    assert capsys.readouterr().out.startswith("-----BEGIN CERTIFICATE-----")


@pytest.mark.usefixtures("program_env")
def test_our_helper_without_a_csr_is_unconfigured(server: IPAServer,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("CERTMONGER_CSR")
    assert ipa_submit.main([]) == 4
    assert capsys.readouterr().out.splitlines()[0] == (
        'Unable to read signing request from environment variable "CERTMONGER_CSR".')


@pytest.mark.usefixtures("program_env")
def test_our_helper_answers_fetch_roots(server: IPAServer, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CERTMONGER_OPERATION", "FETCH-ROOTS")
    assert ipa_submit.main([]) == 0
    assert capsys.readouterr().out.startswith("IPA.TEST IPA CA\n-----BEGIN CERTIFICATE-----")


@pytest.mark.usefixtures("program_env")
def test_our_helper_does_not_support_templates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTMONGER_OPERATION", "GET-SUPPORTED-TEMPLATES")
    assert ipa_submit.main([]) == 6


# --- the same endpoint serves the stock ipa-submit, and we match it ------------------


@needs_stock
def test_stock_ipa_submit_is_issued_a_certificate(peer: IPAPeer, server: IPAServer,
                                                  csr_pem: str) -> None:
    result = run_helper([STOCK_IPA_SUBMIT, *peer.stock_helper_args()], helper_env(peer, csr_pem))
    assert result.returncode == 0, result.stdout + result.stderr
    cert = x509.load_pem_x509_certificate(result.stdout.encode())
    assert public_key_der(cert) == public_key_der(x509.load_pem_x509_csr(csr_pem.encode()))
    assert server.cert_requests[0].client_principal == peer.realm.host_principal


@needs_stock
def test_stock_ipa_submit_reaches_the_endpoint_as_a_ca_helper_command(
        peer: IPAPeer, server: IPAServer, csr_pem: str) -> None:
    """What a daemon runs for a CA whose helper is `peer.helper_command()`: no realm env."""
    env = {name: value for name, value in helper_env(peer, csr_pem).items()
           if not name.startswith("KRB5")}
    result = run_helper(split_command(peer.helper_command()), env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(server.cert_requests) == 1


@needs_stock
def test_our_request_body_is_byte_identical_to_stock(peer: IPAPeer, server: IPAServer,
                                                     csr_pem: str) -> None:
    extra = {"CERTMONGER_CA_PROFILE": "caIPAserviceCert", "CERTMONGER_CA_ISSUER": "ipa"}
    run_helper([STOCK_IPA_SUBMIT, *peer.stock_helper_args()], helper_env(peer, csr_pem, **extra))
    submit(backend(peer), csr_pem, profile="caIPAserviceCert", issuer="ipa")
    stock, ours = server.cert_requests
    assert ours.body == stock.body
    assert json.loads(ours.body)["params"][1]["add"] is True


@needs_stock
def test_option_error_retries_match_stock(peer: IPAPeer, server: IPAServer,
                                          csr_pem: str) -> None:
    server.unknown_options = {"cacn", "profile_id"}
    extra = {"CERTMONGER_CA_PROFILE": "caIPAserviceCert", "CERTMONGER_CA_ISSUER": "ipa"}
    run_helper([STOCK_IPA_SUBMIT, *peer.stock_helper_args()], helper_env(peer, csr_pem, **extra))
    stock = [c.body for c in server.cert_requests]
    server.calls.clear()
    submit(backend(peer), csr_pem, profile="caIPAserviceCert", issuer="ipa")
    assert [c.body for c in server.cert_requests] == stock


@needs_stock
@pytest.mark.usefixtures("program_env")
@pytest.mark.parametrize("knob", ["reject", "no-principal"])
def test_our_helper_fails_like_stock(peer: IPAPeer, server: IPAServer, csr_pem: str, knob: str,
                                     monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    extra = {"CERTMONGER_REQ_PRINCIPAL": ""} if knob == "no-principal" else {}
    if knob == "reject":
        server.reject = aci_error("nope")
    args = peer.stock_helper_args()
    stock = run_helper([STOCK_IPA_SUBMIT, *args], helper_env(peer, csr_pem, **extra))
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    ours = ipa_submit.main(args)
    assert (ours, capsys.readouterr().out.splitlines()[0]) == (
        stock.returncode, stock.stdout.splitlines()[0])


@needs_stock
def test_stock_ipa_submit_reads_the_default_conf_we_write(peer: IPAPeer, server: IPAServer,
                                                          tmp_path: Path, csr_pem: str) -> None:
    """Stock ipa-submit knows only /etc/ipa: show it ours in a private mount namespace."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare for a private mount namespace")
    upper, work = tmp_path / "upper", tmp_path / "work"
    (upper / "ipa").mkdir(parents=True)
    work.mkdir()
    peer.write_client_config(upper / "ipa")
    host_has_ipa = os.path.exists("/etc/ipa")
    script = (f"mount -t overlay overlay -o lowerdir=/etc,upperdir={upper},workdir={work} /etc"
              f" && exec {STOCK_IPA_SUBMIT}")
    env = helper_env(peer, csr_pem)
    env["KRB5_CONFIG"] = str(peer.realm.krb5_conf)
    result = run_helper(["unshare", "-m", "sh", "-c", script], env)
    if result.returncode != 0 and "mount" in result.stderr:
        pytest.skip(f"no overlay mount here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert server.cert_requests[0].options == {"principal": SERVICE, "add": True}
    assert os.path.exists("/etc/ipa") == host_has_ipa
