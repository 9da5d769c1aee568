"""A small DER (ITU-T X.690) encoder and reader for the structures `cryptography` leaves opaque.

certmonger puts a few values into certificates and requests that `cryptography` has no
type for (Kerberos principal names, Microsoft template extensions, SPKAC, PBES2
parameters), and some of what it records about a certificate must be read from the exact
bytes (serial number content octets, key-usage bit counts).  Only single-byte tags and
definite lengths are handled, which is all DER allows for these structures.
"""

from __future__ import annotations

# Universal tags (X.690 §8), with the constructed bit set where DER requires it.
BOOLEAN = 0x01
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06
UTF8_STRING = 0x0C
PRINTABLE_STRING = 0x13
IA5_STRING = 0x16
GENERAL_STRING = 0x1B
BMP_STRING = 0x1E
SEQUENCE = 0x30
SET = 0x31


class DERError(ValueError):
    """The bytes are not the DER structure that was expected."""


def context(number: int, constructed: bool = True) -> int:
    """The identifier octet of a context-specific tag `[number]`."""
    if not 0 <= number <= 30:
        raise ValueError("only low tag numbers are supported")
    return 0x80 | (0x20 if constructed else 0) | number


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def tlv(tag: int, content: bytes) -> bytes:
    """One DER element: identifier, length and content octets."""
    return bytes([tag]) + _length(len(content)) + content


def sequence(*items: bytes) -> bytes:
    """A SEQUENCE of already-encoded elements, in order."""
    return tlv(SEQUENCE, b"".join(items))


def set_of(*items: bytes) -> bytes:
    """A SET OF already-encoded elements, sorted as DER requires (X.690 §11.6)."""
    return tlv(SET, b"".join(sorted(items)))


def explicit(number: int, inner: bytes) -> bytes:
    """An EXPLICIT `[number]` wrapper around an encoded element."""
    return tlv(context(number), inner)


def integer(value: int) -> bytes:
    """An INTEGER in minimal two's-complement form."""
    return tlv(INTEGER, integer_content(value))


def integer_content(value: int) -> bytes:
    """The content octets of an INTEGER: minimal two's complement, big-endian."""
    magnitude = value if value >= 0 else -value - 1
    # One octet more than the magnitude needs leaves room for the sign bit; that is
    # exactly the minimal length X.690 §8.3.2 asks for.
    return value.to_bytes(magnitude.bit_length() // 8 + 1, "big", signed=True)


def oid(dotted: str) -> bytes:
    """An OBJECT IDENTIFIER from its dotted form (`1.3.6.1.5.2.2`)."""
    return tlv(OID, oid_content(dotted))


def oid_content(dotted: str) -> bytes:
    """The content octets of an OBJECT IDENTIFIER; ValueError when `dotted` is not one."""
    try:
        arcs = [int(part) for part in dotted.split(".")]
    except ValueError:
        raise ValueError(f"not an object identifier: {dotted!r}") from None
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] > 39) or min(arcs) < 0:
        raise ValueError(f"not an object identifier: {dotted!r}")
    if any(not part.isdigit() for part in dotted.split(".")):
        raise ValueError(f"not an object identifier: {dotted!r}")
    out = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out.extend(reversed(chunk))
    return bytes(out)


def decode_oid(content: bytes) -> str:
    """The dotted form of OBJECT IDENTIFIER content octets."""
    if not content or content[-1] & 0x80:
        raise DERError("truncated object identifier")
    arcs: list[int] = []
    value = 0
    for octet in content:
        value = (value << 7) | (octet & 0x7F)
        if not octet & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(a) for a in head + arcs[1:])


def decode_integer(content: bytes) -> int:
    """The value of INTEGER content octets."""
    if not content:
        raise DERError("empty integer")
    return int.from_bytes(content, "big", signed=True)


def bit_string(data: bytes, unused_bits: int = 0) -> bytes:
    """A BIT STRING holding `data`, the last `unused_bits` bits of which are padding."""
    return tlv(BIT_STRING, bytes([unused_bits]) + data)


def bit_string_from_flags(flags: str) -> bytes:
    """A named-bit BIT STRING from `0`/`1` characters, bit 0 first, trailing zeros dropped.

    X.690 §11.2.2: a named bit list is encoded without trailing zero bits.
    """
    used = flags.rstrip("0")
    if any(c not in "01" for c in used):
        raise ValueError(f"not a bit string: {flags!r}")
    if not used:
        return bit_string(b"")
    data = bytearray((len(used) + 7) // 8)
    for i, c in enumerate(used):
        if c == "1":
            data[i // 8] |= 0x80 >> (i % 8)
    return bit_string(bytes(data), (8 - len(used) % 8) % 8)


def flags_from_bit_string(content: bytes) -> str:
    """`0`/`1` characters, bit 0 first, for every bit the BIT STRING content holds."""
    if not content:
        raise DERError("empty bit string")
    unused = content[0]
    if unused > 7 or (unused and len(content) == 1):
        raise DERError("bad bit string padding")
    bits = "".join(f"{octet:08b}" for octet in content[1:])
    return bits[: len(bits) - unused]


def read(data: bytes, pos: int = 0) -> tuple[int, bytes, int]:
    """The element starting at `pos`: (tag, content, position after it)."""
    if pos + 2 > len(data):
        raise DERError("truncated element")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise DERError("high tag numbers are not supported")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise DERError("bad length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    end = pos + length
    if end > len(data):
        raise DERError("truncated element")
    return tag, data[pos:end], end


def read_one(data: bytes, expected_tag: int | None = None) -> bytes:
    """The content of the single element that makes up `data`."""
    tag, content, end = read(data)
    if end != len(data):
        raise DERError("trailing data")
    if expected_tag is not None and tag != expected_tag:
        raise DERError(f"expected tag {expected_tag:#x}, found {tag:#x}")
    return content


def children(content: bytes) -> list[tuple[int, bytes]]:
    """The (tag, content) pairs of the elements inside a constructed element."""
    out = []
    pos = 0
    while pos < len(content):
        tag, inner, pos = read(content, pos)
        out.append((tag, inner))
    return out


def raw_children(content: bytes) -> list[tuple[int, bytes, bytes]]:
    """Like `children`, with each element's complete encoding as a third item."""
    out = []
    pos = 0
    while pos < len(content):
        tag, inner, end = read(content, pos)
        out.append((tag, inner, content[pos:end]))
        pos = end
    return out
