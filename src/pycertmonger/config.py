"""certmonger.conf: the daemon's settings, read the way certmonger reads them.

The file is INI-like: `[section]` headers, `key = value` lines, `#` comments; names are
case-sensitive, surrounding whitespace is ignored and lines do not continue.  A missing
or unreadable file means every default.  Durations use certmonger's delta syntax: a
bare number is seconds, otherwise numbers with the units y M w d h m s (`1y 2M 3d`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_TTLS = (2419200, 604800, 259200, 172800, 86400, 43200, 21600, 7200, 3600)

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400,
                 "M": 30 * 86400, "y": 365 * 86400}
_DELTA_ITEM = re.compile(r"(\d+)\s*([yMwdhms]?)")


class ConfigError(ValueError):
    """A setting could not be understood."""


def parse_delta(text: str) -> int:
    """Seconds in a certmonger duration such as `1y`, `6M`, `2w 3d` or `3600`."""
    text = text.strip()
    if not text:
        raise ConfigError("empty duration")
    pos, total = 0, 0
    for match in _DELTA_ITEM.finditer(text):
        if text[pos:match.start()].strip():
            raise ConfigError(f"bad duration {text!r}")
        total += int(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
        pos = match.end()
    if pos == 0 or text[pos:].strip():
        raise ConfigError(f"bad duration {text!r}")
    return total


def parse_ttls(text: str) -> tuple[int, ...]:
    """A list of durations separated by spaces, tabs or commas, largest first."""
    items = [item for item in re.split(r"[\s,]+", text.strip()) if item]
    return tuple(sorted((parse_delta(item) for item in items), reverse=True))


def parse_bool(text: str) -> bool:
    """certmonger's booleans: yes/no/true/false (and 1/0, on/off)."""
    value = text.strip().lower()
    if value in {"yes", "true", "1", "on", "y", "t"}:
        return True
    if value in {"no", "false", "0", "off", "n", "f"}:
        return False
    raise ConfigError(f"bad boolean {text!r}")


def parse_ini(text: str) -> dict[str, dict[str, str]]:
    """Sections of `key = value` pairs; later duplicates win."""
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1].strip(), {})
        elif "=" in line and current is not None:
            key, value = line.split("=", 1)
            current[key.strip()] = value.strip()
    return sections


@dataclass
class Config:
    """Effective settings: certmonger.conf over certmonger's defaults."""

    notify_ttls: tuple[int, ...] = DEFAULT_TTLS
    enroll_ttls: tuple[int, ...] = DEFAULT_TTLS
    notification_method: str = "syslog"
    notification_destination: str = "daemon.notice"
    key_type: str = "RSA"
    rsa_key_size: int = 2048
    symmetric_cipher: str = "aes128"
    digest: str = "sha256"
    nss_ca_trust: str = "CT,C,C"
    nss_other_trust: str = ",,"
    max_key_use_count: int = 0
    max_key_lifetime: int = 0
    default_ca: str = ""
    selfsign_validity: int = 365 * 86400
    selfsign_populate_unique_id: bool = False
    local_validity: int = 365 * 86400
    scep_challenge_password_otp: bool = False
    problems: list[str] = field(default_factory=list)

    @classmethod
    def from_text(cls, text: str) -> Config:
        """Settings from the text of a certmonger.conf; bad values keep their default."""
        conf = cls()
        ini = parse_ini(text)
        defaults = ini.get("defaults", {})
        selfsign = ini.get("selfsign", {})
        local = ini.get("local", {})
        scep = ini.get("scep", {})

        def setting(section: dict[str, str], key: str, convert, attr: str) -> None:
            if key not in section:
                return
            try:
                setattr(conf, attr, convert(section[key]))
            except (ConfigError, ValueError) as exc:
                conf.problems.append(f"{key}: {exc}")

        if "ttls" in defaults:
            setting(defaults, "ttls", parse_ttls, "notify_ttls")
            setting(defaults, "ttls", parse_ttls, "enroll_ttls")
        setting(defaults, "notify_ttls", parse_ttls, "notify_ttls")
        setting(defaults, "enroll_ttls", parse_ttls, "enroll_ttls")
        setting(defaults, "notification_method", str.lower, "notification_method")
        setting(defaults, "notification_destination", str, "notification_destination")
        setting(defaults, "key_type", _key_type, "key_type")
        setting(defaults, "rsa_key_size", _rsa_size, "rsa_key_size")
        setting(defaults, "symmetric_cipher", str.lower, "symmetric_cipher")
        setting(defaults, "digest", str.lower, "digest")
        setting(defaults, "nss_ca_trust", str, "nss_ca_trust")
        setting(defaults, "nss_other_trust", str, "nss_other_trust")
        setting(defaults, "max_key_use_count", int, "max_key_use_count")
        setting(defaults, "max_key_lifetime", parse_delta, "max_key_lifetime")
        setting(defaults, "default_ca", str, "default_ca")
        setting(selfsign, "validity_period", parse_delta, "selfsign_validity")
        setting(selfsign, "populate_unique_id", parse_bool, "selfsign_populate_unique_id")
        conf.local_validity = conf.selfsign_validity
        setting(local, "validity_period", parse_delta, "local_validity")
        setting(scep, "challenge_password_otp", parse_bool, "scep_challenge_password_otp")
        return conf

    @classmethod
    def load(cls, config_dir: str | os.PathLike[str]) -> Config:
        """Settings from `<config_dir>/certmonger.conf`; all defaults when it is missing."""
        try:
            text = (Path(config_dir) / "certmonger.conf").read_text(errors="replace")
        except OSError:
            return cls()
        return cls.from_text(text)


def _key_type(text: str) -> str:
    value = text.strip().upper()
    if value == "ECDSA":
        value = "EC"
    if value not in {"RSA", "EC"}:
        raise ConfigError(f"unsupported key type {text!r}")
    return value


def _rsa_size(text: str) -> int:
    size = int(text)
    if size < 1024:
        raise ConfigError("rsa_key_size below 1024 is ignored")
    return size
