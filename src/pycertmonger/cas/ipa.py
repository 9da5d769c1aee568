"""The IPA CA: certificates from a FreeIPA server over JSON-RPC, as certmonger's ipa-submit.

The pieces: `ipa_config` (ipa-submit's options, default.conf, the endpoint),
`ipa_rpc` (the JSON-RPC messages and what the answers mean), `ipa_transport`
(Kerberos and HTTPS); here, the operations and the back-end the engine uses for a CA
whose helper is `ipa-submit`.

SUBMIT and POLL send, exactly as ipa-submit does,
`{"method": "cert_request", "params": [[<CSR base64>], {"principal": P, "profile_id": T,
"cacn": X, "add": true}]}` (empty values left out), P being `-P` or the first requested
principal, T `-T` or the request's profile, X `-X` or its issuer.  An OptionError (3005,
a server older than an option) is retried without `cacn`, then without `profile_id`.
No principal means UNCONFIGURED.  A `certificate_chain` in the answer, if a server sends
one, becomes the chain.

CA data: IDENTIFY, GET-NEW-REQUEST-REQUIREMENTS, and FETCH-ROOTS, which asks the server
for the chain of the `ipa` CA (`ca_show`) and falls back to the CA file; the IPA CA is
named `<REALM> IPA CA`, the certificates above it `<REALM> IPA CA 2`, `3`, ...

Differences from ipa-submit: when the server cannot be reached there is no search of
LDAP for other CA masters (`-L`, `-d`, `-b` are accepted and unused): only the
configured server is tried; FETCH-ROOTS uses JSON-RPC instead of LDAP and so needs no
`domain`; an `xmlrpc_uri` that does not end in `xml` is not mangled; certificates above
the IPA CA that are not self-signed are published as "other" certificates (JSON form).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..model import CertList
from .base import CABackend, CADataOp, CADataOutcome, OutcomeKind, Submission, SubmitOutcome
from .ipa_config import IPASettings
from .ipa_rpc import (
    OPTION_ERROR,
    RPCAnswer,
    binary_value,
    ca_show_body,
    cert_request_body,
    csr_base64,
    issued_outcome,
    pem_certificate,
)
from .ipa_transport import IPAConnection

IDENTITY = "IPA (certmonger 0.79.17)"
REQUIREMENTS = ("CERTMONGER_REQ_PRINCIPAL", "CERTMONGER_REQ_SUBJECT")
CA_NICKNAME_SUFFIX = "IPA CA"


# --- the IPA CA chain -----------------------------------------------------------------


def _self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject


def ca_certificates(ders: list[bytes], realm: str) -> tuple[CertList, CertList]:
    """The IPA CA chain as (roots, others), each certificate named after the realm."""
    base = f"{realm} {CA_NICKNAME_SUFFIX}" if realm else CA_NICKNAME_SUFFIX
    roots: CertList = []
    others: CertList = []
    seen: set[bytes] = set()
    for der in ders:
        if der in seen:
            continue
        seen.add(der)
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            continue
        count = len(roots) + len(others)
        nickname = base if count == 0 else f"{base} {count + 1}"
        (roots if _self_signed(cert) else others).append((nickname, pem_certificate(der)))
    return roots, others


def format_roots(roots: CertList, others: CertList) -> str:
    """FETCH-ROOTS text: certmonger's legacy nickname/PEM form when every certificate is a
    root (as ipa-submit prints it), else the JSON form, which can also carry the others."""
    if not others:
        return "".join(f"{nick}\n{pem.rstrip()}\n" for nick, pem in roots)
    doc = {"roots": [{"nickname": n, "certificate": p} for n, p in roots],
           "other": [{"nickname": n, "certificate": p} for n, p in others]}
    return json.dumps(doc) + "\n"


def read_ca_file(path: str) -> list[bytes]:
    """The DER certificates in a PEM file (empty when unreadable)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return []
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        return []
    return [c.public_bytes(serialization.Encoding.DER) for c in certs]


# --- the operations (blocking) --------------------------------------------------------


@dataclass
class IPARequest:
    """What one SUBMIT/POLL asks for: the CSR, the principal, the profile, the sub-CA."""

    csr: str
    principal: str = ""
    profile: str = ""
    issuer: str = ""


