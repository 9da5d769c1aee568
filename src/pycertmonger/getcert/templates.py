"""The dictionaries getcert sends to ``add_request`` and ``modify``.

Each builder returns ``(key, Variant)`` pairs in exactly the order and with exactly the
types certmonger 0.79.17's client uses (watched on the bus). The daemon side, and
tools that replay or compare what getcert sends, depend on these details, quirks
included:

* ``request`` and ``start-tracking`` always send ``TRACK``; ``request``,
  ``start-tracking``, ``resubmit`` and ``rekey`` always send ``template-is-ca`` and
  ``template-ca-path-length`` (so a resubmit resets them);
* without ``-N``/``-U``/``-K``/``-D``/``-E``/``-A``, ``request`` sends a default
  template whose EKU is the *name* ``id-kp-serverAuth`` (``-U`` values go as OIDs);
* a new ``start-tracking`` request carries the principal but not the other naming
  options, nor ``nss-user``; an existing one gets neither ``-X`` nor
  ``--ms-template-spec``.
"""

from __future__ import annotations

from dataclasses import dataclass

from dbus_fast import Variant

from pycertmonger.getcert.settings import Settings
from pycertmonger.getcert.values import ku_bitstring

Entries = list[tuple[str, Variant]]


@dataclass(frozen=True)
class Host:
    """What the default `request` template is made of."""

    hostname: str
    realm: str | None


class _Dict:
    def __init__(self) -> None:
        self.entries: Entries = []

    def s(self, key: str, value: str | None) -> None:
        if value is not None:
            self.entries.append((key, Variant("s", value)))

    def o(self, key: str, value: str | None) -> None:
        if value is not None:
            self.entries.append((key, Variant("o", value)))

    def b(self, key: str, value: bool) -> None:
        self.entries.append((key, Variant("b", value)))

    def x(self, key: str, value: int | None) -> None:
        if value is not None:
            self.entries.append((key, Variant("x", value)))

    def a(self, key: str, value: list[str] | None) -> None:
        if value is not None:
            self.entries.append((key, Variant("as", list(value))))


def _storage(d: _Dict, s: Settings, *, no_key: str | None) -> None:
    # NSS database (both key and certificate) or PEM files; `no_key` is what a lone
    # certificate file gets as KEY_STORAGE (request says NONE, start-tracking nothing).
    if s.dbdir is not None and s.nickname is not None:
        for what in ("KEY", "CERT"):
            d.s(f"{what}_STORAGE", "NSSDB")
            d.s(f"{what}_LOCATION", s.dbdir)
            d.s(f"{what}_NICKNAME", s.nickname)
            d.s(f"{what}_TOKEN", s.token)
    elif s.certfile is not None:
        if s.keyfile is not None:
            d.s("KEY_STORAGE", "FILE")
            d.s("KEY_LOCATION", s.keyfile)
        else:
            d.s("KEY_STORAGE", no_key)
        d.s("CERT_STORAGE", "FILE")
        d.s("CERT_LOCATION", s.certfile)


def _owners(d: _Dict, s: Settings, *, nss_user: bool = True) -> None:
    d.s("key-owner", s.key_owner)
    d.x("key-perms", s.key_perms)
    d.s("cert-owner", s.cert_owner)
    d.x("cert-perms", s.cert_perms)
    if nss_user:
        d.s("nss-user", s.nss_user)


def _naming(d: _Dict, s: Settings) -> None:
    d.a("template-principal", s.principal)
    d.a("template-hostname", s.dns)
    d.a("template-email", s.email)
    d.a("template-ip-address", s.ip)
    if s.ku:
        d.s("template-ku", ku_bitstring(s.ku))
    d.a("template-eku", s.eku)


def _pins(d: _Dict, s: Settings) -> None:
    d.s("KEY_PIN", s.pin)
    d.s("KEY_PIN_FILE", s.pinfile)


def _challenge(d: _Dict, s: Settings) -> None:
    d.s("template-challenge-password", s.cpass)
    d.s("template-challenge-password-file", s.cpassfile)


def _ca_flags(d: _Dict, s: Settings) -> None:
    d.b("template-is-ca", s.is_ca)
    d.x("template-ca-path-length", s.path_length)


def _tail(d: _Dict, s: Settings, *, templates: bool = True) -> None:
    d.s("template-profile", s.profile)
    if templates:
        d.s("template-ms-certificate-template", s.ms_template)
        d.s("template-issuer", s.issuer)
    d.s("cert-presave-command", s.precommand)
    d.s("cert-postsave-command", s.postcommand)
    d.a("root-cert-files", s.anchor_files)
    d.a("root-cert-nssdbs", s.anchor_dbs)


