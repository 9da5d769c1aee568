"""Reading what certmonger CA helpers print: certificates, CA roots, lists, cookies.

Pure functions over the text or bytes a helper wrote to stdout, following certmonger
0.79.17 (`src/submit-e.c` post-processing, `src/pkcs7.c`, `src/cadata.c`):

* `parse_issued`: the answer to SUBMIT/POLL (exit 0): PEM certificates and PKCS#7
  bundles in any mix, a single DER certificate or bundle, or the JSON form; worked out
  into the end-entity certificate, its chain and any roots.
* `parse_roots`: the answer to FETCH-ROOTS (legacy nickname/PEM sections, or JSON).
* `parse_list`, `requirement_properties`: the list answers (templates, requirements,
  SCEP capabilities).
* `sanitize_cookie`, `parse_delay_and_cookie`: the answers to WAIT (exit 1 and 5).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from ..model import CertList

Decrypt = Callable[[bytes], bytes]


class HelperOutputError(ValueError):
    """A helper's answer could not be understood."""


class EnvelopedDataError(HelperOutputError):
    """The answer is PKCS#7 enveloped (encrypted) data and no way to decrypt it was given."""


# --- certificates ---------------------------------------------------------------------

# DER of the PKCS#7 content-type OIDs (RFC 2315 section 14): the ContentInfo of a
# bundle starts with one of these.
_OID_SIGNED_DATA = bytes.fromhex("06092a864886f70d010702")
_OID_ENVELOPED_DATA = bytes.fromhex("06092a864886f70d010703")

_PEM_BLOCK = re.compile(
    r"-----BEGIN[^\r\n]*?-----(?P<body>.*?)-----END[^\r\n]*", re.DOTALL
)


