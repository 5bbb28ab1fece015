"""`ditan report` on the Beijing sample: the Word document and its PDF.

The document's headings, every unit's table, every figure and the Chinese text; the PDF's page structure and
its embedded CJK font (LibreOffice: always in CI).
"""

from __future__ import annotations

import io
import shutil

import pandas as pd
import pytest
import yaml
from conftest import ROOT, require_or_skip

from ditan.pipelines.config.schema import parse_config
from ditan.pipelines.jobs.report import ReportJob

CONFIG = ROOT / "pipelines/configs/beijing_haidian.yaml"
HEADINGS = ["一、研究范围与数据来源", "二、方法与依据", "三、单元指标核查", "四、数据缺失与无法评估事项",
            "五、指标对比图", "六、碳盘查", "七、附图"]  # fmt: skip


def _cfg(**report):
    data = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    data["report"] = report
    return parse_config(data, base_dir=CONFIG.parent)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "r"
    done = ReportJob(_cfg(annex_units=["U003"])).run(out)
    return out, done.computed


def _doc(path):
    import docx

    return docx.Document(str(path))


def test_docx_headings_tables_figures(report):
    out, computed = report
    doc = _doc(out / "报告.docx")
    heads = [p.text for p in doc.paragraphs if p.style.name.startswith("Heading 1")]
    assert heads == HEADINGS
    ind = computed.run.res.indicators
    checks = computed.run.compliance.checks
    units = [p.text for p in doc.paragraphs if p.style.name.startswith("Heading 2")]
    assert units == [f"3.{i} {n}（{u}）" for i, (u, n) in enumerate(ind["name"].items(), start=1)]
    # one check table per unit, its rows the unit's rules with their verdicts in Chinese
    tables = doc.tables
    verdict = {"pass": "达标", "fail": "未达标", "not_assessable": "无法评估"}
    per_unit = [t for t in tables if t.rows[0].cells[0].text == "指标" and len(t.columns) == 5]
    assert len(per_unit) == len(ind)
    for t, (uid, rows) in zip(per_unit, checks.groupby("unit_id", sort=False), strict=True):
        got = [(r.cells[0].text, r.cells[3].text) for r in t.rows[1:]]
        assert got == [
            (z, verdict.get(s, s)) for z, s in zip(rows["zh"], rows["status"], strict=True)
        ], uid
    # figures: a radar per unit, a bar chart per profile indicator, the sheets of U003's annex
    charts = sorted(p.name for p in (out / "图表").glob("*.png"))
    radars = [c for c in charts if c.startswith("radar_")]
    bars = [c for c in charts if c.startswith("bars_")]
    assert len(radars) == len(ind) and bars
    sheets = sorted((out / "附图").glob("U003_*.png"))
    assert len(sheets) >= 7 and sheets[-1].name == "U003_9_targets.png"
    sheets = sheets[:-1]  # the 指标达标图 stays out of the document: U003's radar is in chapter 三
    pictures = doc.inline_shapes
    assert len(pictures) == len(radars) + len(bars) + len(sheets)
    for svg in (out / "图表").glob("*.png"):
        assert svg.with_suffix(".svg").is_file()
    # the Chinese text: cover, the carbon section's note, a data gap named in Chinese
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "指标核查报告" in text and "低碳社区试点建设指南" in text
    assert "交通、废弃物、水资源" in text
    assert "无养老院" in text  # the sample's data gaps, as the run names them
    carbon = [
        t
        for t in tables
        if t.rows[0].cells[0].text == "单元" and "CO₂(t/a)" in t.rows[0].cells[3].text
    ]
    assert len(carbon) == 1 and len(carbon[0].rows) == len(ind) + 1


def test_report_data_and_manifest(report):
    out, _ = report
    assert (out / "数据" / "indicators.csv").is_file()
    assert (out / "数据" / "carbon_inventory.csv").is_file()
    q = pd.read_csv(out / "数据" / "data_quality.csv")
    doc = _doc(out / "报告.docx")
    layers = [t for t in doc.tables if t.rows[0].cells[0].text == "图层"]
    assert len(layers) == 1 and [r.cells[0].text for r in layers[0].rows[1:]] == q["layer"].tolist()


