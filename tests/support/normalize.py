"""Normalizing what two certmonger daemons print, so their outputs can be compared.

Two daemons given the same commands differ in things no client can rely on: the
scratch directories they work in, the time they ran, generated nicknames and record
file names (the time of creation), certificate serials and validity dates, keys, and
the random UUID in the local CA's name. `Normalizer` replaces each of those with a
placeholder, in `getcert` text and in D-Bus values alike, and leaves everything else
as it was, so any other difference shows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TIME = "<time>"
STAMP = "<stamp>"
UUID = "<uuid>"
SERIAL = "<serial>"

# `getcert list` prints dates as "%Y-%m-%d %H:%M:%S %Z".
_LISTED_TIME = re.compile(r"\b\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Z]{2,5}\b")
# Generated nicknames and record file names are the creation time, YYYYMMDDHHMMSS
# (a "-N" suffix, kept, tells apart records made in the same second).
_STAMP = re.compile(r"(?<![0-9])(?:19|20)\d{12}(?:-\d+)?(?![0-9])")
# The local CA names itself "CN=<8hex>-<8hex>-<8hex>-<8hex>,CN=Local Signing Authority".
_LOCAL_CA_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}\b")
_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\n.*?-----END \1-----\n?", re.DOTALL)

# D-Bus properties (and `get_cert_info` fields) whose values are times or serials.
TIME_PROPERTIES = frozenset({
    "not-valid-before", "not-valid-after", "last-checked", "key-generated-date",
    "submitted-date",
})
SERIAL_PROPERTIES = frozenset({"serial"})


@dataclass
class Normalizer:
    """Replaces one daemon's run-specific details with placeholders.

    `paths` maps a directory of this daemon's run (its scratch directory, its state
    directories) to the placeholder that stands for it; longer paths are replaced first.
    """

    paths: Mapping[str, str] = field(default_factory=dict)

    def text(self, text: str) -> str:
        """A getcert transcript with paths, dates, stamps and UUIDs replaced."""
        for path in sorted(self.paths, key=len, reverse=True):
            text = text.replace(path, self.paths[path])
        text = _LISTED_TIME.sub(TIME, text)
        text = _STAMP.sub(STAMP, text)
        return _LOCAL_CA_UUID.sub(UUID, text)

    def pem(self, text: str) -> str:
        """`text` with each PEM block reduced to its label ("<PEM CERTIFICATE>")."""
        return _PEM.sub(lambda m: f"<PEM {m.group(1)}>", text)

    def value(self, value: Any, name: str = "") -> Any:
        """A D-Bus value (unwrapped) with run-specific details replaced.

        `name` is the property the value belongs to: times and serials are recognised
        by name, since they are plain integers and hex strings.
        """
        if name in TIME_PROPERTIES and isinstance(value, int):
            return TIME if value else 0
        if name in SERIAL_PROPERTIES and isinstance(value, str):
            return SERIAL if value else ""
        if isinstance(value, str):
            return self.text(self.pem(value))
        if isinstance(value, (list, tuple)):
            items = [self.value(item, name) for item in value]
            return type(value)(items) if isinstance(value, tuple) else items
        if isinstance(value, dict):
            return {k: self.value(v, k if isinstance(k, str) else name)
                    for k, v in value.items()}
        return value
