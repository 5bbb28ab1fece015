"""The first check of a layer's sql (check-config, no server): one SELECT (WITH … SELECT, VALUES, TABLE) and its placeholders.

The server is the guard that counts (:func:`ditan.spatial.io.postgis.read_postgis`): the SQL goes as one
prepared statement (the extended query protocol: the server refuses a second statement), in a READ ONLY
transaction on a connection whose default is read-only (``-c default_transaction_read_only=on``), which is
rolled back afterwards. This module only tells the author early, without a server, and must therefore
read the text as PostgreSQL's lexer does (src/backend/parser/scan.l), or it would be fooled:

- words (keywords, identifiers) run on over letters, digits, ``_`` and ``$``: ``x$$`` is one identifier,
  not the start of a dollar quote; a dollar quote ``$tag$ … $tag$`` starts only where a token starts;
- ``E'…'`` (a lone E before the quote) has backslash escapes; ``name'…'`` (a typed literal) does not,
  nor do ``'…'``, ``B'…'``, ``X'…'``, ``N'…'``, ``U&'…'`` (the connection sets standard_conforming_strings
  on, so ``\\`` in them is a plain character); a doubled quote ``''`` is a quote in every form;
- a string continues after a closing quote when only whitespace with a newline (and ``--`` comments after
  the newline) comes before the next quote, in the same escape mode;
- ``"…"`` identifiers (``""`` inside), ``--`` comments to the end of the line, ``/* … */`` comments nested.

Anything left open (a string, identifier, dollar quote or comment) is an error, as on the server.
"""

from __future__ import annotations

import re

__all__ = ["PLACEHOLDER", "tokens", "check_select"]

PLACEHOLDER = re.compile(r"%\((\w+)\)[sbt]")
_HIGH = "\x80-\U0010ffff"  # PostgreSQL takes every non-ASCII character as a letter of identifiers
_WORD = re.compile(rf"[A-Za-z_{_HIGH}][A-Za-z0-9_${_HIGH}]*")
_DOLLAR = re.compile(rf"\$(?:[A-Za-z_{_HIGH}][A-Za-z0-9_{_HIGH}]*)?\$")
_PARAM = re.compile(r"\$\d+")
_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_SPACE = " \t\n\r\f\v"
_NEWLINE = re.compile(r"[\n\r]")
# scan.l {quotecontinue} without its opening quote: horizontal space, a newline, then space or -- comments
_CONTINUE = re.compile(r"[ \t\f\v]*[\n\r](?:[ \t\n\r\f\v]+|--[^\n\r]*[\n\r])*'")
#: what a statement that only reads may start with
READING = ("select", "with", "values", "table")


def tokens(text: str) -> list[tuple[str, int, int]]:
    """The tokens of ``text`` as (kind, start, end): space, comment, string, ident, dollar, word, param, number, ';', op.

    Raises ValueError naming what is left open, and where (1-based character position).
    """
    out: list[tuple[str, int, int]] = []
    i, n = 0, len(text)
    while i < n:
        c, two = text[i], text[i : i + 2]
        if c in _SPACE:
            end = i + 1
            while end < n and text[end] in _SPACE:
                end += 1
            kind = "space"
        elif two == "--":
            end = n if (nl := _NEWLINE.search(text, i)) is None else nl.start()
            kind = "comment"
        elif two == "/*":
            end, kind = _comment_end(text, i), "comment"
        elif c == "'" or (
            c in "eEbBxXnN" and text[i + 1 : i + 2] == "'"
        ):  # E'…' escapes; the others do not
            start = i if c == "'" else i + 1
            end, kind = _string_end(text, start, escapes=c in "eE"), "string"
        elif c in "uU" and text[i + 1 : i + 3] in ("&'", '&"'):  # U&'…' and U&"…": quotes doubled
            q = text[i + 2]
            end = _string_end(text, i + 2) if q == "'" else _ident_end(text, i + 2)
            kind = "string" if q == "'" else "ident"
        elif c == '"':
            end, kind = _ident_end(text, i), "ident"
        elif m := _WORD.match(text, i):
            end, kind = m.end(), "word"  # name'…' is a typed literal: the string follows as a token
        elif m := _DOLLAR.match(text, i):
            close = text.find(m.group(0), m.end())
            if close < 0:
                raise ValueError(
                    f"the dollar quote {m.group(0)} at character {i + 1} is not closed"
                )
            end, kind = close + len(m.group(0)), "dollar"
        elif m := _PARAM.match(text, i):
            end, kind = m.end(), "param"
        elif m := _NUMBER.match(text, i):
            end, kind = m.end(), "number"
        else:
            end, kind = i + 1, (";" if c == ";" else "op")
        out.append((kind, i, end))
        i = end
    return out


def _comment_end(text: str, i: int) -> int:
    depth, j, n = 1, i + 2, len(text)
    while j < n and depth:
        two = text[j : j + 2]
        if two in ("/*", "*/"):
            depth += 1 if two == "/*" else -1
            j += 2
        else:
            j += 1
    if depth:
        raise ValueError(f"the comment /* at character {i + 1} is not closed")
    return j


def _string_end(text: str, i: int, *, escapes: bool = False) -> int:
    """The end of the string whose opening quote is at ``i`` (its continuations included)."""
    j, n = i + 1, len(text)
    while j < n:
        c = text[j]
        if escapes and c == "\\":
            j += 2
        elif c == "'" and text[j + 1 : j + 2] == "'":
            j += 2
        elif c == "'":
            m = _CONTINUE.match(text, j + 1)
            if m is None:
                return j + 1
            j = m.end()  # the next segment, in the same escape mode
        else:
            j += 1
    raise ValueError(f"the quoted string at character {i + 1} is not closed")


def _ident_end(text: str, i: int) -> int:
    j, n = i + 1, len(text)
    while j < n:
        if text[j] == '"':
            if text[j + 1 : j + 2] != '"':
                return j + 1
            j += 2
        else:
            j += 1
    raise ValueError(f'the quoted name (") at character {i + 1} is not closed')


def check_select(text: str) -> str:
    """One SELECT (or WITH … SELECT, VALUES, TABLE) statement, its trailing ';' (and comments) removed; ValueError otherwise."""
    code = [t for t in tokens(text) if t[0] not in ("space", "comment")]
    while code and code[-1][0] == ";":
        code.pop()
    if any(kind == ";" for kind, _, _ in code):
        raise ValueError(
            "sql must be a single statement; it holds ';' between statements (one SELECT per layer)"
        )
    first = next((t for t in code if not (t[0] == "op" and text[t[1]] == "(")), None)
    if first is None or first[0] != "word" or text[first[1] : first[2]].lower() not in READING:
        raise ValueError(
            "sql must be a SELECT (or WITH … SELECT) statement; ditan only reads (the read is a READ ONLY transaction)"
        )
    return text[: code[-1][2]].strip()
