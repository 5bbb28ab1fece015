"""Writing a run's outputs.

A run writes all its files into a hidden staging folder beside the output folder
(``.<name>.<random>.partial``); only when every file is complete does the staging folder
replace the output folder, with SIGINT and SIGTERM held back for the two renames. An
interrupted run therefore leaves the previous run's outputs intact and no partial file under a
final name; a run killed outright between the two renames is repaired by the next run
(the previous folder, kept as ``.<name>.old``, is put back). Single files (``ditan units``)
are written under a temporary name and renamed the same way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Font

from ditan.spatial.errors import ConfigError
from ditan.spatial.standards.registry import Indicator

CSV_DECIMALS = 4
#: the date written where a file format insists on one (xlsx properties, zip entries, GeoPackage contents)
FIXED_TIME = dt.datetime(2000, 1, 1)


@contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """A temporary path in the same folder (same suffix); renamed to ``final`` on success."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{final.stem}.", suffix=f".partial{final.suffix}", dir=final.parent
    )
    os.close(fd)
    os.unlink(tmp)  # writers such as GDAL want to create the file themselves
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back (POSIX) while the output folder is swapped; they arrive after."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _old(final: Path) -> Path:
    return final.parent / f".{final.name}.old"


#: the names a previous run may have left in an output folder: a set, or a test of one name
Allowed = set[str] | frozenset[str] | Callable[[str], bool]


def check_output_folder(final: Path, allowed: Allowed) -> None:
    """Stop before any work if ``final`` holds files a run would remove (the swap replaces the folder)."""
    if final.exists() and not final.is_dir():
        raise ConfigError(f"output folder {final} is a file; choose a folder with --out")
    if final.is_dir():
        ok = allowed if callable(allowed) else allowed.__contains__
        foreign = sorted(p.name for p in final.iterdir() if not ok(p.name))
        if foreign:
            raise ConfigError(
                f"output folder {final} holds files ditan did not write ({', '.join(foreign[:5])}"
                f"{' …' if len(foreign) > 5 else ''}); a run replaces the whole folder, so choose a new or empty one with --out"
            )


@contextmanager
def staged_dir(final: Path, *, allowed: Allowed) -> Iterator[Path]:
    """A staging folder that replaces ``final`` as a whole when the block completes.

    ``allowed``: the names a previous run may have left in ``final``; any other file there stops
    the run (the swap would remove it).
    """
    final = Path(final)
    if not final.exists() and _old(final).is_dir():  # a run killed between the two renames
        os.replace(_old(final), final)
    check_output_folder(final, allowed)
    final.parent.mkdir(parents=True, exist_ok=True)
    for stale in final.parent.glob(f".{final.name}.*.partial"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
    try:
        yield staging
        with _signals_held():
            if final.exists():
                shutil.rmtree(_old(final), ignore_errors=True)
                os.replace(final, _old(final))
                os.replace(staging, final)
            else:
                os.replace(staging, final)
        shutil.rmtree(_old(final), ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_text(path: Path, text: str, *, encoding: str = "utf-8") -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)


def write_csv(path: Path, df: pd.DataFrame) -> None:
    """UTF-8 with BOM (so Excel on Chinese Windows reads it), fixed decimals, no index surprises."""
    with atomic_path(path) as tmp:
        df.round(CSV_DECIMALS).to_csv(tmp, encoding="utf-8-sig", lineterminator="\n")


def write_xlsx(
    path: Path,
    indicators: pd.DataFrame,
    columns: dict[str, Indicator],
    quality: pd.DataFrame,
    *,
    extra_sheets: dict[str, pd.DataFrame] | None = None,
) -> None:
    """Sheet 指标 with a Chinese and an English header row (with units), plus quality, column notes and extra sheets."""
    wb = Workbook()
    ws = wb.active
    ws.title = "指标 indicators"
    table = indicators.reset_index()
    heads = [columns[c] if c in columns else Indicator(c, c, c) for c in table.columns]
    ws.append([h.zh for h in heads])
    ws.append(
        [
            f"{h.en} ({h.unit})" if h.unit and h.unit not in ("count", "ratio") else h.en
            for h in heads
        ]
    )
    for cell in (*ws[1], *ws[2]):
        cell.font = Font(bold=True)
    for row in table.round(CSV_DECIMALS).itertuples(index=False):
        ws.append([None if (isinstance(v, float) and v != v) else v for v in row])
    ws.freeze_panes = "C3"
    q = wb.create_sheet("数据质量 data quality")
    q.append(list(quality.columns))
    for row in quality.itertuples(index=False):
        q.append(list(row))
    doc = wb.create_sheet("指标说明 columns")
    doc.append(["id", "中文名", "English", "unit", "method", "source"])
    for ind in columns.values():
        doc.append([ind.id, ind.zh, ind.en, ind.unit, ind.method, ind.source])
    for title, frame in (extra_sheets or {}).items():
        sheet = wb.create_sheet(title[:31])  # Excel's limit on sheet names
        sheet.append(list(frame.reset_index(drop=frame.index.name is None).columns))
        for row in frame.reset_index(drop=frame.index.name is None).itertuples(index=False):
            sheet.append([None if (isinstance(v, float) and v != v) else v for v in row])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
    wb.properties.created = wb.properties.modified = (
        FIXED_TIME  # no run time inside a table (the manifest has it)
    )
    with atomic_path(path) as tmp:
        wb.save(tmp)
        fix_zip_times(tmp)


def fix_zip_times(path: Path) -> None:
    """Rewrite a zip (xlsx) with every entry, and the workbook's save time, dated FIXED_TIME.

    openpyxl stamps ``dcterms:modified`` with the time of saving; equal content must give equal bytes.
    """
    import re
    import zipfile

    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(path) as src:
        entries = [(i, src.read(i.filename)) for i in src.infolist()]
    entries = [
        (
            i,
            re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(<)", rb"\g<1>" + stamp + rb"\g<2>", d)
            if i.filename == "docProps/core.xml"
            else d,
        )
        for i, d in entries
    ]
    with zipfile.ZipFile(path, "w") as dst:
        for info, data in entries:
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            dst.writestr(fixed, data)


@contextmanager
def _gdal_date(when: dt.datetime) -> Iterator[None]:
    """GDAL's GeoPackage driver stamps gpkg_contents.last_change with OGR_CURRENT_DATE when set."""
    old = os.environ.get("OGR_CURRENT_DATE")
    os.environ["OGR_CURRENT_DATE"] = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("OGR_CURRENT_DATE", None)
        else:
            os.environ["OGR_CURRENT_DATE"] = old


def write_gpkg(path: Path, layers: dict[str, gpd.GeoDataFrame]) -> None:
    """One GeoPackage with a layer per entry (the first is the units), written atomically."""
    with atomic_path(path) as tmp, _gdal_date(FIXED_TIME):
        for i, (name, gdf) in enumerate(layers.items()):
            frame = gdf.reset_index() if i == 0 else gdf
            frame.to_file(
                tmp, layer=name, driver="GPKG", engine="pyogrio", mode="w" if i == 0 else "a"
            )


def write_json(path: Path, data: dict) -> None:
    write_text(path, json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, or of a folder (a File Geodatabase ``.gdb``).

    A folder's hash covers each file under it in sorted order: its relative path (POSIX form, UTF-8,
    then a NUL) before its content.
    """
    h = hashlib.sha256()
    path = Path(path)
    if path.is_dir():
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(f.relative_to(path).as_posix().encode("utf-8") + b"\0")
            _update(h, f)
    else:
        _update(h, path)
    return h.hexdigest()


def _update(h: hashlib._Hash, path: Path) -> None:
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
