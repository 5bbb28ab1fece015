"""The CJK font of the printed sheets: found on the system, and subset to TrueType outlines for the PDF.

Noto Sans CJK SC of Debian's fonts-noto-cjk comes first. Its .ttc holds CFF outlines, which matplotlib's
PDF backend would write as a TrueType (FontFile2) stream, not valid PDF (matplotlib issues 2869, 20870);
so for the PDF every text is switched to a subset of the font converted to TrueType outlines (fontTools
cu2qu), embedded as a proper CIDFontType2/FontFile2.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from matplotlib.font_manager import fontManager

from ditan.spatial.errors import DitanError

__all__ = ["FontMissingError", "CjkFont", "find_cjk_font", "truetype_subset"]

PREFERRED_FONTS = ("Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans CJK", "Source Han Sans", "Noto Serif CJK SC",
                   "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "AR PL UMing", "Droid Sans Fallback")  # fmt: skip
FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts")
PROBE = "附图用地现状道路绿"


class FontMissingError(DitanError):
    """No font with Chinese glyphs is installed."""


@dataclass(frozen=True)
class CjkFont:
    path: str
    index: int  # face in a .ttc collection
    name: str


def _font_entries() -> list:
    """Fonts matplotlib knows, plus any under FONT_DIRS it has not cached yet."""
    from matplotlib.font_manager import findSystemFonts

    known = {e.fname for e in fontManager.ttflist}
    for path in findSystemFonts(fontpaths=[d for d in FONT_DIRS if Path(d).is_dir()]):
        if path not in known and Path(path).suffix.lower() in (".ttf", ".otf", ".ttc"):
            try:
                fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):
                continue
    return list(fontManager.ttflist)


def _has_cjk(entry) -> bool:
    from matplotlib.ft2font import FT2Font

    try:
        cmap = FT2Font(entry.fname, face_index=entry.index).get_charmap()
    except (OSError, RuntimeError, ValueError):
        return False
    return all(ord(c) in cmap for c in PROBE)


def find_cjk_font() -> CjkFont:
    """The font every sheet is set in: a preferred CJK family, else any font with Chinese glyphs."""
    entries = [
        e for e in _font_entries() if e.weight in (400, "normal", "regular") and e.style == "normal"
    ]
    for name in PREFERRED_FONTS:
        for e in entries:
            if e.name.startswith(name) and _has_cjk(e):
                return CjkFont(e.fname, e.index, e.name)
    for e in entries:
        if _has_cjk(e):
            return CjkFont(e.fname, e.index, e.name)
    raise FontMissingError(
        "no font with Chinese glyphs found for the map annex: install one with "
        "`apt-get install fonts-noto-cjk` (or run `make system-packages`)"
    )


def truetype_subset(font: CjkFont, text: str, folder: Path) -> Path:
    """A TrueType-outline subset of ``font`` with the characters of ``text`` (CFF outlines converted)."""
    from fontTools import subset
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import newTable

    chars = "".join(
        sorted(set(text) | set(map(chr, range(32, 127))))
    )  # all of ASCII: matplotlib measures "lp" itself
    out = (
        Path(folder)
        / f"cjk-{hashlib.sha1(f'{font.path}:{font.index}:{chars}'.encode()).hexdigest()[:16]}.ttf"
    )
    if out.exists():
        return out
    opts = subset.Options(
        glyph_names=True,
        font_number=font.index,
        name_IDs=["*"],
        name_languages=["*"],
        layout_features=[],
        notdef_outline=True,
    )
    tt = subset.load_font(font.path, opts)
    sub = subset.Subsetter(opts)
    sub.populate(text=chars), sub.subset(tt)
    if "CFF " in tt:
        gs, glyf = tt.getGlyphSet(), newTable("glyf")
        glyf.glyphOrder, glyf.glyphs = tt.getGlyphOrder(), {}
        for name in (
            glyf.glyphOrder
        ):  # cubic → quadratic, clockwise outer contours (fontTools' otf2ttf recipe)
            pen = TTGlyphPen(gs)
            gs[name].draw(Cu2QuPen(pen, max_err=1.0, reverse_direction=True))
            glyf.glyphs[name] = pen.glyph()
            glyf.glyphs[name].recalcBounds(glyf)
        tt["glyf"], tt["loca"], tt["head"].glyphDataFormat, tt.sfntVersion = (
            glyf,
            newTable("loca"),
            0,
            "\x00\x01\x00\x00",
        )
        for tag in {"CFF ", "VORG"} & set(tt.keys()):
            del tt[tag]
        maxp = tt["maxp"]
        for attr in (
            "maxTwilightPoints",
            "maxStorage",
            "maxFunctionDefs",
            "maxInstructionDefs",
            "maxStackElements",
            "maxSizeOfInstructions",
        ):
            setattr(maxp, attr, 0)
        maxp.tableVersion, maxp.maxZones, maxp.maxComponentElements = 0x00010000, 1, 0
        maxp.recalc(tt)
        tt["post"].formatType, tt["post"].extraNames, tt["post"].mapping = 2.0, [], {}
    elif "glyf" not in tt:
        raise FontMissingError(
            f"font {font.name} ({font.path}) has neither TrueType nor CFF outlines; install fonts-noto-cjk"
        )
    tt.save(out)
    tt.close()  # load_font leaves the collection open
    return out
