"""Principal names are normalised, and the default realm found, like MIT Kerberos does."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycertmonger.getcert import krb5


@pytest.mark.parametrize(("given", "sent"), [
    ("host/x", "host/x@R.TEST"),
    ("a/b/c@OTHER", "a/b/c@OTHER"),
    ("@OTHER", "@OTHER"),
    ("a@", "a@"),
    ("a b", "a b@R.TEST"),
    ("a/", "a/@R.TEST"),
    ("/a", "/a@R.TEST"),
    ("a\\@b", "a\\@b@R.TEST"),
    ("a\\\\b", "a\\\\b@R.TEST"),
    ("a\\/b", "a\\/b@R.TEST"),
    ("a\\tb", "a\\tb@R.TEST"),
    ("a\\nb", "a\\nb@R.TEST"),
    ("a\\x", "ax@R.TEST"),
    ("a@R\\@x", "a@R\\@x"),
])
def test_principals_are_completed_and_reescaped(given, sent):
    assert krb5.canonical_principal(given, "R.TEST") == sent


@pytest.mark.parametrize("given", ["@@", "a@b@c", "a@R/x", "a\\", "a@R@"])
def test_malformed_principals_are_refused(given):
    with pytest.raises(krb5.PrincipalError) as e:
        krb5.canonical_principal(given, "R.TEST")
    assert e.value.reason == "Malformed representation of principal"


def test_principal_without_realm_needs_a_default_realm():
    with pytest.raises(krb5.PrincipalError) as e:
        krb5.canonical_principal("host/x", None)
    assert e.value.reason == "Configuration file does not specify default realm"


def test_principal_with_realm_needs_no_default_realm():
    assert krb5.canonical_principal("host/x@R", None) == "host/x@R"


def test_default_realm_comes_from_libdefaults(tmp_path: Path):
    conf = tmp_path / "krb5.conf"
    conf.write_text("[realms]\n default_realm = NOT.THIS\n[libdefaults]\n"
                    "\tdefault_realm = EXAMPLE.TEST\n")
    assert krb5.default_realm({"KRB5_CONFIG": str(conf)}) == "EXAMPLE.TEST"


def test_default_realm_is_none_without_a_profile(tmp_path: Path):
    assert krb5.default_realm({"KRB5_CONFIG": str(tmp_path / "missing")}) is None


def test_first_profile_file_that_sets_the_realm_wins(tmp_path: Path):
    first = tmp_path / "a.conf"
    first.write_text("[libdefaults]\n dns_lookup_realm = false\n")
    second = tmp_path / "b.conf"
    second.write_text("[libdefaults]\n default_realm = SECOND.TEST\n")
    env = {"KRB5_CONFIG": f"{first}:{second}"}
    assert krb5.default_realm(env) == "SECOND.TEST"


def test_default_realm_inside_a_subsection_does_not_count(tmp_path: Path):
    conf = tmp_path / "krb5.conf"
    conf.write_text("[libdefaults]\n x = {\n  default_realm = NO\n }\n"
                    " default_realm = YES\n")
    assert krb5.default_realm({"KRB5_CONFIG": str(conf)}) == "YES"


def test_included_files_are_read(tmp_path: Path):
    (tmp_path / "inc.conf").write_text("[libdefaults]\n default_realm = INC.TEST\n")
    conf = tmp_path / "krb5.conf"
    conf.write_text(f"include {tmp_path / 'inc.conf'}\n")
    assert krb5.default_realm({"KRB5_CONFIG": str(conf)}) == "INC.TEST"


def test_etc_krb5_conf_is_the_default_profile():
    assert krb5.profile_files({}) == ["/etc/krb5.conf"]
