"""The external helper back-end against scripted helpers and the stock local-submit."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, pkcs7
from cryptography.x509.oid import NameOID

from pycertmonger.cas.base import CADataOp, OutcomeKind, Submission
from pycertmonger.cas.helper import ExternalHelperBackend
from pycertmonger.cas.helper_output import parse_roots
from tests.unit._helper_certs import Hierarchy, make_cert, make_hierarchy, pkcs7_bundle

LOCAL_SUBMIT = Path("/usr/lib/certmonger/local-submit")

# A helper driven by a JSON file: what to print (text or base64 bytes), how to exit,
# whether to dump its environment, hang, flood stdout or die by a signal.
SCRIPTED_HELPER = r'''
import base64, json, os, signal, sys, time
plan = json.load(open(sys.argv[1]))
if plan.get("dump"):
    json.dump(dict(os.environ), open(plan["dump"], "w"))
if plan.get("hang"):
    time.sleep(60)
if plan.get("flood"):
    while True:
        sys.stdout.write("x" * 65536)
out = sys.stdout.buffer
if "text" in plan:
    out.write(plan["text"].encode())
if "b64" in plan:
    out.write(base64.b64decode(plan["b64"]))
out.flush()
if plan.get("signal"):
    os.kill(os.getpid(), signal.SIGKILL)
sys.exit(plan.get("exit", 0))
'''


@pytest.fixture(scope="module")
def h() -> Hierarchy:
    return make_hierarchy("Helper")


class Scripted:
    """Builds backends whose helper does what a test asks."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path
        self.script = tmp_path / "helper.py"
        self.script.write_text(SCRIPTED_HELPER)
        self.count = 0

    def backend(self, *, timeout: float = 10, output_limit: int = 1 << 20,
                daemon_env: dict[str, str] | None = None, **plan) -> ExternalHelperBackend:
        self.count += 1
        plan_file = self.dir / f"plan{self.count}.json"
        plan_file.write_text(json.dumps(plan))
        command = f"'{sys.executable}' -I -S '{self.script}' '{plan_file}'"
        return ExternalHelperBackend(
            command, "Scripted", daemon_env=daemon_env if daemon_env is not None else {},
            timeout=timeout, output_limit=output_limit)


@pytest.fixture
def scripted(tmp_path: Path) -> Scripted:
    return Scripted(tmp_path)


def submit(backend: ExternalHelperBackend, submission: Submission | None = None):
    return asyncio.run(backend.submit(submission or Submission(ca_nickname="Scripted",
                                                               csr="CSR")))


def fetch(backend: ExternalHelperBackend, op: CADataOp = CADataOp.IDENTIFY):
    return asyncio.run(backend.fetch_data(op))


FULL = Submission(
    ca_nickname="IPA",
    csr="-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n",
    key_type="EC",
    spki="MFkwEw==",
    spkac="U1BLQUM=",
    subject="CN=host.example.com",
    hostnames=["host.example.com", "www.example.com"],
    emails=["root@example.com"],
    principals=["HTTP/host.example.com@EXAMPLE.COM"],
    ip_addresses=["192.0.2.1", "2001:db8::1"],
    profile="caIPAserviceCert",
    issuer="ipa",
    certificate="-----BEGIN CERTIFICATE-----\nold\n-----END CERTIFICATE-----\n",
    scep={"CERTMONGER_SCEP_CA_IDENTIFIER": "ca-id", "PKCSREQ": "cmVx"},
)


# --- the environment a helper sees -------------------------------------------------------


def dumped_env(scripted: Scripted, submission: Submission | None = None,
               op: CADataOp | None = None, daemon_env=None) -> dict[str, str]:
    dump = scripted.dir / f"env{scripted.count + 1}.json"
    backend = scripted.backend(dump=str(dump), exit=6, daemon_env=daemon_env)
    if op is None:
        submit(backend, submission)
    else:
        fetch(backend, op)
    return json.loads(dump.read_text())


