"""Shared fixtures: a private system-like bus, state directories, daemons and clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.bus import Daemon, Getcert, PrivateBus, StateDirs, have_stock

requires_stock = pytest.mark.skipif(not have_stock(), reason="Debian's certmonger is not installed")


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[PrivateBus]:
    """A private bus of type system with a permissive policy."""
    b = PrivateBus(tmp_path / "bus").start()
    yield b
    b.stop()


@pytest.fixture
def dirs(tmp_path: Path) -> StateDirs:
    """Scratch state directories for one daemon."""
    return StateDirs(tmp_path / "state")


@pytest.fixture
def daemon(bus: PrivateBus, dirs: StateDirs) -> Iterator[Daemon]:
    """Our daemon, running on the private bus."""
    d = Daemon(bus, dirs).start()
    yield d
    d.stop()


@pytest.fixture
def stock_daemon(bus: PrivateBus, dirs: StateDirs) -> Iterator[Daemon]:
    """The stock certmonger daemon on the private bus (skips when not installed)."""
    if not have_stock():
        pytest.skip("Debian's certmonger is not installed")
    d = Daemon(bus, dirs, stock=True).start()
    yield d
    d.stop()


@pytest.fixture
def stock_getcert(bus: PrivateBus) -> Getcert:
    """The stock /usr/bin/getcert, talking to the private bus."""
    if not have_stock():
        pytest.skip("Debian's certmonger is not installed")
    return Getcert(bus, stock=True)


@pytest.fixture
def our_getcert(bus: PrivateBus) -> Getcert:
    """Our getcert, talking to the private bus."""
    return Getcert(bus, stock=False)


@pytest.fixture(params=["stock", "ours"])
def getcert(request: pytest.FixtureRequest, bus: PrivateBus) -> Getcert:
    """Each of the two clients in turn: the stock getcert and ours."""
    if request.param == "stock":
        if not have_stock():
            pytest.skip("Debian's certmonger is not installed")
        return Getcert(bus, stock=True)
    return Getcert(bus, stock=False)
