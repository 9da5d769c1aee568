"""The certmonger service on the bus: connection, name, replies and signals.

One message handler sees every incoming call and answers it with exactly the message
certmonger would send (see `dispatch`); dbus-fast's own object machinery is not used,
because it insists on typed replies and a standard Properties interface.  The service is
also the engine's listener: record changes become `PropertiesChanged` signals (signature
`sa{sv}`, as certmonger sends them, on the object's path, with no destination) and a
saved certificate becomes `SavedCertificate`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from dbus_fast import BusType, Message, MessageFlag, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.constants import NameFlag, RequestNameReply
from dbus_fast.errors import DBusError

from ..errors import CertmongerError, InternalError
from ..model import CA, Request
from . import props
from .calls import Call, Context
from .dispatch import Dispatcher
from .engine_api import EngineAPI
from .interfaces import BUS_NAME, PROPERTIES, REQUEST
from .interfaces import CA as CA_INTERFACE
from .registry import ObjectRegistry

log = logging.getLogger(__name__)

DBUS_NAME = "org.freedesktop.DBus"
DBUS_PATH = "/org/freedesktop/DBus"
NAME_OWNER_CHANGED = (f"type='signal',sender='{DBUS_NAME}',interface='{DBUS_NAME}',"
                      f"member='NameOwnerChanged'")


class NameTakenError(RuntimeError):
    """Another process owns `org.fedorahosted.certmonger` on this bus."""


class CertmongerService:
    """Serves an engine on a connected bus."""

    def __init__(self, engine: EngineAPI, bus: MessageBus, *, extensions: bool = True) -> None:
        self.engine = engine
        self.bus = bus
        self._announced: dict[str, dict[str, Any]] = {}  # path -> last values signalled
        self._pending_changes: dict[str, tuple[Any, str, set[str]]] = {}
        self._flush_scheduled = False
        self.registry = ObjectRegistry(on_number=self._remember_state,
                                       on_forget=self._forget_path)
        self.ctx = Context(engine, self.registry, extensions=extensions)
        self.dispatcher = Dispatcher(self.ctx)
        self._uids: dict[str, int] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- start and stop ---------------------------------------------------------------------

    async def serve(self) -> None:
        """Number the existing objects, listen, and take the bus name."""
        for ca in self.engine.cas():  # the built-in CAs come first: CA1..CA4
            self.registry.ca_path(ca)
        for request in self.engine.requests():
            self.registry.request_path(request)
        self.bus.add_message_handler(self._on_message)
        await self._call_bus("AddMatch", "s", NAME_OWNER_CHANGED)
        self.engine.add_listener(self)
        try:
            answer = await self.bus.request_name(BUS_NAME, NameFlag.DO_NOT_QUEUE)
        except BaseException:
            self._closed = True
            raise
        if answer not in (RequestNameReply.PRIMARY_OWNER, RequestNameReply.ALREADY_OWNER):
            self._closed = True  # the engine keeps us as a listener: stay quiet
            raise NameTakenError(f"the name {BUS_NAME} is already owned on this bus")

    async def stop(self) -> None:
        """Leave the bus; later engine announcements are ignored."""
        if self._closed:
            return
        self._closed = True
        for task in list(self._pending):
            task.cancel()
        self.bus.remove_message_handler(self._on_message)
        self.bus.disconnect()
        with contextlib.suppress(TimeoutError, OSError, EOFError):
            await asyncio.wait_for(self.bus.wait_for_disconnect(), 5)

    # -- incoming messages ------------------------------------------------------------------

    def _on_message(self, msg: Message) -> Message | bool | None:
        if msg.message_type is MessageType.SIGNAL:
            self._note_signal(msg)
            return None
        if msg.message_type is not MessageType.METHOD_CALL or self._closed:
            return None
        call = Call(path=msg.path or "/", interface=msg.interface, member=msg.member or "",
                    signature=msg.signature, args=list(msg.body), sender=msg.sender)
        log.debug("%s called %s:%s.%s.", msg.sender, msg.path, msg.interface, msg.member)
        if self.dispatcher.needs_caller(call):
            uid = self._uids.get(msg.sender or "")
            if uid is None:
                task = asyncio.get_running_loop().create_task(self._answer_later(msg, call))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)
                return True
            call.caller_uid = uid
        return self._answer(msg, call)

    def _answer(self, msg: Message, call: Call) -> Message | bool:
        try:
            result = self.dispatcher.dispatch(call)
            if result.wait is not None:
                task = asyncio.get_running_loop().create_task(
                    self._answer_when_done(msg, call, result))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)
                return True
            out = Message.new_method_return(msg, result.signature, result.body)
        except CertmongerError as err:
            out = _error_reply(msg, err)
        except Exception:
            log.exception("Cannot answer %s.%s on %s", call.interface, call.member, call.path)
            out = _error_reply(msg, InternalError())
        if msg.flags & MessageFlag.NO_REPLY_EXPECTED:
            return True
        return out

    async def _answer_when_done(self, msg: Message, call: Call, result: Any) -> None:
        try:
            await result.wait
            out = Message.new_method_return(msg, result.signature, result.body)
        except CertmongerError as err:
            out = _error_reply(msg, err)
        except Exception:
            log.exception("Cannot complete %s.%s on %s", call.interface, call.member, call.path)
            if result.undo is not None:
                result.undo()
            out = _error_reply(msg, InternalError())
        if not msg.flags & MessageFlag.NO_REPLY_EXPECTED:
            self._send(out)

    async def _answer_later(self, msg: Message, call: Call) -> None:
        try:
            call.caller_uid = await self._caller_uid(msg.sender or "")
        except (DBusError, RuntimeError, OSError, ValueError) as exc:
            log.warning("Cannot tell who %s is: %s", msg.sender, exc)
            if not msg.flags & MessageFlag.NO_REPLY_EXPECTED:
                self._send(_error_reply(msg, InternalError()))
            return
        out = self._answer(msg, call)
        if isinstance(out, Message):
            self._send(out)

    async def _caller_uid(self, sender: str) -> int:
        uid = self._uids.get(sender)
        if uid is None:
            reply = await self._call_bus("GetConnectionUnixUser", "s", sender)
            uid = self._uids[sender] = int(reply.body[0])
        return uid

    def _note_signal(self, msg: Message) -> None:
        # A connection that left the bus takes its cached UID with it.
        if msg.member == "NameOwnerChanged" and msg.sender == DBUS_NAME and \
                len(msg.body) == 3 and not msg.body[2]:
            self._uids.pop(msg.body[0], None)

    async def _call_bus(self, member: str, signature: str, *args: Any) -> Message:
        reply = await self.bus.call(Message(destination=DBUS_NAME, path=DBUS_PATH,
                                            interface=DBUS_NAME, member=member,
                                            signature=signature, body=list(args)))
        if reply is None or reply.message_type is MessageType.ERROR:
            detail = reply.body if reply is not None else "no reply"
            raise RuntimeError(f"{member} failed: {detail}")
        return reply

    def _send(self, msg: Message) -> None:
        if self._closed:
            return
        try:
            self.bus.send(msg)
        except Exception as exc:  # noqa: BLE001 - a lost bus must never break the engine
            log.warning("Cannot send %s: %s", msg.member or msg.message_type, exc)

    # -- engine announcements (EngineListener) ----------------------------------------------

    def request_changed(self, request: Request, fields: set[str]) -> None:
        """Emit PropertiesChanged for the request's properties whose value changed."""
        path = self.registry.requests.known_path(request)
        if path is None:
            if not any(r is request for r in self.engine.requests()):
                return  # removed meanwhile
            path = self.registry.request_path(request)
        self._emit_changes(request, path, REQUEST, fields)

    def ca_changed(self, ca: CA, fields: set[str]) -> None:
        """Emit PropertiesChanged for the CA's properties whose value changed."""
        path = self.registry.cas.known_path(ca)
        if path is None:
            if not any(c is ca for c in self.engine.cas()):
                return
            path = self.registry.ca_path(ca)
        self._emit_changes(ca, path, CA_INTERFACE, fields)

    def saved_certificate(self, request: Request) -> None:
        """Emit SavedCertificate on the request (after its pending property changes)."""
        path = self.registry.requests.known_path(request)
        if path is not None:
            self._flush_path(path)
            self._send(Message.new_signal(path, REQUEST, "SavedCertificate"))

    def _forget_path(self, path: str) -> None:
        self._announced.pop(path, None)
        self._pending_changes.pop(path, None)

    def _remember_state(self, path: str, obj: Request | CA) -> None:
        # certmonger announces only what differs from the record before the change.  The
        # engine tells us which fields changed; keeping the state-derived values from the
        # start spares the `stuck` flag being re-announced with the first state change.
        if isinstance(obj, Request):
            self._announced[path] = {"status": str(obj.state), "stuck": obj.stuck}

    def _emit_changes(self, obj: Request | CA, path: str, interface: str,
                      fields: set[str]) -> None:
        """Queue a change; changes to one object within one turn of the event loop go
        out as one PropertiesChanged carrying the latest values.

        A request often passes several states without yielding (HAVE_KEY_PAIR,
        NEED_KEYINFO, READING_KEYINFO, HAVE_KEYINFO, NEED_CSR...): announcing each on
        its own costs a message per state for no reader's benefit, since a reader only
        ever acts on the latest value.
        """
        if self._closed:
            return
        pending = self._pending_changes.get(path)
        if pending is None:
            self._pending_changes[path] = (obj, interface, set(fields))
        else:
            pending[2].update(fields)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_all)

    def _flush_all(self) -> None:
        self._flush_scheduled = False
        for path in list(self._pending_changes):
            self._flush_path(path)

    def _flush_path(self, path: str) -> None:
        pending = self._pending_changes.pop(path, None)
        if pending is None or self._closed:
            return
        obj, interface, fields = pending
        seen = self._announced.setdefault(path, {})
        changed: dict[str, Variant] = {}
        for prop in props.affected(obj, fields):
            value = prop.value(obj, self.ctx)
            if prop.name in seen and seen[prop.name] == value:
                continue
            seen[prop.name] = value
            if prop.unset == props.PATH and not value:
                continue  # an object path cannot be empty
            changed[prop.name] = Variant(prop.signature, value, False)
        if changed:
            self._send(Message.new_signal(path, PROPERTIES, "PropertiesChanged", "sa{sv}",
                                          [interface, changed]))


def _error_reply(msg: Message, err: CertmongerError) -> Message:
    signature, body = err.dbus_body()
    return Message(message_type=MessageType.ERROR, error_name=err.dbus_name,
                   reply_serial=msg.serial, destination=msg.sender, signature=signature,
                   body=body)


async def start(engine: EngineAPI, *, bus_type: str = "system", address: str | None = None,
                extensions: bool = True) -> CertmongerService:
    """Connect (the system bus, the session bus, or `address`) and serve `engine`.

    Raises `NameTakenError` when another daemon owns the name.
    """
    if address is not None:
        bus = MessageBus(bus_address=address)
    else:
        bus = MessageBus(bus_type=BusType.SESSION if bus_type == "session" else BusType.SYSTEM)
    await bus.connect()
    service = CertmongerService(engine, bus, extensions=extensions)
    try:
        await service.serve()
    except BaseException:
        bus.disconnect()
        raise
    return service
