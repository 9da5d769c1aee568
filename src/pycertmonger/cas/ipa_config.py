"""How the IPA back-end finds its server: ipa-submit's options and the IPA client config.

ipa-submit (certmonger 0.79.17, `src/ipa.c`) reads the `[global]` section of
`/etc/ipa/default.conf` (`server`, `host`, `domain`, `realm`, `xmlrpc_uri`,
`jsonrpc_uri`, `ldap_uri`, `basedn`) and trusts `/etc/ipa/ca.crt`; its options override
them.  `$IPA_CONFDIR` (FreeIPA's own variable) moves both files.

The JSON-RPC URL is the first of (observed with ipa-submit): `-J`/`-H` as given;
`https://<server>/ipa/json` for the deprecated `server` key; `jsonrpc_uri`;
`xmlrpc_uri` with its `xml` made `json`; `https://<host>/ipa/json` (`-h`, else the
`host` key).
"""

from __future__ import annotations

import getopt
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CONFDIR = "/etc/ipa"
# (connect, read) seconds; certmonger itself waits forever, a daemon should not.
TIMEOUT = (30.0, 300.0)

USAGE = """\
usage: ipa-submit [options] [csrfile]
  server:   -h HOST | -J URL (also -H URL) | -d DOMAIN | -L LDAP-URL | -b BASEDN
  trust:    -c CAFILE | -C CAPATH
  identity: -t KEYTAB -k PRINCIPAL | -K (default ccache) | -u USER -W PASSWORD|-w FILE
  request:  -P PRINCIPAL -T PROFILE -X ISSUER
  other:    -v (verbose), -? (this help)
"""

_SHORT_OPTIONS = "h:d:H:J:L:C:c:t:k:Ku:W:w:P:T:X:b:v?"
_LONG_OPTIONS = [
    "host=", "domain=", "xmlrpc-url=", "jsonrpc-url=", "ldap-url=", "capath=", "cafile=",
    "keytab-name=", "submitter-principal=", "use-ccache-creds", "uid=", "pwd=", "pwdfile=",
    "principal-of-request=", "profile=", "issuer=", "basedn=", "verbose", "help", "usage",
]
_LONG_TO_SHORT = {
    "--host": "-h", "--domain": "-d", "--xmlrpc-url": "-H", "--jsonrpc-url": "-J",
    "--ldap-url": "-L", "--capath": "-C", "--cafile": "-c", "--keytab-name": "-t",
    "--submitter-principal": "-k", "--use-ccache-creds": "-K", "--uid": "-u", "--pwd": "-W",
    "--pwdfile": "-w", "--principal-of-request": "-P", "--profile": "-T", "--issuer": "-X",
    "--basedn": "-b", "--verbose": "-v", "--help": "-?", "--usage": "-?",
}


class IPAUsageError(ValueError):
    """The ipa-submit command line makes no sense (certmonger: exit 4 with the usage)."""



@dataclass
class IPAOptions:
    """ipa-submit's command-line options (None: not given)."""

    host: str | None = None
    domain: str | None = None
    jsonrpc_url: str | None = None  # -J, and -H (XML-RPC is no longer spoken)
    ldap_url: str | None = None
    capath: str | None = None
    cafile: str | None = None
    keytab: str | None = None
    submitter_principal: str | None = None
    use_ccache: bool = False
    uid: str | None = None
    password: str | None = None
    password_file: str | None = None
    request_principal: str | None = None
    profile: str | None = None
    issuer: str | None = None
    basedn: str | None = None
    verbose: bool = False
    help: bool = False
    csr_file: str | None = None

    @classmethod
    def parse(cls, args: list[str]) -> IPAOptions:
        """Parse ipa-submit's options; raises IPAUsageError like certmonger's checks."""
        try:
            pairs, rest = getopt.gnu_getopt(args, _SHORT_OPTIONS, _LONG_OPTIONS)
        except getopt.GetoptError as exc:
            raise IPAUsageError(str(exc)) from exc
        opts = cls()
        for name, value in pairs:
            name = _LONG_TO_SHORT.get(name, name)
            if name == "-K":
                if opts.keytab is not None or opts.submitter_principal is not None:
                    raise IPAUsageError(
                        "The -K option can not be used with either the -k or the -t option.")
                opts.use_ccache = True
            elif name in ("-t", "-k") and opts.use_ccache:
                raise IPAUsageError(f"The {name} option can not be used with the -K option.")
            elif name == "-v":
                opts.verbose = True
            elif name == "-?":
                opts.help = True
            else:
                setattr(opts, _OPTION_FIELDS[name], value)
        if rest:
            opts.csr_file = rest[0]
        if (opts.uid is None) != (opts.password is None and opts.password_file is None):
            raise IPAUsageError("Both -u and -W/-w options should be specified.")
        return opts


