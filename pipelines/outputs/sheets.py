"""The long tables' sheets of indicators.xlsx: whole up to ``SHEET_MAX_ROWS`` rows, else a pointer to their CSV.

A city-wide run has a compliance row per unit × rule (about 100,000 for 8,835 units) and a carbon-inventory row
per unit × sector × carrier (about 130,000): as sheets they would make the workbook slow to write and to open,
while the CSVs beside it hold them whole.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "NOT_ASSESSABLE_CSV",
    "SHEET_MAX_ROWS",
    "capped_sheet",
    "carbon_sheets",
    "not_assessable_sheet",
]

#: a long table goes into the workbook up to this many rows; above, its CSV holds it
SHEET_MAX_ROWS = 50_000
#: written beside indicators.xlsx when the NaN reasons are more than SHEET_MAX_ROWS
NOT_ASSESSABLE_CSV = "not_assessable.csv"


def capped_sheet(frame: pd.DataFrame, csv_name: str) -> pd.DataFrame:
    """``frame`` itself, or (above SHEET_MAX_ROWS rows) a one-cell note naming the CSV that holds it."""
    n = len(frame)
    if n <= SHEET_MAX_ROWS:
        return frame
    return pd.DataFrame(
        {
            "note": [
                f"共 {n:,} 行，超过 {SHEET_MAX_ROWS:,} 行，见 {csv_name} / "
                f"{n:,} rows (more than {SHEET_MAX_ROWS:,}): see {csv_name}"
            ]
        }
    )


def carbon_sheets(inventory: pd.DataFrame, factors: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The sheets 碳盘查 carbon_inventory and 碳排放因子 carbon_factors of indicators.xlsx."""
    return {
        "碳盘查 carbon_inventory": capped_sheet(inventory, "carbon_inventory.csv"),
        "碳排放因子 carbon_factors": factors,
    }


def not_assessable_sheet(res) -> pd.DataFrame:
    """One row per NaN value of ``res`` (a RunResult): unit, column with its names, the reason, data gap or not."""
    r = res.reasons
    names = res.indicators["name"].reindex(r["unit_id"]).to_numpy() if len(r) else []
    ind = [res.columns.get(c) for c in r["column"]]
    return pd.DataFrame(
        {
            "单元 unit_id": r["unit_id"].to_numpy(),
            "名称 name": names,
            "指标 column": r["column"].to_numpy(),
            "指标名称 indicator": [
                f"{i.zh} {i.en}" if i else c for i, c in zip(ind, r["column"], strict=True)
            ],
            "原因 reason (中文)": r["reason_zh"].to_numpy(),
            "reason (English)": r["reason_en"].to_numpy(),
            "数据缺失 data gap": np.where(r["data_gap"].to_numpy(dtype=bool), "是 yes", "否 no"),
            "code": r["reason"].to_numpy(),
        }
    )
