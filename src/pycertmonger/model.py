"""Plain data: tracking requests, CAs and the request states, in certmonger's vocabulary.

Every persisted attribute carries its certmonger record-file key and its value kind in
the dataclass field metadata; `store.record` reads and writes records from that table
alone, so a field added here is persisted with no other change.  The declaration order
is the order certmonger writes the keys in.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any


class Kind(enum.Enum):
    """How a value is spelled in a record file."""

    STR = "str"  # text; multi-line values continue on lines starting with a space
    INT = "int"  # decimal integer
    BOOL = "bool"  # 0 / 1
    TIME = "time"  # YYYYMMDDHHMMSS in UTC; 19700101000000 (or 0 in the model) = unset
    LIST = "list"  # comma-separated, "\" escapes "," and "\"
    MODE = "mode"  # octal text, e.g. 600
    CERTS = "certs"  # nickname line, then its PEM; repeated
    B64LIST = "b64list"  # a LIST whose items are base64-encoded (certmonger's cert_ipaddress)


def _f(key: str, kind: Kind, default: Any = None, *, always: bool = False,
       with_cert: bool = False) -> Any:
    """A persisted field: `key` in the record file, spelled as `kind`.

    `always` fields are written even when they hold their default, because certmonger
    reads a missing key as zero and some defaults are not zero (autorenew, monitor...).
    `with_cert` fields are written whenever the record holds a certificate.
    """
    meta = {"key": key, "kind": kind, "always": always, "with_cert": with_cert}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    if default is None:
        default = {
            Kind.STR: "",
            Kind.INT: 0,
            Kind.BOOL: False,
            Kind.TIME: 0,
            Kind.MODE: 0,
        }.get(kind)
        if default is None:
            return field(default_factory=list, metadata=meta)
    return field(default=default, metadata=meta)


class State(enum.StrEnum):
    """Request states, spelled exactly as certmonger shows and stores them."""

    NEED_KEY_PAIR = "NEED_KEY_PAIR"
    GENERATING_KEY_PAIR = "GENERATING_KEY_PAIR"
    NEED_KEY_GEN_PERMS = "NEED_KEY_GEN_PERMS"
    NEED_KEY_GEN_PIN = "NEED_KEY_GEN_PIN"
    NEED_KEY_GEN_TOKEN = "NEED_KEY_GEN_TOKEN"
    HAVE_KEY_PAIR = "HAVE_KEY_PAIR"
    NEED_KEYINFO = "NEED_KEYINFO"
    READING_KEYINFO = "READING_KEYINFO"
    NEED_KEYINFO_READ_PIN = "NEED_KEYINFO_READ_PIN"
    NEED_KEYINFO_READ_TOKEN = "NEED_KEYINFO_READ_TOKEN"
    HAVE_KEYINFO = "HAVE_KEYINFO"
    NEED_CSR = "NEED_CSR"
    GENERATING_CSR = "GENERATING_CSR"
    NEED_CSR_GEN_PIN = "NEED_CSR_GEN_PIN"
    NEED_CSR_GEN_TOKEN = "NEED_CSR_GEN_TOKEN"
    HAVE_CSR = "HAVE_CSR"
    NEED_SCEP_DATA = "NEED_SCEP_DATA"
    GENERATING_SCEP_DATA = "GENERATING_SCEP_DATA"
    NEED_SCEP_GEN_PIN = "NEED_SCEP_GEN_PIN"
    NEED_SCEP_GEN_TOKEN = "NEED_SCEP_GEN_TOKEN"
    NEED_SCEP_ENCRYPTION_CERT = "NEED_SCEP_ENCRYPTION_CERT"
    NEED_SCEP_RSA_CLIENT_KEY = "NEED_SCEP_RSA_CLIENT_KEY"
    HAVE_SCEP_DATA = "HAVE_SCEP_DATA"
    NEED_TO_SUBMIT = "NEED_TO_SUBMIT"
    SUBMITTING = "SUBMITTING"
    NEED_CA = "NEED_CA"
    CA_UNREACHABLE = "CA_UNREACHABLE"
    CA_UNCONFIGURED = "CA_UNCONFIGURED"
    CA_REJECTED = "CA_REJECTED"
    CA_WORKING = "CA_WORKING"
    NEED_TO_SAVE_CERT = "NEED_TO_SAVE_CERT"
    PRE_SAVE_CERT = "PRE_SAVE_CERT"
    START_SAVING_CERT = "START_SAVING_CERT"
    SAVING_CERT = "SAVING_CERT"
    NEED_CERTSAVE_PERMS = "NEED_CERTSAVE_PERMS"
    NEED_CERTSAVE_TOKEN = "NEED_CERTSAVE_TOKEN"
    NEED_CERTSAVE_PIN = "NEED_CERTSAVE_PIN"
    SAVED_CERT = "SAVED_CERT"
    NEED_TO_SAVE_CA_CERTS = "NEED_TO_SAVE_CA_CERTS"
    START_SAVING_CA_CERTS = "START_SAVING_CA_CERTS"
    SAVING_CA_CERTS = "SAVING_CA_CERTS"
    NEED_TO_SAVE_ONLY_CA_CERTS = "NEED_TO_SAVE_ONLY_CA_CERTS"
    START_SAVING_ONLY_CA_CERTS = "START_SAVING_ONLY_CA_CERTS"
    SAVING_ONLY_CA_CERTS = "SAVING_ONLY_CA_CERTS"
    NEED_CA_CERT_SAVE_PERMS = "NEED_CA_CERT_SAVE_PERMS"
    NEED_ONLY_CA_CERT_SAVE_PERMS = "NEED_ONLY_CA_CERT_SAVE_PERMS"
    NEED_TO_READ_CERT = "NEED_TO_READ_CERT"
    READING_CERT = "READING_CERT"
    POST_SAVED_CERT = "POST_SAVED_CERT"
    MONITORING = "MONITORING"
    NEED_TO_NOTIFY_VALIDITY = "NEED_TO_NOTIFY_VALIDITY"
    NOTIFYING_VALIDITY = "NOTIFYING_VALIDITY"
    NEED_TO_NOTIFY_REJECTION = "NEED_TO_NOTIFY_REJECTION"
    NOTIFYING_REJECTION = "NOTIFYING_REJECTION"
    NEED_TO_NOTIFY_ISSUED_SAVE_FAILED = "NEED_TO_NOTIFY_ISSUED_SAVE_FAILED"
    NOTIFYING_ISSUED_SAVE_FAILED = "NOTIFYING_ISSUED_SAVE_FAILED"
    NEED_TO_NOTIFY_ISSUED_CA_SAVE_FAILED = "NEED_TO_NOTIFY_ISSUED_CA_SAVE_FAILED"
    NOTIFYING_ISSUED_CA_SAVE_FAILED = "NOTIFYING_ISSUED_CA_SAVE_FAILED"
    NEED_TO_NOTIFY_ISSUED_SAVED = "NEED_TO_NOTIFY_ISSUED_SAVED"
    NOTIFYING_ISSUED_SAVED = "NOTIFYING_ISSUED_SAVED"
    NEED_TO_NOTIFY_ONLY_CA_SAVE_FAILED = "NEED_TO_NOTIFY_ONLY_CA_SAVE_FAILED"
    NOTIFYING_ONLY_CA_SAVE_FAILED = "NOTIFYING_ONLY_CA_SAVE_FAILED"
    NEED_GUIDANCE = "NEED_GUIDANCE"
    NEWLY_ADDED = "NEWLY_ADDED"
    NEWLY_ADDED_START_READING_KEYINFO = "NEWLY_ADDED_START_READING_KEYINFO"
    NEWLY_ADDED_READING_KEYINFO = "NEWLY_ADDED_READING_KEYINFO"
    NEWLY_ADDED_NEED_KEYINFO_READ_PIN = "NEWLY_ADDED_NEED_KEYINFO_READ_PIN"
    NEWLY_ADDED_NEED_KEYINFO_READ_TOKEN = "NEWLY_ADDED_NEED_KEYINFO_READ_TOKEN"
    NEWLY_ADDED_START_READING_CERT = "NEWLY_ADDED_START_READING_CERT"
    NEWLY_ADDED_READING_CERT = "NEWLY_ADDED_READING_CERT"
    NEWLY_ADDED_DECIDING = "NEWLY_ADDED_DECIDING"
    INVALID = "INVALID"

    @property
    def stuck(self) -> bool:
        """certmonger's "stuck" flag: the request will not move without help."""
        return self in STUCK_STATES

    @classmethod
    def parse(cls, text: str) -> State:
        """Read a state name from a record, accepting certmonger's older spellings."""
        text = text.strip()
        try:
            return cls(text)
        except ValueError:
            return LEGACY_STATE_NAMES.get(text, cls.NEWLY_ADDED)