@dataclass
class IPAClient:
    """The IPA operations over one connection, blocking; shared by back-end and program."""

    settings: IPASettings
    connection: IPAConnection = field(init=False)

    def __post_init__(self) -> None:
        self.connection = IPAConnection(self.settings)

    def submit(self, request: IPARequest) -> SubmitOutcome:
        """cert_request, with certmonger's retries for servers that lack an option."""
        s = self.settings
        if s.usage_error:
            return SubmitOutcome(OutcomeKind.UNCONFIGURED, error=s.usage_error)
        principal = s.request_principal or request.principal.replace("\r", "\n").split("\n")[0]
        if not principal:
            return SubmitOutcome(OutcomeKind.UNCONFIGURED,
                                 error="Unable to determine principal name for signing "
                                       "request.")
        csr = csr_base64(request.csr)
        if not csr:
            return SubmitOutcome(OutcomeKind.UNCONFIGURED,
                                 error="Unable to read signing request.")
        if not s.url:
            return SubmitOutcome(OutcomeKind.UNCONFIGURED,
                                 error="Unable to determine location of IPA server.")
        profile = s.profile or request.profile or None
        cacn = s.issuer or request.issuer or None
        answer = self.connection.call(cert_request_body(csr, principal, profile, cacn))
        # FreeIPA's OptionError (3005) comes from a server that predates sub-CAs or
        # profiles: ask again without `cacn`, then without `profile_id` (certmonger).
        if answer.code == OPTION_ERROR and cacn:
            cacn = None
            answer = self.connection.call(cert_request_body(csr, principal, profile, cacn))
        if answer.code == OPTION_ERROR and profile:
            profile = None
            answer = self.connection.call(cert_request_body(csr, principal, profile, cacn))
        if answer.kind is not OutcomeKind.ISSUED:
            return SubmitOutcome(answer.kind, error=answer.error)
        return issued_outcome(answer.result)

    def realm(self) -> str:
        """The realm that names the CA certificates."""
        return self.settings.realm or self.connection.client_realm

    def fetch_roots(self) -> CADataOutcome:
        """The IPA CA chain from `ca_show`, else from the CA file, as FETCH-ROOTS text."""
        s = self.settings
        if s.usage_error:
            return CADataOutcome(OutcomeKind.UNREACHABLE, error=s.usage_error)
        answer = (self.connection.call(ca_show_body()) if s.url
                  else RPCAnswer(OutcomeKind.UNCONFIGURED,
                                 error="Unable to determine location of IPA server."))
        ders: list[bytes] = []
        if answer.kind is OutcomeKind.ISSUED:
            values = answer.result.get("certificate_chain")
            if not isinstance(values, list) or not values:
                values = [answer.result.get("certificate")]
            ders = [d for d in (binary_value(v) for v in values) if d is not None]
        if not ders and s.cafile:
            ders = read_ca_file(s.cafile)
        if not ders:
            # certmonger counts an unconfigured helper as unreachable for CA data.
            return CADataOutcome(OutcomeKind.UNREACHABLE,
                                 error=answer.error or "No CA certificates found.")
        roots, others = ca_certificates(ders, self.realm())
        return CADataOutcome(OutcomeKind.ISSUED, text=format_roots(roots, others))

    def fetch_data(self, op: CADataOp) -> CADataOutcome:
        """Answer one CA-data operation as ipa-submit does."""
        if op is CADataOp.IDENTIFY:
            return CADataOutcome(OutcomeKind.ISSUED, text=IDENTITY + "\n")
        if op is CADataOp.GET_NEW_REQUEST_REQUIREMENTS:
            return CADataOutcome(OutcomeKind.ISSUED, text="\n".join(REQUIREMENTS) + "\n")
        if op is CADataOp.FETCH_ROOTS:
            return self.fetch_roots()
        return CADataOutcome(OutcomeKind.NOT_SUPPORTED)


# --- the back-end ---------------------------------------------------------------------


class IPABackend(CABackend):
    """A FreeIPA CA reached over JSON-RPC, in process (network and Kerberos in threads)."""

    def __init__(self, settings: IPASettings) -> None:
        self.settings = settings
        self.client = IPAClient(settings)

    @classmethod
    def from_command(cls, argv: list[str], env: Mapping[str, str] | None = None) -> IPABackend:
        """The back-end for a CA whose helper is `ipa-submit` with these words.

        `argv[0]` is the program; the rest are ipa-submit's options.  `env` is the
        daemon's environment (default: this process's), used to find default.conf
        (`IPA_CONFDIR`) and the keytab (`KRB5_KTNAME`).  A bad command line does not
        raise: every submission then answers UNCONFIGURED with the reason.
        """
        environ = dict(os.environ if env is None else env)
        return cls(IPASettings.from_args(list(argv[1:]), environ))

    async def submit(self, submission: Submission) -> SubmitOutcome:
        """SUBMIT and POLL alike: ask the server for the certificate."""
        request = IPARequest(csr=submission.csr,
                             principal=submission.principals[0] if submission.principals else "",
                             profile=submission.profile, issuer=submission.issuer)
        return await asyncio.to_thread(self.client.submit, request)

    async def fetch_data(self, op: CADataOp) -> CADataOutcome:
        """IDENTIFY, GET-NEW-REQUEST-REQUIREMENTS and FETCH-ROOTS; nothing else."""
        if op is CADataOp.FETCH_ROOTS:
            return await asyncio.to_thread(self.client.fetch_data, op)
        return self.client.fetch_data(op)
