"""The request records captured from the stock certmonger daemon (tests/fixtures/stock)."""

from __future__ import annotations

from pathlib import Path

from pycertmonger.model import Request
from pycertmonger.store import record

STOCK_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "stock"


def stock_request(name: str) -> Request:
    """The stock request record `name` (ss1, loc1, nss1)."""
    return record.loads(Request, (STOCK_DIR / "requests" / name).read_text())