STUCK_STATES = frozenset(
    s
    for s in State
    if (s.name.startswith("NEED_") and s.name.endswith(("_PIN", "_TOKEN", "_PERMS")))
    or s.name
    in {
        "NEED_SCEP_ENCRYPTION_CERT",
        "NEED_SCEP_RSA_CLIENT_KEY",
        "NEED_GUIDANCE",
        "NEED_CA",
        "CA_REJECTED",
        "CA_UNCONFIGURED",
    }
)

# Names older certmonger versions wrote into request files.
LEGACY_STATE_NAMES = {
    "NEED_TO_NOTIFY": State.NEED_TO_NOTIFY_VALIDITY,
    "NOTIFYING": State.NOTIFYING_VALIDITY,
    "NEED_TO_NOTIFY_ISSUED_FAILED": State.NEED_TO_NOTIFY_ISSUED_SAVE_FAILED,
    "NOTIFYING_ISSUED_FAILED": State.NOTIFYING_ISSUED_SAVE_FAILED,
    "NEWLY_ADDED_START_READING_KEYI": State.NEWLY_ADDED_START_READING_KEYINFO,
    "NEWLY_ADDED_READING_KEYI": State.NEWLY_ADDED_READING_KEYINFO,
    "NEWLY_ADDED_NEED_KEYI_READ_PIN": State.NEWLY_ADDED_NEED_KEYINFO_READ_PIN,
}


