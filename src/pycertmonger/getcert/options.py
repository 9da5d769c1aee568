"""The option table of every getcert subcommand, as the stock client defines them.

Order, spellings, argument names and help strings are those of certmonger 0.79.17's
popt tables (they show up in ``-H`` output). Some tables accept more than their usage
text admits (``stop-tracking`` shares ``start-tracking``'s table; ``request`` takes
``-t``), and the parser follows the tables, not the usage text.

The ``ipa-``, ``local-`` and ``selfsign-getcert`` variants have the same tables without
``-c``. Options this project adds (``--json``, ``-h``/``--help``) are hidden from ``-H``.
"""

from __future__ import annotations

from collections.abc import Sequence

from pycertmonger.getcert.popt import ArgKind, Option

S = ArgKind.STRING
N = ArgKind.INT

# Every table ends with these (bus selection and verbosity).
_BUS = (
    Option("s", "session", "session", help="connect to the certmonger service on the session bus"),
    Option("S", "system", "system", help="connect to the certmonger service on the system bus"),
    Option("v", "verbose", "verbose"),
)

# Accepted everywhere, shown nowhere: -H prints popt's table (as the stock client
# does), -h/--help print the usage text and succeed (the stock client rejects them).
_EXTRA = (
    Option("H", None, "popt_help", hidden=True),
    Option("h", "help", "help", hidden=True),
)

_JSON = Option(None, "json", "json", hidden=True)


def _storage(key_help: str, cert_help: str, *, keyfile: bool = True) -> tuple[Option, ...]:
    opts = [
        Option("d", "dbdir", "dbdir", S, "DIRECTORY", "NSS database for key and cert"),
        Option("n", "nickname", "nickname", S, "NAME",
               "nickname for NSS-based storage (only valid with -d)"),
        Option("t", "token", "token", S, "NAME",
               "optional token name for NSS-based storage (only valid with -d)"),
    ]
    if keyfile:
        opts.append(Option("k", "keyfile", "keyfile", S, "FILENAME", key_help))
    opts.append(Option("f", "certfile", "certfile", S, "FILENAME", cert_help))
    return tuple(opts)


_PIN = (
    Option("p", "pinfile", "pinfile", S, "FILENAME",
           "file which holds the private key encryption PIN"),
    Option("P", "pin", "pin", S, "STRING", "private key encryption PIN"),
)

_OWNERS = (
    Option("o", "key-owner", "key_owner", S, "USERNAME[:GROUPNAME]",
           "owner information for private key"),
    Option("m", "key-perms", "key_perms", S, "MODE", "file permissions for private key"),
    Option("O", "cert-owner", "cert_owner", S, "USERNAME[:GROUPNAME]",
           "owner information for certificate"),
    Option("M", "cert-perms", "cert_perms", S, "MODE", "file permissions for certificate"),
    Option("Z", "nss-user", "nss_user", S, "USERNAME[:GROUPNAME]",
           "user to save NSS private and public keys as"),
    Option("a", "ca-dbdir", "anchor_db", S, "DIRECTORY",
           "NSS database in which to store the CA's certificates"),
    Option("F", "ca-file", "anchor_file", S, "FILENAME",
           "file in which to store the CA's certificates"),
    Option("B", "before-command", "precommand", S, "COMMAND",
           "command to run before saving the certificate"),
    Option("C", "after-command", "postcommand", S, "COMMAND",
           "command to run after saving the certificate"),
)

_RENEW = (
    Option("r", "renew", "renew",
           help="attempt to renew the certificate when expiration nears (default)"),
    Option("R", "no-renew", "no_renew",
           help="don't attempt to renew the certificate when expiration nears"),
)


def _ca(help_text: str) -> Option:
    return Option("c", "ca", "ca", S, "NAME", help_text)


_PROFILE = (
    Option("T", "profile", "profile", S, "NAME",
           "ask the CA to process the request using the named profile or template"),
    Option(None, "ms-template-spec", "ms_template", S, "NAME",
           "include V2 template specifier in CSR (format: OID:MAJOR-VERSION[:MINOR-VERSION])"),
    Option("X", "issuer", "issuer", S, "NAME",
           "ask the CA to process the request using the named issuer"),
)


