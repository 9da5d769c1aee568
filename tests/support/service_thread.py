"""Our D-Bus service over a fake engine, running in a thread of its own.

Tests can then drive it with blocking clients (the stock getcert, dbus-send) while the
service keeps answering.  Anything that touches the engine or the service must run on the
service's loop: use `run(fn, *args)`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from pycertmonger.bus.service import CertmongerService, start

from .fake_engine import FakeEngine

T = TypeVar("T")


class ServiceThread:
    """`CertmongerService(engine)` on the bus at `address`, served from a thread."""

    def __init__(self, engine: FakeEngine, address: str) -> None:
        self.engine = engine
        self.address = address
        self.loop = asyncio.new_event_loop()
        self.service: CertmongerService | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                        name="certmonger-bus-test")

    def start(self, timeout: float = 10) -> ServiceThread:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(start(self.engine, address=self.address),
                                                  self.loop)
        self.service = future.result(timeout)
        return self

    def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call `fn(*args, **kwargs)` on the service's loop and return its result."""
        result: Future[T] = Future()

        def call() -> None:
            try:
                result.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller
                result.set_exception(exc)
        self.loop.call_soon_threadsafe(call)
        return result.result(10)

    def stop(self) -> None:
        if self.service is not None:
            asyncio.run_coroutine_threadsafe(self.service.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()