class StorageType(enum.StrEnum):
    """Where a key or certificate lives."""

    FILE = "FILE"
    NSSDB = "NSSDB"
    NONE = "NONE"


class CAType(enum.StrEnum):
    """certmonger's CA kinds: the in-daemon self-signer, or a helper program."""

    INTERNAL_SELF = "INTERNAL:SELF"
    EXTERNAL = "EXTERNAL"


CertList = list[tuple[str, str]]  # (nickname, PEM) pairs


@dataclass
class Request:
    """One tracking request: what to track or obtain, where it lives, and where it stands."""

    nickname: str = _f("id", Kind.STR, always=True)
    key_type: str = _f("key_type", Kind.STR, "UNSPECIFIED", always=True)
    key_gen_type: str = _f("key_gen_type", Kind.STR, "RSA", always=True)
    key_size: int = _f("key_size", Kind.INT, always=True)
    key_gen_size: int = _f("key_gen_size", Kind.INT, 2048, always=True)
    key_next_type: str = _f("key_next_type", Kind.STR, "UNSPECIFIED", always=True)
    key_next_gen_type: str = _f("key_next_gen_type", Kind.STR, "RSA", always=True)
    key_next_size: int = _f("key_next_size", Kind.INT, always=True)
    key_next_gen_size: int = _f("key_next_gen_size", Kind.INT, 2048, always=True)
    key_preserve: bool = _f("key_preserve", Kind.BOOL, always=True)
    key_storage_type: str = _f("key_storage_type", Kind.STR, "NONE", always=True)
    key_storage_location: str = _f("key_storage_location", Kind.STR)
    key_token: str = _f("key_token", Kind.STR)
    key_nickname: str = _f("key_nickname", Kind.STR)
    key_owner: str = _f("key_owner", Kind.STR)
    key_perms: int = _f("key_perms", Kind.MODE, always=True)
    key_pubkey: str = _f("key_pubkey", Kind.STR)
    key_pubkey_info: str = _f("key_pubkey_info", Kind.STR)
    key_next_pubkey: str = _f("key_next_pubkey", Kind.STR)
    key_next_pubkey_info: str = _f("key_next_pubkey_info", Kind.STR)
    key_pin: str = _f("key_pin", Kind.STR)
    key_pin_file: str = _f("key_pin_file", Kind.STR)
    key_generated_date: int = _f("key_generated_date", Kind.TIME)
    key_requested_count: int = _f("key_requested_count", Kind.INT, always=True)
    key_issued_count: int = _f("key_issued_count", Kind.INT, always=True)
    key_next_marker: str = _f("key_next_marker", Kind.STR)
    key_next_generated_date: int = _f("key_next_generated_date", Kind.TIME)
    key_next_requested_count: int = _f("key_next_requested_count", Kind.INT)
    cert_storage_type: str = _f("cert_storage_type", Kind.STR, "FILE", always=True)
    cert_storage_location: str = _f("cert_storage_location", Kind.STR)
    cert_token: str = _f("cert_token", Kind.STR)
    cert_nickname: str = _f("cert_nickname", Kind.STR)
    cert_owner: str = _f("cert_owner", Kind.STR)
    cert_perms: int = _f("cert_perms", Kind.MODE, always=True)
    nss_user: str = _f("nss_user", Kind.STR)
    cert_issuer_der: str = _f("cert_issuer_der", Kind.STR)
    cert_issuer: str = _f("cert_issuer", Kind.STR)
    cert_serial: str = _f("cert_serial", Kind.STR)
    cert_subject_der: str = _f("cert_subject_der", Kind.STR)
    cert_subject: str = _f("cert_subject", Kind.STR)
    cert_spki: str = _f("cert_spki", Kind.STR)
    cert_not_before: int = _f("cert_not_before", Kind.TIME)
    cert_not_after: int = _f("cert_not_after", Kind.TIME)
    cert_hostname: list[str] = _f("cert_hostname", Kind.LIST)
    cert_email: list[str] = _f("cert_email", Kind.LIST)
    cert_principal: list[str] = _f("cert_principal", Kind.LIST)
    cert_ipaddress: list[str] = _f("cert_ipaddress", Kind.B64LIST)
    cert_ku: str = _f("cert_ku", Kind.STR)
    cert_eku: list[str] = _f("cert_eku", Kind.LIST)
    # certmonger writes these two flags into every record, with a certificate or not.
    cert_is_ca: bool = _f("cert_is_ca", Kind.BOOL, always=True)
    cert_ca_path_length: int = _f("cert_ca_path_length", Kind.INT, -1, with_cert=True)
    cert_crldp: list[str] = _f("cert_crldp", Kind.LIST)
    cert_freshest_crl: list[str] = _f("cert_freshest_crl", Kind.LIST)
    cert_ocsp: list[str] = _f("cert_ocsp", Kind.LIST)
    cert_ns_comment: str = _f("cert_ns_comment", Kind.STR)
    cert_ns_certtype: str = _f("cert_ns_certtype", Kind.STR)
    cert_profile: str = _f("cert_profile", Kind.STR)
    cert_no_ocsp_check: bool = _f("cert_no_ocsp_check", Kind.BOOL, always=True)
    last_need_notify_check: int = _f("last_need_notify_check", Kind.TIME, always=True)
    last_need_enroll_check: int = _f("last_need_enroll_check", Kind.TIME, always=True)
    template_subject: str = _f("template_subject", Kind.STR)
    template_hostname: list[str] = _f("template_hostname", Kind.LIST)
    template_email: list[str] = _f("template_email", Kind.LIST)
    template_principal: list[str] = _f("template_principal", Kind.LIST)
    template_ipaddress: list[str] = _f("template_ipaddress", Kind.LIST)
    template_ku: str = _f("template_ku", Kind.STR)
    template_eku: list[str] = _f("template_eku", Kind.LIST)
    template_is_ca: bool = _f("template_is_ca", Kind.BOOL, always=True)
    template_ca_path_length: int = _f("template_ca_path_length", Kind.INT, -1, always=True)
    template_crldp: list[str] = _f("template_crldp", Kind.LIST)
    template_ocsp: list[str] = _f("template_ocsp", Kind.LIST)
    template_freshest_crl: list[str] = _f("template_freshest_crl", Kind.LIST)
    template_ns_comment: str = _f("template_ns_comment", Kind.STR)
    template_ns_certtype: str = _f("template_ns_certtype", Kind.STR)
    template_profile: str = _f("template_profile", Kind.STR)
    template_issuer: str = _f("template_issuer", Kind.STR)
    template_no_ocsp_check: bool = _f("template_no_ocsp_check", Kind.BOOL, always=True)
    template_certificate_template: str = _f("template_certificate_template", Kind.STR)
    template_challenge_password: str = _f("template_challenge_password", Kind.STR)
    template_challenge_password_file: str = _f("template_challenge_password_file", Kind.STR)
    csr: str = _f("csr", Kind.STR)
    spkac: str = _f("spkac", Kind.STR)
    scep_tx: str = _f("scep_tx", Kind.STR)
    scep_nonce: str = _f("scep_nonce", Kind.STR)
    scep_last_nonce: str = _f("scep_last_nonce", Kind.STR)
    scep_req: str = _f("scep_req", Kind.STR)
    scep_req_next: str = _f("scep_req_next", Kind.STR)
    scep_gic: str = _f("scep_gic", Kind.STR)
    scep_gic_next: str = _f("scep_gic_next", Kind.STR)
    minicert: str = _f("minicert", Kind.STR)
    state: State = field(
        default=State.NEWLY_ADDED,
        metadata={"key": "state", "kind": Kind.STR, "always": True, "with_cert": False},
    )
    autorenew: bool = _f("autorenew", Kind.BOOL, True, always=True)
    monitor: bool = _f("monitor", Kind.BOOL, True, always=True)
    ca_name: str = _f("ca_name", Kind.STR)
    submitted: int = _f("submitted", Kind.TIME)
    ca_cookie: str = _f("ca_cookie", Kind.STR)
    ca_error: str = _f("ca_error", Kind.STR)
    ca_profile: str = _f("ca_profile", Kind.STR)
    cert: str = _f("cert", Kind.STR)
    cert_chain: CertList = _f("cert_chain", Kind.CERTS)
    cert_roots: CertList = _f("cert_roots", Kind.CERTS)
    pre_certsave_command: str = _f("pre_certsave_command", Kind.STR)
    pre_certsave_uid: str = _f("pre_certsave_uid", Kind.STR)
    post_certsave_command: str = _f("post_certsave_command", Kind.STR)
    post_certsave_uid: str = _f("post_certsave_uid", Kind.STR)
    root_cert_files: list[str] = _f("root_cert_files", Kind.LIST)
    other_root_cert_files: list[str] = _f("other_root_cert_files", Kind.LIST)
    other_cert_files: list[str] = _f("other_cert_files", Kind.LIST)
    root_cert_dbs: list[str] = _f("root_cert_dbs", Kind.LIST)
    other_root_cert_dbs: list[str] = _f("other_root_cert_dbs", Kind.LIST)
    other_cert_dbs: list[str] = _f("other_cert_dbs", Kind.LIST)
    notification_method: str = _f("notification_method", Kind.STR)
    notification_destination: str = _f("notification_destination", Kind.STR)
    # pycertmonger's own keys (certmonger ignores keys it does not know).
    retry_count: int = _f("pycm_retry_count", Kind.INT)
    next_wakeup: int = _f("pycm_next_wakeup", Kind.TIME)
    hook_error: str = _f("pycm_hook_error", Kind.STR)  # why the last pre/post-save failed
    # Not persisted: the record's file name in the requests directory, and keys
    # this version does not know, kept so that a round trip loses nothing.
    store_name: str = field(default="", compare=False)
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def stuck(self) -> bool:
        """Whether the request is in one of certmonger's stuck states."""
        return self.state.stuck

    @property
    def has_cert(self) -> bool:
        """Whether a certificate has been issued or found for this request."""
        return bool(self.cert.strip())


