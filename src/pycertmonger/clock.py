"""Time as an injected object, so that schedules days long can be tested in milliseconds."""

from __future__ import annotations

import asyncio
import time


class Clock:
    """Wall-clock time and waiting on it."""

    def time(self) -> float:
        """Unix seconds now."""
        return time.time()

    async def sleep_until(self, when: float, wake: asyncio.Event) -> None:
        """Return at `when`, or earlier as soon as `wake` is set."""
        delay = when - self.time()
        if delay <= 0:
            return
        # Not asyncio.wait_for: on Python 3.11 it can swallow a cancellation that arrives
        # as the event fires, and then stop() waits for the next wake-up.
        waiter = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait([waiter], timeout=delay)
        finally:
            waiter.cancel()


class FakeClock(Clock):
    """A clock that only moves when told to (`advance`)."""

    def __init__(self, start: float | None = None) -> None:
        self._now = time.time() if start is None else start
        self._moved = asyncio.Event()

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move time forward, waking whoever waits for a moment now past."""
        self._now += seconds
        self._moved.set()

    async def sleep_until(self, when: float, wake: asyncio.Event) -> None:
        while self._now < when and not wake.is_set():
            self._moved.clear()
            waiters = [asyncio.ensure_future(self._moved.wait()),
                       asyncio.ensure_future(wake.wait())]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waiters:
                    w.cancel()
