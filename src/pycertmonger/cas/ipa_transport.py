"""Authenticated JSON-RPC calls to a FreeIPA server: Kerberos credentials and HTTPS.

As ipa-submit does: credentials come from a keytab (`-t`, else the default keytab) for
`-k`, else the host principal, and are kept in a private in-memory ccache; `-K` uses
the default ccache, `-u` with `-W`/`-w` HTTP Basic.  HTTP uses Negotiate (SPNEGO)
without delegation; TLS is verified against the IPA CA file.  A KDC that cannot be
reached is UNREACHABLE, every other credential problem UNCONFIGURED.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import logging
import os
import re
import threading
import uuid
from typing import Any

from .base import OutcomeKind
from .ipa_config import IPASettings
from .ipa_rpc import RPCAnswer, read_answer

log = logging.getLogger(__name__)

DEFAULT_KEYTAB = "FILE:/etc/krb5.keytab"
# MIT krb5 error codes (krb5_err.et) that mean "the KDC could not be reached"; certmonger
# reports them as UNREACHABLE and every other credential failure as UNCONFIGURED.
_KRB5_KDC_UNREACH = -1765328228
_KRB5_REALM_CANT_RESOLVE = -1765328164
_KDC_UNREACHABLE = {_KRB5_KDC_UNREACH & 0xFFFFFFFF, _KRB5_REALM_CANT_RESOLVE & 0xFFFFFFFF}


class CredentialsError(Exception):
    """No credentials to authenticate with; `kind` is UNREACHABLE or UNCONFIGURED."""

    def __init__(self, kind: OutcomeKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def default_keytab_name() -> str:
    """libkrb5's default keytab (`KRB5_KTNAME`, krb5.conf, else /etc/krb5.keytab)."""
    name = os.environ.get("KRB5_KTNAME")
    if name:
        return name
    path = ctypes.util.find_library("krb5")
    if path:
        try:
            lib = ctypes.CDLL(path)
            ctx = ctypes.c_void_p()
            if lib.krb5_init_context(ctypes.byref(ctx)) == 0:
                try:
                    buf = ctypes.create_string_buffer(4096)
                    if lib.krb5_kt_default_name(ctx, buf, len(buf)) == 0 and buf.value:
                        return buf.value.decode("utf-8", "replace")
                finally:
                    lib.krb5_free_context(ctx)
        except (OSError, AttributeError):
            pass
    return DEFAULT_KEYTAB


def _keytab_path(name: str) -> str | None:
    """The file behind a keytab name, when it names a file."""
    if name.startswith(("FILE:", "WRFILE:")):
        return name.split(":", 1)[1]
    if re.match(r"^[A-Za-z0-9]+:", name):
        return None
    return name


def _gss_message(exc: Exception) -> str:
    """The most specific text of a GSSAPI error (the mechanism's minor status)."""
    text = str(exc)
    match = re.search(r"Minor \(\d+\): (.*)$", text, re.DOTALL)
    return (match.group(1) if match else text).strip().rstrip(".")


class IPAConnection:
    """Blocking JSON-RPC calls to one IPA server, authenticated; safe to share."""

    def __init__(self, settings: IPASettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        # One private ccache per connection: a TGT got from the keytab is reused until
        # it expires, then refreshed from the keytab by the Kerberos library.
        self._ccache = f"MEMORY:pycertmonger_ipa_{uuid.uuid4().hex}"
        self.client_realm = ""

    def _describe_setup(self, keytab: str, error: str) -> str:
        who = self.settings.submitter_principal
        return f'Error setting up ccache for "{who}" on client using keytab "{keytab}": {error}.'

    def credentials(self) -> Any:
        """GSSAPI initiator credentials (a TGT in hand); raises CredentialsError."""
        try:
            import gssapi
        except ImportError as exc:
            raise CredentialsError(OutcomeKind.UNCONFIGURED,
                                   "Kerberos support (python gssapi) is not installed.") from exc
        s = self.settings
        with self._lock:
            try:
                if s.use_ccache:
                    creds = gssapi.Credentials(usage="initiate")
                    name = str(creds.name)
                else:
                    keytab = s.keytab or default_keytab_name()
                    path = _keytab_path(keytab)
                    if path is not None and not os.path.exists(path):
                        raise CredentialsError(OutcomeKind.UNCONFIGURED, self._describe_setup(
                            keytab, "No such file or directory"))
                    principal = gssapi.Name(s.submitter_principal,
                                            gssapi.NameType.kerberos_principal)
                    creds = gssapi.Credentials(
                        name=principal, usage="initiate",
                        store={"client_keytab": keytab, "ccache": self._ccache})
                    name = str(creds.name)
            except gssapi.exceptions.GSSError as exc:
                kind = (OutcomeKind.UNREACHABLE
                        if getattr(exc, "min_code", 0) in _KDC_UNREACHABLE
                        else OutcomeKind.UNCONFIGURED)
                if s.use_ccache:
                    message = f"Error reading default ccache: {_gss_message(exc)}."
                else:
                    message = self._describe_setup(s.keytab or default_keytab_name(),
                                                   _gss_message(exc))
                raise CredentialsError(kind, message) from exc
        self.client_realm = name.rpartition("@")[2] if "@" in name else ""
        return creds

    def _auth(self) -> Any:
        if self.settings.basic_auth is not None:
            from requests.auth import HTTPBasicAuth
            return HTTPBasicAuth(*self.settings.basic_auth)
        try:
            from requests_gssapi import OPTIONAL, HTTPSPNEGOAuth
        except ImportError as exc:
            raise CredentialsError(OutcomeKind.UNCONFIGURED,
                                   "Kerberos support (requests-gssapi) is not installed.") from exc
        # Negotiate without delegation (certmonger: cm_submit_x_delegate_off); the
        # server's mutual-authentication token is checked when it sends one.
        return HTTPSPNEGOAuth(creds=self.credentials(), mutual_authentication=OPTIONAL,
                              delegate=False, opportunistic_auth=True)

    def _verify(self) -> bool | str:
        s = self.settings
        if s.cafile:
            return s.cafile
        if s.capath:
            return s.capath
        return True

    def call(self, body: dict[str, Any]) -> RPCAnswer:
        """POST one JSON-RPC call and interpret the answer (never raises for I/O)."""
        import requests

        url = self.settings.url
        try:
            auth = self._auth()
        except CredentialsError as exc:
            return RPCAnswer(exc.kind, error=str(exc))
        data = json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "Referer": url}
        log.debug("Submitting request to \"%s\".", url)
        try:
            with requests.Session() as session:
                response = session.post(url, data=data, headers=headers, auth=auth,
                                        verify=self._verify(), timeout=self.settings.timeout)
                status, content = response.status_code, response.content
        except (requests.RequestException, OSError, ValueError) as exc:
            # requests-gssapi reports Negotiate failures as RequestExceptions too.
            return RPCAnswer(OutcomeKind.UNREACHABLE,
                             error=f"Error submitting request to \"{url}\": {exc}.")
        return read_answer(url, status, content)
