"""The normalizer of the side-by-side tests hides run-specific details, and nothing else."""

from __future__ import annotations

from tests.support.normalize import SERIAL, STAMP, TIME, UUID, Normalizer

N = Normalizer({"/srv/run1/work": "{w}", "/srv/run1": "{root}"})


def test_paths_are_replaced_longest_first() -> None:
    assert N.text("key='/srv/run1/work/a.key' cas=/srv/run1/state/cas") == \
        "key='{w}/a.key' cas={root}/state/cas"


def test_listed_times_are_replaced() -> None:
    assert N.text("\tissued: 2026-11-26 19:17:48 UTC\n") == f"\tissued: {TIME}\n"


def test_generated_nicknames_and_record_names_are_replaced() -> None:
    assert N.text("Request ID '20261126191748':") == f"Request ID '{STAMP}':"
    assert N.text("config-path: /x/cas/20261126191704-3") == f"config-path: /x/cas/{STAMP}"


def test_the_local_ca_uuid_is_replaced() -> None:
    issuer = "CN=981196e8-c4ca43bb-a53841f7-2d914cbb,CN=Local Signing Authority"
    assert N.text(issuer) == f"CN={UUID},CN=Local Signing Authority"


def test_other_numbers_and_names_are_kept() -> None:
    text = "\tnext-serial-number: 02\n\tdns: host1.example.test\nexit 20261126\n"
    assert N.text(text) == text


def test_pem_blocks_keep_only_their_label() -> None:
    pem = "-----BEGIN CERTIFICATE-----\nQUJD\r\nREVG\n-----END CERTIFICATE-----\n"
    assert N.value(pem) == "<PEM CERTIFICATE>"
    assert N.value(pem + "\n") == "<PEM CERTIFICATE>\n"


def test_times_and_serials_are_recognised_by_property_name() -> None:
    got = N.value({"not-valid-after": 1795733130, "last-checked": 0, "serial": "0A1B",
                   "key-size": 2048, "cert-file": "/srv/run1/work/a.crt"})
    assert got == {"not-valid-after": TIME, "last-checked": 0, "serial": SERIAL,
                   "key-size": 2048, "cert-file": "{w}/a.crt"}


def test_nested_values_keep_their_shape() -> None:
    assert N.value([("root", "/srv/run1/work/x")]) == [("root", "{w}/x")]