def test_pdf_pages_and_cjk_font(report):
    out, computed = report
    require_or_skip(
        shutil.which("soffice") is not None,
        "LibreOffice is not installed (apt-get install libreoffice-writer-nogui): no PDF to check",
    )
    from pypdf import PdfReader

    pdf = PdfReader(io.BytesIO((out / "报告.pdf").read_bytes()))
    text = [page.extract_text() for page in pdf.pages]
    whole = "\n".join(text)
    # the same structure: every section heading, in order, and every unit's heading
    pos = [whole.find(h) for h in HEADINGS]
    assert all(p >= 0 for p in pos) and pos == sorted(pos)
    for uid in computed.run.res.indicators.index:
        assert f"（{uid}）" in whole
    assert len(pdf.pages) >= len(computed.run.res.indicators)
    fonts = set()
    for page in pdf.pages:
        res = page.get("/Resources") or {}
        for f in (res.get("/Font") or {}).values():
            f = f.get_object()
            for d in [f, *[x.get_object() for x in f.get("/DescendantFonts", [])]]:
                desc = d.get("/FontDescriptor")
                if desc is not None and any(
                    k in desc.get_object() for k in ("/FontFile", "/FontFile2", "/FontFile3")
                ):
                    fonts.add(str(d.get("/BaseFont")))
    assert any("CJK" in f or "Noto" in f or "Sim" in f or "Song" in f for f in fonts), fonts


@pytest.mark.parametrize(
    "language, head",
    [
        ("en", "1. Study area and data sources"),
        ("bilingual", "一、研究范围与数据来源 1. Study area and data sources"),
    ],
)
def test_language(tmp_path, language, head):
    done = ReportJob(_cfg(language=language, annex=False, pdf=False)).run(tmp_path / "r")
    doc = _doc(done.out_dir / "报告.docx")
    heads = [p.text for p in doc.paragraphs if p.style.name.startswith("Heading 1")]
    assert heads[0] == head and "七" not in "".join(heads)  # no annex section without sheets


def test_template_styles_are_used(tmp_path):
    import docx
    from docx.shared import Pt

    t = docx.Document()
    t.styles["Heading 1"].font.size = Pt(27)
    t.add_paragraph("某规划设计研究院")  # the template's own first page stays first
    t.save(str(tmp_path / "院模板.docx"))
    done = ReportJob(_cfg(template=str(tmp_path / "院模板.docx"), annex=False, pdf=False)).run(
        tmp_path / "r"
    )
    doc = _doc(done.out_dir / "报告.docx")
    assert doc.paragraphs[0].text == "某规划设计研究院"
    assert doc.styles["Heading 1"].font.size == Pt(27)


def test_bad_template_refused(tmp_path):
    from ditan.spatial.errors import ConfigError

    with pytest.raises(ConfigError, match=r"report.template: file not found"):
        _cfg(template="nope.docx")
    (tmp_path / "t.dotx").write_bytes(b"x")
    with pytest.raises(ConfigError, match=r"report.template: .*a Word template is a .docx"):
        _cfg(template=str(tmp_path / "t.dotx"))


@pytest.mark.parametrize(
    "report, why, detailed, bars_max",
    [
        # 15 units > 5: the first five detailed (the rest in compliance.csv); bars ≤ 10: none
        ({"annex_max_units": 5}, "15 units > report.annex_max_units 5", 5, 10),
        ({"annex_units": []}, "report.annex_units: []", 15, None),  # 15 ≤ 20: every unit, every bar
    ],
)
def test_annex_left_out_of_a_large_or_empty_selection(
    tmp_path, monkeypatch, report, why, detailed, bars_max
):
    import json

    from ditan.pipelines.jobs import report as report_job

    if bars_max is not None:
        monkeypatch.setattr(report_job, "BARS_MAX_UNITS", bars_max)
    done = ReportJob(_cfg(pdf=False, **report)).run(tmp_path / "r")
    assert not (done.out_dir / "附图").exists()
    doc = _doc(done.out_dir / "报告.docx")
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "七、附图" in text and f"附图未收入本报告：{why}" in text
    assert len(doc.inline_shapes) == len(list((done.out_dir / "图表").glob("*.png")))
    m = json.loads((done.out_dir / "manifest.json").read_text(encoding="utf-8"))
    assert m["annex"].startswith(why)
    # the units detailed (table and radar): the first `detailed` of the run, said so when not all
    ind = done.computed.run.res.indicators
    heads = [p.text for p in doc.paragraphs if p.style.name.startswith("Heading 2")]
    names = list(ind["name"].items())[:detailed]
    assert heads == [f"3.{i} {n}（{u}）" for i, (u, n) in enumerate(names, start=1)]
    radars = list((done.out_dir / "图表").glob("radar_*.png"))
    assert len(radars) == detailed
    said = "本节详列 5 个单元（共 15 个，按 report.annex_max_units 5 选取）；全部单元的结果见 数据/compliance.csv。"
    assert (said in text) == (detailed < len(ind))
    bars = list((done.out_dir / "图表").glob("bars_*.png"))
    no_bars = "单元数 15 超过 10，未绘制逐单元对比图；各单元指标值见 数据/indicators.csv。"
    assert (not bars and no_bars in text) if bars_max else (bars and "未绘制" not in text)