def _der_length(data: bytes) -> int | None:
    """The total length of the DER element at the start of `data`, if well-formed."""
    if len(data) < 2:
        return None
    first = data[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 4 or len(data) < 2 + count:
        return None
    return 2 + count + int.from_bytes(data[2:2 + count], "big")


def _strip_der(data: bytes) -> bytes | None:
    """`data` as one DER element (trailing whitespace allowed), or None if it is not."""
    if not data or data[0] != 0x30:
        return None
    length = _der_length(data)
    if length is None or length > len(data) or data[length:].strip():
        return None
    return data[:length]


def _pkcs7_type(der: bytes) -> bytes | None:
    """The content-type OID (as DER) of a PKCS#7 ContentInfo, or None if not one."""
    # ContentInfo ::= SEQUENCE { contentType OBJECT IDENTIFIER, content [0] EXPLICIT ... }
    header = 2 + (der[1] & 0x7F if der[1] & 0x80 else 0)
    oid = der[header:header + 11]
    if oid in (_OID_SIGNED_DATA, _OID_ENVELOPED_DATA):
        return oid
    return None


def _certs_from_der(der: bytes, decrypt: Decrypt | None) -> list[x509.Certificate]:
    """Certificates in one DER blob: a PKCS#7 bundle, an enveloped blob, or one cert."""
    kind = _pkcs7_type(der)
    if kind == _OID_SIGNED_DATA:
        try:
            return list(pkcs7.load_der_pkcs7_certificates(der))
        except ValueError:
            return []
    if kind == _OID_ENVELOPED_DATA:
        # certmonger decrypts an enveloped answer with the request's key (SCEP's
        # CertRep) and reads the certificates inside.
        if decrypt is None:
            raise EnvelopedDataError("the answer is encrypted (PKCS#7 enveloped data)")
        try:
            payload = decrypt(der)
        except Exception as exc:  # the callback's failure is an unreadable answer
            raise HelperOutputError(f"cannot decrypt the answer: {exc}") from exc
        return _collect(payload, decrypt)
    try:
        return [x509.load_der_x509_certificate(der)]
    except ValueError:
        return []


def _collect(data: bytes, decrypt: Decrypt | None) -> list[x509.Certificate]:
    """Every certificate in `data`, in order of appearance.

    Like certmonger: the whole of `data` as one DER item first; otherwise each PEM
    block (any label: CERTIFICATE, PKCS7, ...) found in it, noise around them ignored.
    """
    der = _strip_der(data)
    if der is not None:
        certs = _certs_from_der(der, decrypt)
        if certs:
            return certs
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return []
    found: list[x509.Certificate] = []
    for match in _PEM_BLOCK.finditer(text):
        body = "".join(
            line.strip() for line in match.group("body").splitlines() if ":" not in line
        )
        try:
            blob = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            continue
        inner = _strip_der(blob)
        if inner is not None:
            found.extend(_certs_from_der(inner, decrypt))
    return found


def _unique(certs: Iterable[x509.Certificate]) -> list[x509.Certificate]:
    seen: set[bytes] = set()
    out = []
    for cert in certs:
        der = cert.public_bytes(Encoding.DER)
        if der not in seen:
            seen.add(der)
            out.append(cert)
    return out


def _extension(cert: x509.Certificate, kind: type) -> Any:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except (x509.ExtensionNotFound, ValueError):
        return None


def _issued(issuer: x509.Certificate, subject: x509.Certificate) -> bool:
    """Whether `issuer` looks like the issuer of `subject` (certmonger's test).

    A match of subject key identifier with the authority key identifier, or of the
    AKI's issuer name and serial, or else of the issuer's subject with the subject's
    issuer name.
    """
    aki = _extension(subject, x509.AuthorityKeyIdentifier)
    if aki is not None:
        ski = _extension(issuer, x509.SubjectKeyIdentifier)
        if ski is not None and aki.key_identifier is not None and (
            ski.digest == aki.key_identifier
        ):
            return True
        if aki.authority_cert_issuer and aki.authority_cert_serial_number is not None:
            for name in aki.authority_cert_issuer:
                if (
                    isinstance(name, x509.DirectoryName)
                    and name.value == issuer.issuer
                    and aki.authority_cert_serial_number == issuer.serial_number
                ):
                    return True
    return issuer.subject == subject.issuer


def _is_ca(cert: x509.Certificate) -> bool:
    constraints = _extension(cert, x509.BasicConstraints)
    return bool(constraints is not None and constraints.ca)


def _arrange(
    certs: list[x509.Certificate],
) -> tuple[x509.Certificate | None, list[x509.Certificate]]:
    """The end-entity certificate, and the others ordered upward with the top-most last.

    As certmonger: the leaf is a certificate that issued none of the others (we prefer
    one that is not a CA, then the first given); the top is one that none of the others
    issued; the rest are sorted from the bottom up by the same test.
    """
    if not certs:
        return None, []

    def issued_none(cert: x509.Certificate, pool: list[x509.Certificate]) -> bool:
        return not any(_issued(cert, other) for other in pool if other is not cert)

    leaves = [c for c in certs if issued_none(c, certs)]
    leaf = next((c for c in leaves if not _is_ca(c)), leaves[0] if leaves else certs[0])
    rest = [c for c in certs if c is not leaf]
    top = next(
        (c for c in rest if not any(_issued(o, c) for o in certs if o is not c)), None
    )
    middle = [c for c in rest if c is not top]
    ordered: list[x509.Certificate] = []
    while middle:
        lowest = next((c for c in middle if issued_none(c, middle)), middle[0])
        ordered.append(lowest)
        middle.remove(lowest)
    if top is not None:
        ordered.append(top)
    return leaf, ordered


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(Encoding.PEM).decode("ascii")


def _entries(value: Any, default_nick: str, decrypt: Decrypt | None) -> CertList:
    """The certificates of one JSON {"nickname", "certificate"} entry, named.

    The first keeps the nickname; extra certificates found in the same value are named
    `<nickname> #2`, `#3`, ... (certmonger's rule).
    """
    if not isinstance(value, dict):
        return []
    pem = value.get("certificate")
    if not isinstance(pem, str):
        return []
    nick = value.get("nickname")
    if not isinstance(nick, str):
        nick = default_nick
    leaf, others = _arrange(_unique(_collect(pem.encode("utf-8", "replace"), decrypt)))
    if leaf is None:
        return []
    named = [(nick, _pem(leaf))]
    named += [(f"{nick} #{n}", _pem(c)) for n, c in enumerate(others, start=2)]
    return named


def _load_json_object(data: bytes) -> dict[str, Any] | None:
    text = data.strip()
    if not text.startswith(b"{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def parse_issued(
    stdout: bytes, decrypt: Decrypt | None = None
) -> tuple[str, CertList, CertList]:
    """The issued certificate in a helper's SUBMIT/POLL answer: (leaf PEM, chain, roots).

    Plain data (PEM certificates and PKCS#7 bundles in any mix, or one DER item) gives a
    chain named `chain #1`, `chain #2`, ... ordered upward with the top-most last, and
    no roots.  The JSON form `{"certificate", "chain": [...], "roots": [...]}` keeps the
    given nicknames (defaults `chain #N`, `root #N`); extra certificates bundled with
    the "certificate" value join the chain first as `chain #0.N`.

    An enveloped (encrypted) answer is read through `decrypt`, which gets the DER blob
    and returns the plaintext; without it EnvelopedDataError is raised.  Raises
    HelperOutputError when no certificate can be found.
    """
    doc = _load_json_object(stdout)
    if doc is None:
        leaf, others = _arrange(_unique(_collect(stdout, decrypt)))
        if leaf is None:
            raise HelperOutputError("no certificate found in the helper's answer")
        plain_chain = [(f"chain #{n}", _pem(c)) for n, c in enumerate(others, start=1)]
        return _pem(leaf), plain_chain, []

    value = doc.get("certificate")
    if not isinstance(value, str):
        raise HelperOutputError('the helper\'s JSON answer has no "certificate"')
    leaf, others = _arrange(_unique(_collect(value.encode("utf-8", "replace"), decrypt)))
    if leaf is None:
        raise HelperOutputError('no certificate found in the JSON "certificate" value')
    chain: CertList = [(f"chain #0.{n}", _pem(c)) for n, c in enumerate(others, start=1)]
    for n, entry in enumerate(_json_list(doc, "chain"), start=1):
        chain += _entries(entry, f"chain #{n}", decrypt)
    roots: CertList = []
    for n, entry in enumerate(_json_list(doc, "roots"), start=1):
        roots += _entries(entry, f"root #{n}", decrypt)
    return _pem(leaf), chain, roots


def _json_list(doc: dict[str, Any], key: str) -> list[Any]:
    value = doc.get(key)
    return value if isinstance(value, list) else []


# --- FETCH-ROOTS ----------------------------------------------------------------------


def parse_roots(text: str) -> tuple[CertList, CertList, CertList]:
    """A FETCH-ROOTS answer: (roots, other roots, other certificates).

    Legacy text: up to three sections separated by a blank line, each a run of
    nickname-line + PEM-block pairs.  JSON: `{"roots": [...], "other-roots": [...],
    "other": [...]}` of {"nickname", "certificate"} entries; entries missing either are
    skipped.  Raises HelperOutputError when the legacy text is malformed (certmonger
    then keeps what it had).
    """
    doc = _load_json_object(text.encode("utf-8", "replace"))
    if doc is not None:
        return (
            _json_nickcerts(doc, "roots"),
            _json_nickcerts(doc, "other-roots"),
            _json_nickcerts(doc, "other"),
        )
    # certmonger treats CR and LF alike as line ends and strips CRs from the PEM.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    sections: list[CertList] = []
    pos = 0
    for _ in range(3):
        section, pos = _parse_section(text, pos)
        sections.append(section)
    return sections[0], sections[1], sections[2]


def _skip_newlines(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] == "\n":
        pos += 1
    return pos


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end


def _parse_section(text: str, pos: int) -> tuple[CertList, int]:
    entries: CertList = []
    while True:
        eol = _line_end(text, pos)
        nickname = text[pos:eol]
        if not nickname:
            # A blank line (or the end): no more entries here.
            return entries, pos
        pos = _skip_newlines(text, eol)
        if not text.startswith("-----BEGIN", pos):
            raise HelperOutputError(f"no PEM block after the nickname {nickname!r}")
        end = text.find("-----END", pos)
        if end < 0:
            raise HelperOutputError(f"unterminated PEM block for {nickname!r}")
        end_eol = _line_end(text, end)
        entries.append((nickname, text[pos:end_eol] + "\n"))
        section_over = text.startswith("\n\n", end_eol)
        pos = _skip_newlines(text, end_eol)
        if section_over:
            return entries, pos


def _json_nickcerts(doc: dict[str, Any], key: str) -> CertList:
    out: CertList = []
    for entry in _json_list(doc, key):
        if not isinstance(entry, dict):
            continue
        nick, cert = entry.get("nickname"), entry.get("certificate")
        if not isinstance(nick, str) or not isinstance(cert, str) or not nick or not cert:
            continue
        cert = cert.replace("\r\n", "\n").strip() + "\n"
        out.append((nick, cert))
    return out


# --- lists ----------------------------------------------------------------------------


def parse_list(text: str) -> list[str]:
    """Items separated by commas and/or newlines (templates, requirements, capabilities).

    Empty items are dropped.  Surrounding spaces are trimmed, which certmonger does not
    do: `a, b` gave it the item " b", which matches nothing.
    """
    items = (item.strip() for item in re.split(r"[,\r\n]", text))
    return [item for item in items if item]


# certmonger's helper variable names and the D-Bus request properties they stand for.
REQUIREMENT_PROPERTIES = {
    "CERTMONGER_REQ_SUBJECT": "template-subject",
    "CERTMONGER_REQ_HOSTNAME": "template-hostname",
    "CERTMONGER_REQ_PRINCIPAL": "template-principal",
    "CERTMONGER_REQ_EMAIL": "template-email",
    "CERTMONGER_REQ_IP_ADDRESS": "template-ip-address",
    "CERTMONGER_CA_PROFILE": "template-profile",
    "CERTMONGER_CA_ISSUER": "template-issuer",
}


def requirement_properties(names: Iterable[str]) -> list[str]:
    """D-Bus property names for the variable names a helper says it needs.

    Matching is case-insensitive and unknown names are dropped, as in certmonger.
    """
    out = []
    for name in names:
        prop = REQUIREMENT_PROPERTIES.get(name.strip().upper())
        if prop is not None:
            out.append(prop)
    return out


# --- cookies and delays ---------------------------------------------------------------


def first_line(text: str) -> str:
    """Everything before the first CR or LF (certmonger's `ca-error` from a helper)."""
    return re.split(r"[\r\n]", text, maxsplit=1)[0]


def sanitize_cookie(text: str) -> str:
    """A cookie as certmonger stores it.

    A one-line cookie loses its line end; a multi-line one keeps its lines, each ended
    by a newline, with blank lines dropped (so it reads back the same from a record).
    """
    lines = [line for line in re.split(r"\r\n|\r|\n", text) if line]
    if len(lines) <= 1:
        return lines[0] if lines else ""
    return "".join(line + "\n" for line in lines)


_DELAY = re.compile(r"[ \t]*\+?(\d+)")


def parse_delay_and_cookie(text: str, *, require_newline: bool = True) -> tuple[int, str]:
    """Split a WAIT_WITH_DELAY answer (exit 5) into (seconds, cookie).

    The first line must be a decimal number of seconds followed by a line end (for
    CA-data answers, `require_newline=False` also accepts the number alone); the rest,
    sanitized, is the cookie (possibly empty).  Raises HelperOutputError otherwise.
    """
    match = _DELAY.match(text)
    if match is None:
        raise HelperOutputError(f"no delay in {first_line(text)!r}")
    rest = text[match.end():]
    if rest and rest[0] not in "\r\n":
        raise HelperOutputError(f"bad delay line {first_line(text)!r}")
    if not rest and require_newline:
        raise HelperOutputError(f"delay {match.group(1)!r} is not followed by a line end")
    return int(match.group(1)), sanitize_cookie(rest.lstrip("\r\n"))
