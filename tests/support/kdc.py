"""A throwaway MIT Kerberos realm on loopback: a KDC, its database and keytabs in a temp dir.

`KerberosRealm(workdir).start()` writes a krb5.conf and kdc.conf, creates the database
with `kdb5_util`, adds principals with `kadmin.local` (no kadmind is needed) and runs
`krb5kdc` in the foreground on a free loopback port.  Point Kerberos programs at it with
`realm.env()` (`KRB5_CONFIG`, `KRB5_KDC_PROFILE`).

Principals made at start, each with its own keytab:

* `host/<fqdn>@REALM` (`host_keytab`): what an IPA client (certmonger's ipa-submit)
  authenticates as;
* `HTTP/<service host>@REALM` (`http_keytab`): the web server's key.  The service host
  must be the host name clients put in the URL (`localhost` by default), and the
  krb5.conf turns off DNS canonicalisation and reverse lookups so that it stays that.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Self

KDC_PROGRAMS = ("krb5kdc", "kdb5_util", "kadmin.local")
_SBIN = ("/usr/sbin", "/sbin")


def _program(name: str) -> str | None:
    """The path of an MIT Kerberos admin program (they live in sbin, often not in PATH)."""
    found = shutil.which(name)
    if found:
        return found
    for directory in _SBIN:
        candidate = os.path.join(directory, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def have_kdc() -> bool:
    """Whether the MIT KDC programs are installed."""
    return all(_program(name) for name in KDC_PROGRAMS)


def free_port() -> int:
    """A loopback port that is free for both TCP and UDP right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free loopback port")


class KerberosRealm:
    """A private Kerberos realm whose KDC runs while the object is started."""

    def __init__(
        self,
        workdir: Path,
        realm: str = "IPA.TEST",
        *,
        fqdn: str | None = None,
        service_host: str = "localhost",
    ) -> None:
        self.workdir = Path(workdir)
        self.realm = realm
        # What `krb5_sname_to_principal(NULL, "host")` gives on this machine once
        # canonicalisation is off: the lower-cased host name.
        self.fqdn = (fqdn or socket.gethostname()).lower()
        self.service_host = service_host
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.krb5_conf = self.workdir / "krb5.conf"
        self.kdc_conf = self.workdir / "kdc.conf"
        self.host_keytab = self.workdir / "host.keytab"
        self.http_keytab = self.workdir / "http.keytab"

    # -- names -------------------------------------------------------------------------

    @property
    def host_principal(self) -> str:
        """The client host's principal, with the realm."""
        return f"host/{self.fqdn}@{self.realm}"

    @property
    def http_principal(self) -> str:
        """The web service's principal, with the realm."""
        return f"HTTP/{self.service_host}@{self.realm}"

    def env(self) -> dict[str, str]:
        """The variables that make Kerberos programs and libraries use this realm."""
        return {"KRB5_CONFIG": str(self.krb5_conf), "KRB5_KDC_PROFILE": str(self.kdc_conf)}

    # -- set-up ------------------------------------------------------------------------

    def _write_config(self) -> None:
        w = self.workdir
        mappings = {self.service_host, self.fqdn, "localhost"}
        domain_realm = "".join(f"    {name} = {self.realm}\n" for name in sorted(mappings))
        self.krb5_conf.write_text(
            "[libdefaults]\n"
            f"    default_realm = {self.realm}\n"
            "    dns_lookup_kdc = false\n"
            "    dns_lookup_realm = false\n"
            "    dns_canonicalize_hostname = false\n"
            "    rdns = false\n"
            "    udp_preference_limit = 1\n"
            "    forwardable = true\n"
            f"    default_ccache_name = FILE:{w}/ccache\n"
            f"    default_keytab_name = FILE:{self.host_keytab}\n"
            "[realms]\n"
            f"    {self.realm} = {{\n"
            f"        kdc = 127.0.0.1:{self.port}\n"
            "    }\n"
            "[domain_realm]\n" + domain_realm
        )
        self.kdc_conf.write_text(
            "[kdcdefaults]\n"
            f"    kdc_listen = 127.0.0.1:{self.port}\n"
            f"    kdc_tcp_listen = 127.0.0.1:{self.port}\n"
            "[realms]\n"
            f"    {self.realm} = {{\n"
            f"        database_name = {w}/principal\n"
            f"        key_stash_file = {w}/stash\n"
            f"        acl_file = {w}/kadm5.acl\n"
            "    }\n"
            "[logging]\n"
            f"    kdc = FILE:{w}/kdc.log\n"
        )
        (w / "kadm5.acl").write_text(f"*/admin@{self.realm} *\n")

    def _run(self, *argv: str) -> None:
        env = dict(os.environ, **self.env())
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30,
                                check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {result.stderr.strip()}")

    def kadmin(self, query: str) -> None:
        """Run one `kadmin.local` query against the realm's database."""
        self._run(_program("kadmin.local") or "kadmin.local", "-r", self.realm, "-q", query)

    def add_principal(self, name: str, keytab: Path | None = None) -> Path | None:
        """Add a principal with a random key; export it to `keytab` if one is given."""
        self.kadmin(f"addprinc -randkey {name}")
        if keytab is not None:
            self.kadmin(f"ktadd -k {keytab} {name}")
        return keytab

    def add_user(self, name: str, password: str) -> None:
        """Add a principal that has a password."""
        self.kadmin(f"addprinc -pw {password} {name}")

    def start(self, timeout: float = 10) -> Self:
        """Create the realm and run its KDC; returns self once the KDC answers."""
        if not have_kdc():
            raise RuntimeError("the MIT KDC programs are not installed")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self._write_config()
        self._run(_program("kdb5_util") or "kdb5_util", "-r", self.realm, "create", "-s",
                  "-P", "masterpw")
        self.add_principal(self.host_principal, self.host_keytab)
        self.add_principal(self.http_principal, self.http_keytab)
        env = dict(os.environ, **self.env())
        log = open(self.workdir / "krb5kdc.out", "wb")  # noqa: SIM115 - lives with the KDC
        self.proc = subprocess.Popen(
            [_program("krb5kdc") or "krb5kdc", "-n", "-r", self.realm,
             "-P", str(self.workdir / "kdc.pid")],
            env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("krb5kdc exited: "
                                   + (self.workdir / "krb5kdc.out").read_text(errors="replace"))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.01)
        self.stop()
        raise RuntimeError("krb5kdc did not start listening")

    def stop(self) -> None:
        """Stop the KDC (the files stay in the work dir)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
