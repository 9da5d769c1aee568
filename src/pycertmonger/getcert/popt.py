"""A command-line parser that behaves like libpopt, which the stock getcert uses.

getcert's callers (scripts, FreeIPA's installers, people's muscle memory) rely on popt's
exact rules, so they are reproduced here rather than approximated with argparse:

* short options can be bundled (``-wv``) and take their argument attached (``-fFILE``,
  also ``-f=FILE``) or as the next word; the next word is taken even when it starts
  with ``-`` (``-c -w`` names the CA ``-w``);
* long options take ``--opt=value`` or ``--opt value``; they must be spelled out in
  full (no abbreviations);
* words that are not options are collected and parsing carries on after them; ``--``
  ends option processing;
* integer arguments are read like C's ``strtol(s, &end, 0)`` (``0x10``, ``010``) and
  must fit in a C ``int``.

Errors are reported in popt's words (`PoptError.text`), since getcert prints them.
The parser is a generator, so the caller handles each option as it is met: the stock
client prints some messages while parsing (a relative path being made absolute, a bad
key usage name), and they must come out in the same order.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

INT_MIN = -(2**31)
INT_MAX = 2**31 - 1


class ArgKind(enum.Enum):
    """What an option takes after it."""

    NONE = "none"
    STRING = "string"
    INT = "int"


@dataclass(frozen=True)
class Option:
    """One option of a subcommand's table.

    `dest` names what the option sets; several spellings may share a dest. `argdesc`
    and `help` feed the popt-style help table (`format_help`); `hidden` options are
    accepted but left out of it (this project's additions, so the table stays
    identical to the stock one).
    """

    short: str | None
    long: str | None
    dest: str
    kind: ArgKind = ArgKind.NONE
    argdesc: str = ""
    help: str = ""
    hidden: bool = False

    @property
    def takes_arg(self) -> bool:
        """Whether the option consumes an argument."""
        return self.kind is not ArgKind.NONE


class PoptError(Exception):
    """A command-line error, with the text the stock getcert prints for it."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def missing_argument(spelling: str) -> PoptError:
    """popt's POPT_ERROR_NOARG, as getcert words it."""
    return PoptError(f"missing argument for {spelling}")


def unrecognized(spelling: str) -> PoptError:
    """popt's POPT_ERROR_BADOPT, as getcert words it (the whole word is quoted)."""
    return PoptError(f"unrecognized option {spelling}")


UNWANTED_ARG = "option does not take an argument"
BAD_NUMBER = "invalid numeric value"
OVERFLOW = "number too large or too small"


def c_strtol(text: str, base: int) -> tuple[int, int]:
    """C's strtol: the value and how many characters were used (0 when none were).

    Leading whitespace and a sign are accepted; base 0 picks hex for ``0x``, octal for a
    leading ``0`` and decimal otherwise. The value saturates at the limits of a 64-bit
    ``long``, as glibc's does.
    """
    i = 0
    n = len(text)
    while i < n and text[i] in " \t\n\v\f\r":
        i += 1
    negative = False
    if i < n and text[i] in "+-":
        negative = text[i] == "-"
        i += 1
    if base in (0, 16) and text[i:i + 2].lower() == "0x" and i + 2 < n \
            and text[i + 2] in "0123456789abcdefABCDEF":
        base, i = 16, i + 2
    elif base == 0:
        base = 8 if text[i:i + 1] == "0" else 10
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"[:base]
    start = i
    value = 0
    while i < n and text[i].lower() in digits:
        value = value * base + digits.index(text[i].lower())
        i += 1
    if i == start:
        return 0, 0
    if negative:
        value = -value
    value = max(-(2**63), min(2**63 - 1, value))
    return value, i


def parse_int(text: str) -> int:
    """An integer argument as popt reads one (POPT_ARG_INT), or a PoptError."""
    value, used = c_strtol(text, 0)
    if used != len(text) and not (used == 0 and text == ""):
        raise PoptError(BAD_NUMBER)
    if not INT_MIN <= value <= INT_MAX:
        raise PoptError(OVERFLOW)
    return value


