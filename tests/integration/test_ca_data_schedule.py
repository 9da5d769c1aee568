"""When a helper runs again: CA data refreshes and waiting requests, on a fake clock.

The engine runs in process with a `FakeClock`; the CA is a scripted helper program
(tests/support/scripted_helper.py), so every run is a real process whose runs can be
counted.  certmonger's schedule (reference: internals §2.5, §2.6): CA data again at half
the time to the earliest expiry of the CA's certificates (at least 5 minutes later), 6
hours after the CA was unreachable, after the delay a helper asks for; a request asking
for a new key (exit 17) gets one 30 seconds later.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pycertmonger.clock import FakeClock
from pycertmonger.config import Config
from pycertmonger.engine import Engine
from pycertmonger.model import CA, Request, State
from pycertmonger.paths import Paths
from tests.support.scripted_helper import (
    HelperPKI,
    ScriptedHelper,
    issued,
    make_ca_cert,
    pem_of,
    said,
)

MINUTE, HOUR, DAY = 60, 3600, 86400


class WatchedClock(FakeClock):
    """A fake clock that knows which tasks wait on it, and until when."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting: dict[str, float] = {}

    async def sleep_until(self, when: float, wake: asyncio.Event) -> None:
        task = asyncio.current_task()
        name = task.get_name() if task else ""
        self.waiting[name] = when
        try:
            await super().sleep_until(when, wake)
        finally:
            self.waiting.pop(name, None)


class Harness:
    """An engine on a fake clock, with one scripted CA named "scripted"."""

    def __init__(self, root: Path, helper: ScriptedHelper) -> None:
        for d in ("requests", "cas", "local", "config", "tmp"):
            (root / d).mkdir(parents=True, exist_ok=True)
        self.paths = Paths(requests_dir=root / "requests", cas_dir=root / "cas",
                           local_ca_dir=root / "local", config_dir=root / "config",
                           tmp_dir=root / "tmp", lock_file=root / "lock")
        self.clock = WatchedClock()
        self.helper = helper
        self.engine = Engine(self.paths, config=Config.from_text(""), clock=self.clock,
                             environ=dict(os.environ))
        self.ca = CA(nickname="scripted", external_helper=helper.command)

    async def start(self) -> float | None:
        """Start the engine with the CA; when the CA's data is due again (None: never)."""
        await self.engine.start()
        self.started = self.clock.time()
        self.engine.add_ca(self.ca)
        return await self.next_refresh()

    async def next_refresh(self) -> float | None:
        """Once the CA's data refresh is done: when the next one is due (None: never)."""
        task_name = f"ca {self.ca.nickname}"  # the engine's name for the CA's task

        def done() -> bool:
            running = any(t.get_name() == task_name and not t.done()
                          for t in asyncio.all_tasks())
            # A deadline already past is a sleep the clock is about to end.
            return self.clock.waiting.get(task_name, 0) > self.clock.time() or not running
        await until(done, "the CA-data refresh")
        return self.clock.waiting.get(task_name)

    async def ran_again(self, operation: str, runs: int) -> bool:
        """Whether `operation` has run `runs` times, a moment after the clock moved."""
        await asyncio.sleep(0.3)
        return len(self.helper.calls(operation)) >= runs

    def add_request(self, out: Path, nickname: str) -> Request:
        request = Request(nickname=nickname, ca_name="scripted", key_storage_type="FILE",
                          key_storage_location=str(out / f"{nickname}.key"),
                          cert_storage_type="FILE",
                          cert_storage_location=str(out / f"{nickname}.crt"),
                          template_subject=f"CN={nickname}.example.test")
        self.engine.add_request(request)
        return request


