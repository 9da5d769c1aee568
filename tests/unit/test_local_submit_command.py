"""Which `local-submit` command lines the daemon answers in process, and from which directory."""

from __future__ import annotations

import pytest

from pycertmonger.effects import local_submit_directory

DEFAULT = "/var/lib/certmonger/local"


def test_no_options_means_the_default_directory() -> None:
    assert local_submit_directory([], DEFAULT) == DEFAULT


@pytest.mark.parametrize("args", [
    ["-d", "/srv/ca"], ["-d/srv/ca"], ["-d=/srv/ca"], ["--ca-data-directory=/srv/ca"],
    ["--ca-data-directory", "/srv/ca"], ["-v", "-d", "/srv/ca"], ["--verbose", "-d/srv/ca"],
])
def test_every_spelling_of_the_directory_option_is_read(args: list[str]) -> None:
    assert local_submit_directory(args, DEFAULT) == "/srv/ca"


def test_the_last_directory_given_wins() -> None:
    assert local_submit_directory(["-d", "/a", "-d", "/b"], DEFAULT) == "/b"


@pytest.mark.parametrize("args", [
    ["-d"], ["--ca-data-directory"], ["/tmp/request.csr"], ["-x"], ["-d", "/srv/ca", "extra"],
    ["-d="],
])
def test_anything_else_leaves_the_command_to_the_program(args: list[str]) -> None:
    assert local_submit_directory(args, DEFAULT) is None