def test_submit_environment_carries_the_request(scripted):
    env = dumped_env(scripted, FULL)
    assert {k: v for k, v in env.items() if k.startswith("CERTMONGER_")} == {
        "CERTMONGER_OPERATION": "SUBMIT",
        "CERTMONGER_CSR": FULL.csr,
        "CERTMONGER_SPKAC": "U1BLQUM=",
        "CERTMONGER_SPKI": "MFkwEw==",
        "CERTMONGER_KEY_TYPE": "EC",
        "CERTMONGER_REQ_SUBJECT": "CN=host.example.com",
        "CERTMONGER_REQ_HOSTNAME": "host.example.com\nwww.example.com",
        "CERTMONGER_REQ_EMAIL": "root@example.com",
        "CERTMONGER_REQ_PRINCIPAL": "HTTP/host.example.com@EXAMPLE.COM",
        "CERTMONGER_REQ_IP_ADDRESS": "192.0.2.1\n2001:db8::1",
        "CERTMONGER_CA_NICKNAME": "IPA",
        "CERTMONGER_CA_PROFILE": "caIPAserviceCert",
        "CERTMONGER_CA_ISSUER": "ipa",
        "CERTMONGER_CERTIFICATE": FULL.certificate,
        "CERTMONGER_SCEP_CA_IDENTIFIER": "ca-id",
        "CERTMONGER_PKCSREQ": "cmVx",
        "CERTMONGER_LOCAL_CA_DIR": "/var/lib/certmonger/local",
    }


def test_submit_environment_leaves_out_empty_values(scripted):
    env = dumped_env(scripted, Submission(ca_nickname="X", csr="CSR", key_type="UNSPECIFIED"))
    names = {k for k in env if k.startswith("CERTMONGER_")}
    assert names == {"CERTMONGER_OPERATION", "CERTMONGER_CSR", "CERTMONGER_CA_NICKNAME",
                     "CERTMONGER_LOCAL_CA_DIR"}


def test_submit_with_a_cookie_is_a_poll(scripted):
    env = dumped_env(scripted, Submission(ca_nickname="X", csr="CSR", cookie="req-17"))
    assert env["CERTMONGER_OPERATION"] == "POLL"
    assert env["CERTMONGER_CA_COOKIE"] == "req-17"


def test_submit_environment_is_rebuilt_from_the_base(scripted):
    env = dumped_env(scripted, daemon_env={"SECRET": "x", "CERTMONGER_TMPDIR": "/run/cm",
                                           "HTTPS_PROXY": "http://proxy"})
    assert "SECRET" not in env
    assert env["PATH"] == "/usr/bin:/bin:/usr/sbin:/sbin"
    assert env["TMPDIR"] == "/run/cm"
    assert env["HTTPS_PROXY"] == "http://proxy"


def test_ca_data_environment_has_only_the_operation_and_ca_nickname(scripted):
    env = dumped_env(scripted, op=CADataOp.FETCH_ROOTS)
    assert {k: v for k, v in env.items() if k.startswith("CERTMONGER_")} == {
        "CERTMONGER_OPERATION": "FETCH-ROOTS",
        "CERTMONGER_CA_NICKNAME": "Scripted",
        "CERTMONGER_LOCAL_CA_DIR": "/var/lib/certmonger/local",
    }


def test_ca_data_operations_use_certmongers_operation_names(scripted):
    seen = [dumped_env(scripted, op=op)["CERTMONGER_OPERATION"] for op in CADataOp]
    assert seen == ["IDENTIFY", "FETCH-ROOTS", "GET-SUPPORTED-TEMPLATES", "GET-DEFAULT-TEMPLATE",
                    "GET-NEW-REQUEST-REQUIREMENTS", "GET-RENEW-REQUEST-REQUIREMENTS",
                    "FETCH-SCEP-CA-CAPS", "FETCH-SCEP-CA-CERTS"]


# --- SUBMIT / POLL exit statuses -----------------------------------------------------


def test_exit_0_with_pem_is_issued_with_its_chain(scripted, h):
    outcome = submit(scripted.backend(exit=0, text=h.root.pem + h.leaf.pem + h.inter.pem))
    assert outcome.kind is OutcomeKind.ISSUED
    assert outcome.cert == h.leaf.pem
    assert outcome.chain == [("chain #1", h.inter.pem), ("chain #2", h.root.pem)]


