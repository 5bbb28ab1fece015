"""How indicators.xlsx looks: a number format per unit, column widths, Chinese headers, pass/fail colours.

Everything here is chosen once per column (a column's default format in XlsxWriter), so the rows stream as
before: a cell written without a format of its own takes its column's. Only the small sheets whose unit changes
from row to row (达标核查 compliance: ``measured`` in the row's ``unit``; 碳盘查 carbon_inventory: ``energy_amount`` in
its ``energy_unit``) get a format per cell.

- **Number formats** follow the unit of the registry entry (ditan.spatial.standards.registry.Indicator.unit), else
  :data:`COLUMN_UNITS`, else the unit in the column's name (``_pct``, ``_m2``, ``_km2`` …); values are never rounded
  by the format's choice beyond display (the cell holds the value to :data:`CSV_DECIMALS`).
- **Headers**: the 指标 indicators sheet has a Chinese row above the English one (with units); every other sheet has
  one bilingual row, ``中文 english_name`` (:func:`bilingual`), the Chinese from :data:`HEADERS_ZH` or the registry.
- **Colours**: 达标 pass green, 未达标 fail red, 无法评估 not assessable amber (Excel's own "good / bad / neutral").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ditan.spatial.standards.compliance import STATUS_ZH
from ditan.spatial.standards.registry import Indicator

#: unit (as in the registry) → Excel number format
NUMBER_FORMATS: dict[str, str] = {
    "%": "0.0",
    "km/km²": "0.00",
    "km": "0.00",
    "km²": "0.000",
    "per km²": "0.0",
    "count": "#,##0",
    "persons": "#,##0",
    "floors": "0",
    "m": "#,##0",
    "m²": "#,##0",
    "m³/km²": "#,##0",
    "m²/person": "#,##0.0",
    "ratio": "0.00",
    "0–1": "0.00",
    "nats": "0.00",
    "points": "0.#",
    "MWh": "#,##0.0",
    "MWh/a": "#,##0.0",
    "GJ": "#,##0.0",
    "t": "#,##0.0",
    "tCO₂/a": "#,##0.0",
    "kWp": "#,##0.0",
    "tCO₂/person·a": "0.00",
    "kgCO₂/m²·a": "0.0",
}
#: the unit of a column of the other sheets that is no indicator of the registry
COLUMN_UNITS: dict[str, str] = {
    **dict.fromkeys(
        ("features_read", "kept", "repaired", "dropped", "outside_study_area", "flagged"), "count"
    ),
    **{f"{b}_{s}": "count" for b in ("binding", "guiding") for s in ("pass", "fail", "na", "gap")},
    **dict.fromkeys(("points", "points_max", "points_possible"), "points"),
    **dict.fromkeys(("co2_t", "co2_t_low", "co2_t_high"), "t"),
}
#: a column whose unit is that of another column of the same row
ROW_UNIT: dict[str, str] = {
    "measured": "unit",
    "energy_amount": "energy_unit",
    "energy_amount_low": "energy_unit",
    "energy_amount_high": "energy_unit",
}
#: the unit in a column's name (the longest suffix first)
SUFFIX_UNITS: tuple[tuple[str, str], ...] = (
    ("_km_per_km2", "km/km²"),
    ("_per_km2", "per km²"),
    ("_pct", "%"),
    ("_km2", "km²"),
    ("_m2", "m²"),
    ("_km", "km"),
    ("_m", "m"),
    ("_count", "count"),
    ("_ratio", "ratio"),
)
#: Chinese names of the columns of the other sheets (data quality, compliance, carbon, column notes …)
HEADERS_ZH: dict[str, str] = {
    # data quality 数据质量
    "layer": "图层",
    "features_read": "读入要素数",
    "kept": "保留数",
    "repaired": "修复数",
    "repaired_how": "修复方式",
    "dropped": "剔除数",
    "dropped_why": "剔除原因",
    "outside_study_area": "研究范围外",
    "flagged": "标记数",
    "flagged_why": "标记原因",
    "balanced": "数量平衡",
    "note": "说明",
    # compliance 达标核查 and its summary
    "unit_id": "单元编号",
    "name": "单元名称",
    "kind": "试点类型",
    "rule_id": "规则编号",
    "zh": "规则名称",
    "indicator": "指标",
    "indicator_zh": "指标名称",
    "indicator_en": "指标英文名",
    "unit": "单位",
    "measured": "测算值",
    "comparator": "比较",
    "target": "目标值",
    "status": "结果",
    "status_zh": "结果（中文）",
    "reason": "原因",
    "reason_zh": "原因（中文）",
    "data_gap": "数据缺失",
    "binding": "约束性/引导性",
    "binding_zh": "约束性/引导性（中文）",
    "item": "条目",
    "points": "得分",
    "points_max": "满分",
    "points_possible": "可得总分",
    "source": "依据",
    "clause": "条款",
    "unconfirmed": "未经原文核实",
    "binding_pass": "约束性达标",
    "binding_fail": "约束性未达标",
    "binding_na": "约束性无法评估",
    "binding_gap": "约束性数据缺失",
    "guiding_pass": "引导性达标",
    "guiding_fail": "引导性未达标",
    "guiding_na": "引导性无法评估",
    "guiding_gap": "引导性数据缺失",
    "level": "等级",
    "level_zh": "等级（中文）",
    # carbon inventory 碳盘查 and factors 碳排放因子
    "sector": "部门",
    "sector_zh": "部门（中文）",
    "carrier": "能源品种",
    "carrier_zh": "能源品种（中文）",
    "energy_unit": "能源单位",
    "energy_amount": "能源用量",
    "co2_t": "二氧化碳",
    "factor": "因子",
    "value": "取值",
    "low": "下限",
    "high": "上限",
    "overridden": "配置覆盖",
    # not assessable 无法评估 (its other headers are bilingual already)
    "reason (English)": "原因（英文）",
    "code": "原因代码",
    # column notes 指标说明
    "id": "字段",
    "name_zh": "中文名",
    "name_en": "英文名",
    "en": "英文名",
    "method": "计算方法",
}
BOUND_ZH = {"_low": "（下限）", "_high": "（上限）"}

PASS, FAIL, NOT_ASSESSABLE = (
    {"bg_color": "#C6EFCE", "font_color": "#006100"},
    {"bg_color": "#FFC7CE", "font_color": "#9C0006"},
    {"bg_color": "#FFEB9C", "font_color": "#9C5700"},
)
#: the status values of compliance.csv → colour (their Chinese, status_zh: compliance.STATUS_ZH)
STATUS_COLOURS = {"pass": PASS, "fail": FAIL, "not_assessable": NOT_ASSESSABLE}
HEADER = {"bold": True, "text_wrap": True, "valign": "top", "bg_color": "#F2F2F2", "bottom": 1}
MIN_WIDTH, MAX_WIDTH, NUMBER_WIDTH = 6.0, 40.0, 10.0
WIDTH_SAMPLE = 200  # rows read to size a text column
_XML_SPECIAL = re.compile('["&<>\n]')
_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def unit_of(col: str, columns: dict[str, Indicator]) -> str:
    """The unit of a column: its registry entry's, else :data:`COLUMN_UNITS`, else the one in its name, else ''."""
    if col in columns:
        return columns[col].unit
    if col in COLUMN_UNITS:
        return COLUMN_UNITS[col]
    return next((u for s, u in SUFFIX_UNITS if col.endswith(s)), "")


