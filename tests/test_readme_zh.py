"""README.zh-CN.md is the Chinese twin of README.md; these tests keep the two in step.

How the two files correspond (for whoever edits either of them):

- Headings. Every level-2 (``##``) and level-3 (``###``) heading of README.md has exactly one heading
  of the same level in README.zh-CN.md, in the same order, whose text *ends with the English heading
  verbatim*, after the Chinese: ``## 两条命令 Two commands`` for ``## Two commands``. A heading that
  is already Chinese may be copied as it is (``## 碳盘查 carbon inventory``). A renamed English
  heading therefore needs its twin renamed too.
- The one extra section. ``## 快速上手（Windows）`` (the Windows quick start, up to the next ``##``
  heading) exists only in the Chinese file and is left out of every comparison.
- Names. Inside inline code (backticks) both files name the same config keys, dotted key paths,
  column and file names (a token with ``_``, ``.`` or ``/``, a key before ``:``, a span that is one
  lower-case word), and the same commands (``ditan …``, ``make …``, ``--options``) in inline code and
  in shell code blocks. Keys, names, commands and code are never translated.
- Code blocks. The same code blocks in the same order, equal once comments (``#``, SQL ``--``) and
  blank lines are removed: comments may be translated, code may not.
- Tables. Each pair of corresponding sections has the same number of table rows.
- Both files start with the two commands: the first code block holds ``make run`` and ``make test``.

A failing assertion lists what one file has and the other lacks, so a maintainer sees what to add.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EN_PATH, ZH_PATH = ROOT / "README.md", ROOT / "README.zh-CN.md"
#: the one section only the Chinese file has (its heading starts with this)
ZH_ONLY = "## 快速上手"

HEADING = re.compile(r"^(#{2,3}) +(.+?)\s*$")
SPAN = re.compile(r"`([^`]+)`")
TOKEN = re.compile(r"[\w<>{}*/~-]+(?:\.[\w<>{}*/~-]+)*")
KEY = re.compile(r"(?<![\w.-])([A-Za-z_][\w.]*):(?:\s|$)")
WORD = re.compile(r"[a-z][a-z0-9_]*")
COMMAND = re.compile(r"\b(ditan|make) ((?:--?)?[a-z][\w-]*)")
OPTION = re.compile(r"(?<![\w-])--[a-z][\w-]*")
COMMENT = re.compile(r"(?:^|\s)(?:#|-- ).*$")
SHELL = {"", "sh", "bash", "shell", "console", "bat", "cmd", "powershell"}


@dataclass
class Section:
    heading: str  # "## Two commands"; "" for the text before the first heading
    prose: list[str] = field(default_factory=list)
    code: list[tuple[str, str]] = field(default_factory=list)  # (language, text)
    table_rows: int = 0


def parse(text: str) -> list[Section]:
    """The file cut into sections at its ##/### headings, outside code fences."""
    sections = [Section("")]
    fence: list[str] | None = None
    lang = ""
    for line in text.splitlines():
        stripped = line.strip()
        if fence is not None:
            if stripped.startswith("```"):
                sections[-1].code.append((lang, "\n".join(fence)))
                fence = None
            else:
                fence.append(line)
            continue
        if stripped.startswith("```"):
            fence, lang = [], stripped[3:].strip().lower()
            continue
        m = HEADING.match(line)
        if m:
            sections.append(Section(f"{m.group(1)} {m.group(2)}"))
            continue
        sections[-1].prose.append(line)
        if stripped.startswith("|"):
            sections[-1].table_rows += 1
    assert fence is None, "a code fence is not closed"
    return sections


def without_zh_only(sections: list[Section]) -> list[Section]:
    """The Chinese file's sections less the Windows quick start (and its ### subsections)."""
    out, skipping = [], False
    for s in sections:
        if s.heading.startswith("## "):
            skipping = s.heading.startswith(ZH_ONLY)
        if not skipping:
            out.append(s)
    return out


def spans(sections: list[Section]) -> list[str]:
    prose = "\n".join(line for s in sections for line in s.prose)
    prose = re.sub(r"<!--.*?-->", "", prose, flags=re.S)
    return [" ".join(m.split()) for m in SPAN.findall(prose)]


def names(sections: list[Section]) -> set[str]:
    """Config keys, key paths, column and file names written in inline code."""
    found: set[str] = set()
    for span in spans(sections):
        for tok in TOKEN.findall(span):
            tok = tok.strip(".-/")
            if tok.isascii() and any(c in tok for c in "_./") and not tok.startswith("-"):
                found.add(tok)
        found.update(KEY.findall(span))
        if WORD.fullmatch(span):
            found.add(span)
    return found


def commands(sections: list[Section]) -> set[str]:
    """`ditan …` and `make …` commands and --options, in inline code and shell code blocks."""
    texts = spans(sections) + [
        uncommented(code) for s in sections for lang, code in s.code if lang in SHELL
    ]
    found: set[str] = set()
    for t in texts:
        found.update(f"{a} {b}" for a, b in COMMAND.findall(t))
        found.update(OPTION.findall(t))
    return found


def uncommented(code: str) -> str:
    lines = (COMMENT.sub("", line).rstrip() for line in code.splitlines())
    return "\n".join(" ".join(line.split()) for line in lines if line.strip())


def first_code_block(sections: list[Section]) -> str:
    return next(code for s in sections for _, code in s.code)