_OPTION_FIELDS = {
    "-h": "host", "-d": "domain", "-H": "jsonrpc_url", "-J": "jsonrpc_url",
    "-L": "ldap_url", "-C": "capath", "-c": "cafile", "-t": "keytab",
    "-k": "submitter_principal", "-u": "uid", "-W": "password", "-w": "password_file",
    "-P": "request_principal", "-T": "profile", "-X": "issuer", "-b": "basedn",
}


@dataclass
class IPAConfig:
    """The `[global]` section of an IPA client's `default.conf` (empty strings: unset)."""

    server: str = ""
    host: str = ""
    domain: str = ""
    realm: str = ""
    xmlrpc_uri: str = ""
    jsonrpc_uri: str = ""
    ldap_uri: str = ""
    basedn: str = ""

    @classmethod
    def parse(cls, text: str) -> IPAConfig:
        """Read the `[global]` keys from default.conf text; other lines are ignored.

        Like certmonger's reader (not Python's configparser), every line stands alone:
        blanks around keys and values are trimmed, `#` and `;` start comments, and a
        later value of a key replaces an earlier one.
        """
        values: dict[str, str] = {}
        section = ""
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1].strip().lower()
                continue
            key, sep, value = line.partition("=")
            if sep and section == "global":
                values[key.strip().lower()] = value.strip()
        return cls(**{name: values.get(name, "") for name in cls.__dataclass_fields__})

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> IPAConfig:
        """Read a default.conf file; a missing or unreadable file gives an empty config."""
        try:
            return cls.parse(Path(path).read_text(errors="replace"))
        except OSError:
            return cls()


def config_dir(env: Mapping[str, str]) -> Path:
    """Where default.conf and ca.crt live: `$IPA_CONFDIR`, else /etc/ipa."""
    return Path(env.get("IPA_CONFDIR") or DEFAULT_CONFDIR)


def jsonrpc_url(options: IPAOptions, config: IPAConfig) -> str:
    """The JSON-RPC URL, chosen in certmonger's order ('' when nothing says where)."""
    if options.jsonrpc_url:
        return options.jsonrpc_url
    if config.server:
        return f"https://{config.server}/ipa/json"
    if config.jsonrpc_uri:
        return config.jsonrpc_uri
    if config.xmlrpc_uri:
        # certmonger swaps the last three characters for "json"; only do that when they
        # really are "xml".
        if config.xmlrpc_uri.endswith("xml"):
            return config.xmlrpc_uri[:-3] + "json"
        return config.xmlrpc_uri
    host = options.host or config.host
    if host:
        return f"https://{host}/ipa/json"
    return ""


@dataclass
class IPASettings:
    """Everything the IPA back-end needs, with options and configuration resolved."""

    url: str = ""
    cafile: str | None = None
    capath: str | None = None
    keytab: str | None = None  # None: the default keytab
    submitter_principal: str = ""
    use_ccache: bool = False
    basic_auth: tuple[str, str] | None = None
    realm: str = ""
    request_principal: str | None = None  # -P: overrides the request's principal
    profile: str | None = None  # -T
    issuer: str | None = None  # -X
    usage_error: str = ""  # the command line was unusable: every answer is UNCONFIGURED
    timeout: tuple[float, float] = TIMEOUT
    csr_file: str | None = None

    @classmethod
    def resolve(cls, options: IPAOptions, env: Mapping[str, str]) -> IPASettings:
        """Combine ipa-submit's options with default.conf (found through `env`)."""
        confdir = config_dir(env)
        config = IPAConfig.read(confdir / "default.conf")
        cafile = options.cafile
        if cafile is None and (confdir / "ca.crt").exists():
            cafile = str(confdir / "ca.crt")
        basic: tuple[str, str] | None = None
        if options.uid is not None:
            password = options.password
            if password is None and options.password_file is not None:
                try:
                    password = Path(options.password_file).read_text().rstrip("\r\n")
                except OSError as exc:
                    return cls(usage_error=f'Error reading password from '
                                          f'"{options.password_file}": {exc.strerror}.')
            basic = (options.uid, password or "")
        submitter = options.submitter_principal or ""
        if not submitter and not options.use_ccache:
            # krb5_sname_to_principal(NULL, "host"): the local host's service principal.
            fqdn = (config.host or socket.gethostname()).lower()
            submitter = f"host/{fqdn}" + (f"@{config.realm}" if config.realm else "")
        keytab = options.keytab or env.get("KRB5_KTNAME") or None
        return cls(url=jsonrpc_url(options, config), cafile=cafile, capath=options.capath,
                   keytab=keytab, submitter_principal=submitter,
                   use_ccache=options.use_ccache, basic_auth=basic, realm=config.realm,
                   request_principal=options.request_principal, profile=options.profile,
                   issuer=options.issuer, csr_file=options.csr_file)

    @classmethod
    def from_args(cls, args: list[str], env: Mapping[str, str]) -> IPASettings:
        """Settings from ipa-submit's options (without the program name)."""
        try:
            options = IPAOptions.parse(args)
        except IPAUsageError as exc:
            return cls(usage_error=str(exc))
        return cls.resolve(options, env)