def test_no_cjk_font_says_why_and_the_docx_is_dated_fixed(tmp_path, monkeypatch):
    import json
    import zipfile

    from ditan.maps import fonts
    from ditan.pipelines.jobs import annex

    def missing():
        raise fonts.FontMissingError("no font with Chinese glyphs")

    monkeypatch.setattr(annex, "find_cjk_font", missing)  # the annex's (the charts keep theirs)
    done = ReportJob(_cfg(pdf=False, annex_units=["U003"])).run(tmp_path / "r")
    assert not (done.out_dir / "附图").exists()
    m = json.loads((done.out_dir / "manifest.json").read_text(encoding="utf-8"))
    assert "no CJK font" in m["annex"] and "apt-get install fonts-noto-cjk" in m["annex"]
    doc = _doc(done.out_dir / "报告.docx")
    text = "\n".join(p.text for p in doc.paragraphs)
    assert f"附图未收入本报告：{m['annex']}" in text
    # every zip entry of the document dated 2000-01-01 00:00 (python-docx dates them at saving)
    with zipfile.ZipFile(done.out_dir / "报告.docx") as z:
        assert {i.date_time for i in z.infolist()} == {(2000, 1, 1, 0, 0, 0)}


def _content(**kw):
    import datetime as dt

    from ditan.pipelines.outputs.report_docx import ReportContent

    empty = pd.DataFrame()
    return ReportContent(
        **{"title": "甲", "author": None, "profile": None, "profile_source": None,
           "date": dt.date(2024, 5, 1), "version": "0", "scope_lines": ["范围"], "sources": empty,
           "quality": empty, "methods": [], "units": [], "gaps": [], "not_assessable": empty,
           "bars": [], "carbon": None, "carbon_notes": [], **kw}
    )  # fmt: skip


def test_docx_byte_identical_and_annex_section_by_flag(tmp_path):
    from ditan.pipelines.outputs.report_docx import build_docx

    build_docx(_content(), tmp_path / "a.docx")
    build_docx(_content(), tmp_path / "b.docx")
    assert (tmp_path / "a.docx").read_bytes() == (tmp_path / "b.docx").read_bytes()
    # the annex section: its note when the sheets were wanted, nothing when report.annex is false
    for wanted in (True, False):
        build_docx(_content(annex_note="为何 why", annex_wanted=wanted), tmp_path / "c.docx")
        text = "\n".join(p.text for p in _doc(tmp_path / "c.docx").paragraphs)
        assert ("七、附图" in text and "附图未收入本报告：为何 why" in text) == wanted
        assert ("七、附图" in text) == wanted


def test_not_assessable_counts_each_reason_by_hand():
    from types import SimpleNamespace

    from ditan.pipelines.outputs.report_docx import na_table

    reasons = pd.DataFrame(
        {
            "unit_id": ["U1", "U2", "U3", "U1"],
            "column": ["far_ratio", "far_ratio", "far_ratio", "green_x"],
            "reason_zh": ["无建筑数据", "无建筑数据", "单元无住宅", "无绿地数据"],
        }
    )
    got = na_table(reasons, {"far_ratio": SimpleNamespace(zh="容积率")})
    # far_ratio: 2 units without buildings, 1 without housing (not 3 under the first reason)
    assert sorted(got.itertuples(index=False, name=None)) == sorted(
        [("容积率", 2, "无建筑数据"), ("容积率", 1, "单元无住宅"), ("green_x", 1, "无绿地数据")]
    )
    assert list(got.columns) == ["column", "n", "reason"]
    assert na_table(reasons.iloc[:0], {}).empty