async def until(check: Callable[[], Any], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def state(request: Request, *states: State) -> None:
    await until(lambda: request.state in states, f"{request.nickname} to reach {states}")


@pytest.fixture
def helper(tmp_path: Path) -> ScriptedHelper:
    return ScriptedHelper(tmp_path / "helper", HelperPKI.create())


def run(tmp_path: Path, helper: ScriptedHelper,
        scenario: Callable[[Harness], Coroutine[Any, Any, None]]) -> None:
    """Run `scenario` with a fresh harness (not started: the scenario sets answers first)."""
    async def main() -> None:
        harness = Harness(tmp_path / "state", helper)
        try:
            await scenario(harness)
        finally:
            await harness.engine.stop()
    asyncio.run(main())


@pytest.fixture
def out(tmp_path: Path) -> Path:
    path = tmp_path / "out"
    path.mkdir()
    return path


def roots_expiring_in(*seconds: int) -> str:
    """A FETCH-ROOTS answer with one root per lifetime (from now)."""
    now = time.time()
    return "".join(f"Root {n}\n{pem_of(make_ca_cert(f'Root {n}', not_after=now + s)[0])}"
                   for n, s in enumerate(seconds, start=1))


def public_key_der(pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(pem, None).public_key()
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def csr_key_der(csr_pem: str) -> bytes:
    return x509.load_pem_x509_csr(csr_pem.encode()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


# -- CA data --------------------------------------------------------------------------------


def test_ca_data_is_fetched_again_at_half_the_time_to_the_earliest_expiry(
        tmp_path: Path, helper: ScriptedHelper) -> None:
    async def scenario(harness: Harness) -> None:
        helper.answer("FETCH-ROOTS", said(0, roots_expiring_in(100 * DAY, 20 * DAY)))
        due = await harness.start()
        assert len(harness.ca.root_certs) == 2
        assert due == pytest.approx(harness.started + 10 * DAY, abs=MINUTE)
        harness.clock.advance(10 * DAY - 5 * MINUTE)
        assert not await harness.ran_again("FETCH-ROOTS", 2)
        harness.clock.advance(10 * MINUTE)
        await harness.next_refresh()
        assert len(helper.calls("FETCH-ROOTS")) == 2
        assert len(helper.calls("IDENTIFY")) == 2  # every operation runs again
    run(tmp_path, helper, scenario)


def test_ca_data_is_not_fetched_again_sooner_than_five_minutes(
        tmp_path: Path, helper: ScriptedHelper) -> None:
    async def scenario(harness: Harness) -> None:
        helper.answer("FETCH-ROOTS", said(0, roots_expiring_in(4 * MINUTE)))
        due = await harness.start()
        assert due == harness.started + 5 * MINUTE
        harness.clock.advance(4 * MINUTE)
        assert not await harness.ran_again("FETCH-ROOTS", 2)
        harness.clock.advance(2 * MINUTE)
        await until(lambda: len(helper.calls("FETCH-ROOTS")) == 2, "the second refresh")
    run(tmp_path, helper, scenario)


def test_ca_data_without_expiring_certificates_is_not_fetched_again(
        tmp_path: Path, helper: ScriptedHelper) -> None:
    async def scenario(harness: Harness) -> None:
        helper.answer("IDENTIFY", said(0, "Scripted CA\n"))
        assert await harness.start() is None
        harness.clock.advance(400 * DAY)
        assert not await harness.ran_again("IDENTIFY", 2)
    run(tmp_path, helper, scenario)


def test_unreachable_ca_data_is_fetched_again_after_six_hours(
        tmp_path: Path, helper: ScriptedHelper) -> None:
    async def scenario(harness: Harness) -> None:
        helper.answer("IDENTIFY", said(3, "CA down\n"), said(0, "Scripted CA\n"))
        assert await harness.start() == harness.started + 6 * HOUR
        assert harness.ca.ca_error == "CA down"
        harness.clock.advance(6 * HOUR - MINUTE)
        assert not await harness.ran_again("IDENTIFY", 2)
        harness.clock.advance(2 * MINUTE)
        assert await harness.next_refresh() is None
        assert harness.ca.aka == "Scripted CA"
        assert harness.ca.ca_error == ""
    run(tmp_path, helper, scenario)


def test_ca_data_is_fetched_again_after_the_delay_the_helper_asks_for(
        tmp_path: Path, helper: ScriptedHelper) -> None:
    async def scenario(harness: Harness) -> None:
        helper.answer("GET-SUPPORTED-TEMPLATES", said(5, "120\n"), said(0, "caServerCert\n"))
        assert await harness.start() == harness.started + 120
        harness.clock.advance(100)
        assert not await harness.ran_again("GET-SUPPORTED-TEMPLATES", 2)
        harness.clock.advance(30)
        await until(lambda: harness.ca.profiles == ["caServerCert"], "the profiles")
    run(tmp_path, helper, scenario)


def test_the_soonest_retry_wins_when_several_operations_ask_for_one(
        tmp_path: Path, helper: ScriptedHelper) -> None:
    async def scenario(harness: Harness) -> None:
        helper.answer("IDENTIFY", said(3, "CA down\n"))
        helper.answer("GET-DEFAULT-TEMPLATE", said(5, "600\n"))
        helper.answer("FETCH-ROOTS", said(0, roots_expiring_in(20 * DAY)))
        assert await harness.start() == harness.started + 600
    run(tmp_path, helper, scenario)


# -- requests waiting on the helper ---------------------------------------------------------


def test_exit_17_gets_a_new_key_after_30_seconds_and_submits_again(
        tmp_path: Path, helper: ScriptedHelper, out: Path) -> None:
    async def scenario(harness: Harness) -> None:
        helper.answer("SUBMIT", said(17, "Key too weak.\n"), issued())
        await harness.start()
        request = harness.add_request(out, "rekeyed")
        await until(lambda: helper.calls("SUBMIT"), "the first submission")
        await state(request, State.NEED_KEY_PAIR)
        harness.clock.advance(20)
        assert not await harness.ran_again("SUBMIT", 2)
        harness.clock.advance(15)
        await state(request, State.MONITORING)
        first, second = (env["CERTMONGER_CSR"] for env in helper.environments("SUBMIT"))
        assert csr_key_der(first) != csr_key_der(second)
        cert = x509.load_pem_x509_certificate((out / "rekeyed.crt").read_bytes())
        key_der = public_key_der((out / "rekeyed.key").read_bytes())
        assert cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo) == key_der
        assert key_der == csr_key_der(second)
    run(tmp_path, helper, scenario)


def test_unreachable_submission_is_tried_again_about_a_minute_later(
        tmp_path: Path, helper: ScriptedHelper, out: Path) -> None:
    async def scenario(harness: Harness) -> None:
        helper.answer("SUBMIT", said(3, "CA down\n"), issued())
        await harness.start()
        request = harness.add_request(out, "retried")
        await state(request, State.CA_UNREACHABLE)
        harness.clock.advance(50)  # the first retry comes after 60 s +- 10 %
        assert not await harness.ran_again("SUBMIT", 2)
        harness.clock.advance(20)
        await state(request, State.MONITORING)
    run(tmp_path, helper, scenario)


def test_exit_5_polls_after_the_given_delay_with_the_cookie(
        tmp_path: Path, helper: ScriptedHelper, out: Path) -> None:
    async def scenario(harness: Harness) -> None:
        helper.answer("SUBMIT", said(5, "300\nticket-5\n"))
        helper.answer("POLL", issued())
        await harness.start()
        request = harness.add_request(out, "delayed")
        await state(request, State.CA_WORKING)
        harness.clock.advance(290)
        assert not await harness.ran_again("POLL", 1)
        harness.clock.advance(20)
        await state(request, State.MONITORING)
        assert helper.environment("POLL")["CERTMONGER_CA_COOKIE"] == "ticket-5"
    run(tmp_path, helper, scenario)


def test_exit_1_polls_after_a_week(
        tmp_path: Path, helper: ScriptedHelper, out: Path) -> None:
    async def scenario(harness: Harness) -> None:
        helper.answer("SUBMIT", said(1, "ticket-1\n"))
        helper.answer("POLL", issued())
        await harness.start()
        request = harness.add_request(out, "weekly")
        await state(request, State.CA_WORKING)
        harness.clock.advance(7 * DAY - MINUTE)
        assert not await harness.ran_again("POLL", 1)
        harness.clock.advance(2 * MINUTE)
        await state(request, State.MONITORING)
        assert helper.environment("POLL")["CERTMONGER_CA_COOKIE"] == "ticket-1"
    run(tmp_path, helper, scenario)
