"""The text (and JSON) getcert prints for requests and CAs: data in, text out.

`format_request` and `format_ca` reproduce certmonger 0.79.17's `list` and `list-cas`
blocks line for line (tabs, trailing spaces and all); `request_json` and `ca_json` carry
the same information for ``--json``, with keys spelled like the D-Bus property names.
Nothing here talks to the bus or reads the clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

from pycertmonger.getcert.bus import CertInfo, StorageInfo
from pycertmonger.getcert.values import ku_names, oid_to_name


def format_time(seconds: int, utc: bool = False) -> str:
    """A certificate date as `list` shows it: local time with zone, or UTC with -u.

    0 means "not known" and shows as ``unknown``.
    """
    if not seconds:
        return "unknown"
    if utc:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(seconds))


def _c_str(value: str | None) -> str:
    # What printf("%s") makes of a NULL string in glibc.
    return "(null)" if value is None else value


def thumbprint(pem: str, algorithm: str) -> str:
    """A digest of the DER inside a PEM text, as upper-case hex in groups of 4 bytes.

    certmonger shows SCEP CA certificates and SCEP signing requests this way, so that
    they can be compared with what the CA's operator sees. Empty if there is no DER.
    """
    body = "".join(
        line.strip() for line in pem.splitlines()
        if line.strip() and not line.startswith("-----")
    )
    try:
        der = base64.b64decode(body, validate=False)
    except (binascii.Error, ValueError):
        return ""
    if not der:
        return ""
    digest = hashlib.new(algorithm, der).hexdigest().upper()
    return " ".join(digest[i:i + 8] for i in range(0, len(digest), 8))


@dataclass
class RequestView:
    """Everything `getcert list` reads about one request."""

    nickname: str
    status: str
    stuck: bool
    ca_error: str | None = None
    key: StorageInfo = field(default_factory=lambda: StorageInfo("NONE"))
    key_pin: str = ""
    key_pin_file: str = ""
    cert: StorageInfo = field(default_factory=lambda: StorageInfo("FILE"))
    csr: str | None = None  # only fetched for requests of SCEP CAs
    ca: str | None = None
    info: CertInfo = field(default_factory=CertInfo)
    template_ip_address: list[str] = field(default_factory=list)
    ca_profile: str = ""
    root_cert_files: list[str] = field(default_factory=list)
    root_other_cert_files: list[str] = field(default_factory=list)
    other_cert_files: list[str] = field(default_factory=list)
    root_cert_nssdbs: list[str] = field(default_factory=list)
    root_other_cert_nssdbs: list[str] = field(default_factory=list)
    other_cert_nssdbs: list[str] = field(default_factory=list)
    template_profile: str = ""
    template_ms_certificate_template: str = ""
    template_issuer: str = ""
    presave_command: str = ""
    postsave_command: str = ""
    monitoring: bool = True
    autorenew: bool = True


def format_list_header(count: int) -> str:
    """The first line of `getcert list` (the count ignores every filter)."""
    return f"Number of certificates and requests being tracked: {count}.\n"


def format_request(view: RequestView, utc: bool = False) -> str:
    """One request's block of `getcert list`."""
    lines = [f"Request ID '{view.nickname}':", f"\tstatus: {view.status}"]
    if view.ca_error is not None:
        lines.append(f"\tca-error: {view.ca_error}")
    lines.append(f"\tstuck: {'yes' if view.stuck else 'no'}")
    key = f"\tkey pair storage: type={view.key.type or 'NONE'}"
    if view.key.location is not None:
        key += f",location='{view.key.location}'"
    if view.key.nickname is not None:
        key += f",nickname='{view.key.nickname}'"
    if view.key.token is not None:
        key += f",token='{view.key.token}'"
    if view.key_pin:
        key += ",pin set"
    if view.key_pin_file:
        key += f",pinfile='{view.key_pin_file}'"
    lines.append(key)
    cert = f"\tcertificate: type={view.cert.type},location='{_c_str(view.cert.location)}'"
    if view.cert.nickname is not None:
        cert += f",nickname='{view.cert.nickname}'"
    if view.cert.token is not None:
        cert += f",token='{view.cert.token}'"
    lines.append(cert)
    if view.csr:
        for label, algorithm in (("MD5", "md5"), ("SHA1", "sha1")):
            if digest := thumbprint(view.csr, algorithm):
                lines.append(f"\tsigning request thumbprint ({label}): {digest}")
    info = view.info
    if view.ca is not None:
        lines.append(f"\tCA: {view.ca}")
    lines.append(f"\tissuer: {info.issuer}")
    lines.append(f"\tsubject: {info.subject}")
    lines.append(f"\tissued: {format_time(info.not_before, utc)}")
    lines.append(f"\texpires: {format_time(info.not_after, utc)}")
    for label, values in (("email", info.email), ("dns", info.dns),
                          ("principal name", info.principal)):
        if values:
            lines.append(f"\t{label}: {','.join(values)}")
    if info.key_usage:
        lines.append(f"\tkey usage: {','.join(ku_names(info.key_usage))}")
    if info.eku:
        lines.append(f"\teku: {','.join(oid_to_name(oid) for oid in info.eku)}")
    for label, value in (("certificate template/profile", view.ca_profile),
                         ("profile", view.template_profile),
                         ("ms v2 template", view.template_ms_certificate_template),
                         ("issuer template", view.template_issuer)):
        if value:
            lines.append(f"\t{label}: {value}")
    lines.append(f"\tpre-save command: {view.presave_command}")
    lines.append(f"\tpost-save command: {view.postsave_command}")
    lines.append(f"\ttrack: {'yes' if view.monitoring else 'no'}")
    lines.append(f"\tauto-renew: {'yes' if view.autorenew else 'no'}")
    return "\n".join(lines) + "\n"


