"""The engine: the table of requests and CAs, one scheduler, and the state machine's runs.

Requests are data, not sleeping tasks.  A request is worked on by a short-lived task
(`_run`) that takes it from state to state (`machine`) doing each state's work
(`effects`) until it has to wait; it then gets a wake-up time in one heap, and a single
timer task starts it again when that time comes.  Waiting requests cost no task at all,
so 10,000 certificates in MONITORING are 10,000 heap entries.

Every resume point is persisted before it is announced: when an action changed the
record, or the request comes to rest, the record is written (atomically) and only then
are listeners (the D-Bus layer) told.  The transient "...ING" states are announced as
they happen but not written: a restart resumes from the last written state
(`machine.reset`).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import machine, schedule
from .clock import Clock
from .config import Config
from .errors import DuplicateError
from .machine import Rest
from .model import CA, CAType, Request, State
from .paths import Paths
from .store.directory import RecordDirectory

log = logging.getLogger(__name__)

VERSION_AKA = "certmonger 0.79.17"

# certmonger's built-in CAs, in its order (CA1..CA4), as it writes them on first start.
STOCK_HELPER_DIR = "/usr/lib/certmonger"


def builtin_cas() -> list[CA]:
    """Fresh records of the four CAs certmonger always has."""
    return [
        CA(nickname="SelfSign", aka=f"SelfSign ({VERSION_AKA})", ca_type=CAType.INTERNAL_SELF,
           internal_serial="01", required_enroll_attributes=["template-subject"],
           required_renewal_attributes=["template-subject"]),
        CA(nickname="IPA", aka=f"IPA ({VERSION_AKA})",
           external_helper=f"{STOCK_HELPER_DIR}/ipa-submit",
           required_enroll_attributes=["template-principal", "template-subject"]),
        CA(nickname="dogtag-ipa-renew-agent", aka=f"Dogtag (IPA,renew,agent) ({VERSION_AKA})",
           external_helper=f"{STOCK_HELPER_DIR}/dogtag-ipa-renew-agent-submit"),
        CA(nickname="local", aka=f"Local Signing Authority ({VERSION_AKA})",
           external_helper=f"{STOCK_HELPER_DIR}/local-submit"),
    ]


class Engine:
    """Holds every request and CA and drives them; the D-Bus layer's `EngineAPI`."""

    def __init__(self, paths: Paths, *, config: Config | None = None,
                 clock: Clock | None = None, environ: dict[str, str] | None = None,
                 workers: int | None = None) -> None:
        self.paths = paths
        self.clock = clock or Clock()
        self._config_fixed = config is not None
        self._config_stamp: tuple[int, int] | None = self._stat_config()
        self.config = config or Config.load(paths.config_dir)
        self.environ = dict(os.environ if environ is None else environ)
        self.requests_dir = RecordDirectory(paths.requests_dir, self.clock.time)
        self.cas_dir = RecordDirectory(paths.cas_dir, self.clock.time)
        # Blocking work runs in threads: mostly file I/O waiting on fsync, so more threads
        # than cores; CPU-heavy work (key generation) also takes one of `cpu_slots`.
        cores = os.cpu_count() or 2
        self.executor = ThreadPoolExecutor(max_workers=workers or max(8, 4 * cores),
                                           thread_name_prefix="certmonger-work")
        self.cpu_slots = asyncio.Semaphore(cores)
        self._requests: list[Request] = []
        self._by_id: dict[int, Request] = {}
        self._nicknames: dict[str, Request] = {}  # lower-cased nickname -> request
        self._cas: list[CA] = []
        self._listeners: list[Any] = []
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._heap: list[tuple[float, int, int]] = []  # (when, seq, id(request))
        self._due: dict[int, float] = {}
        self._seq = 0
        self._wake = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None
        self._last_checked: dict[int, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._ca_tasks: dict[int, asyncio.Task[None]] = {}
        self._stopping = False
        from .effects import Effects  # late: effects imports back-ends lazily
        self.effects = Effects(self)

    # -- settings ----------------------------------------------------------------------

    def _stat_config(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.paths.config_dir / "certmonger.conf")
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def reload_config(self) -> None:
        """Re-read certmonger.conf if it changed (certmonger picks changes up at run time)."""
        if self._config_fixed:
            return
        stamp = self._stat_config()
        if stamp != self._config_stamp:
            self._config_stamp = stamp
            self.config = Config.load(self.paths.config_dir)
            for problem in self.config.problems:
                log.warning("certmonger.conf: %s", problem)
            self.effects.forget_all_backends()

    # -- listeners ---------------------------------------------------------------------

    def add_listener(self, listener: Any) -> None:
        """Receive `request_changed` / `saved_certificate` / `ca_changed` from now on."""
        self._listeners.append(listener)

    def announce(self, request: Request, fields: set[str]) -> None:
        """Tell listeners that `fields` of `request` changed."""
        for listener in self._listeners:
            try:
                listener.request_changed(request, fields)
            except Exception:  # a listener must never break the engine
                log.exception("request_changed listener failed")

    def announce_saved(self, request: Request) -> None:
        """Tell listeners that a newly issued certificate was saved and read back."""
        for listener in self._listeners:
            try:
                listener.saved_certificate(request)
            except Exception:
                log.exception("saved_certificate listener failed")

    def announce_ca(self, ca: CA, fields: set[str]) -> None:
        """Tell listeners that `fields` of `ca` changed."""
        for listener in self._listeners:
            try:
                listener.ca_changed(ca, fields)
            except Exception:
                log.exception("ca_changed listener failed")

    # -- start and stop ----------------------------------------------------------------

    async def start(self) -> None:
        """Load CAs and requests, bring every request back to a resume point, start work."""
        self.requests_dir.ensure()
        self.cas_dir.ensure()
        loaded_cas = self.cas_dir.load_all(CA)
        by_name = {ca.nickname: ca for ca in loaded_cas}
        for builtin in builtin_cas():
            ca = by_name.pop(builtin.nickname, None)
            if ca is None:
                ca = builtin
                self.cas_dir.save(ca)
            self._cas.append(ca)
        self._cas.extend(ca for ca in loaded_cas if ca.nickname in by_name)
        for request in self.requests_dir.load_all(Request):
            reset = machine.reset(request.state)
            if reset is not request.state:
                request.state = reset
            self._requests.append(request)
            self._by_id[id(request)] = request
            self._nicknames[request.nickname.lower()] = request
        await self._save_all(self._requests)
        self._timer = asyncio.create_task(self._timer_loop(), name="certmonger-timer")
        now = self.clock.time()
        for request in self._requests:
            if request.state in machine.WAITING and request.next_wakeup > now:
                self._schedule(request, request.next_wakeup)
            else:
                self._schedule(request, now)
        for ca in self._cas:
            self.refresh_ca(ca)

    async def stop(self) -> None:
        """Stop all work; records stay as last written."""
        self._stopping = True
        tasks = list(self._tasks.values()) + list(self._ca_tasks.values())
        if self._timer:
            tasks.append(self._timer)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def _save_all(self, requests: list[Request]) -> None:
        snapshots = [self.requests_dir.prepare(r) for r in requests]
        await asyncio.get_running_loop().run_in_executor(
            self.executor, lambda: [self.requests_dir.commit(*s) for s in snapshots])

    # -- persistence -------------------------------------------------------------------

    async def persist(self, request: Request) -> None:
        """Write a request's record (in a worker thread: fsync must not stall the loop)."""
        if id(request) not in self._by_id:
            return  # removed meanwhile
        snapshot = self.requests_dir.prepare(request)
        await asyncio.get_running_loop().run_in_executor(
            self.executor, lambda: self.requests_dir.commit(*snapshot))

    async def persist_ca(self, ca: CA) -> None:
        """Write a CA's record."""
        snapshot = self.cas_dir.prepare(ca)
        await asyncio.get_running_loop().run_in_executor(
            self.executor, lambda: self.cas_dir.commit(*snapshot))

    def lock_for(self, target: str) -> asyncio.Lock:
        """The lock serialising writes to one storage target (a file or an NSS database)."""
        lock = self._locks.get(target)
        if lock is None:
            lock = self._locks[target] = asyncio.Lock()
        return lock

    # -- scheduling --------------------------------------------------------------------

    def _schedule(self, request: Request, when: float) -> None:
        self._seq += 1
        self._due[id(request)] = when
        heapq.heappush(self._heap, (when, self._seq, id(request)))
        if self._heap[0][2] == id(request):
            self._wake.set()

    def _unschedule(self, request: Request) -> None:
        self._due.pop(id(request), None)  # stale heap entries are skipped when popped

    async def _timer_loop(self) -> None:
        while True:
            self._wake.clear()
            now = self.clock.time()
            while self._heap and self._heap[0][0] <= now:
                when, _, rid = heapq.heappop(self._heap)
                if self._due.get(rid) != when:
                    continue
                del self._due[rid]
                request = self._by_id.get(rid)
                if request is not None:
                    self.kick(request)
            until = self._heap[0][0] if self._heap else now + 86400
            await self.clock.sleep_until(until, self._wake)

    def kick(self, request: Request) -> None:
        """Start working on `request` now, unless it is being worked on already."""
        if self._stopping or id(request) in self._tasks:
            return
        self._unschedule(request)
        task = asyncio.create_task(self._run(request), name=f"request {request.nickname}")
        self._tasks[id(request)] = task
        rid = id(request)
        task.add_done_callback(lambda _t: self._tasks.pop(rid, None))

    async def _halt(self, request: Request) -> None:
        """Stop any work on `request` and bring it back to a resume point."""
        self._unschedule(request)
        task = self._tasks.pop(id(request), None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        request.state = machine.reset(request.state)

    # -- the run -----------------------------------------------------------------------

    def set_state(self, request: Request, state: State, fields: set[str] | None = None) -> None:
        """Move to a transient state and announce it (not persisted)."""
        request.state = state
        self.announce(request, {"state"} | (fields or set()))

    async def _run(self, request: Request) -> None:
        self.reload_config()
        try:
            await self._run_steps(request)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("Internal error working on request %s", request.nickname)
            request.ca_error = "internal error; see the daemon's log"
            request.state = State.NEED_GUIDANCE
            await self.persist(request)
            self.announce(request, {"state", "ca_error"})

    async def _run_steps(self, request: Request) -> None:
        while True:
            state = request.state
            forward = machine.forward(state)
            if forward is not None:
                self.set_state(request, forward)
                continue
            action = machine.action_for(state)
            if action is None:
                return  # stuck, or waiting with nothing to do
            result = await self.effects.run(action, request)
            step = machine.advance(state, result.outcome, result.facts)
            for passing in step.passing:
                self.set_state(request, passing)
            request.state = step.state
            when = self._wake_time(request, step.rest, result.delay)
            request.next_wakeup = int(when) if when is not None else 0
            if result.changed or step.rest is not Rest.NONE:
                await self.persist(request)
            self.announce(request, {"state"} | result.changed)
            for hook in result.after:
                hook()
            if step.rest is Rest.NONE:
                continue
            if when is not None:
                self._schedule(request, when)
            return

    def _wake_time(self, request: Request, rest: Rest, delay: int | None) -> float | None:
        now = self.clock.time()
        inow = int(now)
        if rest is Rest.NONE:
            return None
        if rest is Rest.FOREVER:
            return None
        if rest is Rest.SOON:
            return now + schedule.SOONISH
        if rest is Rest.CA_DELAY:
            return now + schedule.ca_delay(now=inow, not_after=request.cert_not_after,
                                           helper_delay=delay)
        if rest is Rest.UNREACHABLE:
            return now + schedule.unreachable_delay(retries=request.retry_count - 1,
                                                    helper_delay=delay)
        if rest is Rest.MONITOR:
            ttls = tuple(sorted(set(self.config.notify_ttls) | set(self.config.enroll_ttls),
                                reverse=True))
            return now + schedule.monitor_delay(now=inow, not_after=request.cert_not_after,
                                                ttls=ttls)
        raise AssertionError(rest)

    def note_checked(self, request: Request) -> None:
        """Record that the request's certificate was just looked at."""
        self._last_checked[id(request)] = int(self.clock.time())

    # -- EngineAPI: reading ------------------------------------------------------------

    def requests(self) -> list[Request]:
        return list(self._requests)

    def cas(self) -> list[CA]:
        return list(self._cas)

    def request_by_nickname(self, nickname: str) -> Request | None:
        request = self._nicknames.get(nickname.lower())
        return request if request is not None and request.nickname == nickname else None

    def ca_by_nickname(self, nickname: str) -> CA | None:
        return next((c for c in self._cas if c.nickname == nickname), None)

    def last_checked(self, request: Request) -> int:
        return self._last_checked.get(id(request), 0)

    # -- EngineAPI: requests -----------------------------------------------------------

    def _check_unique(self, request: Request, ignore: Request | None = None) -> None:
        other = self._nicknames.get(request.nickname.lower())
        if other is not None and other is not request and other is not ignore \
                and other.nickname.lower() == request.nickname.lower():
            raise DuplicateError(
                f'There is already a request with the nickname "{other.nickname}".',
                "NICKNAME")

    def add_request(self, request: Request) -> asyncio.Future[None]:
        """Take a new request; the returned future completes once its record is on disk.

        The write happens in a worker thread so other callers are not held up by fsync;
        the caller (the D-Bus layer) replies only when the future is done, and the work
        on the request starts only then: persisted before announced.  If the write
        fails, the request is dropped again and the future raises.
        """
        self._check_unique(request)
        request.state = State.NEWLY_ADDED
        self._requests.append(request)
        self._by_id[id(request)] = request
        self._nicknames[request.nickname.lower()] = request
        snapshot = self.requests_dir.prepare(request)
        loop = asyncio.get_running_loop()
        write = loop.run_in_executor(self.executor, lambda: self.requests_dir.commit(*snapshot))

        async def then() -> None:
            try:
                await write
            except BaseException:
                self.remove_request(request)
                raise
            self.kick(request)

        return asyncio.ensure_future(then())

    def remove_request(self, request: Request) -> None:
        self._unschedule(request)
        task = self._tasks.pop(id(request), None)
        if task is not None:
            task.cancel()
        if self._nicknames.get(request.nickname.lower()) is request:
            del self._nicknames[request.nickname.lower()]
        if self._by_id.pop(id(request), None) is not None:
            # identity, not dataclass equality: two records may hold equal values
            self._requests[:] = [r for r in self._requests if r is not request]
        self.requests_dir.delete(request)
        self.effects.forget(request)

    def modify_request(self, request: Request, changes: dict[str, Any]) -> None:
        if "nickname" in changes:
            probe = Request(nickname=changes["nickname"])
            self._check_unique(probe, ignore=request)
        self._restart(request, changes)

    def _restart(self, request: Request, changes: dict[str, Any],
                 new_state: Callable[[Request], State] | None = None) -> None:
        """Stop `request`, apply `changes`, persist, announce, and start it again."""
        self._unschedule(request)
        task = self._tasks.pop(id(request), None)
        if task is not None:
            task.cancel()
        if "nickname" in changes and self._nicknames.get(request.nickname.lower()) is request:
            del self._nicknames[request.nickname.lower()]
        for name, value in changes.items():
            setattr(request, name, value)
        self._nicknames[request.nickname.lower()] = request
        request.state = machine.reset(request.state)
        if new_state is not None:
            request.state = new_state(request)
        if request.state is State.MONITORING:
            request.next_wakeup = 0
        self.requests_dir.save(request)
        self.announce(request, {"state"} | set(changes))
        if task is not None:
            # Let the cancelled run unwind before the new one starts.
            async def restart_later() -> None:
                await asyncio.gather(task, return_exceptions=True)
                self.kick(request)
            asyncio.get_running_loop().create_task(restart_later())
        else:
            self.kick(request)

    def resubmit(self, request: Request) -> bool:
        def target(r: Request) -> State:
            if r.key_size == 0 or r.key_type != r.key_gen_type or \
                    (r.key_gen_size and r.key_size != r.key_gen_size
                     and r.key_gen_type == "RSA"):
                return State.NEED_KEY_PAIR
            return State.NEED_CSR
        self._restart(request, {"ca_cookie": "", "retry_count": 0}, target)
        return True

    def rekey(self, request: Request) -> bool:
        self._restart(request, {"ca_cookie": "", "retry_count": 0},
                      lambda r: State.NEED_KEY_PAIR)
        return True

    def refresh(self, request: Request) -> bool:
        if request.state not in (State.CA_WORKING, State.CA_UNREACHABLE):
            return False
        self._restart(request, {}, lambda r: State.NEED_TO_SUBMIT)
        return True

    # -- EngineAPI: CAs ----------------------------------------------------------------

    def add_ca(self, ca: CA) -> None:
        for other in self._cas:
            if other.nickname.lower() == ca.nickname.lower():
                raise DuplicateError(
                    f'There is already a CA with the nickname "{other.nickname}".')
        self._cas.append(ca)
        self.cas_dir.save(ca)
        self.refresh_ca(ca)

    def remove_ca(self, ca: CA) -> None:
        task = self._ca_tasks.pop(id(ca), None)
        if task is not None:
            task.cancel()
        self._cas[:] = [c for c in self._cas if c is not ca]
        self.cas_dir.delete(ca)
        self.effects.forget_ca(ca)

    def modify_ca(self, ca: CA, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            setattr(ca, name, value)
        self.cas_dir.save(ca)
        self.effects.forget_ca(ca)
        self.announce_ca(ca, set(changes))
        self.refresh_ca(ca)

    def refresh_ca(self, ca: CA) -> bool:
        old = self._ca_tasks.pop(id(ca), None)
        if old is not None:
            old.cancel()
        if self._stopping:
            return False
        task = asyncio.get_running_loop().create_task(self.effects.refresh_ca_data(ca),
                                                      name=f"ca {ca.nickname}")
        self._ca_tasks[id(ca)] = task
        cid = id(ca)
        task.add_done_callback(lambda t: self._ca_tasks.pop(cid, None)
                               if self._ca_tasks.get(cid) is t else None)
        return True

    def requests_using(self, ca: CA) -> list[Request]:
        """The requests whose CA is `ca`."""
        return [r for r in self._requests if r.ca_name == ca.nickname]

    def restart_requests_of(self, ca: CA) -> None:
        """Start the requests that rest waiting on `ca` again (its data changed).

        certmonger restarts every request of a CA whose data changed; only those resting
        in a state a restart changes (CA_UNREACHABLE, CA_UNCONFIGURED, CA_WORKING, NEED_CA,
        ...) notice, so the others, and requests being worked on, are left alone.
        """
        for request in self.requests_using(ca):
            if id(request) in self._tasks or machine.reset(request.state) is request.state:
                continue
            self._restart(request, {})