def test_exit_0_with_der_is_issued(scripted, h):
    outcome = submit(scripted.backend(exit=0, b64=base64.b64encode(h.leaf.der).decode()))
    assert (outcome.kind, outcome.cert) == (OutcomeKind.ISSUED, h.leaf.pem)


def test_exit_0_with_pkcs7_is_issued(scripted, h):
    bundle = pkcs7_bundle(h.leaf, h.inter, pem=False)
    outcome = submit(scripted.backend(exit=0, b64=base64.b64encode(bundle).decode()))
    assert outcome.kind is OutcomeKind.ISSUED
    assert outcome.chain == [("chain #1", h.inter.pem)]


def test_exit_0_with_json_is_issued_with_roots(scripted, h):
    doc = {"certificate": h.leaf.pem, "roots": [{"nickname": "R", "certificate": h.root.pem}]}
    outcome = submit(scripted.backend(exit=0, text=json.dumps(doc)))
    assert outcome.kind is OutcomeKind.ISSUED and outcome.roots == [("R", h.root.pem)]


def test_exit_0_with_no_output_needs_guidance(scripted):
    outcome = submit(scripted.backend(exit=0, text=""))
    assert outcome.kind is OutcomeKind.NEED_GUIDANCE and outcome.error


def test_exit_0_with_unreadable_output_needs_guidance(scripted):
    outcome = submit(scripted.backend(exit=0, text="certificate coming soon\n"))
    assert outcome.kind is OutcomeKind.NEED_GUIDANCE
    assert "no certificate" in outcome.error


def test_exit_1_waits_with_the_cookie(scripted):
    outcome = submit(scripted.backend(exit=1, text="request-42\n"))
    assert (outcome.kind, outcome.cookie, outcome.delay) == (OutcomeKind.WAIT, "request-42", None)


def test_exit_1_multi_line_cookie_is_sanitized(scripted):
    outcome = submit(scripted.backend(exit=1, text="a\r\n\r\nb"))
    assert outcome.cookie == "a\nb\n"


def test_exit_1_without_cookie_needs_guidance(scripted):
    assert submit(scripted.backend(exit=1, text="")).kind is OutcomeKind.NEED_GUIDANCE


@pytest.mark.parametrize(
    ("code", "kind"),
    [(2, OutcomeKind.REJECTED), (3, OutcomeKind.UNREACHABLE), (4, OutcomeKind.UNCONFIGURED),
     (16, OutcomeKind.NEED_SCEP_MESSAGES), (17, OutcomeKind.NEED_REKEY)],
)
def test_exit_status_maps_to_its_outcome_with_the_first_line_as_error(scripted, code, kind):
    outcome = submit(scripted.backend(exit=code, text="Server says no\nmore detail\n"))
    assert (outcome.kind, outcome.error) == (kind, "Server says no")


def test_exit_5_waits_for_the_given_delay(scripted):
    outcome = submit(scripted.backend(exit=5, text="3600\nticket-9\n"))
    assert (outcome.kind, outcome.delay, outcome.cookie) == (OutcomeKind.WAIT, 3600, "ticket-9")


def test_exit_5_without_cookie_waits_with_an_empty_cookie(scripted):
    outcome = submit(scripted.backend(exit=5, text="60\n"))
    assert (outcome.kind, outcome.delay, outcome.cookie) == (OutcomeKind.WAIT, 60, "")


@pytest.mark.parametrize("text", ["60", "soon\ncookie", ""])
def test_exit_5_without_a_delay_line_needs_guidance(scripted, text):
    assert submit(scripted.backend(exit=5, text=text)).kind is OutcomeKind.NEED_GUIDANCE


def test_exit_6_on_submit_needs_guidance(scripted):
    outcome = submit(scripted.backend(exit=6, text=""))
    assert outcome.kind is OutcomeKind.NEED_GUIDANCE
    assert outcome.error == "helper does not support SUBMIT"


def test_unknown_exit_status_needs_guidance(scripted):
    outcome = submit(scripted.backend(exit=42, text=""))
    assert (outcome.kind, outcome.error) == (OutcomeKind.NEED_GUIDANCE,
                                             "helper exited with status 42")


def test_helper_killed_by_a_signal_needs_guidance(scripted):
    outcome = submit(scripted.backend(signal=True, text="partial"))
    assert outcome.kind is OutcomeKind.NEED_GUIDANCE
    assert outcome.error == "helper was killed by signal SIGKILL"