def _storage_json(prefix: str, storage: StorageInfo) -> dict[str, Any]:
    out: dict[str, Any] = {f"{prefix}-storage": storage.type or "NONE"}
    if storage.type == "NSSDB":
        out[f"{prefix}-database"] = storage.location
        out[f"{prefix}-nickname"] = storage.nickname
        out[f"{prefix}-token"] = storage.token
    elif storage.location is not None:
        out[f"{prefix}-file"] = storage.location
    return out


def request_json(view: RequestView) -> dict[str, Any]:
    """One request for ``getcert list --json``.

    Keys are the request's D-Bus property names. Exceptions, so that nothing secret
    leaks and the values stay machine-friendly: the PIN itself is replaced by
    ``key-pin-set``; ``ca`` holds the CA's nickname; dates are Unix seconds; ``ku``
    lists key usage names and ``eku`` dotted OIDs. Unknown or unset values are null
    (lists are empty).
    """
    info = view.info
    out: dict[str, Any] = {
        "nickname": view.nickname,
        "status": view.status,
        "stuck": view.stuck,
        "ca-error": view.ca_error,
    }
    out.update(_storage_json("key", view.key))
    out["key-pin-set"] = bool(view.key_pin)
    out["key-pin-file"] = view.key_pin_file or None
    out.update(_storage_json("cert", view.cert))
    out.update({
        "ca": view.ca,
        "issuer": info.issuer,
        "serial": info.serial,
        "subject": info.subject,
        "not-valid-before": info.not_before or None,
        "not-valid-after": info.not_after or None,
        "email": list(info.email),
        "hostname": list(info.dns),
        "principal": list(info.principal),
        "ku": ku_names(info.key_usage),
        "eku": list(info.eku),
        "template-ip-address": view.template_ip_address,
        "ca-profile": view.ca_profile or None,
        "template-profile": view.template_profile or None,
        "template-ms-certificate-template": view.template_ms_certificate_template or None,
        "template-issuer": view.template_issuer or None,
        "root-cert-files": view.root_cert_files,
        "root-other-cert-files": view.root_other_cert_files,
        "other-cert-files": view.other_cert_files,
        "root-cert-nssdbs": view.root_cert_nssdbs,
        "root-other-cert-nssdbs": view.root_other_cert_nssdbs,
        "other-cert-nssdbs": view.other_cert_nssdbs,
        "cert-presave-command": view.presave_command or None,
        "cert-postsave-command": view.postsave_command or None,
        "monitoring": view.monitoring,
        "autorenew": view.autorenew,
    })
    return out


