"""The regular expressions of benchmark schemas, compiled and matched by RE2.

A benchmark's JSON Schema carries regular expressions (`pattern`, the keys of
`patternProperties`) that are matched against every upload. Python's `re` backtracks:
`^(a+)+$` against 26 `a`s and a `!` holds the GIL for seconds, doubling with each character,
and every thread of the process stops meanwhile. RE2 (google-re2) matches in time linear in
the text and releases the GIL while it does; it refuses what would need backtracking
(lookaround, backreferences) and programs larger than `MAX_MEMORY` allows. (The `regex`
module's `timeout=` was no way out: it expands counted repeats when compiling, and
`(?:(?:a{1000}){1000}){1000}` ran the process out of memory.)

Linear is not yet cheap: a crafted pattern can push RE2 off its DFA onto its NFA at about
10 ns per character per program instruction (`(?:[ab]{0,30}[ab]{0,30}){30}c` compiles to
3,605 instructions and took 8 s over 200 KB). So each upload has a work budget, characters
matched times program size, charged before each match: an upload that would overspend it is
refused instead of matched.

jsonschema 4 has no hook for another engine (python-jsonschema/jsonschema#1142): it calls
`re.search` from three modules, `_keywords` (pattern, patternProperties), `_utils`
(additionalProperties and unevaluatedProperties, which match patternProperties again) and
`_legacy_keywords`. `_route_jsonschema_to_re2` points their name `re` at `_ENGINE`, which sends
`search` to RE2 inside `matching_budget()` and to the standard module everywhere else, so other
users of jsonschema in the process see no change. tests/test_schema_patterns.py fails if
jsonschema ever matches a regular expression anywhere else.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import re
import types
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import jsonschema._keywords
import jsonschema._legacy_keywords
import jsonschema._utils
import re2
from jsonschema import FormatChecker
from jsonschema.protocols import Validator

# RE2's budget for one compiled pattern (program and DFA cache); its default is 8 MiB, and
# google-re2 keeps up to 128 compiled patterns per process. 1 MiB still compiles an
# alternation of 20,000 words (42,223 instructions).
MAX_MEMORY = 1 << 20

# The RE2 instructions all the patterns of one schema may compile to together. Compiling takes
# about 1 ms per 1,000 instructions, and an 11-character pattern (`^.{0,1000}$`) is 9,002 of
# them: without a bound per schema, one submission full of such patterns would cost minutes.
SCHEMA_PROGRAM_LIMIT = 100_000

# Shown in refusals: the schema author learns which features to avoid.
_ENGINE_NOTE = "patterns are matched with RE2: no lookaround, no backreferences, bounded size"


def _re2_options() -> re2.Options:
    options = re2.Options()
    options.max_mem = MAX_MEMORY
    options.log_errors = False  # a refused pattern is the client's mistake, not news for the log
    options.never_capture = True  # only "does it match" is asked: no groups, the fastest engines
    return options


_OPTIONS = _re2_options()


class PatternRefused(Exception):
    """A pattern RE2 cannot compile, or a match the upload's budget cannot pay for; `str(e)` is
    the message for the 422 answer, `pattern` the pattern refused."""

    def __init__(self, message: str, pattern: object):
        super().__init__(message)
        self.pattern = pattern


def _shown(pattern: str, limit: int = 200) -> str:
    text = repr(pattern)
    return text if len(text) <= limit else text[:limit] + "…"


def compiled(pattern: object):
    """The RE2 program for `pattern` (google-re2 caches them), or `PatternRefused`."""
    if not isinstance(pattern, str):
        raise PatternRefused(f"The pattern {pattern!r} is not a string", pattern)
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as error:
        reason = error.args[0] if error.args else "cannot be compiled"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternRefused(
            f"The pattern {_shown(pattern)} cannot be used: {reason} ({_ENGINE_NOTE})", pattern
        ) from None


@dataclass
class _Budget:
    remaining: int


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar("schema_pattern_budget", default=None)


@contextlib.contextmanager
def matching_budget(work: int) -> Iterator[None]:
    """jsonschema matches with RE2 inside this block, for at most `work` units: characters
    matched times the size of the (forward and reverse) programs."""
    token = _budget.set(_Budget(work))
    try:
        yield
    finally:
        _budget.reset(token)


def check_schema_patterns(patterns: Iterable[str]) -> None:
    """Each pattern compiles, and together they stay within `SCHEMA_PROGRAM_LIMIT`: compiling
    stops at the first pattern past it."""
    total = 0
    for pattern in dict.fromkeys(patterns):
        total += compiled(pattern).programsize
        if total > SCHEMA_PROGRAM_LIMIT:
            raise PatternRefused(
                f"The patterns of the schema are too large together: more than "
                f"{SCHEMA_PROGRAM_LIMIT:,} RE2 instructions ({_ENGINE_NOTE})",
                pattern,
            )


@functools.lru_cache(maxsize=128)  # as many as google-re2 keeps: the same programs
def _program(pattern: str):
    """The program and its work per character matched (forward and reverse program sizes),
    cached: google-re2's own cache costs more per lookup than a match of a short text."""
    program = compiled(pattern)
    return program, program.programsize + program.reverseprogramsize


def _search(pattern, string):
    budget = _budget.get()
    if budget is None:
        return re.search(pattern, string)
    program, work_per_character = _program(pattern)  # meta-validation saw to it that patterns are strings
    budget.remaining -= work_per_character * (len(string) + 1)
    if budget.remaining < 0:
        raise PatternRefused(
            f"Matching the result against the pattern {_shown(pattern)} of its benchmark's JSON Schema "
            "would take too long",
            pattern,
        )
    return program.search(string)


# The only attribute of `re` those modules use (tests/test_schema_patterns.py checks it).
_ENGINE = types.SimpleNamespace(search=_search)
_JSONSCHEMA_MATCHERS = (jsonschema._keywords, jsonschema._utils, jsonschema._legacy_keywords)


def _route_jsonschema_to_re2() -> None:
    for module in _JSONSCHEMA_MATCHERS:
        if module.re not in (re, _ENGINE):
            raise ImportError(f"{module.__name__}.re is not the re module: check schema_patterns against jsonschema")
        module.re = _ENGINE


_route_jsonschema_to_re2()


def format_checker(validator_class: type[Validator]) -> FormatChecker:
    """The dialect's format checker for meta-validation, without `regex`: the meta-schemas mark
    patterns `format: regex`, which jsonschema checks with Python's `re`. Patterns are judged by
    `check_schema_patterns` instead, with the engine that will match them and within the
    schema's limit."""
    checker = FormatChecker(formats=())
    checker.checkers = {
        name: check for name, check in validator_class.FORMAT_CHECKER.checkers.items() if name != "regex"
    }
    return checker
