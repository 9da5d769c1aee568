"""Routing a method call to its handler, the way libdbus and certmonger route it.

* A path that holds nothing of ours answers Introspect with libdbus's empty node and
  everything else with `org.freedesktop.DBus.Error.UnknownMethod` (never UnknownObject).
* Without an interface name the member is looked up in every interface of the object.
* A call's arguments must start with the declared ones; extra ones are ignored.  A call
  that does not start with them got no reply at all from certmonger 0.79.17: we send
  `bad_arg` ("Error parsing arguments.") instead.
* `org.freedesktop.DBus.Peer` works on every path, as libdbus provides it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import (
    BadArgError,
    CAInternalError,
    CertmongerError,
    InternalError,
    RequestBadArgError,
    RequestInternalError,
    UnknownMethodError,
)
from . import ca, manager, properties, request
from .calls import EMPTY, Call, Context, Reply, reply
from .interfaces import (
    CA as CA_INTERFACE,
)
from .interfaces import (
    EXTENSION,
    INTROSPECTABLE,
    MANAGER,
    PEER,
    PROPERTIES,
    REQUEST,
)
from .introspect import EMPTY_NODE, render
from .registry import NodeKind, interfaces_of

Handler = Callable[[Context, Call], Reply]

MSG_PARSE_ERROR = "Error parsing arguments."

# Calls certmonger accepts with fewer arguments than it declares.
_MIN_SIGNATURE = {(MANAGER, "add_known_ca"): "ss"}

# Dictionary keys whose value is stored with the caller's UID next to it.
_COMMAND_KEYS = frozenset({"cert-presave-command", "cert-postsave-command"})

_MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")


def machine_id() -> str:
    """This host's D-Bus machine ID (what Peer.GetMachineId answers)."""
    for name in _MACHINE_ID_FILES:
        try:
            return Path(name).read_text().strip()
        except OSError:
            continue
    return ""


class Dispatcher:
    """Finds the handler for a call and runs it."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._tables: dict[str, dict[str, Handler]] = {
            INTROSPECTABLE: {"Introspect": self._introspect},
            PROPERTIES: properties.HANDLERS,
            MANAGER: manager.HANDLERS,
            EXTENSION: manager.EXTENSION_HANDLERS,
            CA_INTERFACE: ca.HANDLERS,
            REQUEST: request.HANDLERS,
        }

    def resolve(self, call: Call) -> tuple[str, Handler]:
        """The interface and handler serving `call`; raises the error to send back."""
        if call.interface == PEER:
            return PEER, self._peer(call)
        kind = self.ctx.registry.classify(call.path)
        if kind is NodeKind.NONE:
            if call.member == "Introspect" and call.interface in (None, INTROSPECTABLE):
                return INTROSPECTABLE, lambda ctx, c: reply("s", EMPTY_NODE)
            if call.interface is None and call.member in ("Ping", "GetMachineId"):
                return PEER, self._peer(call)
            raise UnknownMethodError(call.member, call.signature, call.interface)
        for iface in interfaces_of(kind, extensions=self.ctx.extensions):
            if call.interface is not None and iface.name != call.interface:
                continue
            method = iface.methods.get(call.member)
            if method is None:
                continue
            required = _MIN_SIGNATURE.get((iface.name, method.name), method.in_signature)
            if not call.signature.startswith(required):
                raise _parse_error(iface.name)
            return iface.name, self._tables[iface.name][method.name]
        if call.interface is None and call.member in ("Ping", "GetMachineId"):
            return PEER, self._peer(call)
        raise UnknownMethodError(call.member, call.signature, call.interface)

    @staticmethod
    def needs_caller(call: Call) -> bool:
        """Whether the handler will want the caller's UID (it stores it with a command)."""
        if call.member not in ("add_request", "modify") or not call.args or \
                not isinstance(call.args[0], dict):
            return False
        return any(key.lower() in _COMMAND_KEYS for key in call.args[0])

    def dispatch(self, call: Call) -> Reply:
        """Run the call; raises `CertmongerError` for an error reply."""
        interface, handler = self.resolve(call)
        try:
            return handler(self.ctx, call)
        except CertmongerError:
            raise
        except Exception as exc:
            raise _internal_error(interface) from exc

    def _introspect(self, ctx: Context, call: Call) -> Reply:
        kind = ctx.registry.classify(call.path)
        return reply("s", render(call.path, interfaces_of(kind, extensions=ctx.extensions),
                                 ctx.registry.children(call.path, kind)))

    @staticmethod
    def _peer(call: Call) -> Handler:
        if call.member == "Ping":
            return lambda ctx, c: EMPTY
        if call.member == "GetMachineId":
            return lambda ctx, c: reply("s", machine_id())
        raise UnknownMethodError(call.member, call.signature, call.interface)


def _parse_error(interface: str) -> CertmongerError:
    if interface == MANAGER:
        return BadArgError(MSG_PARSE_ERROR, "")
    return RequestBadArgError(MSG_PARSE_ERROR, "")


def _internal_error(interface: str) -> CertmongerError:
    if interface == REQUEST:
        return RequestInternalError()
    if interface == CA_INTERFACE:
        return CAInternalError()
    return InternalError()
