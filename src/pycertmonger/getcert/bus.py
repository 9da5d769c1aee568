"""getcert's side of the certmonger D-Bus API: calls, replies and errors.

Calls are made at the message level because certmonger answers some of them with an
empty body where its introspection promises a value ("unset" or "not found":
``get_ca_error``, ``get_ca``, ``get_serial`` on an EXTERNAL CA, ``Properties.Get`` of an
unset string) and returns two strings or four from ``get_*_storage_info`` depending on
the storage type. Every reader here treats a missing value as unset instead of
failing, the way the stock client's helpers do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus

BUS_NAME = "org.fedorahosted.certmonger"
BASE_PATH = "/org/fedorahosted/certmonger"
BASE_INTERFACE = "org.fedorahosted.certmonger"
CA_INTERFACE = "org.fedorahosted.certmonger.ca"
REQUEST_INTERFACE = "org.fedorahosted.certmonger.request"
PROPERTIES_INTERFACE = "org.freedesktop.DBus.Properties"

# libdbus gives up on a reply after this long (getcert uses 30 s), then reports NoReply.
CALL_TIMEOUT = 30.0
NO_REPLY = "org.freedesktop.DBus.Error.NoReply"
DISCONNECTED = "org.freedesktop.DBus.Error.Disconnected"
NO_REPLY_TEXT = (
    "Did not receive a reply. Possible causes include: the remote application did not "
    "send a reply, the message bus security policy blocked the reply, the reply timeout "
    "expired, or the network connection was broken."
)


class BusUnavailable(Exception):
    """No connection to the message bus could be made."""


class BusCallError(Exception):
    """An error reply to a call: its D-Bus error name and its message."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


class BadReply(Exception):
    """A reply that does not hold what the call promises (the stock client gives up)."""


@dataclass(frozen=True)
class StorageInfo:
    """Where a key or certificate lives, as ``get_*_storage_info`` reports it."""

    type: str
    location: str | None = None
    nickname: str | None = None
    token: str | None = None


@dataclass(frozen=True)
class CertInfo:
    """``get_cert_info``: what the daemon read from the issued certificate."""

    issuer: str = ""
    serial: str = ""
    subject: str = ""
    not_after: int = 0
    email: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    principal: tuple[str, ...] = ()
    key_usage: int = 0
    eku: tuple[str, ...] = ()
    not_before: int = 0


