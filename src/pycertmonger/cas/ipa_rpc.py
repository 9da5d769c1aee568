"""The JSON-RPC messages ipa-submit exchanges with FreeIPA, and what the answers mean.

Pure functions: the `cert_request` and `ca_show` calls, and the reading of an HTTP
answer into a typed outcome with certmonger's texts (`src/ipa.c`): HTTP status other
than 200 and error codes outside 2xxx/3xxx are worth retrying (UNREACHABLE), 2xxx and
3xxx are final (REJECTED).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from . import helper_output
from .base import OutcomeKind, SubmitOutcome

# FreeIPA's OptionError: "Unknown option" from a server older than the option.
OPTION_ERROR = 3005

def csr_base64(csr: str) -> str:
    """The CSR as FreeIPA wants it: the base64 body, no armor, no whitespace."""
    lines = [line for line in csr.replace("\r", "").split("\n")
             if line.strip() and not line.startswith("-----")]
    return "".join("".join(lines).split())


def cert_request_body(csr_b64: str, principal: str, profile: str | None = None,
                      cacn: str | None = None) -> dict[str, Any]:
    """ipa-submit's `cert_request` call; options without a value are left out."""
    options: dict[str, Any] = {"principal": principal}
    if profile:
        options["profile_id"] = profile
    if cacn:
        options["cacn"] = cacn
    options["add"] = True
    return {"method": "cert_request", "params": [[csr_b64], options]}


def ca_show_body(name: str = "ipa") -> dict[str, Any]:
    """`ca_show` of one CA, with its certificate chain."""
    return {"method": "ca_show", "params": [[name], {"chain": True}]}


def binary_value(value: Any) -> bytes | None:
    """A FreeIPA binary value: base64 text, or `{"__base64__": text}` (ipalib's JSON)."""
    if isinstance(value, dict):
        value = value.get("__base64__")
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def pem_certificate(der: bytes) -> str:
    """DER certificate bytes as PEM text (64-column base64, as certmonger writes it)."""
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def denied(url: str, code: int, message: str) -> str:
    """certmonger's text for a permanent refusal (error codes 2xxx and 3xxx)."""
    return f"Server at {url} denied our request, giving up: {code} ({message})."


def failed(url: str, code: int, message: str) -> str:
    """certmonger's text for a failure worth retrying (every other error code)."""
    return f"Server at {url} failed request, will retry: {code} ({message})."


@dataclass
class RPCAnswer:
    """A JSON-RPC exchange's outcome: a `result`, or a kind and a message."""

    kind: OutcomeKind
    result: Any = None
    error: str = ""
    code: int | None = None  # the JSON-RPC error code, when the server gave one


def read_answer(url: str, status: int, body: bytes) -> RPCAnswer:
    """Interpret an HTTP answer to a JSON-RPC call as ipa-submit does."""
    if status != 200:
        return RPCAnswer(OutcomeKind.UNREACHABLE,
                         error=f"JSON-RPC call failed with HTTP status code: {status}")
    try:
        doc = json.loads(body)
    except ValueError as exc:
        return RPCAnswer(OutcomeKind.UNREACHABLE,
                         error=f"Parsing JSON-RPC response failed: {exc}")
    if not isinstance(doc, dict):
        return RPCAnswer(OutcomeKind.UNREACHABLE,
                         error="Parsing JSON-RPC response failed: not an object")
    error = doc.get("error")
    if error:
        if not isinstance(error, dict) or not isinstance(error.get("code"), int):
            return RPCAnswer(OutcomeKind.UNREACHABLE,
                             error=f"Failed extracting error from JSON-RPC response: {error}")
        code, message = error["code"], str(error.get("message", ""))
        # ipalib's error classes: 2xxx authorization, 3xxx invocation (permanent);
        # 1xxx authentication, 4xxx execution, 5xxx generic (maybe transient).
        if code // 1000 in (2, 3):
            return RPCAnswer(OutcomeKind.REJECTED, error=denied(url, code, message), code=code)
        return RPCAnswer(OutcomeKind.UNREACHABLE, error=failed(url, code, message), code=code)
    outer = doc.get("result")
    if not isinstance(outer, dict):
        return RPCAnswer(OutcomeKind.UNREACHABLE,
                         error="Parsing JSON-RPC response failed, no outer result")
    inner = outer.get("result")
    if not isinstance(inner, dict):
        return RPCAnswer(OutcomeKind.UNREACHABLE,
                         error="Parsing JSON-RPC response failed, no inner result")
    return RPCAnswer(OutcomeKind.ISSUED, result=inner)


def issued_outcome(result: dict[str, Any]) -> SubmitOutcome:
    """A `cert_request` result as an ISSUED outcome (with the chain, if one was sent)."""
    der = binary_value(result.get("certificate"))
    if der is None:
        return SubmitOutcome(OutcomeKind.UNREACHABLE,
                             error="Parsing JSON-RPC response failed, no certificate")
    cert = pem_certificate(der)
    chain_values = result.get("certificate_chain")
    if not isinstance(chain_values, list) or not chain_values:
        return SubmitOutcome(OutcomeKind.ISSUED, cert=cert)
    ders = [d for d in (binary_value(v) for v in chain_values) if d is not None and d != der]
    text = cert + "".join(pem_certificate(d) for d in ders)
    try:
        # Sorted out the way certmonger sorts a helper's answer: leaf, chain, roots.
        leaf, chain, roots = helper_output.parse_issued(text.encode("ascii"))
    except helper_output.HelperOutputError:
        return SubmitOutcome(OutcomeKind.ISSUED, cert=cert)
    return SubmitOutcome(OutcomeKind.ISSUED, cert=leaf, chain=chain, roots=roots)
