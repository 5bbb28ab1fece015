"""The ``report:`` section: the 指标核查报告 that `ditan report` writes (Word, and PDF with LibreOffice)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from ditan.pipelines.config.base import _Options
from ditan.pipelines.config.model import _existing


class ReportOptions(_Options):
    language: Literal["zh", "en", "bilingual"] = Field(
        "zh",
        description="Language of the report: zh (中文), en, or bilingual (中文 with English beside)",
    )
    template: Path | None = Field(
        None,
        description="An institute's own .docx whose styles, page setup, headers and footers the report uses",
    )
    annex: bool = Field(
        True, description="Draw the annex sheets (附图) into the report (needs a CJK font)"
    )
    annex_units: list[str] | None = Field(
        None,
        description="Units whose annex sheets the report holds ([]: none; default: every unit, up to annex_max_units)",
    )
    annex_max_units: int = Field(
        20,
        ge=0,
        description="Without annex_units, the annex is drawn for at most this many units (a city's would be hundreds of pages)",
    )
    pdf: bool = Field(
        True, description="Also write 报告.pdf when LibreOffice (soffice) is installed"
    )
    author: str | None = Field(None, description="编制单位 shown on the cover")

    _check_template = field_validator("template", mode="before")(_existing)

    @field_validator("template")
    @classmethod
    def _docx(cls, v: Path | None) -> Path | None:
        if v is not None and v.suffix.lower() != ".docx":
            raise ValueError(f"{v}: a Word template is a .docx file (save a .dotx as .docx)")
        return v
