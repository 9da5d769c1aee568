"""The work behind each state: keys, CSRs, submissions, saving, hooks, notifications.

`Effects.run(action, request)` does one `machine.Action` for one request and reports an
`ActionResult`: the outcome for the state machine, which record fields changed, and
anything to do once the new state is announced.  CPU work (key generation, signing) runs
in the engine's thread pool; blocking file and NSS I/O too, one writer at a time per
storage target.  CA data (IDENTIFY, FETCH-ROOTS, ...) is refreshed here as well.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import notify, schedule
from .cas.base import CABackend, CADataOp, CADataOutcome, OutcomeKind, Submission, SubmitOutcome
from .keystores.base import (
    KeyStore,
    KeyStoreError,
    KeyStorePermissionError,
    KeyStorePinError,
    KeyStoreTokenError,
    StoredKey,
)
from .machine import Action, Facts, Outcome
from .model import CA, CertList, Request, State

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger(__name__)

LOCAL_SUBMIT_NAMES = {"local-submit", "pycertmonger-local-submit"}
IPA_SUBMIT_NAMES = {"ipa-submit", "pycertmonger-ipa-submit"}

# The CA fields FETCH-ROOTS fills.
_CA_CERT_FIELDS = {"root_certs", "other_root_certs", "other_certs"}

_KIND_TO_OUTCOME = {
    OutcomeKind.ISSUED: Outcome.ISSUED,
    OutcomeKind.WAIT: Outcome.WAIT,
    OutcomeKind.REJECTED: Outcome.REJECTED,
    OutcomeKind.UNREACHABLE: Outcome.UNREACHABLE,
    OutcomeKind.UNCONFIGURED: Outcome.UNCONFIGURED,
    OutcomeKind.NEED_GUIDANCE: Outcome.NEED_GUIDANCE,
    OutcomeKind.NOT_SUPPORTED: Outcome.NEED_GUIDANCE,
    OutcomeKind.NEED_SCEP_MESSAGES: Outcome.NEED_SCEP,
    OutcomeKind.NEED_REKEY: Outcome.NEED_REKEY,
}

_STORE_ERRORS: list[tuple[type[KeyStoreError], Outcome]] = [
    (KeyStorePermissionError, Outcome.PERMS),
    (KeyStorePinError, Outcome.PIN),
    (KeyStoreTokenError, Outcome.TOKEN),
]

KEY_FIELDS = {"key_type", "key_size", "key_pubkey", "key_pubkey_info", "key_generated_date",
              "key_requested_count", "key_issued_count", "key_next_marker",
              "key_next_pubkey", "key_next_pubkey_info", "key_next_generated_date",
              "key_next_requested_count", "key_next_type", "key_next_size"}
CERT_INFO_FIELDS = {"cert", "cert_issuer_der", "cert_issuer", "cert_serial", "cert_subject_der",
                    "cert_subject", "cert_spki", "cert_not_before", "cert_not_after",
                    "cert_hostname", "cert_email", "cert_principal", "cert_ipaddress",
                    "cert_ku", "cert_eku", "cert_is_ca", "cert_ca_path_length", "cert_crldp",
                    "cert_freshest_crl", "cert_ocsp", "cert_ns_comment", "cert_profile",
                    "cert_no_ocsp_check"}


# The actions that only send a notification, and which one.
_NOTIFICATIONS = {
    Action.NOTIFY_ISSUED: notify.NotifyEvent.ISSUED_SAVED,
    Action.NOTIFY_REJECTED: notify.NotifyEvent.REJECTED,
    Action.NOTIFY_SAVE_FAILED: notify.NotifyEvent.ISSUED_NOT_SAVED,
    Action.NOTIFY_CA_SAVE_FAILED: notify.NotifyEvent.ISSUED_CA_NOT_SAVED,
    Action.NOTIFY_ONLY_CA_SAVE_FAILED: notify.NotifyEvent.CA_NOT_SAVED,
}


@dataclass
class ActionResult:
    """What one action came to."""

    outcome: Outcome
    changed: set[str] = field(default_factory=set)
    facts: Facts = field(default_factory=Facts)
    delay: int | None = None
    after: list[Callable[[], None]] = field(default_factory=list)


def _outcome_for_store_error(exc: KeyStoreError) -> Outcome:
    for cls, outcome in _STORE_ERRORS:
        if isinstance(exc, cls):
            return outcome
    return Outcome.FAILED


def new_marker() -> str:
    """certmonger's candidate-key marker: base64 of 6 random bytes, file-name safe."""
    return base64.b64encode(secrets.token_bytes(6)).decode().replace("+", "=").replace("/", "_")