class Parser:
    """Walks an argument vector against an option table, popt style.

    Iterate over `options()` to get ``(option, value)`` pairs in command-line order
    (value is None for flags, a str or an int otherwise); once it is exhausted,
    `leftovers` holds the words that were not options.
    """

    def __init__(self, table: Sequence[Option], argv: Sequence[str]) -> None:
        self.table = list(table)
        self.argv = list(argv)
        self.leftovers: list[str] = []

    def _short(self, letter: str) -> Option | None:
        # The first entry wins when two share a letter (`list` has -t twice).
        return next((o for o in self.table if o.short == letter), None)

    def _long(self, name: str) -> Option | None:
        return next((o for o in self.table if o.long == name), None)

    def _value(self, option: Option, raw: str) -> str | int:
        return parse_int(raw) if option.kind is ArgKind.INT else raw

    def options(self) -> Iterator[tuple[Option, str | int | None]]:
        """Yield each option met, raising PoptError where popt would stop."""
        argv = self.argv
        i = 0
        only_args = False
        while i < len(argv):
            word = argv[i]
            i += 1
            if only_args or not word.startswith("-") or word == "-":
                self.leftovers.append(word)
                continue
            if word == "--":
                only_args = True
                continue
            if word.startswith("--"):
                name, eq, attached = word[2:].partition("=")
                option = self._long(name)
                if option is None:
                    raise unrecognized(word)
                if not option.takes_arg:
                    if eq:
                        raise PoptError(UNWANTED_ARG)
                    yield option, None
                    continue
                if not eq:
                    if i >= len(argv):
                        raise missing_argument(word)
                    attached = argv[i]
                    i += 1
                yield option, self._value(option, attached)
                continue
            # A cluster of short options: -wv, -fFILE, -f=FILE, -wfFILE.
            pos = 1
            while pos < len(word):
                option = self._short(word[pos])
                if option is None:
                    raise unrecognized(word)
                pos += 1
                rest = word[pos:]
                if not option.takes_arg:
                    if rest.startswith("="):
                        raise PoptError(UNWANTED_ARG)
                    yield option, None
                    continue
                if rest:
                    raw = rest.removeprefix("=")
                else:
                    if i >= len(argv):
                        raise missing_argument(word)
                    raw = argv[i]
                    i += 1
                yield option, self._value(option, raw)
                break


def _left_column(option: Option) -> str:
    head = f"-{option.short}, " if option.short else "    "
    text = head + (f"--{option.long}" if option.long else "")
    if option.takes_arg and option.argdesc:
        text += ("=" if option.long else " ") + option.argdesc
    return text.rstrip(", ")


def _wrap_popt(help_text: str, indent: int, columns: int) -> str:
    # popt's own line breaking: look back from the line length for a space, break
    # there, and indent continuation lines to the help column.
    line_length = columns - indent
    out: list[str] = []
    text = help_text
    while len(text) > line_length:
        cut = line_length - 1
        while cut > 0 and not text[cut].isspace():
            cut -= 1
        if cut == 0:
            break
        while cut > 1 and text[cut].isspace():
            cut -= 1
        cut += 1
        out.append(text[:cut])
        text = text[cut:].lstrip()
    if text:
        out.append(text)
    return ("\n" + " " * indent).join(out)


def format_help(prog: str, subcommand: str, table: Sequence[Option], columns: int = 79) -> str:
    """popt's option table (what ``-H`` prints), for a terminal `columns` wide."""
    shown = [o for o in table if not o.hidden]
    width = max((len(_left_column(o)) for o in shown), default=0) + 2
    lines = [f"Usage: {prog} {subcommand} [OPTION...]"]
    for option in shown:
        left = _left_column(option)
        if not option.help:
            lines.append(f"  {left}")
            continue
        indent = 2 + width + 3
        lines.append(f"  {left.ljust(width)}   " + _wrap_popt(option.help, indent, columns))
    return "\n".join(lines) + "\n"
