"""A scripted certmonger CA helper: answers each operation as a test tells it, and records
the environment of every run.

The helper is a small program written into a directory of its own.  For each operation
it reads `answers/<OPERATION>.json`, a list of steps; the Nth run of an operation takes
step N (the last step repeats).  A step either says something and exits with a code, or
issues a certificate for `CERTMONGER_CSR` from a test PKI (root -> intermediate -> leaf)
in one of the output forms helpers may use.  An operation with no answers exits 6
("not supported"), as certmonger's bundled helpers do.  Every run appends the operation
to `calls` and dumps its environment to `env/<OPERATION>.<N>.json`.
"""

from __future__ import annotations

import datetime
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

CA_DATA_OPERATIONS = (
    "IDENTIFY", "FETCH-ROOTS", "GET-SUPPORTED-TEMPLATES", "GET-DEFAULT-TEMPLATE",
    "GET-NEW-REQUEST-REQUIREMENTS", "GET-RENEW-REQUEST-REQUIREMENTS", "FETCH-SCEP-CA-CAPS",
    "FETCH-SCEP-CA-CERTS",
)

_PROGRAM = r'''#!{python}
"""A scripted certmonger CA helper (see tests/support/scripted_helper.py)."""
import datetime, json, os, sys
from pathlib import Path

here = Path(__file__).resolve().parent
op = os.environ.get("CERTMONGER_OPERATION", "")
envs = here / "env"
envs.mkdir(exist_ok=True)
n = len(list(envs.glob(op + ".*.json")))
(envs / "{{}}.{{}}.json".format(op, n)).write_text(json.dumps(dict(os.environ)))
with open(here / "calls", "a") as fh:
    fh.write(op + "\n")
try:
    steps = json.loads((here / "answers" / (op + ".json")).read_text())
except FileNotFoundError:
    sys.exit(6)
step = steps[min(n, len(steps) - 1)]


def issue(form, days):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import pkcs7
    load = x509.load_pem_x509_certificate
    issuer, root = load((here / "issuer.crt").read_bytes()), load((here / "root.crt").read_bytes())
    key = serialization.load_pem_private_key((here / "issuer.key").read_bytes(), None)
    csr = x509.load_pem_x509_csr(os.environ["CERTMONGER_CSR"].encode())
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)
    builder = (x509.CertificateBuilder().subject_name(csr.subject)
               .issuer_name(issuer.subject).public_key(csr.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now)
               .not_valid_after(now + datetime.timedelta(days=days)))
    for ext in csr.extensions:
        if isinstance(ext.value, x509.SubjectAlternativeName):
            builder = builder.add_extension(ext.value, ext.critical)
    leaf = builder.sign(key, hashes.SHA256())
    pem = lambda c: c.public_bytes(serialization.Encoding.PEM).decode()
    if form == "pem":
        return pem(leaf).encode()
    if form == "der":
        return leaf.public_bytes(serialization.Encoding.DER)
    if form == "pkcs7":
        return pkcs7.serialize_certificates([leaf, issuer, root], serialization.Encoding.PEM)
    if form == "json":
        return json.dumps({{
            "certificate": pem(leaf),
            "chain": [{{"nickname": "Test Intermediate", "certificate": pem(issuer)}}],
            "roots": [{{"nickname": "Test Root", "certificate": pem(root)}}],
        }}).encode()
    raise SystemExit("unknown form " + form)


if "issue" in step:
    sys.stdout.buffer.write(issue(step["issue"], step.get("days", 30)))
else:
    sys.stdout.write(step.get("out", ""))
sys.exit(step["code"])
'''


def said(code: int, output: str = "") -> dict[str, Any]:
    """A step that prints `output` and exits with `code`."""
    return {"code": code, "out": output}