class CertmongerBus:
    """A connection to the bus, with one method per certmonger call getcert makes."""

    def __init__(self, bus: MessageBus) -> None:
        self._bus = bus

    @classmethod
    async def connect(cls, session: bool = False) -> CertmongerBus:
        """Connect to the system bus (``DBUS_SYSTEM_BUS_ADDRESS`` honoured) or session bus."""
        try:
            bus = MessageBus(bus_type=BusType.SESSION if session else BusType.SYSTEM)
            await bus.connect()
        except Exception as e:  # any failure to reach the bus reads the same to the user
            raise BusUnavailable(str(e)) from e
        return cls(bus)

    def disconnect(self) -> None:
        """Close the connection."""
        self._bus.disconnect()

    # -- raw calls ---------------------------------------------------------------

    async def call(self, path: str, interface: str, member: str, signature: str = "",
                   body: Sequence[Any] = ()) -> list[Any]:
        """Call a method and return the reply's body (possibly empty).

        Raises BusCallError for an error reply, including the NoReply the stock client
        reports after its 30-second timeout.
        """
        msg = Message(destination=BUS_NAME, path=path, interface=interface, member=member,
                      signature=signature, body=list(body))
        try:
            reply = await asyncio.wait_for(self._bus.call(msg), CALL_TIMEOUT)
        except TimeoutError:
            raise BusCallError(NO_REPLY, NO_REPLY_TEXT) from None
        except (OSError, EOFError) as e:
            raise BusCallError(DISCONNECTED, str(e)) from e
        if reply is None:
            raise BusCallError(NO_REPLY, NO_REPLY_TEXT)
        if reply.message_type is MessageType.ERROR:
            text = reply.body[0] if reply.body and isinstance(reply.body[0], str) else ""
            raise BusCallError(reply.error_name or "", text)
        return list(reply.body)

    async def _one(self, path: str, interface: str, member: str, kind: type) -> Any:
        body = await self.call(path, interface, member)
        if not body or not isinstance(body[0], kind):
            raise BadReply(member)
        return body[0]

    async def _maybe(self, path: str, interface: str, member: str, kind: type) -> Any:
        # "No body" is certmonger's way of saying "unset" for these calls.
        body = await self.call(path, interface, member)
        if body and isinstance(body[0], kind):
            return body[0]
        return None

    async def get_property(self, path: str, interface: str, name: str) -> Variant | None:
        """Properties.Get; None when the daemon answers with no value (unset)."""
        body = await self.call(path, PROPERTIES_INTERFACE, "Get", "ss", [interface, name])
        if body and isinstance(body[0], Variant):
            return body[0]
        return None

    async def get_string_property(self, path: str, interface: str, name: str) -> str:
        """A string property, "" when unset or of another type."""
        value = await self.get_property(path, interface, name)
        return value.value if value is not None and value.signature == "s" else ""

    async def get_strings_property(self, path: str, interface: str, name: str) -> list[str]:
        """A string-array property, [] when unset or of another type."""
        value = await self.get_property(path, interface, name)
        return list(value.value) if value is not None and value.signature == "as" else []

    # -- manager -------------------------------------------------------------------

    async def get_known_cas(self) -> list[str]:
        """Paths of every CA, in creation order."""
        return list(await self._one(BASE_PATH, BASE_INTERFACE, "get_known_cas", list))

    async def get_requests(self) -> list[str]:
        """Paths of every request, in load order."""
        return list(await self._one(BASE_PATH, BASE_INTERFACE, "get_requests", list))

    async def add_request(self, entries: Sequence[tuple[str, Variant]]) -> tuple[bool, str]:
        """add_request with the dictionary in the given key order."""
        body = await self.call(BASE_PATH, BASE_INTERFACE, "add_request", "a{sv}",
                               [dict(entries)])
        return _bool_path(body, "add_request")

    async def remove_request(self, path: str) -> bool:
        """remove_request(path)."""
        body = await self.call(BASE_PATH, BASE_INTERFACE, "remove_request", "o", [path])
        return _bool(body, "remove_request")

    async def add_known_ca(self, nickname: str, command: str) -> tuple[bool, str]:
        """add_known_ca(nickname, helper command, no known issuer names)."""
        body = await self.call(BASE_PATH, BASE_INTERFACE, "add_known_ca", "ssas",
                               [nickname, command, []])
        return _bool_path(body, "add_known_ca")

    async def remove_known_ca(self, path: str) -> bool:
        """remove_known_ca(path)."""
        body = await self.call(BASE_PATH, BASE_INTERFACE, "remove_known_ca", "o", [path])
        return _bool(body, "remove_known_ca")

    # -- CAs -------------------------------------------------------------------------

    async def ca_nickname(self, path: str) -> str | None:
        """A CA's nickname (None if the daemon gives none)."""
        return await self._maybe(path, CA_INTERFACE, "get_nickname", str)

    async def ca_is_default(self, path: str) -> bool:
        """get_is_default."""
        return bool(await self._one(path, CA_INTERFACE, "get_is_default", bool))

    async def ca_type(self, path: str) -> str:
        """get_type: INTERNAL:SELF or EXTERNAL."""
        return str(await self._one(path, CA_INTERFACE, "get_type", str))

    async def ca_location(self, path: str) -> str:
        """get_location: the helper's command line."""
        return str(await self._one(path, CA_INTERFACE, "get_location", str))

    async def ca_serial(self, path: str) -> str | None:
        """get_serial: the next serial of a self-signer (no body for EXTERNAL CAs)."""
        return await self._maybe(path, CA_INTERFACE, "get_serial", str)

    async def ca_issuer_names(self, path: str) -> list[str]:
        """get_issuer_names."""
        return list(await self._maybe(path, CA_INTERFACE, "get_issuer_names", list) or [])

    async def ca_config_file_path(self, path: str) -> str | None:
        """get_config_file_path."""
        return await self._maybe(path, CA_INTERFACE, "get_config_file_path", str)

    async def ca_refresh(self, path: str) -> bool:
        """refresh: re-run the CA's data-gathering operations."""
        return bool(await self._one(path, CA_INTERFACE, "refresh", bool))

    async def set_ca_property(self, path: str, name: str, value: str) -> None:
        """Properties.Set of a string property of a CA."""
        await self.call(path, PROPERTIES_INTERFACE, "Set", "ssv",
                        [CA_INTERFACE, name, Variant("s", value)])

    # -- requests ----------------------------------------------------------------------

    async def request_nickname(self, path: str) -> str | None:
        """A request's nickname."""
        return await self._maybe(path, REQUEST_INTERFACE, "get_nickname", str)

    async def request_status(self, path: str) -> tuple[str, bool]:
        """get_status: the state name and whether it is stuck."""
        body = await self.call(path, REQUEST_INTERFACE, "get_status")
        if len(body) < 2 or not isinstance(body[0], str):
            raise BadReply("get_status")
        return body[0], bool(body[1])

    async def request_ca(self, path: str) -> str | None:
        """get_ca: the CA's path, None when the request has no (known) CA."""
        return await self._maybe(path, REQUEST_INTERFACE, "get_ca", str)

    async def request_ca_error(self, path: str) -> str | None:
        """get_ca_error: None when there is no error (empty reply)."""
        return await self._maybe(path, REQUEST_INTERFACE, "get_ca_error", str)

    async def _storage(self, path: str, member: str) -> StorageInfo:
        body = await self.call(path, REQUEST_INTERFACE, member)
        strings = [v for v in body[:4] if isinstance(v, str)]
        if not strings or len(strings) != len(body[:4]):
            raise BadReply(member)
        return StorageInfo(*strings)

    async def key_storage(self, path: str) -> StorageInfo:
        """get_key_storage_info (1, 2 or 4 strings)."""
        return await self._storage(path, "get_key_storage_info")

    async def cert_storage(self, path: str) -> StorageInfo:
        """get_cert_storage_info (2 strings for FILE, 4 for NSSDB)."""
        return await self._storage(path, "get_cert_storage_info")

    async def key_pin(self, path: str) -> str:
        """get_key_pin ("" when unset)."""
        return await self._maybe(path, REQUEST_INTERFACE, "get_key_pin", str) or ""

    async def key_pin_file(self, path: str) -> str:
        """get_key_pin_file ("" when unset)."""
        return await self._maybe(path, REQUEST_INTERFACE, "get_key_pin_file", str) or ""

    async def cert_info(self, path: str) -> CertInfo:
        """get_cert_info."""
        body = await self.call(path, REQUEST_INTERFACE, "get_cert_info")
        if len(body) < 9:
            raise BadReply("get_cert_info")
        return CertInfo(
            issuer=body[0], serial=body[1], subject=body[2], not_after=int(body[3]),
            email=tuple(body[4]), dns=tuple(body[5]), principal=tuple(body[6]),
            key_usage=int(body[7]), eku=tuple(body[8]),
            not_before=int(body[9]) if len(body) > 9 else 0,
        )

    async def monitoring(self, path: str) -> bool:
        """get_monitoring: the TRACK flag."""
        return bool(await self._one(path, REQUEST_INTERFACE, "get_monitoring", bool))

    async def autorenew(self, path: str) -> bool:
        """get_autorenew."""
        return bool(await self._one(path, REQUEST_INTERFACE, "get_autorenew", bool))

    async def modify(self, path: str, entries: Sequence[tuple[str, Variant]]) -> tuple[bool, str]:
        """modify with the dictionary in the given key order; (status, request path)."""
        body = await self.call(path, REQUEST_INTERFACE, "modify", "a{sv}", [dict(entries)])
        return _bool_path(body, "modify")

    async def resubmit(self, path: str) -> bool:
        """resubmit: new CSR from the current key, then enrollment."""
        return bool(await self._one(path, REQUEST_INTERFACE, "resubmit", bool))

    async def rekey(self, path: str) -> bool:
        """rekey: new key pair, then enrollment."""
        return bool(await self._one(path, REQUEST_INTERFACE, "rekey", bool))

    async def refresh(self, path: str) -> bool:
        """refresh: ask the CA again now."""
        return bool(await self._one(path, REQUEST_INTERFACE, "refresh", bool))


def _bool(body: list[Any], member: str) -> bool:
    if not body or not isinstance(body[0], bool):
        raise BadReply(member)
    return body[0]


def _bool_path(body: list[Any], member: str) -> tuple[bool, str]:
    if len(body) < 2 or not isinstance(body[0], bool) or not isinstance(body[1], str):
        raise BadReply(member)
    return body[0], body[1]
