"""What a getcert command line asks for, read option by option as the stock client does.

`Reader.apply` is called for each option in command-line order. Like certmonger's
client it checks values on the spot (locations, key types, key usage names, OIDs,
principal names), printing messages as it goes and stopping at the first bad one, so
that the output of a bad command line matches the stock client's line for line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pycertmonger.getcert import krb5, paths, values
from pycertmonger.getcert.console import Stop
from pycertmonger.getcert.popt import Option


@dataclass
class Settings:
    """The options of one getcert run, after checking and conversion."""

    session: bool = False
    verbose: int = 0
    help: bool = False
    popt_help: bool = False
    json: bool = False
    # where the key and certificate live
    dbdir: str | None = None
    nickname: str | None = None
    token: str | None = None
    keyfile: str | None = None
    certfile: str | None = None
    pin: str | None = None
    pinfile: str | None = None
    # which request
    id: str | None = None
    new_id: str | None = None
    # key generation
    key_type: str | None = None
    key_size: int = 0
    # -r/-R: `request` counts like certmonger (starts at 1, -r adds one, -R zeroes);
    # start-tracking keeps the two counts apart.
    renew_count: int = 1
    renew_start: int = 0
    renew_stop: int = 0
    ca: str | None = None
    profile: str | None = None
    issuer: str | None = None
    ms_template: str | None = None
    # what to ask for in the CSR
    subject: str | None = None
    ku: int = 0
    eku: list[str] | None = None
    principal: list[str] | None = None
    dns: list[str] | None = None
    email: list[str] | None = None
    ip: list[str] | None = None
    cpass: str | None = None
    cpassfile: str | None = None
    is_ca: bool = False
    path_length: int = -1
    # saving
    precommand: str | None = None
    postcommand: str | None = None
    anchor_files: list[str] | None = None
    anchor_dbs: list[str] | None = None
    key_owner: str | None = None
    key_perms: int | None = None
    cert_owner: str | None = None
    cert_perms: int | None = None
    nss_user: str | None = None
    # waiting
    wait: bool = False
    wait_timeout: int | None = None
    # list, refresh, refresh-ca
    all: bool = False
    requests_only: bool = False
    tracking_only: bool = False
    utc: bool = False
    # CA management
    command: str | None = None
    scep_url: str | None = None
    scep_id: str | None = None
    scep_root: str | None = None
    scep_ra: str | None = None
    scep_other: str | None = None
    scep_signing: str | None = None
    scep_non_renewal: bool = False
    extra: list[str] = field(default_factory=list)


def _append(current: list[str] | None, value: str) -> list[str]:
    return [*(current or []), value]


# Flags `stop-tracking` accepts in its table but refuses (usage, no message).
_REFUSED_BY_STOP_TRACKING = frozenset({"renew", "no_renew", "wait"})

_SCEP_FILES = {
    "scep_root": "root certificate(s)",
    "scep_ra": "RA certificate(s)",
    "scep_other": "certificate(s)",
    "scep_signing": "certificate(s)",
}


class Reader:
    """Applies options to a Settings for one subcommand."""

    def __init__(self, subcommand: str, say: Callable[[str], None],
                 realm: Callable[[], str | None], cwd: str | None = None,
                 settings: Settings | None = None) -> None:
        self.subcommand = subcommand
        self.settings = settings if settings is not None else Settings()
        self._say = say
        self._realm = realm
        self._cwd = cwd

    def _pem(self, path: str) -> str:
        try:
            return paths.ensure_pem(path, self._say, self._cwd)
        except paths.PathError:
            raise Stop(1) from None

    def _nss(self, path: str) -> str:
        try:
            return paths.ensure_nss(path, self._say, self._cwd)
        except paths.PathError:
            raise Stop(1) from None

    def apply(self, option: Option, value: str | int | None) -> None:
        """Take one option into the settings, checking its value as getcert does."""
        s = self.settings
        dest = option.dest
        text = value if isinstance(value, str) else ""
        if self.subcommand == "stop-tracking" and dest in _REFUSED_BY_STOP_TRACKING:
            raise Stop(1, usage=True)
        if self.subcommand == "refresh":
            # refresh's -a forgets the selectors given before it, and a selector
            # given after -a cancels it (certmonger's order-dependent handling).
            if dest == "all":
                s.dbdir = s.nickname = s.certfile = s.id = None
            elif dest in ("dbdir", "nickname", "certfile", "id"):
                s.all = False
        if dest in ("session", "system"):
            s.session = dest == "session"
        elif dest == "verbose":
            s.verbose += 1
        elif dest in ("help", "popt_help", "json", "all", "requests_only", "tracking_only",
                      "utc", "wait", "scep_non_renewal"):
            setattr(s, dest, True)
        elif dest == "dbdir":
            s.dbdir = self._nss(text)
        elif dest == "anchor_db":
            s.anchor_dbs = _append(s.anchor_dbs, self._nss(text))
        elif dest in ("certfile", "keyfile"):
            setattr(s, dest, self._pem(text))
        elif dest == "anchor_file":
            s.anchor_files = _append(s.anchor_files, self._pem(text))
        elif dest == "key_type":
            if not values.key_type_supported(text):
                self._say(f'No support for generating "{text}" keys.')
                self._say("Known key types include: RSA EC")
                raise Stop(1)
            s.key_type = text
        elif dest == "key_size":
            s.key_size = values.atoi(text)
        elif dest in ("key_perms", "cert_perms"):
            setattr(s, dest, values.octal_mode(text))
        elif dest == "renew":
            s.renew_count += 1
            s.renew_start += 1
        elif dest == "no_renew":
            s.renew_count = 0
            s.renew_stop += 1
        elif dest == "ku":
            bit = values.ku_bit(text)
            if bit is None:
                self._say(f'Unrecognized keyUsage "{text}".')
                raise Stop(1)
            s.ku |= 1 << bit
        elif dest == "eku":
            oid = values.oid_from_name(text)
            if oid is None:
                self._say(f'Could not evaluate OID "{text}".')
                raise Stop(1)
            s.eku = _append(s.eku, oid)
        elif dest == "principal":
            s.principal = _append(s.principal, self._principal(text))
        elif dest in ("dns", "email", "ip"):
            setattr(s, dest, _append(getattr(s, dest), text))
        elif dest == "for_ca":
            s.is_ca = True
        elif dest == "not_for_ca":
            s.is_ca = False
        elif dest in ("path_length", "wait_timeout"):
            setattr(s, dest, value)
        elif dest in _SCEP_FILES:
            try:
                paths.check_pem_file(text, _SCEP_FILES[dest], self._say)
            except paths.PathError:
                raise Stop(1) from None
            setattr(s, dest, text)
        else:
            setattr(s, dest, value)

    def _principal(self, text: str) -> str:
        if not text:
            return ""
        try:
            return krb5.canonical_principal(text, self._realm())
        except krb5.PrincipalError as e:
            self._say(f'Error parsing Kerberos principal name "{text}": {e.reason}.')
            raise Stop(1) from None
