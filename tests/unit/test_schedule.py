"""When to look again: thresholds, monitoring wake-ups, polling and backoff."""

from __future__ import annotations

import itertools
import random

from pycertmonger import schedule
from pycertmonger.config import DEFAULT_TTLS

DAY = 86400
NOW = 1_800_000_000


def check(**kw):
    args = {"now": NOW, "not_before": NOW - 300 * DAY, "not_after": NOW + 65 * DAY,
            "last_notify_check": 0, "last_enroll_check": 0, "notify_ttls": DEFAULT_TTLS,
            "enroll_ttls": DEFAULT_TTLS, "monitor": True, "autorenew": True,
            "key_issued_count": 1, "max_key_use_count": 0,
            "key_generated_date": NOW - 300 * DAY, "max_key_lifetime": 0}
    args.update(kw)
    return schedule.check_expiry(**args)


def test_a_threshold_is_crossed_once_time_left_drops_below_it() -> None:
    not_after = NOW + 27 * DAY
    assert schedule.crossed(DEFAULT_TTLS, not_after, NOW - DAY * 2, NOW)
    assert not schedule.crossed(DEFAULT_TTLS, not_after, NOW - 60, NOW)


def test_an_expired_certificate_always_counts_as_crossed() -> None:
    assert schedule.crossed(DEFAULT_TTLS, NOW - 1, NOW - 1, NOW)


def test_a_fresh_year_long_certificate_triggers_nothing() -> None:
    result = check(not_after=NOW + 300 * DAY)
    assert not result.notify and not result.renew


def test_inside_28_days_it_warns_and_renews() -> None:
    result = check(not_after=NOW + 20 * DAY)
    assert result.notify and result.renew and not result.rekey


def test_a_certificate_younger_than_30_minutes_triggers_nothing() -> None:
    result = check(not_before=NOW - 60, not_after=NOW + 20 * DAY)
    assert not result.notify and not result.renew


def test_autorenew_off_only_warns() -> None:
    result = check(not_after=NOW + 20 * DAY, autorenew=False)
    assert result.notify and not result.renew


def test_max_key_use_count_forces_a_new_key() -> None:
    assert check(not_after=NOW + 20 * DAY, max_key_use_count=1).rekey


def test_max_key_lifetime_compares_the_keys_age() -> None:
    assert check(not_after=NOW + 20 * DAY, max_key_lifetime=200 * DAY).rekey
    assert not check(not_after=NOW + 20 * DAY, max_key_lifetime=400 * DAY).rekey


def test_monitor_wakes_just_after_the_next_threshold() -> None:
    delay = schedule.monitor_delay(now=NOW, not_after=NOW + 30 * DAY, ttls=DEFAULT_TTLS)
    assert delay == 2 * DAY + 5


def test_monitor_delay_is_clamped_to_a_week() -> None:
    assert schedule.monitor_delay(now=NOW, not_after=NOW + 300 * DAY,
                                  ttls=DEFAULT_TTLS) == 7 * DAY


def test_monitor_delay_is_at_least_30_minutes() -> None:
    assert schedule.monitor_delay(now=NOW, not_after=NOW + 3601, ttls=DEFAULT_TTLS) == 1800


def test_ca_delay_defaults_to_a_week_and_honours_the_helper() -> None:
    assert schedule.ca_delay(now=NOW, not_after=0, helper_delay=None) == 7 * DAY
    assert schedule.ca_delay(now=NOW, not_after=0, helper_delay=13) == 13


def test_ca_delay_halves_the_time_left_near_expiry() -> None:
    assert schedule.ca_delay(now=NOW, not_after=NOW + 4 * DAY, helper_delay=None) == 2 * DAY


def test_unreachable_retries_back_off_exponentially_up_to_six_hours() -> None:
    rng = random.Random(1)
    delays = [schedule.unreachable_delay(retries=n, helper_delay=None, rng=rng)
              for n in range(12)]
    assert 54 <= delays[0] <= 66
    assert all(b > a for a, b in itertools.pairwise(delays[:8]))
    assert max(delays) <= 6 * 3600 * 1.1


def test_unreachable_retry_honours_a_helper_delay() -> None:
    assert schedule.unreachable_delay(retries=5, helper_delay=42) == 42