@dataclass
class CAView:
    """Everything `getcert list-cas` reads about one CA."""

    nickname: str | None
    is_default: bool
    type: str
    aka: str = ""  # read only with -v
    location: str | None = None  # EXTERNAL CAs: the helper command
    serial: str | None = None  # other CAs: the next serial number
    issuer_names: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
    default_profile: str = ""
    root_cert_files: list[str] = field(default_factory=list)
    root_other_cert_files: list[str] = field(default_factory=list)
    other_cert_files: list[str] = field(default_factory=list)
    root_cert_nssdbs: list[str] = field(default_factory=list)
    root_other_cert_nssdbs: list[str] = field(default_factory=list)
    other_cert_nssdbs: list[str] = field(default_factory=list)
    scep: bool = False
    scep_ca_identifier: str = ""
    scep_cert: str = ""  # the SCEP CA certificate (or else the RA one), PEM
    presave_command: str = ""
    postsave_command: str = ""
    config_path: str | None = None  # read only with -v


def format_ca(view: CAView, verbose: bool = False) -> str:
    """One CA's block of `getcert list-cas`."""
    lines = [f"CA '{_c_str(view.nickname)}':"]
    if verbose and view.aka:
        lines.append(f"\tself-identifies as: {view.aka}")
    lines.append(f"\tis-default: {'yes' if view.is_default else 'no'}")
    lines.append(f"\tca-type: {view.type}")
    if view.type == "EXTERNAL":
        lines.append(f"\thelper-location: {_c_str(view.location)}")
    else:
        lines.append(f"\tnext-serial-number: {_c_str(view.serial)}")
    if view.issuer_names:
        lines.append("\tknown-issuer-names:")
        lines += [f"\t\t{name}" for name in view.issuer_names]
    if view.profiles:
        lines.append("\tknown profiles/templates/certtypes:")
        lines += [f"\t\t{name}" for name in view.profiles]
    if view.default_profile:
        lines.append(f"\tdefault profile/template/certtype: {view.default_profile}")
    if view.scep:
        if view.scep_ca_identifier:
            lines.append(f"\tSCEP CA identifier: {view.scep_ca_identifier}")
        if view.scep_cert:
            for label, algorithm in (("MD5", "md5"), ("SHA1", "sha1")):
                if digest := thumbprint(view.scep_cert, algorithm):
                    lines.append(f"\tSCEP CA certificate thumbprint ({label}): {digest}")
    if view.presave_command:
        lines.append(f"\tpre-save command: {view.presave_command}")
    if view.postsave_command:
        lines.append(f"\tpost-save command: {view.postsave_command}")
    if verbose and view.config_path is not None:
        lines.append(f"\tconfig-path: {view.config_path}")
    return "\n".join(lines) + "\n"


def ca_json(view: CAView) -> dict[str, Any]:
    """One CA for ``getcert list-cas --json``, keyed like the CA's D-Bus properties.

    ``type``, ``next-serial-number`` and ``config-path`` have no property; they are
    named after the text listing's labels.
    """
    return {
        "nickname": view.nickname,
        "aka": view.aka,
        "is-default": view.is_default,
        "type": view.type,
        "external-helper": view.location if view.type == "EXTERNAL" else None,
        "next-serial-number": view.serial if view.type != "EXTERNAL" else None,
        "issuer-names": view.issuer_names,
        "supported-profiles": view.profiles,
        "default-profile": view.default_profile or None,
        "root-cert-files": view.root_cert_files,
        "root-other-cert-files": view.root_other_cert_files,
        "other-cert-files": view.other_cert_files,
        "root-cert-nssdbs": view.root_cert_nssdbs,
        "root-other-cert-nssdbs": view.root_other_cert_nssdbs,
        "other-cert-nssdbs": view.other_cert_nssdbs,
        "scep-ca-identifier": view.scep_ca_identifier or None,
        "ca-presave-command": view.presave_command or None,
        "ca-postsave-command": view.postsave_command or None,
        "config-path": view.config_path,
    }


def invalid_state_line(state: str) -> str:
    """What `list` prints instead of a request whose state it does not know."""
    return f"'{state}' is in an invalid state!\n"