def number_format(unit: str) -> str | None:
    return NUMBER_FORMATS.get(unit)


def zh_name(col: str, columns: dict[str, Indicator]) -> str:
    """The Chinese name of a column ('' when none is known): the registry, :data:`HEADERS_ZH`, or a bound of either."""
    if col in columns and has_cjk(columns[col].zh):
        return columns[col].zh
    if col in HEADERS_ZH:
        return HEADERS_ZH[col]
    for suffix, zh in BOUND_ZH.items():
        if col.endswith(suffix) and (base := zh_name(col.removesuffix(suffix), columns)):
            return base + zh
    return ""


def bilingual(col: str, columns: dict[str, Indicator]) -> str:
    """``中文 english_name``; a header with Chinese in it already is kept as it is."""
    if has_cjk(col):
        return col
    zh = zh_name(col, columns)
    return f"{zh} {col}" if zh else col


def text_width(text: str) -> float:
    """Excel's width of a text in characters of the default font: a CJK (wide) character counts two."""
    return float(sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text))


def column_widths(heads: Sequence[Sequence[str]], frame: pd.DataFrame) -> list[float]:
    """A width per column: the longest header word or line (headers wrap), and the first rows' text; numbers 10."""
    sample = frame.head(WIDTH_SAMPLE)
    out = []
    for c, col in enumerate(frame.columns):
        head = max((text_width(w) for h in heads for w in _words(h[c])), default=0.0)
        values = sample[col]
        if values.dtype == object or pd.api.types.is_string_dtype(values.dtype):
            texts = [str(v) for v in values.to_numpy() if isinstance(v, str)]
            body = float(np.percentile([text_width(t) for t in texts], 90)) if texts else 0.0
        else:
            body = NUMBER_WIDTH
        out.append(min(max(head, body, MIN_WIDTH) + 2, MAX_WIDTH))
    return out


def _words(header: str) -> list[str]:
    """The parts of a header that a wrapped header cell keeps on one line: the whole, if short, else its words."""
    return [header] if text_width(header) <= 16 else header.split()


