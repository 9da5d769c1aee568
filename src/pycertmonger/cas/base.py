"""The CA back-end contract: what the engine asks of a CA and the typed answers it gets.

Call order for one request: the engine builds a `Submission` from the request and its CA
and awaits `CABackend.submit`.  The back-end never touches the request record; it answers
with a `SubmitOutcome`, and the engine's state machine decides what follows:

* ISSUED: `cert` holds the end-entity PEM; `chain`/`roots` the other certificates.
* WAIT: the CA is working; poll again after `delay` seconds (None: the default CA delay),
  sending `cookie` back as `Submission.cookie`.
* REJECTED / UNREACHABLE / UNCONFIGURED: `error` says why (shown as `ca-error`);
  UNREACHABLE may carry a `delay`.
* NEED_GUIDANCE: the answer made no sense (unparseable output, unsupported operation).
* NEED_SCEP_MESSAGES / NEED_REKEY: certmonger helper exit statuses 16 and 17.

CA data (`fetch_data`) is asked for per `CADataOp`; `NOT_SUPPORTED` disables that phase.
A back-end must not raise for CA-side failures; exceptions mean a bug and are treated as
NEED_GUIDANCE with the exception text as the error.
"""

from __future__ import annotations

import abc
import enum
from dataclasses import dataclass, field

from ..model import CertList


class OutcomeKind(enum.Enum):
    """What a CA said to a submission or a CA-data query."""

    ISSUED = "issued"
    WAIT = "wait"
    REJECTED = "rejected"
    UNREACHABLE = "unreachable"
    UNCONFIGURED = "unconfigured"
    NEED_GUIDANCE = "need-guidance"
    NOT_SUPPORTED = "not-supported"
    NEED_SCEP_MESSAGES = "need-scep-messages"
    NEED_REKEY = "need-rekey"


@dataclass
class Submission:
    """Everything a CA back-end may use to answer SUBMIT or POLL for one request."""

    ca_nickname: str
    csr: str  # PEM, "CERTIFICATE REQUEST" armor
    key_type: str = "RSA"  # the key the CSR was made with
    spki: str = ""  # base64 DER SubjectPublicKeyInfo of that key
    spkac: str = ""
    subject: str = ""
    hostnames: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    principals: list[str] = field(default_factory=list)
    ip_addresses: list[str] = field(default_factory=list)
    profile: str = ""
    issuer: str = ""
    cookie: str = ""  # non-empty: this is a POLL
    certificate: str = ""  # the certificate currently held (renewals), PEM
    challenge_password: str = ""
    scep: dict[str, str] = field(default_factory=dict)  # CERTMONGER_SCEP_* / PKCSREQ* values
    key_pem: bytes = b""  # the request's private key, for back-ends that must sign (SelfSign)
    # Other keys (PEM) an enveloped answer may be sealed to: the current key while a new
    # one is tried (SCEP answers to whichever key signed the request).
    envelope_keys: list[bytes] = field(default_factory=list)
    nickname: str = ""  # the request's nickname


@dataclass
class SubmitOutcome:
    """A CA's answer to a submission."""

    kind: OutcomeKind
    cert: str = ""
    chain: CertList = field(default_factory=list)
    roots: CertList = field(default_factory=list)
    cookie: str = ""
    delay: int | None = None
    error: str = ""


class CADataOp(enum.Enum):
    """The CA-data operations, with certmonger's helper operation names as values."""

    IDENTIFY = "IDENTIFY"
    FETCH_ROOTS = "FETCH-ROOTS"
    GET_SUPPORTED_TEMPLATES = "GET-SUPPORTED-TEMPLATES"
    GET_DEFAULT_TEMPLATE = "GET-DEFAULT-TEMPLATE"
    GET_NEW_REQUEST_REQUIREMENTS = "GET-NEW-REQUEST-REQUIREMENTS"
    GET_RENEW_REQUEST_REQUIREMENTS = "GET-RENEW-REQUEST-REQUIREMENTS"
    FETCH_SCEP_CA_CAPS = "FETCH-SCEP-CA-CAPS"
    FETCH_SCEP_CA_CERTS = "FETCH-SCEP-CA-CERTS"


@dataclass
class CADataOutcome:
    """A CA's answer to one CA-data operation; `text` is the raw answer on success."""

    kind: OutcomeKind
    text: str = ""
    delay: int | None = None
    error: str = ""


class CABackend(abc.ABC):
    """One kind of CA.  Instances are cheap and may be shared by many requests."""

    @abc.abstractmethod
    async def submit(self, submission: Submission) -> SubmitOutcome:
        """Ask for a certificate (SUBMIT) or for news of an earlier ask (POLL, a cookie)."""

    async def fetch_data(self, op: CADataOp) -> CADataOutcome:
        """Answer one CA-data operation; by default none is supported."""
        return CADataOutcome(OutcomeKind.NOT_SUPPORTED)