def test_helper_that_hangs_hits_the_timeout(scripted):
    outcome = submit(scripted.backend(hang=True, timeout=0.5))
    assert outcome.kind is OutcomeKind.NEED_GUIDANCE
    assert outcome.error == "helper timed out after 0.5 s"


def test_helper_that_floods_stdout_hits_the_cap(scripted):
    outcome = submit(scripted.backend(flood=True, output_limit=100_000))
    assert outcome.kind is OutcomeKind.NEED_GUIDANCE
    assert outcome.error == "helper printed more than 100000 bytes"


def test_missing_helper_program_needs_guidance(tmp_path):
    backend = ExternalHelperBackend(str(tmp_path / "no-such-helper"), "X", daemon_env={})
    outcome = submit(backend)
    assert outcome.kind is OutcomeKind.NEED_GUIDANCE
    assert outcome.error.startswith("cannot run ")
    assert outcome.error.endswith("No such file or directory (for SUBMIT)")


def test_unparseable_helper_command_needs_guidance():
    outcome = submit(ExternalHelperBackend("/bin/helper 'unterminated", "X", daemon_env={}))
    assert outcome.kind is OutcomeKind.NEED_GUIDANCE
    assert "Unmatched" in outcome.error


def test_shell_script_helper_with_arguments(tmp_path, h):
    (tmp_path / "cert.pem").write_text(h.leaf.pem)
    script = tmp_path / "sh-helper"
    script.write_text('#!/bin/sh\ncase "$CERTMONGER_OPERATION" in\n'
                      '  SUBMIT) cat "$1"; exit 0;;\n  *) exit 6;;\nesac\n')
    script.chmod(0o755)
    backend = ExternalHelperBackend(f"{script} {tmp_path / 'cert.pem'}", "X", daemon_env={})
    assert submit(backend).cert == h.leaf.pem
    assert fetch(backend).kind is OutcomeKind.NOT_SUPPORTED


def test_enveloped_answer_is_decrypted_with_the_submissions_key(scripted, h):
    recipient = make_cert("SCEP requester", rsa_key=True)
    blob = (pkcs7.PKCS7EnvelopeBuilder()
            .set_data(pkcs7_bundle(h.leaf, pem=False))
            .add_recipient(recipient.cert)
            .encrypt(Encoding.DER, [pkcs7.PKCS7Options.Binary]))
    seen = []

    def decrypt(submission: Submission, der: bytes) -> bytes:
        seen.append(submission.nickname)
        return pkcs7.pkcs7_decrypt_der(der, recipient.cert, recipient.key, [])

    backend = scripted.backend(exit=0, b64=base64.b64encode(blob).decode())
    backend.decrypt = decrypt
    outcome = submit(backend, Submission(ca_nickname="S", csr="CSR", nickname="req1"))
    assert (outcome.kind, outcome.cert, seen) == (OutcomeKind.ISSUED, h.leaf.pem, ["req1"])


def test_enveloped_answer_without_a_decrypter_needs_guidance(scripted, h):
    recipient = make_cert("SCEP requester 2", rsa_key=True)
    blob = (pkcs7.PKCS7EnvelopeBuilder()
            .set_data(b"payload")
            .add_recipient(recipient.cert)
            .encrypt(Encoding.DER, [pkcs7.PKCS7Options.Binary]))
    outcome = submit(scripted.backend(exit=0, b64=base64.b64encode(blob).decode()))
    assert outcome.kind is OutcomeKind.NEED_GUIDANCE and "encrypted" in outcome.error


# --- CA-data exit statuses -----------------------------------------------------------


def test_ca_data_exit_0_returns_the_text(scripted):
    outcome = fetch(scripted.backend(exit=0, text="Example CA\n"))
    assert (outcome.kind, outcome.text) == (OutcomeKind.ISSUED, "Example CA\n")


def test_ca_data_exit_1_waits(scripted):
    outcome = fetch(scripted.backend(exit=1, text=""))
    assert (outcome.kind, outcome.delay) == (OutcomeKind.WAIT, None)


