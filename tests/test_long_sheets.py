"""Long tables leave the workbook for their CSV: the sheet names the file, the CSV holds every row."""

from __future__ import annotations

import pandas as pd
from conftest import ROOT

import ditan.pipelines.jobs.run as run_job
from ditan.pipelines.config.schema import load_config
from ditan.pipelines.outputs.sheets import SHEET_MAX_ROWS, capped_sheet


def test_capped_sheet():
    small = pd.DataFrame({"a": range(3)})
    assert capped_sheet(small, "x.csv") is small
    big = pd.DataFrame({"a": range(SHEET_MAX_ROWS + 1)})
    note = capped_sheet(big, "x.csv")
    assert (
        len(note) == 1
        and "x.csv" in note["note"].iat[0]
        and f"{SHEET_MAX_ROWS + 1:,}" in note["note"].iat[0]
    )


def test_a_city_s_reasons_go_to_not_assessable_csv(tmp_path, monkeypatch):
    import openpyxl

    import ditan.pipelines.outputs.sheets as sheets

    for module in (run_job, sheets):  # the Beijing sample as if it were a city
        monkeypatch.setattr(module, "SHEET_MAX_ROWS", 10)
    out = run_job.run(load_config(ROOT / "pipelines/configs/beijing_haidian.yaml"), tmp_path / "o")
    why = out.result.reasons
    csv = pd.read_csv(out.out_dir / "not_assessable.csv", encoding="utf-8-sig")
    assert len(csv) == len(why) > 10
    assert sorted(zip(csv["单元 unit_id"], csv["指标 column"], strict=True)) == sorted(
        zip(why["unit_id"], why["column"], strict=True)
    )
    wb = openpyxl.load_workbook(out.out_dir / "indicators.xlsx", read_only=True)
    rows = list(wb["无法评估 not_assessable"].iter_rows(values_only=True))
    assert len(rows) == 2 and "not_assessable.csv" in str(rows[1][0])
    assert "not_assessable.csv" in out.files