class Styles:
    """The formats of one workbook, made once (XlsxWriter keeps every format object it is given)."""

    def __init__(self, wb) -> None:
        self.wb = wb
        self.header = wb.add_format(HEADER)
        self._numbers: dict[str, object] = {}
        self.colours = {k: wb.add_format(v) for k, v in STATUS_COLOURS.items()}  # keyed by status

    def number(self, unit: str):
        """The format of a number in ``unit`` (None: General)."""
        code = number_format(unit)
        if code is None:
            return None
        if code not in self._numbers:
            self._numbers[code] = self.wb.add_format({"num_format": code})
        return self._numbers[code]


def quick_style_index(ws) -> None:
    """Let ``ws`` write a cell's style index without XlsxWriter's escaping detour for a number.

    XlsxWriter escapes each XML attribute and takes an int (a cell's style index) through a TypeError: about
    0.8 µs a cell, a quarter of a million-cell sheet's time. An int needs no escaping; anything else goes through
    XlsxWriter's own method, so the XML is the same (and without that method, nothing changes).
    """
    escape = getattr(ws, "_escape_attributes", None)
    if escape is not None:
        special = _XML_SPECIAL.search  # what XlsxWriter escapes in an attribute
        ws._escape_attributes = lambda value: (
            value
            if value.__class__ is int or (value.__class__ is str and not special(value))
            else escape(value)
        )


def layout(
    ws,
    styles: Styles,
    frame: pd.DataFrame,
    heads: Sequence[Sequence[str]],
    columns: dict[str, Indicator],
    *,
    freeze_cols: int,
) -> None:
    """Widths and column number formats (before any row is written), frozen headers and a filter on the last header row."""
    quick_style_index(ws)
    for c, (col, width) in enumerate(zip(frame.columns, column_widths(heads, frame), strict=True)):
        numeric = pd.api.types.is_numeric_dtype(
            frame[col].dtype
        ) and not pd.api.types.is_bool_dtype(frame[col].dtype)
        ws.set_column(c, c, width, styles.number(unit_of(str(col), columns)) if numeric else None)
    n = len(heads)
    ws.freeze_panes(n, freeze_cols)
    ws.autofilter(n - 1, 0, n - 1 + len(frame), max(len(frame.columns) - 1, 0))


def row_formats(frame: pd.DataFrame, styles: Styles) -> list[dict[int, object]] | None:
    """Per row, the format of each column whose unit is in another column of the row (:data:`ROW_UNIT`); None: none."""
    pairs = [
        (frame.columns.get_loc(col), frame[unit].to_numpy(dtype=object))
        for col, unit in ROW_UNIT.items()
        if col in frame.columns and unit in frame.columns
    ]
    if not pairs:
        return None
    out: list[dict[int, object]] = [{} for _ in range(len(frame))]
    for c, units in pairs:
        for r, u in enumerate(units):
            fmt = styles.number(u) if isinstance(u, str) else None
            if fmt is not None:
                out[r][c] = fmt
    return out


def colour_rules(ws, styles: Styles, frame: pd.DataFrame, *, first: int) -> None:
    """Conditional colours: status cells (达标 / 未达标 / 无法评估), counts of the summary, data gaps and drops."""
    last = first + len(frame) - 1
    if last < first:
        return
    for c, col in enumerate(frame.columns):
        col = str(col)
        if col in ("status", "status_zh"):
            for status, zh in STATUS_ZH.items():
                ws.conditional_format(
                    first,
                    c,
                    last,
                    c,
                    {
                        "type": "cell",
                        "criteria": "==",
                        "value": f'"{status if col == "status" else zh}"',
                        "format": styles.colours[status],
                    },
                )
        elif col.endswith(("_pass", "_fail", "_na", "_gap")) and col in COLUMN_UNITS:
            key = (
                "pass"
                if col.endswith("_pass")
                else "fail"
                if col.endswith("_fail")
                else "not_assessable"
            )
            ws.conditional_format(
                first,
                c,
                last,
                c,
                {"type": "cell", "criteria": ">", "value": 0, "format": styles.colours[key]},
            )
        elif col in ("dropped", "flagged"):
            ws.conditional_format(
                first,
                c,
                last,
                c,
                {
                    "type": "cell",
                    "criteria": ">",
                    "value": 0,
                    "format": styles.colours["not_assessable"],
                },
            )
        elif col == "balanced":
            ws.conditional_format(
                first,
                c,
                last,
                c,
                {
                    "type": "cell",
                    "criteria": "==",
                    "value": "FALSE",
                    "format": styles.colours["fail"],
                },
            )
        elif col in ("data_gap", "数据缺失 data gap"):
            for v in ("TRUE", '"是 yes"'):
                ws.conditional_format(
                    first,
                    c,
                    last,
                    c,
                    {
                        "type": "cell",
                        "criteria": "==",
                        "value": v,
                        "format": styles.colours["not_assessable"],
                    },
                )
