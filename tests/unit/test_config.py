"""certmonger.conf parsing."""

from __future__ import annotations

import pytest

from pycertmonger.config import DEFAULT_TTLS, Config, ConfigError, parse_delta


@pytest.mark.parametrize("text,seconds", [
    ("3600", 3600), ("1h", 3600), ("2w", 14 * 86400), ("1y", 365 * 86400),
    ("1y 2M 3d", 365 * 86400 + 60 * 86400 + 3 * 86400), ("90s", 90),
])
def test_durations_use_certmongers_units(text: str, seconds: int) -> None:
    assert parse_delta(text) == seconds


def test_bad_durations_are_refused() -> None:
    with pytest.raises(ConfigError):
        parse_delta("soon")


def test_defaults_match_certmonger() -> None:
    conf = Config.from_text("")
    assert conf.enroll_ttls == DEFAULT_TTLS and conf.notify_ttls == DEFAULT_TTLS
    assert conf.key_type == "RSA" and conf.rsa_key_size == 2048
    assert conf.notification_method == "syslog"
    assert conf.notification_destination == "daemon.notice"
    assert conf.selfsign_validity == 365 * 86400


def test_settings_are_read_from_their_sections() -> None:
    conf = Config.from_text("""
        # a comment
        [defaults]
        enroll_ttls = 1d, 2h
        default_ca = local   # trailing comment
        key_type = ECDSA
        [selfsign]
        validity_period = 2y
        [local]
        validity_period = 30d
    """)
    assert conf.enroll_ttls == (86400, 7200)
    assert conf.notify_ttls == DEFAULT_TTLS
    assert conf.default_ca == "local"
    assert conf.key_type == "EC"
    assert conf.selfsign_validity == 2 * 365 * 86400
    assert conf.local_validity == 30 * 86400


def test_ttls_is_the_fallback_for_both_lists() -> None:
    conf = Config.from_text("[defaults]\nttls = 3d\n")
    assert conf.enroll_ttls == conf.notify_ttls == (3 * 86400,)


def test_local_validity_falls_back_to_selfsign() -> None:
    assert Config.from_text("[selfsign]\nvalidity_period = 90d\n").local_validity == 90 * 86400


def test_a_bad_value_keeps_the_default_and_is_reported() -> None:
    conf = Config.from_text("[defaults]\nrsa_key_size = 512\n")
    assert conf.rsa_key_size == 2048 and conf.problems


def test_a_missing_file_means_defaults(tmp_path) -> None:
    assert Config.load(tmp_path) == Config()
