"""The engine end to end, in process, on a fake clock: issue, restart, renew, recover."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509

from pycertmonger.clock import FakeClock
from pycertmonger.config import Config
from pycertmonger.engine import Engine
from pycertmonger.model import CA, Request, State
from pycertmonger.paths import Paths

DAY = 86400
START = 1_900_000_000.0


def make_paths(root: Path) -> Paths:
    for d in ("requests", "cas", "local", "config", "tmp"):
        (root / d).mkdir(parents=True, exist_ok=True)
    return Paths(requests_dir=root / "requests", cas_dir=root / "cas",
                 local_ca_dir=root / "local", config_dir=root / "config",
                 tmp_dir=root / "tmp", lock_file=root / "lock")


async def wait_for(request: Request, *states: State, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while request.state not in states:
        if loop.time() > deadline:
            raise AssertionError(f"{request.nickname} stuck in {request.state}, "
                                 f"ca-error {request.ca_error!r}")
        await asyncio.sleep(0.01)


async def settle(engine: Engine, rounds: int = 20) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0.01)


class Harness:
    def __init__(self, root: Path, config_text: str = "") -> None:
        self.root = root
        self.paths = make_paths(root / "state")
        self.clock = FakeClock(START)
        self.config_text = config_text
        self.engine: Engine | None = None

    async def start(self) -> Engine:
        self.engine = Engine(self.paths, config=Config.from_text(self.config_text),
                             clock=self.clock, environ=dict(os.environ))
        await self.engine.start()
        return self.engine

    async def stop(self) -> None:
        if self.engine:
            await self.engine.stop()
            self.engine = None


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(tmp_path, "[selfsign]\nvalidity_period = 320d\n[local]\nvalidity_period = 2y\n")
    await h.start()
    yield h
    await h.stop()


def file_request(tmp_path: Path, nickname: str, ca: str, **kw) -> Request:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return Request(nickname=nickname, ca_name=ca, key_storage_type="FILE",
                   key_storage_location=str(out / f"{nickname}.key"),
                   cert_storage_type="FILE", cert_storage_location=str(out / f"{nickname}.crt"),
                   template_subject=f"CN={nickname}.example.test",
                   template_hostname=[f"{nickname}.example.test"], **kw)


def mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)




def run(coro):
    return asyncio.run(coro)


def test_selfsign_request_reaches_monitoring_with_private_key(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        engine = await h.start()
        req = file_request(tmp_path, "web", "SelfSign")
        engine.add_request(req)
        await wait_for(req, State.MONITORING)
        assert mode(req.key_storage_location) == 0o600
        assert mode(req.cert_storage_location) == 0o644
        cert = x509.load_pem_x509_certificate(Path(req.cert_storage_location).read_bytes())
        assert cert.subject.rfc4514_string() == "CN=web.example.test"
        assert req.cert_subject == "CN=web.example.test"
        assert req.cert_serial == "01"
        assert req.key_issued_count == 1
        assert req.cert_not_after - req.cert_not_before == 365 * DAY
        await h.stop()
    run(scenario())


def test_local_ca_request_is_signed_by_the_local_ca_and_writes_the_ca_file(
        tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        engine = await h.start()
        req = file_request(tmp_path, "loc", "local", key_gen_type="EC", key_gen_size=256,
                           root_cert_files=[str(tmp_path / "out" / "ca.pem")])
        engine.add_request(req)
        await wait_for(req, State.MONITORING)
        assert req.key_type == "EC" and req.key_size == 256
        assert "Local Signing Authority" in req.cert_issuer
        ca_pem = (tmp_path / "out" / "ca.pem").read_bytes()
        ca_cert = x509.load_pem_x509_certificate(ca_pem)
        leaf = x509.load_pem_x509_certificate(Path(req.cert_storage_location).read_bytes())
        leaf.verify_directly_issued_by(ca_cert)
        await h.stop()
    run(scenario())


def test_a_restart_keeps_every_request_and_reissues_nothing(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        engine = await h.start()
        req = file_request(tmp_path, "keep", "SelfSign")
        engine.add_request(req)
        await wait_for(req, State.MONITORING)
        serial, cert_text = req.cert_serial, Path(req.cert_storage_location).read_text()
        await h.stop()
        engine = await h.start()
        [again] = engine.requests()
        assert again.nickname == "keep" and again.cert_serial == serial
        await settle(engine)
        assert again.state is State.MONITORING
        assert Path(again.cert_storage_location).read_text() == cert_text
        await h.stop()
    run(scenario())


def test_renewal_300_days_later_runs_the_post_save_command_again(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path, "[selfsign]\nvalidity_period = 320d\n")
        engine = await h.start()
        marker = tmp_path / "post-save.log"
        req = file_request(tmp_path, "renew", "SelfSign",
                           post_certsave_command=f"/bin/sh -c 'echo saved >> {marker}'",
                           post_certsave_uid=str(os.getuid()))
        engine.add_request(req)
        await wait_for(req, State.MONITORING)
        first_serial = req.cert_serial
        first_not_after = req.cert_not_after
        assert marker.read_text() == "saved\n"
        h.clock.advance(300 * DAY)
        deadline = asyncio.get_running_loop().time() + 30
        while req.cert_not_after == first_not_after:
            assert asyncio.get_running_loop().time() < deadline, req.state
            await asyncio.sleep(0.02)
        await wait_for(req, State.MONITORING)
        assert req.cert_serial != first_serial
        assert req.cert_not_before >= START + 300 * DAY
        assert marker.read_text() == "saved\nsaved\n"
        await h.stop()
    run(scenario())


def test_no_key_location_and_no_certificate_needs_guidance(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        engine = await h.start()
        req = Request(nickname="lost", ca_name="SelfSign", cert_storage_type="FILE",
                      cert_storage_location=str(tmp_path / "nothing.crt"))
        engine.add_request(req)
        await wait_for(req, State.NEED_GUIDANCE)
        assert req.stuck
        await h.stop()
    run(scenario())


def test_a_request_without_a_ca_waits_in_need_ca(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        engine = await h.start()
        req = file_request(tmp_path, "orphan", "")
        engine.add_request(req)
        await wait_for(req, State.NEED_CA)
        assert Path(req.key_storage_location).exists()  # the key was made all the same
        await h.stop()
    run(scenario())


def test_tracking_an_existing_certificate_goes_straight_to_monitoring(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        engine = await h.start()
        first = file_request(tmp_path, "orig", "SelfSign")
        engine.add_request(first)
        await wait_for(first, State.MONITORING)
        engine.remove_request(first)
        assert Path(first.cert_storage_location).exists()  # stop-tracking keeps files
        tracked = Request(nickname="tracked", ca_name="SelfSign", key_storage_type="FILE",
                          key_storage_location=first.key_storage_location,
                          cert_storage_type="FILE",
                          cert_storage_location=first.cert_storage_location)
        engine.add_request(tracked)
        await wait_for(tracked, State.MONITORING)
        assert tracked.cert_serial == first.cert_serial
        assert tracked.template_subject == "CN=orig.example.test"
        assert tracked.template_hostname == ["orig.example.test"]
        await h.stop()
    run(scenario())


def test_an_unreachable_ca_is_retried_with_backoff(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        engine = await h.start()
        helper = tmp_path / "down.sh"
        helper.write_text("#!/bin/sh\necho 'Server is down for testing'\nexit 3\n")
        helper.chmod(0o755)
        ca = CA(nickname="down", external_helper=str(helper))
        engine.add_ca(ca)
        req = file_request(tmp_path, "un", "down")
        engine.add_request(req)
        await wait_for(req, State.CA_UNREACHABLE)
        assert req.ca_error == "Server is down for testing"
        assert not req.stuck
        first_wake = req.next_wakeup
        assert 0 < first_wake - h.clock.time() <= 70
        h.clock.advance(first_wake - h.clock.time() + 1)
        deadline = asyncio.get_running_loop().time() + 10
        while req.retry_count < 2:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.01)
        await wait_for(req, State.CA_UNREACHABLE)
        assert req.next_wakeup - h.clock.time() > 100  # the second wait is longer
        await h.stop()
    run(scenario())


def test_rekey_swaps_key_and_certificate_as_a_pair(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        engine = await h.start()
        req = file_request(tmp_path, "rk", "SelfSign")
        engine.add_request(req)
        await wait_for(req, State.MONITORING)
        old_key = Path(req.key_storage_location).read_bytes()
        old_info = req.key_pubkey_info
        engine.rekey(req)
        await settle(engine, 2)
        await wait_for(req, State.MONITORING)
        assert Path(req.key_storage_location).read_bytes() != old_key
        assert req.key_pubkey_info != old_info
        assert req.cert_spki == req.key_pubkey_info
        assert req.key_issued_count == 1
        leftovers = [p.name for p in Path(req.key_storage_location).parent.iterdir()
                     if p.name.startswith("rk.key.")]
        assert leftovers == []
        await h.stop()
    run(scenario())


def test_a_failing_post_save_command_is_recorded_and_does_not_stop_the_save(
        tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        engine = await h.start()
        req = file_request(tmp_path, "hookfail", "SelfSign",
                           post_certsave_command="/bin/sh -c 'exit 7'",
                           post_certsave_uid=str(os.getuid()))
        engine.add_request(req)
        await wait_for(req, State.MONITORING)
        assert Path(req.cert_storage_location).exists()
        assert req.hook_error == "post-save command /bin/sh -c 'exit 7' exited with status 7"
        text = (h.paths.requests_dir / req.store_name).read_text()
        assert "pycm_hook_error=post-save command" in text
        await h.stop()
    run(scenario())


def test_certmonger_conf_changes_are_picked_up_without_a_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path)
        h.engine = Engine(h.paths, clock=h.clock, environ=dict(os.environ))
        engine = h.engine
        await engine.start()
        (h.paths.config_dir / "certmonger.conf").write_text("[defaults]\ndefault_ca = local\n")
        req = file_request(tmp_path, "noca", "")
        engine.add_request(req)
        await wait_for(req, State.MONITORING)
        assert req.ca_name == "local"
        await h.stop()
    run(scenario())