def apply_default_template(s: Settings, host: Host) -> None:
    """Fill in request's default names when the command line gives none.

    Subject ``CN=<hostname>``, DNS name ``<hostname>``, principal
    ``host/<hostname>@<realm>`` (only when a default realm is configured) and the EKU
    *name* ``id-kp-serverAuth``.
    """
    if (s.subject is None and s.eku is None and s.principal is None and s.dns is None
            and s.email is None and s.ip is None):
        s.eku = ["id-kp-serverAuth"]
        if host.realm is not None:
            s.principal = [f"host/{host.hostname}@{host.realm}"]
        s.dns = [host.hostname]
    if s.subject is None:
        s.subject = f"CN={host.hostname}"


def request_entries(s: Settings, ca_path: str | None) -> Entries:
    """add_request for `getcert request` (defaults already applied)."""
    d = _Dict()
    _storage(d, s, no_key="NONE")
    _pins(d, s)
    _challenge(d, s)
    _ca_flags(d, s)
    d.b("TRACK", True)
    d.b("RENEW", s.renew_count > 0)
    _owners(d, s)
    d.s("KEY_TYPE", s.key_type)
    if s.key_size > 0:
        d.x("KEY_SIZE", s.key_size)
    d.s("NICKNAME", s.new_id)
    d.o("CA", ca_path)
    d.s("template-subject", s.subject)
    _naming(d, s)
    _tail(d, s)
    return d.entries


def tracking_add_entries(s: Settings, ca_path: str | None) -> Entries:
    """add_request for `getcert start-tracking` of a certificate not tracked yet."""
    d = _Dict()
    d.s("NICKNAME", s.new_id)
    _storage(d, s, no_key=None)
    _pins(d, s)
    _owners(d, s, nss_user=False)
    _challenge(d, s)
    _ca_flags(d, s)
    d.b("TRACK", True)
    d.b("RENEW", s.renew_stop == 0)
    d.s("template-profile", s.profile)
    d.s("template-ms-certificate-template", s.ms_template)
    d.a("template-principal", s.principal)
    d.s("template-issuer", s.issuer)
    d.s("cert-presave-command", s.precommand)
    d.s("cert-postsave-command", s.postcommand)
    d.o("CA", ca_path)
    d.a("root-cert-files", s.anchor_files)
    d.a("root-cert-nssdbs", s.anchor_dbs)
    return d.entries


def tracking_modify_entries(s: Settings, ca_path: str | None) -> Entries:
    """modify for `getcert start-tracking` of a request that already exists."""
    d = _Dict()
    d.b("TRACK", True)
    if s.renew_start or s.renew_stop:
        d.b("RENEW", s.renew_start > 0)
    _naming(d, s)
    d.s("NICKNAME", s.new_id)
    _owners(d, s)
    _pins(d, s)
    d.o("CA", ca_path)
    _challenge(d, s)
    _ca_flags(d, s)
    _tail(d, s, templates=False)
    return d.entries


def resubmit_entries(s: Settings, ca_path: str | None) -> Entries:
    """modify for `getcert resubmit` and `getcert rekey`."""
    d = _Dict()
    _owners(d, s)
    d.s("KEY_TYPE", s.key_type)
    if s.key_size > 0:
        d.x("KEY_SIZE", s.key_size)
    d.s("NICKNAME", s.new_id)
    d.o("CA", ca_path)
    d.s("template-subject", s.subject)
    _naming(d, s)
    _pins(d, s)
    _challenge(d, s)
    _ca_flags(d, s)
    _tail(d, s)
    return d.entries


def shell_escape(text: str) -> str:
    """A backslash before each character a shell would treat specially, as getcert does."""
    return "".join("\\" + c if c in "|&;()<>\"' \t" else c for c in text)


SCEP_HELPER = "/usr/lib/certmonger/scep-submit"


def scep_command(s: Settings, helper: str = SCEP_HELPER) -> str:
    """The helper command line `add-scep-ca` registers.

    certmonger fills a fixed pattern, so every option that is not given leaves an
    empty word and the spaces around it: with no options the URL is followed by 11
    spaces. The daemon stores the string as it comes.
    """
    parts = [shell_escape(helper), "-u", shell_escape(s.scep_url or "")]
    for flag, value in (("-R", s.scep_root), ("-r", s.scep_ra), ("-i", s.scep_id),
                        ("-I", s.scep_other), ("-N", s.scep_signing)):
        parts += [flag, shell_escape(value)] if value is not None else ["", ""]
    parts.append("-n" if s.scep_non_renewal else "")
    return " ".join(parts)