@pytest.fixture(scope="module")
def en() -> list[Section]:
    return parse(EN_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def zh_all() -> list[Section]:
    assert ZH_PATH.is_file(), "README.zh-CN.md is missing: the Chinese twin of README.md"
    return parse(ZH_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def zh(zh_all: list[Section]) -> list[Section]:
    return without_zh_only(zh_all)


def test_headings_correspond_one_to_one_in_order(en, zh):
    en_h, zh_h = [s.heading for s in en[1:]], [s.heading for s in zh[1:]]
    problems = []
    for i, (e, z) in enumerate(zip(en_h, zh_h, strict=False)):
        level_e, text_e = e.split(" ", 1)
        level_z, text_z = z.split(" ", 1)
        if level_e != level_z or not text_z.endswith(text_e):
            problems.append(f"#{i + 1}: README.md {e!r} ↔ README.zh-CN.md {z!r}")
            break  # after the first mismatch the rest are shifted
    if len(en_h) != len(zh_h):
        problems.append(
            f"README.md has {len(en_h)} ##/### headings, README.zh-CN.md {len(zh_h)} "
            f"(besides {ZH_ONLY}…); README.md's last: {en_h[-3:]}, the twin's last: {zh_h[-3:]}"
        )
    assert not problems, (
        "each README.zh-CN.md heading must end with its README.md heading, same level, same order:\n"
        + "\n".join(problems)
    )


def test_the_windows_quick_start_is_the_only_extra_section(zh_all, zh):
    extra = [s.heading for s in zh_all if s not in zh]
    assert extra and extra[0].startswith(ZH_ONLY), f"README.zh-CN.md has no {ZH_ONLY}… section"
    assert all(h.startswith("### ") for h in extra[1:]), extra
    quick = "\n".join(line for s in zh_all if s not in zh for line in s.prose)
    quick += "\n".join(code for s in zh_all if s not in zh for _, code in s.code)
    for step in (
        "py -3.11 -m venv .venv",
        r".venv\Scripts\activate",
        "pip install -e .",
        "ditan run --sample beijing",
    ):
        assert step in quick, f"the Windows quick start lacks {step!r}"


def _diff(label: str, en_set: set[str], zh_set: set[str]) -> str:
    only_en, only_zh = sorted(en_set - zh_set), sorted(zh_set - en_set)
    lines = [f"{label} differ between README.md and README.zh-CN.md:"]
    if only_en:
        lines.append(f"  in README.md only (add to README.zh-CN.md): {only_en}")
    if only_zh:
        lines.append(f"  in README.zh-CN.md only (add to README.md or remove): {only_zh}")
    return "\n".join(lines)


def test_config_keys_and_names_agree(en, zh):
    e, z = names(en), names(zh)
    assert e == z, _diff("config keys, key paths, column and file names in inline code", e, z)


def test_commands_agree(en, zh):
    e, z = commands(en), commands(zh)
    assert {"make run", "make test", "ditan run", "ditan check-config"} <= e
    assert e == z, _diff("`ditan …` / `make …` commands and --options", e, z)


def test_code_blocks_agree_apart_from_comments(en, zh):
    e = [(s.heading, uncommented(c)) for s in en for _, c in s.code]
    z = [(s.heading, uncommented(c)) for s in zh for _, c in s.code]
    for i, ((he, ce), (hz, cz)) in enumerate(zip(e, z, strict=False)):
        assert ce == cz, (
            f"code block #{i + 1} differs (README.md under {he!r}, README.zh-CN.md under {hz!r}); "
            f"README.md's, comments removed:\n{ce}\n--- README.zh-CN.md's:\n{cz}"
        )
    assert len(e) == len(z), (
        f"README.md has {len(e)} code blocks, README.zh-CN.md {len(z)} (besides {ZH_ONLY}…)"
    )


def test_tables_have_the_same_rows_per_section(en, zh):
    diff = [
        f"{a.heading or '(top)'}: {a.table_rows} rows ↔ {b.heading or '(top)'}: {b.table_rows} rows"
        for a, b in zip(en, zh, strict=False)
        if a.table_rows != b.table_rows
    ]
    assert not diff, "table rows differ per section:\n" + "\n".join(diff)


@pytest.mark.parametrize("which", ["en", "zh_all"])
def test_both_start_with_the_two_commands(which, request):
    sections = request.getfixturevalue(which)
    first = first_code_block(sections)
    assert "make run" in first and "make test" in first, first
    # and that block is the first thing after the introduction: in the first ## section
    assert sections[1].code and sections[1].code[0][1] == first


def test_the_twins_link_each_other(zh_all):
    top = "\n".join(zh_all[0].prose)
    assert "](README.md)" in top, "README.zh-CN.md should link README.md at the top"


def test_a_missing_key_or_command_is_named():
    """The comparison itself, on two small twins written by hand: what each lacks is named."""
    en = parse(
        "# t\n\n## Two commands\n\n```sh\nmake run\nmake test\n```\n\n"
        "Set `life_circle.tiers_m` and `carbon: {enabled: false}`; run `ditan screen CONFIG --top 5`.\n"
    )
    zh = parse(
        "# t\n\n## 两条命令 Two commands\n\n```sh\nmake run   # 运行\nmake test\n```\n\n"
        "设置 `life_circle.tiers_m`；运行 `ditan screen CONFIG`。\n\n## 快速上手（Windows）\n\n`ditan init x`\n"
    )
    zh = without_zh_only(zh)
    assert names(en) - names(zh) == {"carbon", "enabled"}
    assert commands(en) - commands(zh) == {"--top"}
    assert commands(zh) == {
        "make run",
        "make test",
        "ditan screen",
    }  # the quick start's `ditan init` left out
    assert [uncommented(c) for s in zh for _, c in s.code] == ["make run\nmake test"]
    message = _diff("names", names(en), names(zh))
    assert "in README.md only (add to README.zh-CN.md): ['carbon', 'enabled']" in message