def issued(form: str = "pem", days: int = 30) -> dict[str, Any]:
    """A step that issues a certificate for the CSR and prints it as `form` (exit 0).

    Forms: `pem`, `der`, `pkcs7` (leaf, intermediate and root in one PEM PKCS#7 bundle),
    `json` (the leaf, the intermediate as "chain" and the root as "roots").
    """
    return {"code": 0, "issue": form, "days": days}


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca_cert(common_name: str, *, not_after: float | None = None,
                 signer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
                 ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A CA certificate and its key: self-signed, or signed by `signer` (cert, key).

    Valid from an hour ago until `not_after` (Unix seconds; default ten years on).
    """
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    until = (datetime.datetime.fromtimestamp(not_after, datetime.UTC) if not_after
             else now + datetime.timedelta(days=3650))
    issuer_cert, issuer_key = signer if signer else (None, key)
    cert = (x509.CertificateBuilder().subject_name(_name(common_name))
            .issuer_name(issuer_cert.subject if issuer_cert else _name(common_name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(min(now, until) - datetime.timedelta(hours=1))
            .not_valid_after(until)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(issuer_key, hashes.SHA256()))
    return cert, key


def pem_of(cert: x509.Certificate) -> str:
    """A certificate as PEM text."""
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class HelperPKI:
    """A root CA and an intermediate that issues the leaf certificates."""

    root: x509.Certificate
    issuer: x509.Certificate
    issuer_key: ec.EllipticCurvePrivateKey

    @classmethod
    def create(cls) -> HelperPKI:
        """A fresh root ("Test Root") and intermediate ("Test Intermediate")."""
        root, root_key = make_ca_cert("Test Root")
        issuer, issuer_key = make_ca_cert("Test Intermediate", signer=(root, root_key))
        return cls(root, issuer, issuer_key)

    @property
    def root_pem(self) -> str:
        return pem_of(self.root)

    @property
    def issuer_pem(self) -> str:
        return pem_of(self.issuer)


class ScriptedHelper:
    """A helper program in `directory` whose answers the test sets per operation."""

    def __init__(self, directory: Path, pki: HelperPKI) -> None:
        self.directory = Path(directory)
        (self.directory / "answers").mkdir(parents=True, exist_ok=True)
        self.program = self.directory / "helper.py"
        self.program.write_text(_PROGRAM.format(python=sys.executable))
        self.program.chmod(0o755)
        (self.directory / "root.crt").write_text(pki.root_pem)
        (self.directory / "issuer.crt").write_text(pki.issuer_pem)
        (self.directory / "issuer.key").write_bytes(pki.issuer_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))

    @property
    def command(self) -> str:
        """The command line to give `getcert add-ca -e`."""
        return str(self.program)

    def answer(self, operation: str, *steps: dict[str, Any]) -> None:
        """Answer `operation` with `steps` (one per run, the last one repeating)."""
        target = self.directory / "answers" / f"{operation}.json"
        target.write_text(json.dumps(list(steps)))

    def unsupported(self, operation: str) -> None:
        """Make `operation` exit 6 again."""
        (self.directory / "answers" / f"{operation}.json").unlink(missing_ok=True)

    def calls(self, operation: str | None = None) -> list[str]:
        """The operations run so far, in order (only `operation`'s runs if given)."""
        try:
            ops = (self.directory / "calls").read_text().split()
        except FileNotFoundError:
            return []
        return [op for op in ops if operation is None or op == operation]

    def environments(self, operation: str) -> list[dict[str, str]]:
        """The environment of each run of `operation`, in order."""
        out = []
        for n in range(len(list((self.directory / "env").glob(f"{operation}.*.json")))):
            out.append(json.loads((self.directory / "env" / f"{operation}.{n}.json")
                                  .read_text()))
        return out

    def environment(self, operation: str) -> dict[str, str]:
        """The environment of the latest run of `operation`."""
        envs = self.environments(operation)
        assert envs, f"{operation} never ran (calls: {self.calls()})"
        return envs[-1]


def eventually(check: Callable[[], Any], *, timeout: float = 15, what: str = "") -> Any:
    """Poll `check` until it returns something truthy; that value, or AssertionError."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.05)
