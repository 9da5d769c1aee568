"""Watching a daemon's requests over D-Bus until all of them reach MONITORING.

The watch uses only the public D-Bus API that both daemons share, so it treats them
alike, and it is cheap enough not to slow the daemon it watches:

* it subscribes to ``PropertiesChanged`` on request objects before the first request is
  added (certmonger emits one with ``status`` on every state change), so changes are
  seen the moment they happen, at no cost to the daemon;
* every `poll_interval` it calls ``get_requests`` once (one call, to count the requests
  the daemon knows);
* while the daemon has sent no status signal at all, it also calls ``get_status`` on
  every unfinished request every `poll_interval`, so a daemon that does not signal is
  still followed, at that resolution;
* once signals flow, it calls ``get_status`` on the unfinished requests only when the
  daemon has been quiet (no status signal) for `quiet_interval`, in case a signal was
  missed. Polling everything all the time would not do: the stock daemon leaves
  requests waiting for its global lock in NEWLY_ADDED, a state it never announces,
  and polling hundreds of those twice a second was most of its D-Bus traffic.

A request is done from the moment it is first seen in MONITORING, by either route.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dbus_fast import Message, MessageType
from dbus_fast.aio import MessageBus

BUS_NAME = "org.fedorahosted.certmonger"
MANAGER_PATH = "/org/fedorahosted/certmonger"
MANAGER_IFACE = "org.fedorahosted.certmonger"
REQUEST_IFACE = "org.fedorahosted.certmonger.request"
REQUESTS_PREFIX = "/org/fedorahosted/certmonger/requests/"
PROPERTIES_IFACE = "org.freedesktop.DBus.Properties"
MONITORING = "MONITORING"

# States a request does not leave by itself, so that waiting longer is pointless
# (certmonger's CA_REJECTED and NEED_GUIDANCE wait for an operator).
HOPELESS_STATES = frozenset({"CA_REJECTED", "NEED_GUIDANCE"})

# Enough calls in flight to hide round trips, few enough not to flood the daemon.
_MAX_CALLS_IN_FLIGHT = 16


@dataclass
class RequestWatch:
    """What is known of one request: its last state and how that was learnt."""

    state: str = ""
    stuck: bool = False
    done_at: float | None = None
    done_by: str = ""


@dataclass
class WatchStats:
    """How much watching cost: signals received and D-Bus calls made."""

    signals: int = 0
    get_requests_calls: int = 0
    get_status_calls: int = 0
    done_by_signal: int = 0
    done_by_poll: int = 0


class WatchAborted(Exception):
    """A request reached a state it will not leave without an operator."""


@dataclass
class CompletionTracker:
    """Follows the requests of the daemon on `address` until `expected` are MONITORING."""

    address: str
    expected: int
    poll_interval: float = 0.5
    quiet_interval: float = 2.0
    clock: Callable[[], float] = time.monotonic
    requests: dict[str, RequestWatch] = field(default_factory=dict)
    stats: WatchStats = field(default_factory=WatchStats)
    _bus: MessageBus | None = None
    _last_signal_at: float | None = None

    async def connect(self) -> None:
        """Connects to the bus and subscribes to request status signals."""
        self._bus = await MessageBus(bus_address=self.address).connect()
        self._bus.add_message_handler(self._on_message)
        rule = (f"type='signal',interface='{PROPERTIES_IFACE}',member='PropertiesChanged',"
                f"path_namespace='{REQUESTS_PREFIX.rstrip('/')}'")
        await self._checked_call(Message(
            destination="org.freedesktop.DBus", path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus", member="AddMatch", signature="s", body=[rule]))

    async def close(self) -> None:
        """Disconnects from the bus."""
        if self._bus is not None:
            self._bus.disconnect()
            self._bus = None

    @property
    def monitoring(self) -> int:
        """How many requests have been seen in MONITORING."""
        return sum(1 for r in self.requests.values() if r.done_at is not None)

    @property
    def done(self) -> bool:
        """Whether `expected` requests have been seen in MONITORING."""
        return self.monitoring >= self.expected

    @property
    def finished_at(self) -> float | None:
        """The clock reading when the last of the requests was first seen in MONITORING."""
        if not self.done:
            return None
        return max(r.done_at for r in self.requests.values() if r.done_at is not None)

    def state_counts(self) -> dict[str, int]:
        """How many requests are in each state, as last seen."""
        counts: dict[str, int] = {}
        for r in self.requests.values():
            # The stock daemon never announces NEWLY_ADDED, so until a poll asks,
            # a request waiting there has no known state.
            state = r.state or "not announced yet"
            counts[state] = counts.get(state, 0) + 1
        return counts

    def hopeless(self) -> list[str]:
        """Requests that are stuck or in a state that waits for an operator."""
        return [f"{path.rsplit('/', 1)[-1]}: {r.state}{' (stuck)' if r.stuck else ''}"
                for path, r in self.requests.items()
                if r.done_at is None and (r.stuck or r.state in HOPELESS_STATES)]

    async def run(self) -> float:
        """Watches until all expected requests are MONITORING; returns when that was seen.

        Raises WatchAborted as soon as a request is stuck or rejected.
        """
        last_sweep = self.clock()
        while not self.done:
            now = self.clock()
            if self._last_signal_at is None:
                ask_all = True
            else:
                quiet_since = max(self._last_signal_at, last_sweep)
                ask_all = now - quiet_since >= self.quiet_interval
            if ask_all:
                last_sweep = now
            await self.poll_once(ask_status=ask_all)
            bad = self.hopeless()
            if bad:
                raise WatchAborted(f"{len(bad)} request(s) will not complete: "
                                   + ", ".join(bad[:5]))
            if not self.done:
                await asyncio.sleep(self.poll_interval)
        finished = self.finished_at
        assert finished is not None
        return finished

    async def poll_once(self, *, ask_status: bool = True) -> None:
        """Lists the requests, then (if `ask_status`) asks for each unfinished one's status."""
        self.stats.get_requests_calls += 1
        reply = await self._checked_call(Message(
            destination=BUS_NAME, path=MANAGER_PATH, interface=MANAGER_IFACE,
            member="get_requests"))
        for path in reply.body[0]:
            self.requests.setdefault(path, RequestWatch())
        if not ask_status:
            return
        wanted = [path for path, r in self.requests.items() if r.done_at is None]
        limit = asyncio.Semaphore(_MAX_CALLS_IN_FLIGHT)

        async def ask(path: str) -> None:
            async with limit:
                self.stats.get_status_calls += 1
                assert self._bus is not None
                answer = await self._bus.call(Message(
                    destination=BUS_NAME, path=path, interface=REQUEST_IFACE,
                    member="get_status"))
            # An error (the request was removed meanwhile) just leaves the entry as it was.
            if answer.message_type == MessageType.METHOD_RETURN and len(answer.body) >= 2:
                self._update(path, str(answer.body[0]), bool(answer.body[1]), by="poll")

        await asyncio.gather(*(ask(p) for p in wanted))

    def _on_message(self, msg: Message) -> None:
        path = msg.path or ""
        if (msg.message_type != MessageType.SIGNAL or msg.member != "PropertiesChanged"
                or not path.startswith(REQUESTS_PREFIX)):
            return
        # The stock daemon sends (s, a{sv}) without the third "invalidated" argument.
        if len(msg.body) < 2 or msg.body[0] != REQUEST_IFACE:
            return
        changed = msg.body[1]
        if "status" not in changed:
            return
        self.stats.signals += 1
        self._last_signal_at = self.clock()
        stuck = changed["stuck"].value if "stuck" in changed else None
        self._update(path, str(changed["status"].value), stuck, by="signal")

    def _update(self, path: str, state: str, stuck: bool | None, *, by: str) -> None:
        watch = self.requests.setdefault(path, RequestWatch())
        watch.state = state
        if stuck is not None:
            watch.stuck = bool(stuck)
        if state == MONITORING and watch.done_at is None:
            watch.done_at = self.clock()
            watch.done_by = by
            if by == "signal":
                self.stats.done_by_signal += 1
            else:
                self.stats.done_by_poll += 1

    async def _checked_call(self, msg: Message) -> Message:
        assert self._bus is not None
        reply = await self._bus.call(msg)
        if reply.message_type == MessageType.ERROR:
            raise RuntimeError(f"{msg.member}: {reply.error_name}: {reply.body}")
        return reply
