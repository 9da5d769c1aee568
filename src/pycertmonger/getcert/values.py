"""Conversions between what people type at getcert and what goes over D-Bus.

Key usage names and bit strings, extended key usage names and OIDs, file modes and
key sizes, each read the way certmonger 0.79.17's client reads them (including its
leniency: ``-m abc`` is mode 0, ``-g 12abc`` is 12).
"""

from __future__ import annotations

from pycertmonger.getcert.popt import c_strtol

# Key usage bits as certmonger numbers them (RFC 5280 §4.2.1.3 order). Names are
# matched case-insensitively; contentCommitment is X.509's newer name for bit 1.
KU_NAMES: tuple[tuple[int, str], ...] = (
    (0, "digitalSignature"),
    (1, "nonRepudiation"),
    (1, "contentCommitment"),
    (2, "keyEncipherment"),
    (3, "dataEncipherment"),
    (4, "keyAgreement"),
    (5, "keyCertSign"),
    (6, "cRLSign"),
    (7, "encipherOnly"),
    (8, "decipherOnly"),
)


def ku_bit(name: str) -> int | None:
    """The key usage bit a name stands for, or None when it is not a known name."""
    folded = name.casefold()
    return next((bit for bit, known in KU_NAMES if known.casefold() == folded), None)


def ku_name(bit: int) -> str | None:
    """The name getcert shows for a key usage bit (the first name listed for it)."""
    return next((known for b, known in KU_NAMES if b == bit), None)


def ku_bitstring(mask: int) -> str:
    """A key usage mask as certmonger's bit string: character i is bit i, no trailing 0s."""
    out = []
    while mask:
        out.append("1" if mask & 1 else "0")
        mask >>= 1
    return "".join(out)


def ku_names(mask: int) -> list[str]:
    """The names of the bits set in a key usage mask, in bit order; unknown bits dropped."""
    names = []
    bit = 0
    while mask >> bit:
        if (mask >> bit) & 1 and (name := ku_name(bit)) is not None:
            names.append(name)
        bit += 1
    return names


# certmonger's named OID prefixes, each defined in terms of the ones above it. Names
# expand to dotted OIDs (for -U) and OIDs shrink back to names (for `list`), prefix by
# prefix, so an OID under a named arc shows as e.g. "id-kp.17".
NAMED_OIDS: tuple[tuple[str, str], ...] = (
    ("iso.org.dod.internet.security", "1.3.6.1.5"),
    ("iso.org.dod.internet.security.kerberosV5", "iso.org.dod.internet.security.2"),
    ("iso.org.dod.internet.security.mechanisms", "iso.org.dod.internet.security.5"),
    ("id-pkix", "iso.org.dod.internet.security.mechanisms.7"),
    ("id-pe", "id-pkix.1"),
    ("id-kp", "id-pkix.3"),
    ("id-kp-serverAuth", "id-kp.1"),
    ("id-kp-clientAuth", "id-kp.2"),
    ("id-kp-codeSigning", "id-kp.3"),
    ("id-kp-emailProtection", "id-kp.4"),
    ("id-kp-timeStamping", "id-kp.8"),
    ("id-kp-OCSPSigning", "id-kp.9"),
    ("id-pkinit", "iso.org.dod.internet.security.kerberosV5.3"),
    ("id-pkinit-KPClientAuth", "id-pkinit.4"),
    ("id-pkinit-KPKdc", "id-pkinit.5"),
    ("id-ms-kp-sc-logon", "1.3.6.1.4.1.311.20.2.2"),
)


def _starts_arc(prefix: str, value: str) -> bool:
    # A prefix matches whole arcs only, ignoring case: "id-kp" matches "id-kp.1" and
    # "ID-KP", not "id-kp-serverAuth".
    n = len(prefix)
    return value[:n].casefold() == prefix.casefold() and value[n:n + 1] in ("", ".")


def oid_from_name(text: str) -> str | None:
    """An EKU as given to -U turned into a dotted OID, or None if it can't be.

    Anything made only of digits and dots passes unchanged (certmonger does not check
    the arcs further: "1", ".1" and "01.2" all go through).
    """
    value = text
    for name, oidish in reversed(NAMED_OIDS):
        if _starts_arc(name, value):
            value = oidish + value[len(name):]
    if any(c not in "0123456789." for c in value):
        return None
    return value


def oid_to_name(oid: str) -> str:
    """A dotted OID shown the way `getcert list` shows it: by name where one applies."""
    value = oid
    for name, oidish in NAMED_OIDS:
        if _starts_arc(oidish, value):
            value = name + value[len(oidish):]
    return value


def octal_mode(text: str) -> int:
    """-m/-M: C's strtol(text, NULL, 8); whatever doesn't parse counts as 0."""
    return c_strtol(text, 8)[0]


def atoi(text: str) -> int:
    """C's atoi, as -g reads a key size: leading digits only, 0 when there are none."""
    value = c_strtol(text, 10)[0]
    # atoi truncates the long to an int.
    value &= 0xFFFFFFFF
    return value - 2**32 if value >= 2**31 else value


KEY_TYPES = ("RSA", "EC", "ECDSA")


def key_type_supported(name: str) -> bool:
    """Whether -G names a key type certmonger can generate (case-insensitive)."""
    return name.upper() in KEY_TYPES
