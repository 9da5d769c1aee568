"""Usage texts and the command summary, for getcert and its CA-fixed variants."""

from __future__ import annotations

from pycertmonger.getcert import usage


def test_summary_lists_every_subcommand_with_a_tab_after_the_padded_name():
    text = usage.summary("getcert")
    assert text.startswith("getcert - client certificate enrollment tool\n\n"
                           "Usage: getcert command [options]\n"
                           "request        \trequest a new certificate from a CA\n")
    assert text.endswith("remove-ca      \tremove a CA configuration\n")
    assert len(text.splitlines()) == 17


def test_variant_summary_leaves_out_ca_management():
    text = usage.summary("local-getcert", fixed_ca="local")
    assert "add-ca" not in text and "modify-ca" not in text
    assert "refresh-ca     \trefresh cache" in text


def test_subcommand_usage_starts_with_the_tool_line_and_names_the_program():
    text = usage.usage("ipa-getcert", "list", fixed_ca="IPA")
    assert text.startswith("ipa-getcert - client certificate enrollment tool\n\n"
                           "Usage: ipa-getcert list [options]\n")


def test_variants_lose_the_ca_option_lines():
    assert "-c CA, --ca=NAME" in usage.usage("getcert", "request")
    assert "-c CA, --ca=NAME" not in usage.usage("local-getcert", "request", "local")


def test_variant_refresh_ca_loses_its_whole_general_group():
    text = usage.usage("local-getcert", "refresh-ca", "local")
    assert "General options" not in text
    assert "--all" not in text


def test_usage_keeps_the_stock_typo():
    assert "certificateto be issued" in usage.usage("getcert", "request")