@dataclass
class CA:
    """One certificate authority entry: the internal self-signer or an external helper."""

    nickname: str = _f("id", Kind.STR, always=True)
    aka: str = _f("ca_aka", Kind.STR)
    is_default: bool = _f("ca_is_default", Kind.BOOL, always=True)
    ca_type: str = _f("ca_type", Kind.STR, "EXTERNAL", always=True)
    internal_serial: str = _f("ca_internal_serial", Kind.STR)
    internal_issue_time: int = _f("ca_internal_issue_time", Kind.TIME)
    external_helper: str = _f("ca_external_helper", Kind.STR)
    issuer_names: list[str] = _f("ca_issuer_names", Kind.LIST)
    root_certs: CertList = _f("ca_root_certs", Kind.CERTS)
    other_root_certs: CertList = _f("ca_other_root_certs", Kind.CERTS)
    other_certs: CertList = _f("ca_other_certs", Kind.CERTS)
    required_enroll_attributes: list[str] = _f("ca_required_enroll_attributes", Kind.LIST)
    required_renewal_attributes: list[str] = _f("ca_required_renewal_attributes", Kind.LIST)
    profiles: list[str] = _f("ca_profiles", Kind.LIST)
    default_profile: str = _f("ca_default_profile", Kind.STR)
    pre_save_command: str = _f("ca_pre_save_command", Kind.STR)
    pre_save_uid: str = _f("ca_pre_save_uid", Kind.STR)
    post_save_command: str = _f("ca_post_save_command", Kind.STR)
    post_save_uid: str = _f("ca_post_save_uid", Kind.STR)
    root_cert_files: list[str] = _f("ca_root_cert_files", Kind.LIST)
    other_root_cert_files: list[str] = _f("ca_other_root_cert_files", Kind.LIST)
    other_cert_files: list[str] = _f("ca_other_cert_files", Kind.LIST)
    root_cert_dbs: list[str] = _f("ca_root_cert_dbs", Kind.LIST)
    other_root_cert_dbs: list[str] = _f("ca_other_root_cert_dbs", Kind.LIST)
    other_cert_dbs: list[str] = _f("ca_other_cert_dbs", Kind.LIST)
    capabilities: list[str] = _f("ca_capabilities", Kind.LIST)
    scep_cipher: str = _f("scep_cipher", Kind.STR)
    scep_digest: str = _f("scep_digest", Kind.STR)
    scep_ca_identifier: str = _f("scep_ca_identifier", Kind.STR)
    encryption_cert: str = _f("ca_encryption_cert", Kind.STR)
    encryption_issuer_cert: str = _f("ca_encryption_issuer_cert", Kind.STR)
    encryption_cert_pool: str = _f("ca_encryption_cert_pool", Kind.STR)
    # Not persisted.
    ca_error: str = field(default="", compare=False)
    store_name: str = field(default="", compare=False)
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def is_internal_self(self) -> bool:
        """Whether this is the in-daemon self-signer (`SelfSign`)."""
        return self.ca_type == CAType.INTERNAL_SELF


def persisted_fields(cls: type) -> list[dataclasses.Field[Any]]:
    """The fields of `cls` that are written to its record file, in file order."""
    return [f for f in dataclasses.fields(cls) if "key" in f.metadata]