class Effects:
    """Performs the machine's actions for an engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._keys: dict[int, StoredKey] = {}
        self._backends: dict[int, CABackend] = {}
        self._stores: dict[str, KeyStore] = {}

    # -- plumbing ----------------------------------------------------------------------

    async def _thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(
            self.engine.executor, lambda: fn(*args))

    def keystore(self, storage_type: str) -> KeyStore:
        """The key store for a storage type (FILE or NSSDB)."""
        kind = storage_type.upper()
        store = self._stores.get(kind)
        if store is None:
            if kind == "NSSDB":
                from .keystores.nssdb import NSSDBKeyStore
                store = NSSDBKeyStore()
            else:
                from .keystores.file import FileKeyStore
                store = FileKeyStore(cipher=self.engine.config.symmetric_cipher)
            self._stores[kind] = store
        return store

    def daemon_env(self) -> dict[str, str]:
        """The daemon's environment, with the directories it actually uses filled in."""
        env = dict(self.engine.environ)
        env.setdefault("CERTMONGER_LOCAL_CA_DIR", str(self.engine.paths.local_ca_dir))
        env.setdefault("CERTMONGER_TMPDIR", str(self.engine.paths.tmp_dir))
        return env

    def helper_env(self) -> dict[str, str]:
        """The environment helpers, hooks and notification commands start with."""
        from .subproc import base_environment
        return base_environment(self.daemon_env())

    def forget(self, request: Request) -> None:
        """Drop cached data of a removed request."""
        self._keys.pop(id(request), None)

    def forget_all_backends(self) -> None:
        """Drop every cached back-end (the settings they were made with changed)."""
        self._backends.clear()

    def forget_ca(self, ca: CA) -> None:
        """Drop the cached back-end of a changed or removed CA."""
        self._backends.pop(id(ca), None)

    def ca_for(self, request: Request) -> CA | None:
        """The request's CA, if it names one that exists."""
        if not request.ca_name:
            return None
        return self.engine.ca_by_nickname(request.ca_name)

    def backend_for(self, ca: CA) -> CABackend:
        """The back-end that speaks for `ca`: in process where we can, else its helper."""
        backend = self._backends.get(id(ca))
        if backend is not None:
            return backend
        engine = self.engine
        if ca.is_internal_self:
            from .cas.selfsign import SelfSignBackend
            backend = SelfSignBackend(next_serial=lambda: self._next_selfsign_serial(ca),
                                      validity=engine.config.selfsign_validity,
                                      digest=engine.config.digest, clock=engine.clock.time)
        else:
            backend = self._external_backend(ca)
        self._backends[id(ca)] = backend
        return backend

    def _external_backend(self, ca: CA) -> CABackend:
        from .subproc import split_command
        engine = self.engine
        try:
            argv = split_command(ca.external_helper)
        except ValueError:
            argv = []
        program = os.path.basename(argv[0]) if argv else ""
        directory = None
        if program in LOCAL_SUBMIT_NAMES:
            directory = local_submit_directory(argv[1:], str(engine.paths.local_ca_dir))
        if directory is not None:
            from .cas.local import LocalBackend
            return LocalBackend(directory, validity=engine.config.local_validity,
                                clock=engine.clock.time)
        if program in IPA_SUBMIT_NAMES:
            try:
                from .cas.ipa import IPABackend
            except ImportError:
                pass
            else:
                return IPABackend.from_command(argv, env=dict(engine.environ))
        from .cas.helper import ExternalHelperBackend
        from .cas.scep_messages import decrypt_submission_envelope
        return ExternalHelperBackend(ca.external_helper, ca.nickname,
                                     daemon_env=self.daemon_env(),
                                     decrypt=decrypt_submission_envelope)

    def _next_selfsign_serial(self, ca: CA) -> int:
        try:
            serial = int(ca.internal_serial or "1", 16)
        except ValueError:
            serial = 1
        nxt = format(serial + 1, "X")
        ca.internal_serial = ("0" + nxt) if len(nxt) % 2 else nxt
        self.engine.cas_dir.save(ca)
        return serial

    # -- dispatch ----------------------------------------------------------------------

    async def run(self, action: Action, request: Request) -> ActionResult:
        """Do `action` for `request`."""
        from .machine import WORKING
        if action not in (Action.PRE_SAVE, Action.POST_SAVE):
            for state in WORKING[action]:
                self.engine.set_state(request, state)
        event = _NOTIFICATIONS.get(action)
        if event is not None:
            await self._notify(request, event)
            return ActionResult(Outcome.OK)
        return await getattr(self, "_" + action.name.lower())(request)

    # -- keys --------------------------------------------------------------------------

    def _apply_key(self, request: Request, key: StoredKey) -> set[str]:
        request.key_type, request.key_size = key.key_type, key.key_size
        request.key_pubkey_info, request.key_pubkey = key.pubkey_info, key.pubkey
        return {"key_type", "key_size", "key_pubkey_info", "key_pubkey"}

    async def _current_key(self, request: Request) -> StoredKey | None:
        cached = self._keys.get(id(request))
        if cached is not None:
            return cached
        if request.key_storage_type.upper() == "NONE":
            return None
        marker = request.key_next_marker or None
        store = self.keystore(request.key_storage_type)
        key = await self._thread(store.read_key, request, marker)
        if key is None and marker:
            key = await self._thread(store.read_key, request, None)
        if key is not None:
            self._keys[id(request)] = key
        return key

    async def _read_existing(self, request: Request) -> ActionResult:
        changed: set[str] = set()
        self._choose_ca(request, changed)
        self._keys.pop(id(request), None)
        key: StoredKey | None = None
        if request.key_storage_type.upper() not in ("", "NONE"):
            try:
                store = self.keystore(request.key_storage_type)
                key = await self._thread(store.read_key, request, None)
            except KeyStoreError as exc:
                outcome = _outcome_for_store_error(exc)
                if outcome in (Outcome.PIN, Outcome.TOKEN):
                    request.ca_error = str(exc)
                    return ActionResult(outcome, changed | {"ca_error"})
                key = None
        if key is not None:
            self._keys[id(request)] = key
            changed |= self._apply_key(request, key)
        cert_pem = await self._read_cert_pem(request)
        if cert_pem:
            changed |= self._apply_cert(request, cert_pem)
            changed |= self._fill_template_from_cert(request)
            return ActionResult(Outcome.FOUND_CERT, changed,
                                Facts(has_cert=True, ca_certs_to_save=self._ca_certs_to_save(
                                    request)))
        if request.key_storage_type.upper() in ("", "NONE"):
            return ActionResult(Outcome.NO_STORAGE, changed)
        return ActionResult(Outcome.FOUND_KEY if key else Outcome.NO_KEY, changed)

    def _choose_ca(self, request: Request, changed: set[str]) -> None:
        """certmonger's NEWLY_ADDED_DECIDING choice of a CA for a request that has none."""
        if request.ca_name:
            return
        engine = self.engine
        chosen = next((ca for ca in engine.cas() if request.cert_issuer
                       and request.cert_issuer in ca.issuer_names), None)
        chosen = chosen or next((ca for ca in engine.cas() if ca.is_default), None)
        if chosen is None and engine.config.default_ca:
            chosen = engine.ca_by_nickname(engine.config.default_ca)
        if chosen is not None:
            request.ca_name = chosen.nickname
            changed.add("ca_name")

    async def _generate_key(self, request: Request) -> ActionResult:
        from .crypto.keys import describe_key, generate_key_pem, load_private_key
        engine = self.engine
        if request.key_storage_type.upper() in ("", "NONE"):
            return ActionResult(Outcome.NO_STORAGE)
        key_type = (request.key_gen_type or engine.config.key_type).upper()
        size = request.key_gen_size or (engine.config.rsa_key_size if key_type == "RSA" else 256)
        async with engine.cpu_slots:
            pem: bytes = await self._thread(generate_key_pem, key_type, size)
        info: StoredKey = describe_key(load_private_key(pem, None))
        info = StoredKey(pem, info.key_type, info.key_size, info.pubkey_info, info.pubkey)
        store = self.keystore(request.key_storage_type)
        now = int(engine.clock.time())
        target = f"key:{request.key_storage_location}:{request.key_nickname}"
        try:
            async with engine.lock_for(target):
                existing = await self._thread(store.read_key, request, None)
                if existing is not None:
                    marker = new_marker()
                    await self._thread(store.write_key, request, pem, marker)
                    if request.key_next_marker and request.key_next_marker != marker:
                        old = request.key_next_marker
                        await self._thread(store.discard_candidate, request, old)
                    request.key_next_marker = marker
                    request.key_next_type, request.key_next_size = info.key_type, info.key_size
                    request.key_next_pubkey_info = info.pubkey_info
                    request.key_next_pubkey = info.pubkey
                    request.key_next_generated_date = now
                    request.key_next_requested_count = 0
                else:
                    await self._thread(store.write_key, request, pem, None)
                    self._apply_key(request, info)
                    request.key_generated_date = now
                    request.key_requested_count = 0
                    request.key_issued_count = 0
                    request.key_next_marker = ""
        except KeyStoreError as exc:
            request.ca_error = str(exc)
            return ActionResult(_outcome_for_store_error(exc), {"ca_error"})
        except OSError as exc:
            request.ca_error = f"Error writing key: {exc}"
            return ActionResult(Outcome.FAILED, {"ca_error"})
        self._keys[id(request)] = info
        if request.ca_error:
            request.ca_error = ""
        return ActionResult(Outcome.OK, KEY_FIELDS | {"ca_error"})

    async def _read_keyinfo(self, request: Request) -> ActionResult:
        self._keys.pop(id(request), None)
        try:
            key = await self._current_key(request)
        except KeyStoreError as exc:
            request.ca_error = str(exc)
            return ActionResult(_outcome_for_store_error(exc), {"ca_error"})
        if key is None:
            return ActionResult(Outcome.NO_KEY)
        changed: set[str] = set()
        if not request.key_next_marker:
            changed = self._apply_key(request, key)
        return ActionResult(Outcome.OK, changed)

    # -- CSR ---------------------------------------------------------------------------

    def _challenge_password(self, request: Request) -> str:
        if request.template_challenge_password:
            return request.template_challenge_password
        if request.template_challenge_password_file:
            try:
                with open(request.template_challenge_password_file) as fh:
                    return fh.read().strip()
            except OSError:
                return ""
        return ""

    async def _make_csr(self, request: Request) -> ActionResult:
        from .crypto.csr import CsrTemplate, build_csr, build_spkac
        try:
            key = await self._current_key(request)
        except KeyStoreError as exc:
            request.ca_error = str(exc)
            return ActionResult(_outcome_for_store_error(exc), {"ca_error"})
        if key is None:
            return ActionResult(Outcome.NO_KEY)
        challenge = self._challenge_password(request)
        template = CsrTemplate(
            nickname=request.cert_nickname or request.key_nickname or request.nickname,
            subject=request.template_subject or "CN=localhost",
            subject_nss_order=request.key_storage_type == "NSSDB",
            hostnames=list(request.template_hostname), emails=list(request.template_email),
            principals=list(request.template_principal),
            ip_addresses=list(request.template_ipaddress), ku=request.template_ku,
            eku=list(request.template_eku), is_ca=request.template_is_ca,
            ca_path_length=request.template_ca_path_length,
            crldp=list(request.template_crldp), ocsp=list(request.template_ocsp),
            ns_comment=request.template_ns_comment, profile=request.template_profile,
            ms_template=request.template_certificate_template,
            challenge_password=challenge,
            freshest_crl=list(request.template_freshest_crl),
            no_ocsp_check=request.template_no_ocsp_check)
        digest = self.engine.config.digest
        try:
            csr: str = await self._thread(build_csr, key.pem, template, digest)
            spkac: str = await self._thread(build_spkac, key.pem, challenge)
            # certmonger also makes the SCEP transaction ID and minicert with each CSR.
            from .cas.scep_messages import fields_for_new_csr
            scep: dict[str, str] = await self._thread(
                fields_for_new_csr, key.pem, csr, self.engine.clock.time(), digest)
        except ValueError as exc:
            request.ca_error = f"Error building the signing request: {exc}"
            return ActionResult(Outcome.FAILED, {"ca_error"})
        request.csr, request.spkac = csr, spkac
        for name, value in scep.items():
            setattr(request, name, value)
        return ActionResult(Outcome.OK, {"csr", "spkac", *scep})

    # -- submission --------------------------------------------------------------------

    async def _submit(self, request: Request) -> ActionResult:
        ca = self.ca_for(request)
        if ca is None:
            return ActionResult(Outcome.NO_CA)
        from .crypto.keys import spki_b64
        key = None
        try:
            key = await self._current_key(request)
        except KeyStoreError:
            key = None
        submission = Submission(
            ca_nickname=ca.nickname, csr=request.csr,
            key_type=(key.key_type if key else request.key_type),
            spki=spki_b64(key.pem) if key else "", spkac=request.spkac,
            subject=request.template_subject, hostnames=list(request.template_hostname),
            emails=list(request.template_email), principals=list(request.template_principal),
            ip_addresses=list(request.template_ipaddress),
            profile=request.template_profile or request.ca_profile,
            issuer=request.template_issuer, cookie=request.ca_cookie,
            certificate=request.cert, challenge_password=self._challenge_password(request),
            key_pem=key.pem if key else b"", nickname=request.nickname)
        from .cas.scep_messages import prepare_scep_submission
        changed = {"ca_cookie", "ca_error"}
        changed |= await prepare_scep_submission(self, request, ca, submission)
        if not submission.cookie:
            if request.key_next_marker:
                request.key_next_requested_count += 1
                changed.add("key_next_requested_count")
            else:
                request.key_requested_count += 1
                changed.add("key_requested_count")
        had_cert = request.has_cert
        try:
            out: SubmitOutcome = await self.backend_for(ca).submit(submission)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a back-end bug must not kill the request
            log.exception("CA %s failed on request %s", ca.nickname, request.nickname)
            out = SubmitOutcome(OutcomeKind.NEED_GUIDANCE, error=f"internal error: {exc}")
        outcome = _KIND_TO_OUTCOME[out.kind]
        facts = Facts(has_cert=had_cert)
        if out.kind is OutcomeKind.UNREACHABLE:
            request.retry_count += 1
        else:
            request.retry_count = 0
        changed.add("retry_count")
        # certmonger stamps the submission time whenever the CA has answered, whatever
        # the answer (iterate.c, CM_SUBMITTING), so a waiting or rejected request has a
        # submitted-date too.
        request.submitted = int(self.engine.clock.time())
        changed.add("submitted")
        if out.kind is OutcomeKind.ISSUED:
            request.cert = out.cert
            request.cert_chain = list(out.chain)
            request.cert_roots = list(out.roots)
            request.ca_cookie = ""
            request.ca_error = ""
            changed |= {"cert", "cert_chain", "cert_roots"}
        elif out.kind is OutcomeKind.WAIT:
            request.ca_cookie = out.cookie
            request.ca_error = ""
        else:
            request.ca_error = out.error.strip().split("\n")[0] if out.error else (
                "" if out.kind is OutcomeKind.NEED_SCEP_MESSAGES else request.ca_error)
        return ActionResult(outcome, changed, facts, delay=out.delay)

    async def _make_scep(self, request: Request) -> ActionResult:
        try:
            from .cas.scep_messages import build_scep_messages
        except ImportError:
            request.ca_error = "SCEP enrollment messages are not supported by this build"
            return ActionResult(Outcome.NEED_ENCRYPTION_CERT, {"ca_error"})
        ca = self.ca_for(request)
        return await build_scep_messages(self, request, ca)

    # -- saving ------------------------------------------------------------------------

    async def _hooks(self, request: Request, which: str) -> set[str]:
        """Run the pre- or post-save commands; record a failure (it does not stop the save,
        as with certmonger).  Returns the record fields that changed."""
        from .hooks import collect_commands, run_hooks
        others = [r for r in self.engine.requests() if r is not request]
        commands = collect_commands(request, others, self.engine.cas(), which)
        if not commands:
            return set()
        if which == "pre":
            self.engine.set_state(request, State.PRE_SAVE_CERT)
        results = await run_hooks(commands, self.helper_env(), timeout=600)
        failures = []
        for (command, _uid), result in zip(commands, results, strict=False):
            if result.ok:
                log.info("%s-save command for %s ran: %s", which, request.nickname, command)
            else:
                log.warning("%s-save command for %s failed: %s: %s", which, request.nickname,
                            command, result)
                failures.append(f"{which}-save command {command} {result}")
        error = "; ".join(failures)
        if (which == "pre" or error) and request.hook_error != error:
            request.hook_error = error
            return {"hook_error"}
        return set()

    async def _pre_save(self, request: Request) -> ActionResult:
        changed = await self._hooks(request, "pre")
        return ActionResult(Outcome.OK, changed)

    async def _save_cert(self, request: Request) -> ActionResult:
        store = self.keystore(request.cert_storage_type)
        marker = request.key_next_marker or None
        changed: set[str] = set()
        try:
            spki = cert_spki_hex(request.cert)
        except ValueError as exc:
            request.ca_error = f"The CA returned an unreadable certificate: {exc}"
            return ActionResult(Outcome.FAILED, {"ca_error"})
        promote = bool(marker) and spki.upper() == request.key_next_pubkey_info.upper()
        target = f"cert:{request.cert_storage_location}:{request.cert_nickname}"
        try:
            async with self.engine.lock_for(target):
                await self._thread(store.save_cert, request, request.cert,
                                   marker if promote else None)
                if marker and not promote:
                    # The CA certified the old key: keep it, drop the candidate.
                    await self._thread(self.keystore(request.key_storage_type)
                                       .discard_candidate, request, marker)
        except KeyStoreError as exc:
            request.ca_error = str(exc)
            return ActionResult(_outcome_for_store_error(exc), {"ca_error"})
        except OSError as exc:
            request.ca_error = f"Error saving certificate: {exc}"
            return ActionResult(Outcome.FAILED, {"ca_error"})
        if promote:
            request.key_type, request.key_size = request.key_next_type, request.key_next_size
            request.key_pubkey_info = request.key_next_pubkey_info
            request.key_pubkey = request.key_next_pubkey
            request.key_generated_date = request.key_next_generated_date
            request.key_requested_count = request.key_next_requested_count
            request.key_issued_count = 1
        else:
            request.key_issued_count += 1
        if marker:
            request.key_next_marker = ""
            request.key_next_pubkey_info = request.key_next_pubkey = ""
            request.key_next_generated_date = request.key_next_requested_count = 0
            request.key_next_type, request.key_next_size = "UNSPECIFIED", 0
            self._keys.pop(id(request), None)
        changed |= KEY_FIELDS
        return ActionResult(Outcome.OK, changed)

    def _ca_certs_to_save(self, request: Request) -> bool:
        ca = self.ca_for(request)
        has_certs = bool(request.cert_roots or request.cert_chain or (
            ca is not None and (ca.root_certs or ca.other_root_certs or ca.other_certs)))
        has_places = bool(request.root_cert_files or request.other_root_cert_files
                          or request.other_cert_files or request.root_cert_dbs
                          or request.other_root_cert_dbs or request.other_cert_dbs)
        return has_certs and has_places

    def ca_bundles(self, request: Request) -> tuple[dict[str, CertList], dict[str, tuple[
            CertList, str]]]:
        """What to write where: PEM files -> certs, NSS databases -> (certs, trust)."""
        ca = self.ca_for(request)
        roots = list(ca.root_certs) if ca else []
        other_roots = list(ca.other_root_certs) if ca else []
        others = list(ca.other_certs) if ca else []
        roots += request.cert_roots
        others += request.cert_chain
        files: dict[str, CertList] = {}
        for paths, certs in ((request.root_cert_files, roots),
                             (request.other_root_cert_files, other_roots),
                             (request.other_cert_files, others)):
            for path in paths:
                files.setdefault(path, []).extend(certs)
        conf = self.engine.config
        dbs: dict[str, tuple[CertList, str]] = {}
        for paths, certs, trust in ((request.root_cert_dbs, roots, conf.nss_ca_trust),
                                    (request.other_root_cert_dbs, other_roots, conf.nss_ca_trust),
                                    (request.other_cert_dbs, others, conf.nss_other_trust)):
            for db in paths:
                existing = dbs.get(db, ([], trust))[0]
                dbs[db] = (existing + certs, trust)
        return files, dbs

    async def write_bundles(self, files: dict[str, CertList],
                            dbs: dict[str, tuple[CertList, str]]) -> None:
        """Write CA certificate bundles; raises OSError / KeyStoreError."""
        from .store.directory import write_atomic
        for path, certs in files.items():
            unique: list[str] = []
            for _, pem in certs:
                text = pem if pem.endswith("\n") else pem + "\n"
                if text not in unique:
                    unique.append(text)
            if not unique:
                continue  # certmonger leaves a location with nothing to write untouched
            async with self.engine.lock_for(f"file:{path}"):
                await self._thread(write_atomic, __import__("pathlib").Path(path),
                                   "".join(unique).encode(), 0o644)
        if dbs:
            from .keystores.nssdb import save_ca_certs
            for db, (certs, trust) in dbs.items():
                if not certs:
                    continue
                async with self.engine.lock_for(f"key:{db}:"):
                    await self._thread(save_ca_certs, db, certs, trust)

    async def _save_ca_certs(self, request: Request) -> ActionResult:
        files, dbs = self.ca_bundles(request)
        try:
            await self.write_bundles(files, dbs)
        except PermissionError as exc:
            request.ca_error = f"Error saving CA certificates: {exc}"
            return ActionResult(Outcome.PERMS, {"ca_error"})
        except KeyStorePermissionError as exc:
            request.ca_error = str(exc)
            return ActionResult(Outcome.PERMS, {"ca_error"})
        except (OSError, KeyStoreError) as exc:
            request.ca_error = f"Error saving CA certificates: {exc}"
            return ActionResult(Outcome.FAILED, {"ca_error"})
        return ActionResult(Outcome.OK)

    _save_only_ca_certs = _save_ca_certs

    async def _read_cert_pem(self, request: Request) -> str | None:
        if request.cert_storage_type.upper() not in ("FILE", "NSSDB"):
            return None
        store = self.keystore(request.cert_storage_type)
        try:
            return await self._thread(store.read_cert, request)
        except KeyStoreError:
            return None

    def _apply_cert(self, request: Request, pem: str) -> set[str]:
        from .crypto.certinfo import read_cert_info
        try:
            info = read_cert_info(pem)
        except ValueError:
            return set()
        info.apply_to(request)
        request.cert = pem
        self.engine.note_checked(request)
        return set(CERT_INFO_FIELDS)

    def _fill_template_from_cert(self, request: Request) -> set[str]:
        """Fill unset template fields from the certificate (certmonger does so on tracking)."""
        changed = set()
        pairs = (("template_subject", "cert_subject"), ("template_hostname", "cert_hostname"),
                 ("template_email", "cert_email"), ("template_principal", "cert_principal"),
                 ("template_ipaddress", "cert_ipaddress"), ("template_ku", "cert_ku"),
                 ("template_eku", "cert_eku"), ("template_ns_comment", "cert_ns_comment"),
                 ("template_profile", "cert_profile"))
        for template, cert in pairs:
            if not getattr(request, template) and getattr(request, cert):
                value = getattr(request, cert)
                setattr(request, template, list(value) if isinstance(value, list) else value)
                changed.add(template)
        if changed and request.template_subject and "template_subject" in changed:
            # certmonger keeps the subject in the order it was written (DER order); the
            # certificate's display form is last-RDN-first.
            request.template_subject = subject_in_der_order(request.cert)
        return changed

    async def _read_cert(self, request: Request) -> ActionResult:
        pem = await self._read_cert_pem(request)
        if not pem:
            request.ca_error = "The saved certificate could not be read back"
            return ActionResult(Outcome.FAILED, {"ca_error"})
        changed = self._apply_cert(request, pem)
        return ActionResult(Outcome.OK, changed)

    async def _post_save(self, request: Request) -> ActionResult:
        changed = await self._hooks(request, "post")
        engine = self.engine
        return ActionResult(Outcome.OK, changed, after=[lambda: engine.announce_saved(request)])

    # -- notifications -----------------------------------------------------------------

    async def _notify(self, request: Request, event: notify.NotifyEvent) -> None:
        conf = self.engine.config
        method = request.notification_method or conf.notification_method
        destination = request.notification_destination or conf.notification_destination
        try:
            message = notify.message_for(event, request, now=self.engine.clock.time())
            await notify.notify(method, destination, message, self.helper_env())
        except Exception:
            log.exception("Notification for %s failed", request.nickname)

    # -- monitoring --------------------------------------------------------------------

    async def _check_expiry(self, request: Request) -> ActionResult:
        engine = self.engine
        conf = engine.config
        changed: set[str] = set()
        pem = await self._read_cert_pem(request)
        engine.note_checked(request)
        if pem and pem.strip() != request.cert.strip():
            changed |= self._apply_cert(request, pem)  # replaced behind our back
        now = int(engine.clock.time())
        check = schedule.check_expiry(
            now=now, not_before=request.cert_not_before, not_after=request.cert_not_after,
            last_notify_check=request.last_need_notify_check,
            last_enroll_check=request.last_need_enroll_check,
            notify_ttls=conf.notify_ttls, enroll_ttls=conf.enroll_ttls,
            monitor=request.monitor, autorenew=request.autorenew,
            key_issued_count=request.key_issued_count,
            max_key_use_count=conf.max_key_use_count,
            key_generated_date=request.key_generated_date,
            max_key_lifetime=conf.max_key_lifetime)
        if check.notify:
            request.last_need_notify_check = now
            changed.add("last_need_notify_check")
            engine.set_state(request, State.NEED_TO_NOTIFY_VALIDITY)
            engine.set_state(request, State.NOTIFYING_VALIDITY)
            await self._notify(request, notify.NotifyEvent.VALIDITY_ENDING)
        if check.renew:
            request.last_need_enroll_check = now
            changed.add("last_need_enroll_check")
            return ActionResult(Outcome.REKEY if check.rekey else Outcome.RENEW, changed)
        return ActionResult(Outcome.NOTHING, changed)

    # -- CA data -----------------------------------------------------------------------

    async def refresh_ca_data(self, ca: CA) -> None:
        """Fetch a CA's data (certmonger's cadata phases) and keep it fresh."""
        engine = self.engine
        if ca.is_internal_self:
            changed = set()
            if not ca.aka:
                ca.aka = "SelfSign (certmonger 0.79.17)"
                changed.add("aka")
            if changed:
                await engine.persist_ca(ca)
                engine.announce_ca(ca, changed)
            return
        while True:
            delay = await self._refresh_once(ca)
            if delay is None:
                return
            await engine.clock.sleep_until(engine.clock.time() + delay, asyncio.Event())

    async def _refresh_once(self, ca: CA) -> int | None:
        from .cas.helper_output import parse_list, parse_roots, requirement_properties
        engine = self.engine
        backend = self.backend_for(ca)
        ops = list(CADataOp)
        results: list[CADataOutcome] = await asyncio.gather(
            *(backend.fetch_data(op) for op in ops), return_exceptions=False)
        changed: set[str] = set()
        retries: list[int] = []
        errors: list[str] = []

        def put(attr: str, value: Any) -> None:
            if getattr(ca, attr) != value:
                setattr(ca, attr, value)
                changed.add(attr)

        for op, res in zip(ops, results, strict=True):
            if res.kind is OutcomeKind.NOT_SUPPORTED:
                if op is CADataOp.FETCH_ROOTS:
                    put("root_certs", []), put("other_root_certs", []), put("other_certs", [])
                elif op is CADataOp.FETCH_SCEP_CA_CAPS:
                    put("capabilities", [])
                elif op is CADataOp.FETCH_SCEP_CA_CERTS:
                    put("encryption_cert", ""), put("encryption_issuer_cert", "")
                    put("encryption_cert_pool", "")
                continue
            if res.kind in (OutcomeKind.UNREACHABLE, OutcomeKind.UNCONFIGURED):
                # certmonger tries a phase whose CA was unreachable again after 6 h.
                retries.append(schedule.CADATA_POLL)
                errors.append(res.error)
                continue
            if res.kind is OutcomeKind.WAIT:
                # Exit 1 or 5: again after the delay the helper gave, else after 6 h.
                retries.append(res.delay or schedule.CADATA_POLL)
                continue
            if res.kind is not OutcomeKind.ISSUED:
                continue
            text = res.text
            if op is CADataOp.IDENTIFY:
                put("aka", text.strip().split("\n")[0] if text.strip() else ca.aka)
            elif op is CADataOp.FETCH_ROOTS:
                roots, other_roots, others = parse_roots(text)
                put("root_certs", roots), put("other_root_certs", other_roots)
                put("other_certs", others)
            elif op is CADataOp.GET_SUPPORTED_TEMPLATES:
                put("profiles", parse_list(text))
            elif op is CADataOp.GET_DEFAULT_TEMPLATE:
                put("default_profile", text.strip().split("\n")[0] if text.strip() else "")
            elif op is CADataOp.GET_NEW_REQUEST_REQUIREMENTS:
                put("required_enroll_attributes", requirement_properties(parse_list(text)))
            elif op is CADataOp.GET_RENEW_REQUEST_REQUIREMENTS:
                put("required_renewal_attributes", requirement_properties(parse_list(text)))
            elif op is CADataOp.FETCH_SCEP_CA_CAPS:
                put("capabilities", parse_list(text))
            elif op is CADataOp.FETCH_SCEP_CA_CERTS:
                pems = _split_pems(text)
                put("encryption_cert", pems[0] if pems else "")
                put("encryption_issuer_cert", pems[1] if len(pems) > 1 else "")
                put("encryption_cert_pool", "".join(pems[2:]))
        # Why the data could not be had; cleared by a refresh that reached the CA.
        put("ca_error", next((e for e in errors if e), "CA unreachable") if errors else "")
        if not any(c is ca for c in engine.cas()):
            return None
        if changed:
            await engine.persist_ca(ca)
            engine.announce_ca(ca, changed)
        if changed & _CA_CERT_FIELDS:
            await self._save_ca_data_bundles(ca)
        if changed - _CA_CERT_FIELDS - {"ca_error"}:
            # certmonger restarts the requests of a CA whose other data changed, so that
            # requests waiting on it try again (after `modify-ca -e`, say).
            engine.restart_requests_of(ca)
        if retries:
            return min(retries)
        return _cert_refresh_delay(ca, int(engine.clock.time()))

    async def _save_ca_data_bundles(self, ca: CA) -> None:
        """New CA certificates: write them wherever the CA or its requests want them."""
        conf = self.engine.config
        files: dict[str, CertList] = {}
        dbs: dict[str, tuple[CertList, str]] = {}
        for paths, certs in ((ca.root_cert_files, ca.root_certs),
                             (ca.other_root_cert_files, ca.other_root_certs),
                             (ca.other_cert_files, ca.other_certs)):
            for path in paths:
                files.setdefault(path, []).extend(certs)
        for paths, certs, trust in ((ca.root_cert_dbs, ca.root_certs, conf.nss_ca_trust),
                                    (ca.other_root_cert_dbs, ca.other_root_certs,
                                     conf.nss_ca_trust),
                                    (ca.other_cert_dbs, ca.other_certs, conf.nss_other_trust)):
            for db in paths:
                dbs[db] = (dbs.get(db, ([], trust))[0] + list(certs), trust)
        for request in self.engine.requests_using(ca):
            if request.state is not State.MONITORING:
                continue
            rfiles, rdbs = self.ca_bundles(request)
            for path, certs in rfiles.items():
                files.setdefault(path, []).extend(certs)
            for db, (certs, trust) in rdbs.items():
                dbs[db] = (dbs.get(db, ([], trust))[0] + certs, trust)
        try:
            await self.write_bundles(files, dbs)
        except (OSError, KeyStoreError) as exc:
            log.warning("Saving CA certificates of %s failed: %s", ca.nickname, exc)


