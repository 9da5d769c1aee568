"""Where the daemon keeps its state, from certmonger's environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    """The daemon's directories and files."""

    requests_dir: Path
    cas_dir: Path
    local_ca_dir: Path
    config_dir: Path
    tmp_dir: Path
    lock_file: Path

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, *, session: bool = False) -> Paths:
        """The system daemon's defaults (or the session's), overridden by CERTMONGER_*."""
        env = dict(os.environ if env is None else env)
        if session:
            base = Path(env.get("HOME", "/root")) / ".config" / "certmonger"
            defaults = {
                "CERTMONGER_REQUESTS_DIR": base / "requests",
                "CERTMONGER_CAS_DIR": base / "cas",
                "CERTMONGER_LOCAL_CA_DIR": base / "local",
                "CERTMONGER_CONFIG_DIR": base,
                "CERTMONGER_TMPDIR": Path("/var/tmp"),
                "CERTMONGER_SYSTEM_LOCK_FILE": base / "lock",
            }
        else:
            defaults = {
                "CERTMONGER_REQUESTS_DIR": Path("/var/lib/certmonger/requests"),
                "CERTMONGER_CAS_DIR": Path("/var/lib/certmonger/cas"),
                "CERTMONGER_LOCAL_CA_DIR": Path("/var/lib/certmonger/local"),
                "CERTMONGER_CONFIG_DIR": Path("/etc/certmonger"),
                "CERTMONGER_TMPDIR": Path("/run/certmonger"),
                "CERTMONGER_SYSTEM_LOCK_FILE": Path("/var/lib/certmonger/lock"),
            }

        def pick(name: str) -> Path:
            value = env.get(name)
            return Path(value) if value else defaults[name]

        return cls(
            requests_dir=pick("CERTMONGER_REQUESTS_DIR"),
            cas_dir=pick("CERTMONGER_CAS_DIR"),
            local_ca_dir=pick("CERTMONGER_LOCAL_CA_DIR"),
            config_dir=pick("CERTMONGER_CONFIG_DIR"),
            tmp_dir=pick("CERTMONGER_TMPDIR"),
            lock_file=pick("CERTMONGER_SYSTEM_LOCK_FILE"),
        )
