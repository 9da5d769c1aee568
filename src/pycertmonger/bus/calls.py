"""What a method handler gets (a `Call` and the `Context`) and what it gives back (`Reply`).

Handlers are plain functions `handler(ctx, call) -> Reply` that raise `errors.*` for the
error replies; the service turns both into D-Bus messages.  A `Reply` carries exactly the
signature and body to send, which is how certmonger's empty-body answers ("unset", "not
found") and its two-or-four-string storage-info answers are reproduced.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from dbus_fast import Variant

from ..config import Config
from ..model import CA, Request
from .engine_api import EngineAPI
from .registry import ObjectRegistry


@dataclass
class Reply:
    """A method return: its signature and body (both empty for certmonger's "nothing")."""

    signature: str = ""
    body: list[Any] = field(default_factory=list)
    # When set, the reply is sent only once this completes (e.g. the record is on disk);
    # if it raises, an error is sent instead and `undo` is called.
    wait: Awaitable[Any] | None = None
    undo: Callable[[], None] | None = None


EMPTY = Reply()


def reply(signature: str, *values: Any) -> Reply:
    """A method return carrying `values`."""
    return Reply(signature, list(values))


@dataclass
class Call:
    """An incoming method call, as the handlers see it."""

    path: str
    interface: str | None
    member: str
    signature: str
    args: list[Any]
    sender: str | None = None
    caller_uid: int | None = None  # filled in when the handler needs it


def unwrap(value: Any) -> Any:
    """Plain Python data from a D-Bus value: variants opened, dictionaries recursively."""
    if isinstance(value, Variant):
        return unwrap(value.value)
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    return value


def variants(props: dict[str, tuple[str, Any]]) -> dict[str, Variant]:
    """An `a{sv}` body from name -> (signature, value) pairs."""
    return {name: Variant(sig, value, False) for name, (sig, value) in props.items()}


class Context:
    """The engine and the object paths, as every handler needs them."""

    def __init__(self, engine: EngineAPI, registry: ObjectRegistry, *,
                 extensions: bool = True) -> None:
        self.engine = engine
        self.registry = registry
        self.extensions = extensions

    @property
    def config(self) -> Config:
        """The daemon's current settings."""
        return self.engine.config

    # -- validate.Lookup ------------------------------------------------------------------

    def requests(self) -> Iterable[Request]:
        """Every request the engine holds."""
        return self.engine.requests()

    def ca_at(self, path: str) -> CA | None:
        """The CA at an object path."""
        return self.registry.ca_at(path)

    # -- props.PropContext ----------------------------------------------------------------

    def ca_path_by_nickname(self, nickname: str) -> str:
        """The object path of the CA with this (exact) nickname, or ""."""
        ca = self.engine.ca_by_nickname(nickname)
        return self.registry.ca_path(ca) if ca is not None else ""

    def last_checked(self, request: Request) -> int:
        """When the certificate was last looked at; certmonger reports the submission
        time, which we fall back to when the engine has not checked it yet."""
        return self.engine.last_checked(request) or request.submitted
