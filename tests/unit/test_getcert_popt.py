"""getcert's command-line parser reads arguments the way libpopt does."""

from __future__ import annotations

import pytest

from pycertmonger.getcert import options
from pycertmonger.getcert.popt import ArgKind, Option, Parser, PoptError, c_strtol, format_help

TABLE = (
    Option("f", "certfile", "certfile", ArgKind.STRING, "FILENAME", "PEM file for certificate"),
    Option("c", "ca", "ca", ArgKind.STRING, "NAME", "use the specified CA"),
    Option("w", "wait", "wait", help="try to wait"),
    Option("v", "verbose", "verbose"),
    Option(None, "wait-timeout", "wait_timeout", ArgKind.INT, "INT", "maximum time to wait"),
)


def parse(*argv: str) -> tuple[list[tuple[str, object]], list[str]]:
    parser = Parser(TABLE, argv)
    got = [(o.dest, v) for o, v in parser.options()]
    return got, parser.leftovers


def error(*argv: str) -> str:
    with pytest.raises(PoptError) as e:
        parse(*argv)
    return e.value.text


def test_short_option_takes_the_next_word():
    assert parse("-f", "a.crt") == ([("certfile", "a.crt")], [])


def test_short_option_takes_an_attached_argument():
    assert parse("-fa.crt") == ([("certfile", "a.crt")], [])


def test_equals_sign_after_a_short_option_is_skipped():
    assert parse("-f=a.crt") == ([("certfile", "a.crt")], [])


def test_short_flags_can_be_bundled_with_an_argument_option_last():
    assert parse("-wvfa.crt")[0] == [("wait", None), ("verbose", None), ("certfile", "a.crt")]


def test_next_word_is_taken_as_argument_even_if_it_looks_like_an_option():
    assert parse("-c", "-w") == ([("ca", "-w")], [])


def test_long_option_takes_equals_or_next_word():
    assert parse("--ca=x", "--certfile", "y")[0] == [("ca", "x"), ("certfile", "y")]


def test_long_option_with_empty_value_is_accepted():
    assert parse("--ca=")[0] == [("ca", "")]


def test_long_options_cannot_be_abbreviated():
    assert error("--wai") == "unrecognized option --wai"


def test_unknown_short_option_quotes_the_whole_word():
    assert error("-wvy") == "unrecognized option -wvy"


def test_missing_argument_names_the_option_as_written():
    assert error("-c") == "missing argument for -c"
    assert error("--ca") == "missing argument for --ca"


def test_flag_given_a_value_is_refused():
    assert error("--wait=yes") == "option does not take an argument"
    assert error("-w=3") == "option does not take an argument"


def test_words_that_are_not_options_are_collected_and_parsing_goes_on():
    assert parse("x", "-w", "y") == ([("wait", None)], ["x", "y"])


def test_double_dash_ends_option_processing():
    assert parse("--", "-w") == ([], ["-w"])


def test_lone_dash_is_an_argument():
    assert parse("-") == ([], ["-"])


def test_options_before_an_error_are_delivered_first():
    parser = Parser(TABLE, ["-f", "a", "-y"])
    seen = []
    with pytest.raises(PoptError):
        for option, value in parser.options():
            seen.append((option.dest, value))
    assert seen == [("certfile", "a")]


@pytest.mark.parametrize(("text", "value"), [
    ("", 0), (" 5", 5), ("+5", 5), ("-0x10", -16), ("010", 8), ("0x7fffffff", 2**31 - 1),
    ("-2147483648", -(2**31)),
])
def test_integer_arguments_read_like_strtol_base_0(text, value):
    assert parse(f"--wait-timeout={text}")[0] == [("wait_timeout", value)]


@pytest.mark.parametrize("text", ["5x", "1e3", "09", " "])
def test_integer_arguments_must_be_numbers_throughout(text):
    assert error(f"--wait-timeout={text}") == "invalid numeric value"


@pytest.mark.parametrize("text", ["2147483648", "-2147483649"])
def test_integer_arguments_must_fit_in_an_int(text):
    assert error(f"--wait-timeout={text}") == "number too large or too small"


def test_strtol_stops_at_the_first_character_outside_the_base():
    assert c_strtol("0x1ff", 8) == (0, 1)
    assert c_strtol("7a", 8) == (7, 1)
    assert c_strtol("abc", 8) == (0, 0)


def test_first_table_entry_wins_a_shared_letter():
    table = options.table("list")
    parser = Parser(table, ["-t"])
    assert [o.dest for o, _ in parser.options()] == ["tracking_only"]


def test_list_token_long_option_means_tracking_only_and_takes_an_argument():
    parser = Parser(options.table("list"), ["--token", "x"])
    assert [(o.dest, v) for o, v in parser.options()] == [("tracking_only", "x")]


def test_help_table_aligns_help_text_after_the_widest_option():
    text = format_help("getcert", "list-cas", options.table("list-cas"))
    assert text == (
        "Usage: getcert list-cas [OPTION...]\n"
        "  -c, --ca=NAME     list only the specified CA configuration\n"
        "  -s, --session     connect to the certmonger service on the session bus\n"
        "  -S, --system      connect to the certmonger service on the system bus\n"
        "  -v, --verbose\n"
    )


def test_help_table_wraps_long_help_at_79_columns_like_popt():
    text = format_help("getcert", "list", options.table("list"))
    assert ("  -c, --ca=NAME               list only requests and certs associated with\n"
            "                              this CA configuration\n") in text


def test_help_table_indents_options_without_a_short_name():
    text = format_help("getcert", "request", options.table("request"))
    assert "      --for-ca                               request a CA certificate\n" in text


def test_help_table_leaves_out_hidden_options():
    assert "--json" not in format_help("getcert", "list", options.table("list"))


def test_variants_have_no_ca_option():
    assert "ca" not in {o.dest for o in options.table("list", fixed_ca="local")}