def _names(verb: str, *, subject: bool) -> tuple[Option, ...]:
    opts = []
    if subject:
        opts.append(Option("N", "subject-name", "subject", S, "SUBJECT",
                           "set requested subject name (default: CN=<hostname>)"))
    opts += [
        Option("u", "key-usage", "ku", S, "LIST", f"{verb} requested key usage value"),
        Option("U", "extended-key-usage", "eku", S, "LIST",
               f"{verb} requested extended key usage OID"),
        Option("K", "principal", "principal", S, "PRINCIPAL", f"{verb} requested principal name"),
        Option("D", "dns", "dns", S, "HOSTNAME", f"{verb} requested DNS name"),
        Option("E", "email", "email", S, "ADDRESS", f"{verb} requested email address"),
        Option("A", "ip-address", "ip", S, "ADDRESS", f"{verb} requested IP address"),
        Option("l", "challenge-password-file", "cpassfile", S, "FILENAME",
               "file which holds an optional challenge password value"),
        Option("L", "challenge-password", "cpass", S, "STRING",
               "an optional challenge password value"),
        Option(None, "for-ca", "for_ca", help="request a CA certificate"),
        Option(None, "not-for-ca", "not_for_ca", help="request a non-CA certificate"),
        Option(None, "ca-path-length", "path_length", N, "INT", "path length for CA certificate"),
        Option("w", "wait", "wait", help="try to wait for the certificate to be issued"),
        Option(None, "wait-timeout", "wait_timeout", N, "INT",
               "maximum time to wait for the certificate to be issued"),
    ]
    return tuple(opts)


_REQUEST = (
    *_storage("PEM file for private key", "PEM file for certificate (only valid with -k)"),
    *_PIN,
    *_OWNERS,
    Option("I", "id", "new_id", S, "ID", "nickname to assign to the request"),
    Option("G", "key-type", "key_type", S, "STRING",
           "type of key to be generated if one is not already in place"),
    Option("g", "key-size", "key_size", S, "BITS",
           "size of key to be generated if one is not already in place"),
    *_RENEW,
    _ca("use the specified CA configuration rather than the default"),
    *_PROFILE,
    *_names("set", subject=True),
)

_TRACKING = (
    *_storage("PEM file for private key (only valid with -f)", "PEM file for certificate"),
    *_PIN,
    *_OWNERS,
    Option("i", "id", "id", S, "ID", "nickname of an existing request"),
    Option("I", "new-id", "new_id", S, "ID", "nickname to give to tracking request"),
    *_RENEW,
    _ca("use the specified CA configuration rather than the default"),
    *_PROFILE,
    *_names("override", subject=False),
)

_RESUBMIT = (
    *_storage("", "PEM file for certificate", keyfile=False),
    Option("i", "id", "id", S, "ID", "nickname for tracking request"),
    Option("I", "new-id", "new_id", S, "ID", "new nickname to give to tracking request"),
    Option("G", "key-type", "key_type", S, "STRING", "type of new key to be generated"),
    Option("g", "key-size", "key_size", S, "BITS", "size of new key to be generated"),
    *_PIN,
    *_OWNERS,
    _ca("use the specified CA configuration rather than the current one"),
    *_PROFILE,
    *_names("set", subject=True),
)

_SELECT = (
    *_storage("", "PEM file for certificate", keyfile=False),
    Option("i", "id", "id", S, "ID", "nickname for tracking request"),
)

_REFRESH = (
    Option("a", "all", "all", help="refresh information about all outstanding requests"),
    _ca("refresh information only for requests using the specified CA configuration"),
    *_SELECT,
)

_LIST = (
    Option("r", "requests-only", "requests_only",
           help="list only information about outstanding requests"),
    Option("t", "tracking-only", "tracking_only",
           help="list only information about tracked certificates"),
    _ca("list only requests and certs associated with this CA configuration"),
    *_storage("", "PEM file for certificate", keyfile=False)[:2],
    # In the stock table --token shares -t's code, so it means --tracking-only (and
    # swallows an argument); -t itself finds the tracking-only entry first.
    Option("t", "token", "tracking_only", S, "NAME",
           "optional token name for NSS-based storage (only valid with -d)"),
    *_storage("", "PEM file for certificate", keyfile=False)[3:],
    Option("i", "id", "id", S, "ID", "nickname for tracking request"),
    Option("u", "utc", "utc", help="display times in UTC instead of local time"),
)

