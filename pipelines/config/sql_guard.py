"""The guard on a layer's sql: one read-only statement (SELECT, WITH … SELECT, VALUES, TABLE) and its placeholders."""

from __future__ import annotations

import re

PLACEHOLDER = re.compile(r"%\((\w+)\)[sbt]")


def _code_only(text: str) -> str:
    """``text`` with its comments blanked and its quoted text (strings, identifiers) x-ed out, same length, for finding ';'."""
    out, i, n = list(text), 0, len(text)
    while i < n:
        c, two = text[i], text[i : i + 2]
        if two == "--":
            end = text.find("\n", i)
            end = n if end < 0 else end
        elif two == "/*":
            depth, end = 1, i + 2
            while end < n and depth:
                depth += (text[end : end + 2] == "/*") - (text[end : end + 2] == "*/")
                end += 2 if text[end : end + 2] in ("/*", "*/") else 1
        elif c in "'\"":
            escapes = c == "'" and i > 0 and text[i - 1] in "eE"
            end = i + 1
            while end < n and not (text[end] == c and text[end + 1 : end + 2] != c):
                end += 2 if (text[end] == c or (escapes and text[end] == "\\")) else 1
            end += 1
        elif (
            c == "$"
            and (m := re.match(r"\$([A-Za-z_]\w*)?\$", text[i:]))
            and not (text[i - 1 : i].isalnum() or text[i - 1 : i] == "_")
        ):
            close = text.find(m.group(0), i + len(m.group(0)))
            end = n if close < 0 else close + len(m.group(0))
        else:
            i += 1
            continue
        out[i:end] = ("x" if c in "'\"$" else " ") * (
            min(end, n) - i
        )  # comments are blank, quoted text is not
        i = end
    return "".join(out)


def check_select(text: str) -> str:
    """One SELECT (or WITH … SELECT, VALUES, TABLE) statement, its trailing ';' removed; ValueError otherwise."""
    code = _code_only(text).rstrip()
    while code.endswith(";"):
        code = code[:-1].rstrip()
    if ";" in code:
        raise ValueError(
            "sql must be a single statement; it holds ';' between statements (one SELECT per layer)"
        )
    first = re.match(r"[\s(]*([A-Za-z]+)", code)
    if first is None or first.group(1).lower() not in ("select", "with", "values", "table"):
        raise ValueError(
            "sql must be a SELECT (or WITH … SELECT) statement; ditan only reads (the read is a READ ONLY transaction)"
        )
    return text[: len(code)].strip()
