"""certmonger's record-file format: reading, writing and round trips."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycertmonger.model import CA, Request, State
from pycertmonger.store import record
from pycertmonger.store.directory import RecordDirectory

STOCK = Path(__file__).resolve().parents[1] / "fixtures" / "stock"


@pytest.mark.parametrize("name", ["ss1", "loc1", "nss1"])
def test_stock_request_records_round_trip_byte_for_byte(name: str) -> None:
    text = (STOCK / "requests" / name).read_text()
    assert record.dumps(record.loads(Request, text)) == text


@pytest.mark.parametrize("name", ["SelfSign", "IPA", "dogtag-ipa-renew-agent", "local"])
def test_stock_ca_records_round_trip_byte_for_byte(name: str) -> None:
    text = (STOCK / "cas" / name).read_text()
    assert record.dumps(record.loads(CA, text)) == text


def test_stock_request_fields_are_decoded_into_the_model() -> None:
    req = record.loads(Request, (STOCK / "requests" / "ss1").read_text())
    assert req.nickname == "ss1"
    assert req.state is State.MONITORING
    assert req.autorenew and req.monitor
    assert req.template_hostname == ["ss1.example.test"]
    assert req.template_eku == ["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]
    assert req.cert_ipaddress == ["192.0.2.1"]  # stored base64 by certmonger
    assert req.template_ipaddress == ["192.0.2.1"]  # stored plain
    assert req.cert.startswith("-----BEGIN CERTIFICATE-----\n")
    assert req.cert.endswith("-----END CERTIFICATE-----\n")
    assert req.cert_not_after - req.cert_not_before == 365 * 86400
    assert req.post_certsave_command == "/bin/true post"


def test_a_stock_csr_reads_as_pem_ending_in_a_newline() -> None:
    req = record.loads(Request, (STOCK / "requests" / "ss1").read_text())
    assert req.csr.startswith("-----BEGIN CERTIFICATE REQUEST-----\n")
    assert req.csr.endswith("-----END CERTIFICATE REQUEST-----\n")


def test_a_csr_ending_in_a_newline_is_written_as_certmonger_writes_it() -> None:
    req = Request(nickname="x", csr="-----BEGIN CERTIFICATE REQUEST-----\nAA==\n"
                                    "-----END CERTIFICATE REQUEST-----\n")
    text = record.dumps(req)
    assert ("csr=-----BEGIN CERTIFICATE REQUEST-----\n AA==\n"
            " -----END CERTIFICATE REQUEST-----\n") in text
    assert "-----END CERTIFICATE REQUEST-----\n \n" not in text  # no empty line
    assert record.loads(Request, record.dumps(req)).csr == req.csr


def test_a_request_without_a_certificate_keeps_the_flags_certmonger_always_writes() -> None:
    text = record.dumps(Request(nickname="x"))
    assert "\ncert_is_ca=0\n" in text
    assert "\ncert_no_ocsp_check=0\n" in text


def test_ca_root_certificates_are_nickname_and_pem_pairs() -> None:
    ca = record.loads(CA, (STOCK / "cas" / "local").read_text())
    assert [nick for nick, _ in ca.root_certs] == ["Local Signing Authority"]
    assert ca.root_certs[0][1].startswith("-----BEGIN CERTIFICATE-----")


def test_unknown_keys_survive_a_round_trip() -> None:
    text = "id=x\nfuture_key=some value\n more\n"
    req = record.loads(Request, text)
    assert req.extra == {"future_key": "some value\nmore"}
    assert "future_key=some value\n more\n" in record.dumps(req)


def test_list_items_with_commas_and_backslashes_are_escaped() -> None:
    items = ["a,b", "c\\d", "e"]
    assert record.split_list(record.join_list(items)) == items


def test_unset_time_is_written_as_the_epoch() -> None:
    assert record.format_time(0) == "19700101000000"
    assert record.parse_time("19700101000000") == 0
    assert record.parse_time(record.format_time(1_800_000_000)) == 1_800_000_000


def test_legacy_state_names_are_understood() -> None:
    assert record.loads(Request, "id=a\nstate=NEED_TO_NOTIFY\n").state is \
        State.NEED_TO_NOTIFY_VALIDITY


def test_modes_are_octal_text() -> None:
    req = record.loads(Request, "id=a\nkey_perms=640\n")
    assert req.key_perms == 0o640
    assert "key_perms=640\n" in record.dumps(req)


def test_directory_names_files_by_creation_time_with_suffixes(tmp_path: Path) -> None:
    store = RecordDirectory(tmp_path, clock=lambda: 1_800_000_000)
    a, b = Request(nickname="a"), Request(nickname="b")
    store.save(a)
    store.save(b)
    assert b.store_name == a.store_name + "-1"
    assert (tmp_path / a.store_name).stat().st_mode & 0o777 == 0o600
    loaded = RecordDirectory(tmp_path).load_all(Request)
    assert [r.nickname for r in loaded] == ["a", "b"]


def test_directory_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    store = RecordDirectory(tmp_path)
    req = Request(nickname="a")
    store.save(req)
    store.save(req)
    assert sorted(p.name for p in tmp_path.iterdir()) == [req.store_name]


def test_directory_ignores_temporary_and_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "20260101000000.tmp").write_text("id=half\n")
    (tmp_path / ".hidden").write_text("id=hidden\n")
    (tmp_path / "20260101000000").write_text("id=whole\n")
    assert [r.nickname for r in RecordDirectory(tmp_path).load_all(Request)] == ["whole"]


def test_an_older_snapshot_never_overwrites_a_newer_one(tmp_path: Path) -> None:
    store = RecordDirectory(tmp_path)
    req = Request(nickname="a", template_subject="CN=old")
    old = store.prepare(req)
    req.template_subject = "CN=new"
    new = store.prepare(req)
    store.commit(*new)
    store.commit(*old)
    assert "template_subject=CN=new\n" in (tmp_path / req.store_name).read_text()


def test_an_unchanged_record_is_not_written_again(tmp_path: Path) -> None:
    store = RecordDirectory(tmp_path)
    req = Request(nickname="a")
    store.save(req)
    path = tmp_path / req.store_name
    path.write_text("id=touched\n")  # if save wrote again, this would be replaced
    store.save(req)
    assert path.read_text() == "id=touched\n"