_ADD_CA = (
    Option("c", "ca", "ca", S, "NAME", "nickname to give to the new CA configuration"),
    Option("e", "command", "command", S, "COMMAND",
           "helper command to run to communicate with CA"),
)

_ADD_SCEP_CA = (
    Option("c", "ca", "ca", S, "NAME", "nickname to give to the new CA configuration"),
    Option("u", "url", "scep_url", S, "URL", "location of SCEP server"),
    Option("i", "id", "scep_id", S, "ID", "CA identifier"),
    Option("R", "ca-cert", "scep_root", S, "FILENAME", "file containing CA's certificate"),
    Option("r", "ra-cert", "scep_ra", S, "FILENAME", "file containing RA's certificate"),
    Option("I", "other-certs", "scep_other", S, "FILENAME",
           "file containing certificates in RA's certifying chain"),
    Option("N", "signingca", "scep_signing", S, "FILENAME",
           "the CA certificate which signed the RA certificate"),
    Option("n", "non-renewal", "scep_non_renewal",
           help="prefer to not use the SCEP Renewal feature"),
)

_LIST_CAS = (_ca("list only the specified CA configuration"),)

_MODIFY_CA = (
    Option("c", "ca", "ca", S, "NAME", "nickname of the CA configuration"),
    Option("e", "command", "command", S, "COMMAND",
           "updated helper command to run to communicate with CA"),
)

_REFRESH_CA = (
    _ca("refresh information about the CA configuration with this name"),
    Option("a", "all", "all", help="refresh information about all known CAs"),
)

_REMOVE_CA = (Option("c", "ca", "ca", S, "NAME", "nickname of CA configuration to remove"),)

TABLES: dict[str, tuple[Option, ...]] = {
    "request": _REQUEST,
    "start-tracking": _TRACKING,
    "stop-tracking": _TRACKING,
    "resubmit": _RESUBMIT,
    "rekey": _RESUBMIT,
    "refresh": _REFRESH,
    "list": (*_LIST, _JSON),
    "status": _SELECT,
    "add-ca": _ADD_CA,
    "add-scep-ca": _ADD_SCEP_CA,
    "list-cas": (*_LIST_CAS, _JSON),
    "modify-ca": _MODIFY_CA,
    "refresh-ca": _REFRESH_CA,
    "remove-ca": _REMOVE_CA,
}

# Subcommands, in the order the summary lists them, with their one-line descriptions.
SUBCOMMANDS: tuple[tuple[str, str], ...] = (
    ("request", "request a new certificate from a CA"),
    ("start-tracking", "begin monitoring an already-issued certificate"),
    ("stop-tracking", "stop monitoring a certificate"),
    ("resubmit", "resubmit an in-progress enrollment request, or start a new one"),
    ("rekey", "generate a new private key and replace a certificate"),
    ("refresh", "check on the status of an in-progress enrollment request"),
    ("list", "list certificates being monitored and requested"),
    ("status", "check the status of a certificate being monitored or requested"),
    ("add-ca", "add a CA configuration"),
    ("add-scep-ca", "add an SCEP CA configuration"),
    ("list-cas", "list known CA configurations"),
    ("modify-ca", "modify a CA configuration"),
    ("refresh-ca", "refresh cache of all information obtained from a CA"),
    ("remove-ca", "remove a CA configuration"),
)

# What the CA-fixed variants leave out.
CA_ONLY_SUBCOMMANDS = frozenset({"add-ca", "add-scep-ca", "modify-ca", "remove-ca"})


def subcommands(fixed_ca: str | None) -> list[str]:
    """The subcommands a client offers: all of them, or fewer when its CA is fixed."""
    return [name for name, _ in SUBCOMMANDS
            if fixed_ca is None or name not in CA_ONLY_SUBCOMMANDS]


def table(subcommand: str, fixed_ca: str | None = None) -> Sequence[Option]:
    """The option table of `subcommand`, with the extras, minus ``-c`` for variants."""
    opts = [o for o in TABLES[subcommand] if fixed_ca is None or o.dest != "ca"]
    return (*opts, *_BUS, *_EXTRA)