@pytest.mark.parametrize(("text", "delay"), [("120\n", 120), ("120", 120), ("later", None)])
def test_ca_data_exit_5_waits_for_the_delay_it_can_read(scripted, text, delay):
    outcome = fetch(scripted.backend(exit=5, text=text))
    assert (outcome.kind, outcome.delay) == (OutcomeKind.WAIT, delay)


def test_ca_data_exit_2_is_rejected(scripted):
    assert fetch(scripted.backend(exit=2, text="no")).kind is OutcomeKind.REJECTED


@pytest.mark.parametrize("code", [3, 4])
def test_ca_data_exit_3_and_4_are_unreachable(scripted, code):
    outcome = fetch(scripted.backend(exit=code, text="server down\n"))
    assert (outcome.kind, outcome.error) == (OutcomeKind.UNREACHABLE, "server down")


def test_ca_data_exit_6_is_not_supported(scripted):
    assert fetch(scripted.backend(exit=6)).kind is OutcomeKind.NOT_SUPPORTED


def test_ca_data_other_exit_status_needs_guidance(scripted):
    assert fetch(scripted.backend(exit=99)).kind is OutcomeKind.NEED_GUIDANCE


def test_ca_data_timeout_needs_guidance(scripted):
    outcome = fetch(scripted.backend(hang=True, timeout=0.3))
    assert outcome.kind is OutcomeKind.NEED_GUIDANCE and "timed out" in outcome.error


# --- the stock local-submit helper ---------------------------------------------------

needs_local_submit = pytest.mark.skipif(not LOCAL_SUBMIT.exists(),
                                        reason="the stock local-submit is not installed")


@pytest.fixture
def local(tmp_path: Path) -> ExternalHelperBackend:
    local_dir = tmp_path / "local"
    local_dir.mkdir()
    return ExternalHelperBackend(str(LOCAL_SUBMIT), "local",
                                 daemon_env={"CERTMONGER_LOCAL_CA_DIR": str(local_dir)})


def _csr() -> tuple[str, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "local-test")]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName("local.example")]),
                          critical=False)
           .sign(key, hashes.SHA256()))
    return csr.public_bytes(Encoding.PEM).decode(), key


@pytest.mark.stock
@needs_local_submit
def test_local_submit_issues_a_certificate_for_the_csr(local):
    csr, key = _csr()
    spki = base64.b64encode(key.public_key().public_bytes(
        Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).decode()
    outcome = submit(local, Submission(ca_nickname="local", csr=csr, key_type="EC", spki=spki,
                                       subject="CN=local-test"))
    assert outcome.kind is OutcomeKind.ISSUED, outcome.error
    cert = x509.load_pem_x509_certificate(outcome.cert.encode())
    assert cert.public_key() == key.public_key()
    roots = parse_roots(fetch(local, CADataOp.FETCH_ROOTS).text)[0]
    assert cert.issuer == x509.load_pem_x509_certificate(roots[0][1].encode()).subject


@pytest.mark.stock
@needs_local_submit
def test_local_submit_identifies_itself(local):
    outcome = fetch(local, CADataOp.IDENTIFY)
    assert outcome.kind is OutcomeKind.ISSUED
    assert outcome.text.startswith("Local Signing Authority")


@pytest.mark.stock
@needs_local_submit
def test_local_submit_fetch_roots_names_its_ca(local):
    outcome = fetch(local, CADataOp.FETCH_ROOTS)
    assert outcome.kind is OutcomeKind.ISSUED
    roots, other_roots, others = parse_roots(outcome.text)
    assert roots[0][0] == "Local Signing Authority"
    assert x509.load_pem_x509_certificate(roots[0][1].encode())
    assert other_roots == [] and others == []


@pytest.mark.stock
@needs_local_submit
def test_local_submit_does_not_support_templates(local):
    assert fetch(local, CADataOp.GET_SUPPORTED_TEMPLATES).kind is OutcomeKind.NOT_SUPPORTED


@pytest.mark.stock
@needs_local_submit
def test_local_submit_keeps_its_data_in_the_local_ca_dir(local, tmp_path):
    fetch(local, CADataOp.FETCH_ROOTS)
    assert (tmp_path / "local" / "creds").exists()
    assert not os.path.exists(tmp_path / "creds")