def local_submit_directory(args: list[str], default: str) -> str | None:
    """The CA directory a `local-submit` command line names, or None if it says more.

    `args` follow the program name.  local-submit takes `-d DIR`, `-dDIR`, `-d=DIR`,
    `--ca-data-directory DIR` or `--ca-data-directory=DIR` (the last one given wins) and
    `-v`; anything else (a CSR file, an option we do not know) means the line is run as
    the program it names rather than answered in process.
    """
    directory = default
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg in ("-v", "--verbose"):
            continue
        if arg in ("-d", "--ca-data-directory"):
            if not rest:
                return None
            directory = rest.pop(0)
        elif arg.startswith("--ca-data-directory="):
            directory = arg.partition("=")[2]
        elif arg.startswith("-d"):
            # popt reads "-dDIR" and "-d=DIR" alike.
            directory = arg[3:] if arg.startswith("-d=") else arg[2:]
        else:
            return None
    return directory or None


def cert_spki_hex(cert_pem: str) -> str:
    """Uppercase hex DER of a certificate's SubjectPublicKeyInfo."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo).hex().upper()


def subject_in_der_order(cert_pem: str) -> str:
    """A certificate's subject as a certmonger template writes it: RDNs in DER order."""
    from cryptography import x509
    name = x509.load_pem_x509_certificate(cert_pem.encode()).subject
    # rfc4514_string() writes the last RDN first; reversing the RDNs undoes that.
    return x509.Name(list(reversed(name.rdns))).rfc4514_string()


def _split_pems(text: str) -> list[str]:
    out, current = [], []
    for line in text.splitlines():
        if line.startswith("-----BEGIN"):
            current = [line]
        elif current:
            current.append(line)
            if line.startswith("-----END"):
                out.append("\n".join(current) + "\n")
                current = []
    return out


def _cert_refresh_delay(ca: CA, now: int) -> int | None:
    """Half the time to the earliest expiry among the CA's certificates (certmonger).

    The SCEP RA and CA certificates count too; None when nothing expires in the future.
    """
    from .crypto.certinfo import read_cert_info
    expiries = []
    pems = [pem for _, pem in list(ca.root_certs) + list(ca.other_root_certs)
            + list(ca.other_certs)]
    pems += [pem for pem in (ca.encryption_cert, ca.encryption_issuer_cert) if pem]
    for pem in pems:
        try:
            expiries.append(read_cert_info(pem).cert_not_after)
        except ValueError:
            continue
    future = [e for e in expiries if e > now]
    if not future:
        return None
    return max(schedule.CA_POLL_MIN, min(schedule.CA_POLL_MAX, (min(future) - now) // 2))
