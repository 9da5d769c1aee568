"""Kerberos principal names and the default realm, as getcert treats them.

The stock client passes each ``-K`` value through MIT Kerberos' ``krb5_parse_name`` and
``krb5_unparse_name``: a name without a realm gains the default realm, escapes are
normalised, and a malformed name is refused before anything is sent. The default
realm also completes the principal of the default ``request`` template
(``host/<hostname>@<realm>``). Both are reproduced here without linking to libkrb5:
the realm is read from the krb5 profile (``$KRB5_CONFIG``, else ``/etc/krb5.conf``)
the way MIT's profile library reads ``[libdefaults] default_realm``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

DEFAULT_PROFILE = "/etc/krb5.conf"

# MIT's error texts, which getcert prints after "Error parsing Kerberos principal...".
MALFORMED = "Malformed representation of principal"
NO_DEFAULT_REALM = "Configuration file does not specify default realm"

_UNESCAPE = {"n": "\n", "t": "\t", "b": "\b", "0": "\0"}
_ESCAPE = {"/": "\\/", "@": "\\@", "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\b": "\\b",
           "\0": "\\0"}


class PrincipalError(ValueError):
    """A principal name that MIT Kerberos would refuse; `reason` is its error text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_principal(name: str) -> tuple[list[str], str | None]:
    """Split a principal into its components and realm (None when none was given).

    Follows krb5_parse_name: ``\\`` escapes the next character (``\\n``, ``\\t``,
    ``\\b`` and ``\\0`` stand for control characters), ``/`` separates components, the
    first ``@`` starts the realm, and a ``/`` or a second ``@`` in the realm or a
    trailing lone backslash make the name malformed.
    """
    components: list[str] = []
    current: list[str] = []
    realm: list[str] | None = None
    i = 0
    while i < len(name):
        c = name[i]
        i += 1
        if c == "\\":
            if i >= len(name):
                raise PrincipalError(MALFORMED)
            c = name[i]
            i += 1
            (realm if realm is not None else current).append(_UNESCAPE.get(c, c))
        elif c == "@":
            if realm is not None:
                raise PrincipalError(MALFORMED)
            components.append("".join(current))
            realm = []
        elif c == "/":
            if realm is not None:
                raise PrincipalError(MALFORMED)
            components.append("".join(current))
            current = []
        else:
            (realm if realm is not None else current).append(c)
    if realm is None:
        components.append("".join(current))
        return components, None
    return components, "".join(realm)


def unparse_principal(components: Iterable[str], realm: str) -> str:
    """The text form of a principal, escaped as krb5_unparse_name escapes it."""

    def quote(part: str) -> str:
        return "".join(_ESCAPE.get(c, c) for c in part)

    return "/".join(quote(c) for c in components) + "@" + quote(realm)


def canonical_principal(name: str, default_realm: str | None) -> str:
    """A ``-K`` value as getcert sends it: parsed, completed with the realm, unparsed."""
    components, realm = parse_principal(name)
    if realm is None:
        if default_realm is None:
            raise PrincipalError(NO_DEFAULT_REALM)
        realm = default_realm
    return unparse_principal(components, realm)


def profile_files(environ: Mapping[str, str] | None = None) -> list[str]:
    """The krb5 profile files, in the order MIT reads them."""
    env = os.environ if environ is None else environ
    spec = env.get("KRB5_CONFIG") or DEFAULT_PROFILE
    return [part for part in spec.split(":") if part]


def _profile_lines(path: Path, depth: int = 0) -> list[str]:
    # A file's lines with its include/includedir directives expanded in place.
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    lines: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if depth < 8 and stripped.startswith("include ") and not stripped.startswith("["):
            lines += _profile_lines(Path(stripped[len("include "):].strip()), depth + 1)
        elif depth < 8 and stripped.startswith("includedir "):
            directory = Path(stripped[len("includedir "):].strip())
            try:
                names = sorted(os.listdir(directory))
            except OSError:
                names = []
            for entry in names:
                # MIT reads only names made of alphanumerics, '-' and '_', or *.conf.
                if entry.endswith(".conf") or all(c.isalnum() or c in "-_" for c in entry):
                    lines += _profile_lines(directory / entry, depth + 1)
        else:
            lines.append(line)
    return lines


def _profile_value(raw: str) -> str:
    value = raw.strip()
    if value.startswith('"'):
        out = []
        i = 1
        while i < len(value) and value[i] != '"':
            c = value[i]
            if c == "\\" and i + 1 < len(value):
                i += 1
                c = {"n": "\n", "t": "\t", "b": "\b"}.get(value[i], value[i])
            out.append(c)
            i += 1
        return "".join(out)
    return value


def default_realm(environ: Mapping[str, str] | None = None) -> str | None:
    """``[libdefaults] default_realm`` from the krb5 profile, or None when unset.

    The first file that sets it wins, like MIT's profile lookups.
    """
    for name in profile_files(environ):
        section = None
        depth = 0
        for line in _profile_lines(Path(name)):
            stripped = line.strip()
            if not stripped or stripped[0] in "#;":
                continue
            if stripped.startswith("["):
                section = stripped[1:].split("]", 1)[0].strip()
                depth = 0
                continue
            if stripped.startswith("}"):
                depth = max(0, depth - 1)
                continue
            tag, eq, value = stripped.partition("=")
            if not eq:
                continue
            if value.strip() == "{":
                depth += 1
                continue
            if section == "libdefaults" and depth == 0 and tag.strip() == "default_realm":
                return _profile_value(value)
    return None
