"""certmonger's record-file format: `key=value` lines, read and written from the model.

Syntax (as certmonger 0.79 writes it): one `key=value` per line; a multi-line value
continues on the following lines, each starting with one space (so a PEM value that ends in
a newline ends with a line holding a single space).  Booleans are 0/1, times
YYYYMMDDHHMMSS in UTC (19700101000000 means unset), modes octal text, lists joined with
"," where "\\" escapes "," and "\\".  Certificate lists are a nickname line followed by
that certificate's PEM, repeated.

Keys this version does not know are kept (`extra`) and written back, so a record survives
a round trip through us unchanged in meaning.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import dataclasses
import time
from typing import Any, TypeVar

from ..model import CA, CertList, Kind, Request, State, persisted_fields

T = TypeVar("T", Request, CA)

UNSET_TIME = "19700101000000"

# certmonger holds a CSR as PEM text ending in a newline and writes that newline as the
# end of the record's last line, so `csr=...` has no empty continuation line, while
# `parse_lines` gives a multi-line value without its final newline. These keys get the
# newline back when read and lose it when written: the value is certmonger's (and what
# our CSR builder makes), and the record bytes stay certmonger's.
_NEWLINE_ENDED_KEYS = frozenset({"csr"})


# -- line syntax -------------------------------------------------------------------------


def parse_lines(text: str) -> list[tuple[str, str]]:
    """The (key, value) pairs of a record, continuation lines joined with newlines."""
    pairs: list[tuple[str, str]] = []
    for line in text.split("\n"):
        line = line.removesuffix("\r")
        if line.startswith(" "):
            if pairs:
                key, value = pairs[-1]
                pairs[-1] = (key, value + "\n" + line[1:])
            continue
        if not line or "=" not in line:
            continue
        key, value = line.split("=", 1)
        pairs.append((key, value))
    return pairs


def format_pair(key: str, value: str) -> str:
    """One `key=value` entry, continuing a multi-line value with leading spaces."""
    return f"{key}=" + value.replace("\n", "\n ") + "\n"


# -- value kinds -------------------------------------------------------------------------


def format_time(seconds: int) -> str:
    """Unix seconds as YYYYMMDDHHMMSS UTC; 0 is certmonger's "unset"."""
    if seconds <= 0:
        return UNSET_TIME
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(seconds))


def parse_time(text: str) -> int:
    """YYYYMMDDHHMMSS UTC as Unix seconds; unset or malformed gives 0."""
    text = text.strip()
    if len(text) != 14 or not text.isdigit() or text == UNSET_TIME:
        return 0
    try:
        return calendar.timegm(time.strptime(text, "%Y%m%d%H%M%S"))
    except ValueError:
        return 0


def split_list(text: str) -> list[str]:
    """A comma-separated list where backslash escapes the next character."""
    items: list[str] = []
    current: list[str] = []
    escaped = False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            items.append("".join(current))
            current = []
        else:
            current.append(ch)
    items.append("".join(current))
    return [item for item in items if item != ""]


def join_list(items: list[str]) -> str:
    """The inverse of `split_list`."""
    return ",".join(item.replace("\\", "\\\\").replace(",", "\\,") for item in items)


def parse_certs(text: str) -> CertList:
    """Nickname + PEM pairs from a certificate-list value."""
    certs: CertList = []
    nickname = ""
    pem: list[str] | None = None
    for line in text.split("\n"):
        if pem is None:
            if line.startswith("-----BEGIN"):
                pem = [line]
            elif line.strip():
                nickname = line.strip()
        else:
            pem.append(line)
            if line.startswith("-----END"):
                certs.append((nickname, "\n".join(pem) + "\n"))
                nickname, pem = "", None
    return certs


def format_certs(certs: CertList) -> str:
    """The inverse of `parse_certs`."""
    return "".join(f"{nick}\n{pem if pem.endswith(chr(10)) else pem + chr(10)}"
                   for nick, pem in certs).rstrip("\n")


def _b64_items(text: str) -> list[str]:
    out = []
    for item in split_list(text):
        try:
            out.append(base64.b64decode(item, validate=True).decode())
        except (binascii.Error, UnicodeDecodeError):
            out.append(item)  # written in the clear by someone else
    return out


def decode_value(kind: Kind, text: str) -> Any:
    """A record value as the model holds it."""
    if kind is Kind.STR:
        return text
    if kind is Kind.INT:
        try:
            return int(text.strip() or "0")
        except ValueError:
            return 0
    if kind is Kind.BOOL:
        return text.strip() not in {"", "0"}
    if kind is Kind.TIME:
        return parse_time(text)
    if kind is Kind.MODE:
        try:
            return int(text.strip() or "0", 8)
        except ValueError:
            return 0
    if kind is Kind.LIST:
        return split_list(text)
    if kind is Kind.B64LIST:
        return _b64_items(text)
    if kind is Kind.CERTS:
        return parse_certs(text)
    raise AssertionError(kind)


def encode_value(kind: Kind, value: Any) -> str:
    """A model value as a record spells it."""
    if kind is Kind.STR:
        return str(value)
    if kind is Kind.INT:
        return str(int(value))
    if kind is Kind.BOOL:
        return "1" if value else "0"
    if kind is Kind.TIME:
        return format_time(int(value))
    if kind is Kind.MODE:
        return format(int(value), "o")
    if kind is Kind.LIST:
        return join_list(list(value))
    if kind is Kind.B64LIST:
        return join_list([base64.b64encode(v.encode()).decode() for v in value])
    if kind is Kind.CERTS:
        return format_certs(list(value))
    raise AssertionError(kind)


# -- whole records -----------------------------------------------------------------------


def _default(f: dataclasses.Field[Any]) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    raise AssertionError(f.name)


def loads(cls: type[T], text: str) -> T:
    """A Request or CA from the text of its record file."""
    by_key = {f.metadata["key"]: f for f in persisted_fields(cls)}
    obj = cls()
    for key, value in parse_lines(text):
        f = by_key.get(key)
        if f is None:
            obj.extra[key] = value
            continue
        if key in _NEWLINE_ENDED_KEYS and "\n" in value:
            value += "\n"
        if f.name == "state":
            obj.state = State.parse(value)
        else:
            setattr(obj, f.name, decode_value(f.metadata["kind"], value))
    return obj


def dumps(obj: Request | CA) -> str:
    """The record-file text for a Request or CA."""
    out: list[str] = []
    has_cert = bool(getattr(obj, "cert", ""))
    for f in persisted_fields(type(obj)):
        value = getattr(obj, f.name)
        wanted = f.metadata["always"] or (has_cert and f.metadata["with_cert"])
        if not wanted and value == _default(f):
            continue
        kind = f.metadata["kind"]
        text = str(value) if f.name == "state" else encode_value(kind, value)
        if f.metadata["key"] in _NEWLINE_ENDED_KEYS:
            text = text.removesuffix("\n")
        out.append(format_pair(f.metadata["key"], text))
    for key, value in obj.extra.items():
        out.append(format_pair(key, value))
    return "".join(out)
