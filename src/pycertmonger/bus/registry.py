"""Object paths: which request or CA lives at which path, and what kind of node a path is.

certmonger numbers its objects per process: CAs are `CA<N>` and requests `Request<N>`,
each from its own counter starting at 1, never reused while the daemon runs (removing
Request7 and adding a request gives Request8).  Records are tracked by identity, since the
engine hands out the same `Request`/`CA` instances for their whole life.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from ..model import CA, Request
from .interfaces import (
    BASE_PATH,
    CA_IFACE,
    CA_PATH,
    EXTENSION_IFACE,
    INTROSPECTABLE_IFACE,
    MANAGER_IFACE,
    PROPERTIES_IFACE,
    REQUEST_IFACE,
    REQUEST_PATH,
    Interface,
)

T = TypeVar("T", Request, CA)


class NodeKind(enum.Enum):
    """The kinds of node in certmonger's object tree."""

    NONE = "none"  # not ours
    ANCESTOR = "ancestor"  # "/", "/org", "/org/fedorahosted"
    MANAGER = "manager"
    CAS = "cas"  # the parent of the CA objects
    REQUESTS = "requests"  # the parent of the request objects
    CA = "ca"
    REQUEST = "request"


def interfaces_of(kind: NodeKind, *, extensions: bool = True) -> tuple[Interface, ...]:
    """The interfaces a node of this kind implements, in introspection order."""
    if kind is NodeKind.MANAGER:
        base = (INTROSPECTABLE_IFACE, PROPERTIES_IFACE, MANAGER_IFACE)
        return base + (EXTENSION_IFACE,) if extensions else base
    if kind is NodeKind.CA:
        return (INTROSPECTABLE_IFACE, PROPERTIES_IFACE, CA_IFACE)
    if kind is NodeKind.REQUEST:
        return (INTROSPECTABLE_IFACE, PROPERTIES_IFACE, REQUEST_IFACE)
    if kind is NodeKind.NONE:
        return ()
    return (INTROSPECTABLE_IFACE,)


class _Numbering(Generic[T]):
    """One counter of object names (`CA<N>` or `Request<N>`) under one parent path."""

    def __init__(self, parent: str, prefix: str,
                 on_number: Callable[[str, T], None] | None = None,
                 on_forget: Callable[[str], None] | None = None) -> None:
        self.parent = parent
        self.prefix = prefix
        self.on_number: Callable[[str, T], None] | None = on_number
        self.on_forget = on_forget
        self._next = 1
        self._by_name: dict[str, T] = {}
        self._names: dict[int, str] = {}

    def path(self, obj: T) -> str:
        """The object's path, numbering it now if it has none yet."""
        name = self._names.get(id(obj))
        if name is None:
            name = f"{self.prefix}{self._next}"
            self._next += 1
            self._names[id(obj)] = name
            self._by_name[name] = obj
            if self.on_number is not None:
                self.on_number(f"{self.parent}/{name}", obj)
        return f"{self.parent}/{name}"

    def known_path(self, obj: T) -> str | None:
        """The object's path if it has been numbered."""
        name = self._names.get(id(obj))
        return None if name is None else f"{self.parent}/{name}"

    def at(self, path: str) -> T | None:
        """The object at `path`, if any."""
        head, _, name = path.rpartition("/")
        return self._by_name.get(name) if head == self.parent else None

    def forget(self, obj: T) -> None:
        """Drop the object; its number is not given out again."""
        name = self._names.pop(id(obj), None)
        if name is not None:
            self._by_name.pop(name, None)
            if self.on_forget is not None:
                self.on_forget(f"{self.parent}/{name}")

    def names(self) -> list[str]:
        """Child node names, in numbering order."""
        return list(self._by_name)

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._by_name.values()))


class ObjectRegistry:
    """Paths of requests and CAs, and the classification of any path."""

    def __init__(self, *, on_number: Callable[[str, Request | CA], None] | None = None,
                 on_forget: Callable[[str], None] | None = None) -> None:
        self.requests: _Numbering[Request] = _Numbering(REQUEST_PATH, "Request", on_number,
                                                        on_forget)
        self.cas: _Numbering[CA] = _Numbering(CA_PATH, "CA", on_number, on_forget)

    def request_path(self, request: Request) -> str:
        """The request's path (numbered on first use)."""
        return self.requests.path(request)

    def ca_path(self, ca: CA) -> str:
        """The CA's path (numbered on first use)."""
        return self.cas.path(ca)

    def request_at(self, path: str) -> Request | None:
        """The request at `path`, if any."""
        return self.requests.at(path)

    def ca_at(self, path: str) -> CA | None:
        """The CA at `path`, if any."""
        return self.cas.at(path)

    def ca_by_nickname(self, nickname: str) -> CA | None:
        """A numbered CA with exactly this nickname."""
        return next((ca for ca in self.cas if ca.nickname == nickname), None)

    def classify(self, path: str) -> NodeKind:
        """What kind of node `path` is; NONE for paths that hold nothing of ours."""
        if path == BASE_PATH:
            return NodeKind.MANAGER
        if path == CA_PATH:
            return NodeKind.CAS
        if path == REQUEST_PATH:
            return NodeKind.REQUESTS
        if path == "/" or BASE_PATH.startswith(path + "/"):
            return NodeKind.ANCESTOR
        if self.requests.at(path) is not None:
            return NodeKind.REQUEST
        if self.cas.at(path) is not None:
            return NodeKind.CA
        return NodeKind.NONE

    def children(self, path: str, kind: NodeKind) -> list[str]:
        """The child node names Introspect lists for `path`."""
        if kind is NodeKind.ANCESTOR:
            rest = BASE_PATH[len(path.rstrip("/")) + 1:]
            return [rest.split("/", 1)[0]]
        if kind is NodeKind.MANAGER:
            return ["requests", "cas"]
        if kind is NodeKind.CAS:
            return self.cas.names()
        if kind is NodeKind.REQUESTS:
            return self.requests.names()
        return []
