"""When to look again: expiry thresholds, monitoring wake-ups, CA polling and retries.

Pure functions of times in Unix seconds; the current time is always passed in.  The
rules are certmonger 0.79's (certmonger-internals §2.5, §4.3), with two deliberate
improvements, both documented in docs/compat.md: an unreachable CA is retried with a
bounded exponential backoff with jitter instead of a flat 7-day wait, and
`max_key_lifetime` compares the key's age with the limit (certmonger compares a duration
with a date and so rekeys at every renewal).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

SOON = 5
SOONISH = 30
CA_POLL = 7 * 86400
CA_POLL_MIN = 5 * 60
CA_POLL_MAX = 365 * 86400
CADATA_POLL = 6 * 3600
MONITOR_POLL = 24 * 3600
MONITOR_POLL_MIN = 30 * 60
MONITOR_POLL_MAX = 7 * 86400
MIN_CERT_AGE = 30 * 60  # a certificate younger than this triggers nothing
BACKOFF_FIRST = 60
BACKOFF_MAX = 6 * 3600


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(high, value))


def crossed(ttls: tuple[int, ...], not_after: int, last_check: int, now: int) -> bool:
    """Whether a threshold of `ttls` (seconds before notAfter) was crossed since `last_check`.

    A threshold T is crossed when the time left went from at least T to below it:
    ttl < T <= prev, with ttl = notAfter - now and prev = notAfter - last_check; also
    when the clock went backwards across it, and always once the certificate expired.
    """
    ttl = max(0, not_after - now)
    prev = not_after - last_check
    if ttl == 0:
        return True
    for t in ttls:
        if ttl < t <= prev or prev < t <= ttl:
            return True
    return False


@dataclass(frozen=True)
class ExpiryCheck:
    """What a MONITORING wake-up should do."""

    notify: bool
    renew: bool
    rekey: bool


def check_expiry(*, now: int, not_before: int, not_after: int, last_notify_check: int,
                 last_enroll_check: int, notify_ttls: tuple[int, ...],
                 enroll_ttls: tuple[int, ...], monitor: bool, autorenew: bool,
                 key_issued_count: int, max_key_use_count: int, key_generated_date: int,
                 max_key_lifetime: int) -> ExpiryCheck:
    """certmonger's MONITORING decision: warn, renew, and whether renewal needs a new key."""
    if not_after <= 0 or (not_before > 0 and now - not_before < MIN_CERT_AGE):
        return ExpiryCheck(False, False, False)
    notify = monitor and crossed(notify_ttls, not_after, last_notify_check, now)
    renew = autorenew and crossed(enroll_ttls, not_after, last_enroll_check, now)
    rekey = False
    if renew:
        if max_key_use_count > 0 and key_issued_count >= max_key_use_count:
            rekey = True
        if max_key_lifetime > 0 and key_generated_date > 0 and \
                now - key_generated_date >= max_key_lifetime:
            rekey = True
    return ExpiryCheck(notify, renew, rekey)


def monitor_delay(*, now: int, not_after: int, ttls: tuple[int, ...]) -> int:
    """Seconds until the next MONITORING check.

    Wake 5 s after the next threshold is crossed; with no threshold ahead and under 48 h
    left, after half the time left; else after a day; clamped to [30 min, 7 days].  An
    expired (or unknown) certificate is looked at again in a day.
    """
    if not_after <= 0 or not_after <= now:
        return MONITOR_POLL
    left = not_after - now
    ahead = [t for t in ttls if t < left]
    if ahead:
        delay = left - max(ahead) + SOON
    elif left < 2 * 86400:
        delay = left // 2
    else:
        delay = MONITOR_POLL
    return _clamp(delay, MONITOR_POLL_MIN, MONITOR_POLL_MAX)


def ca_delay(*, now: int, not_after: int, helper_delay: int | None) -> int:
    """Seconds before asking a working CA again (certmonger's cm_decide_ca_delay)."""
    if helper_delay is not None and helper_delay >= 0:
        return helper_delay
    delay = CA_POLL
    if not_after > 0 and 0 < not_after - now < 14 * 86400:
        delay = (not_after - now) // 2
    return _clamp(delay, CA_POLL_MIN, CA_POLL_MAX)


def unreachable_delay(*, retries: int, helper_delay: int | None,
                      rng: random.Random | None = None) -> int:
    """Seconds before retrying an unreachable CA: 1 min doubling to 6 h, +-10% jitter.

    A delay the helper asked for wins.  The jitter keeps a fleet that lost its CA at the
    same moment from coming back at the same moment.
    """
    if helper_delay is not None and helper_delay > 0:
        return helper_delay
    base = min(BACKOFF_MAX, BACKOFF_FIRST * (2 ** min(max(retries, 0), 20)))
    jitter = (rng or random).uniform(-0.1, 0.1)
    return max(SOONISH, int(base * (1 + jitter)))
