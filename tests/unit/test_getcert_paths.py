"""Locations on the command line are checked and cleaned up before anything is sent."""

from __future__ import annotations

from pathlib import Path

import pytest

from pycertmonger.getcert import paths


class Said(list[str]):
    def __call__(self, line: str) -> None:
        self.append(line)


@pytest.mark.parametrize(("given", "clean"), [
    ("/srv//a/./b/../c", "/srv/a/c"),
    ("/a/b/", "/a/b"),
    ("/a/b/.", "/a/b"),
    ("//c.crt", "/c.crt"),
    ("/", ""),
])
def test_paths_are_cleaned_up_lexically(given, clean):
    assert paths.canonicalize(given) == clean


def test_relative_pem_path_is_made_absolute_with_a_message(tmp_path: Path):
    said = Said()
    assert paths.ensure_pem("x.crt", said, cwd=str(tmp_path)) == f"{tmp_path}/x.crt"
    assert said == [(f'Path "x.crt" is not absolute, attempting to use "{tmp_path}/x.crt" '
                    "instead.")]


def test_pem_path_in_a_missing_directory_is_refused(tmp_path: Path):
    said = Said()
    with pytest.raises(paths.PathError):
        paths.ensure_pem(f"{tmp_path}/nope/x.crt", said)
    assert said == [f'Path "{tmp_path}/nope": No such file or directory.']


def test_pem_path_under_a_file_is_refused(tmp_path: Path):
    (tmp_path / "f").write_text("")
    said = Said()
    with pytest.raises(paths.PathError):
        paths.ensure_pem(f"{tmp_path}/f/x.crt", said)
    assert said == [f'Path "{tmp_path}/f" is not a directory.']


def test_pem_path_that_is_a_directory_is_refused(tmp_path: Path):
    said = Said()
    with pytest.raises(paths.PathError):
        paths.ensure_pem(str(tmp_path), said)
    assert said == [f'Path "{tmp_path}" is not a regular file.']


def test_pem_path_in_the_root_directory_is_accepted():
    assert paths.ensure_pem("/x.crt", Said()) == "/x.crt"


def test_nss_prefix_is_kept_and_the_directory_cleaned_up(tmp_path: Path):
    assert paths.ensure_nss(f"sql:{tmp_path}//", Said()) == f"sql:{tmp_path}"


def test_relative_nss_path_message_leaves_out_the_prefix(tmp_path: Path):
    (tmp_path / "db").mkdir()
    said = Said()
    assert paths.ensure_nss("dbm:db", said, cwd=str(tmp_path)) == f"dbm:{tmp_path}/db"
    assert said == [f'Path "db" is not absolute, attempting to use "{tmp_path}/db" instead.']


def test_nss_prefixes_are_case_sensitive(tmp_path: Path):
    said = Said()
    with pytest.raises(paths.PathError):
        paths.ensure_nss("SQL:/x", said, cwd=str(tmp_path))
    assert said[-1] == f'Path "{tmp_path}/SQL:/x": No such file or directory.'


def test_nss_path_must_be_a_directory(tmp_path: Path):
    (tmp_path / "f").write_text("")
    said = Said()
    with pytest.raises(paths.PathError):
        paths.ensure_nss(f"{tmp_path}/f", said)
    assert said == [f'Path "{tmp_path}/f" is not a directory.']


def test_root_nss_path_ends_up_empty_and_missing():
    said = Said()
    with pytest.raises(paths.PathError):
        paths.ensure_nss("/", said)
    assert said == ['Path "": No such file or directory.']


CERT = "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize("text", [
    CERT,
    "junk\n" + CERT,
    "-----BEGIN FOO-----\nQUI=\n-----END BAR-----\n",
    "-----BEGIN CERTIFICATE-----QUJD-----END CERTIFICATE-----",
])
def test_pem_blocks_with_base64_bodies_are_valid(text):
    assert paths.pem_blocks_valid(text)


@pytest.mark.parametrize("text", [
    "x",
    "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
    "-----BEGIN CERTIFICATE-----\nQU JD\n-----END CERTIFICATE-----\n",
    "-----BEGIN CERTIFICATE-----\nQUJ\n-----END CERTIFICATE-----\n",
    CERT + "-----BEGIN CERTIFICATE-----\nQUJ\n-----END CERTIFICATE-----\n",
    "-----BEGIN CERTIFICATE-----\nQUJD\n",
])
def test_pem_without_good_blocks_is_invalid(text):
    assert not paths.pem_blocks_valid(text)


def test_missing_scep_file_is_reported_twice(tmp_path: Path):
    said = Said()
    with pytest.raises(paths.PathError):
        paths.check_pem_file(f"{tmp_path}/no.pem", "root certificate(s)", said)
    assert said == [
        f"Unable to open {tmp_path}/no.pem for reading: No such file or directory",
        f"The root certificate(s) in {tmp_path}/no.pem is not valid PEM",
    ]


def test_empty_scep_file_is_reported(tmp_path: Path):
    (tmp_path / "e.pem").write_text("")
    said = Said()
    with pytest.raises(paths.PathError):
        paths.check_pem_file(str(tmp_path / "e.pem"), "RA certificate(s)", said)
    assert said[0] == f"{tmp_path}/e.pem is an empty file."


def test_scep_file_that_is_a_directory_is_reported(tmp_path: Path):
    said = Said()
    with pytest.raises(paths.PathError):
        paths.check_pem_file(str(tmp_path), "certificate(s)", said)
    assert said[0] == f"Error reading {tmp_path}: Is a directory."


def test_good_scep_file_passes_silently(tmp_path: Path):
    (tmp_path / "c.pem").write_text(CERT)
    said = Said()
    paths.check_pem_file(str(tmp_path / "c.pem"), "certificate(s)", said)
    assert said == []
