"""`ditan init NAME --osm FILE [--units FILE]`: a commented config for a new study area, worked out from its data.

The OSM file's header box (else the extent of its nodes) gives the bounds; their centre the metric CRS
(CGCS2000 3° Gauss–Krüger zone, or UTM outside China) and the province of the carbon factors. Paths in the
config are written relative to the config's folder, as ditan reads them. Nothing is overwritten.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from ditan.spatial.errors import ConfigError

__all__ = ["init_config", "osm_bounds", "samples", "sample_config"]

#: the packaged samples (`ditan run --sample NAME`): name → config file of ditan.pipelines.configs
SAMPLES = {
    "beijing": "beijing_haidian.yaml",
    "hongkong": "hongkong_kowloon.yaml",
    "beijing_land_sale": "beijing_land_sale.yaml",
    "batch": "batch_sample.yaml",
}


def samples() -> dict[str, Path]:
    """The packaged sample configs by name."""
    from importlib import resources

    base = resources.files("ditan.pipelines.configs")
    return {k: Path(str(base.joinpath(v))) for k, v in SAMPLES.items()}


def sample_config(name: str) -> Path:
    """The config of a packaged sample; its data must sit where the config names them (a source checkout)."""
    known = samples()
    if name not in known:
        raise ConfigError(f"unknown sample '{name}'; samples: {', '.join(known)}")
    path = known[name]
    if not path.is_file():
        raise ConfigError(f"sample '{name}': {path} is not installed with this package")
    return path


def osm_bounds(path: Path) -> tuple[float, float, float, float]:
    """The file header's box, else the extent of every node (streamed; untagged nodes included)."""
    import osmium

    from ditan.pipelines.assemble.place import _osm_header_box

    box = _osm_header_box(path)
    if box is not None:
        return box
    w, s, e, n = math.inf, math.inf, -math.inf, -math.inf  # four scalars: no list per node
    for node in osmium.FileProcessor(str(path), osmium.osm.NODE):
        loc = node.location
        if loc.valid():
            x, y = loc.lon, loc.lat
            w, e, s, n = min(w, x), max(e, x), min(s, y), max(n, y)
    if w > e:
        raise ConfigError(f"{path}: no node with coordinates; is it an OSM file (.osm, .osm.pbf)?")
    return (w, s, e, n)


def _rel(target: Path, folder: Path) -> str:
    return Path(os.path.relpath(target.resolve(), folder.resolve())).as_posix()


def init_config(
    name: str, osm: Path, *, units: Path | None = None, out: Path | None = None
) -> tuple[Path, str]:
    """Write ``<out or NAME.yaml>``; return its path and the next command to run."""
    import re

    from ditan.spatial.crs.metric import choose_metric_crs
    from ditan.spatial.standards.carbon import nearest_province

    if not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
        raise ConfigError(
            f"name '{name}': letters, digits, _ and - only (it names the output folder out/{name}/)"
        )
    if not osm.is_file():
        raise ConfigError(f"--osm {osm}: file not found")
    if units is not None and not units.is_file():  # before the OSM file's scan
        raise ConfigError(f"--units {units}: file not found")
    path = out or Path(f"{name}.yaml")
    if path.exists():
        raise ConfigError(
            f"{path} exists; choose another --out or remove it (ditan never overwrites a config)"
        )
    w, s, e, n = osm_bounds(osm)
    lon, lat = (w + e) / 2, (s + n) / 2
    crs = choose_metric_crs(lon, lat)
    province, km = nearest_province(lon, lat)
    folder = path.parent if str(path.parent) else Path(".")
    units_path = units if units is not None else folder / f"{name}_units.gpkg"
    text = _TEMPLATE.format(
        name=name,
        osm=_rel(osm, folder),
        bounds=f"[{w:.4f}, {s:.4f}, {e:.4f}, {n:.4f}]",
        crs=crs.to_string(),
        crs_name=crs.name,
        units=_rel(units_path, folder),
        units_note=(
            "# the units you gave; id_column / name_column: their columns (ditan check-config lists them)"
            if units is not None
            else f"# not there yet: derive blocks from the roads with\n    #   ditan units {path} --out {units_path}\n"
            "    # (or give your own units file here)"
        ),
        province=f"{province}  # nearest provincial capital, {km:.0f} km"
        if province
        else "null  # outside China: set it",
    )
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    nxt = (
        f"ditan check-config {path}"
        if units is not None
        else f"ditan units {path} --out {units_path}, then ditan run {path}"
    )
    return path, nxt


_TEMPLATE = """\
# ditan config for {name} — written by `ditan init`; edit freely. Relative paths are read from this file's folder.
# 由 ditan init 生成的配置文件；相对路径以本文件所在文件夹为准。 Check it with: ditan check-config <this file>
name: {name}
title: {name}          # shown on tables, maps and the annex (中文标题 welcome)
# metric CRS worked out from the data's centre ({crs_name}); areas and lengths are measured in it
crs: "{crs}"
inputs:
  osm:
    path: {osm}
    # study bounds [west, south, east, north] in degrees (WGS 84): the file's box
    bounds: {bounds}
  units:
    path: {units}
    {units_note}
  # more layers (each optional; see the README, section "The config"):
  # landcover: {{path: worldcover.tif}}             # 绿化覆盖率 and the tree-cover carbon sink
  # pois: {{path: amap_pois.csv, category_system: amap}}   # 高德 / 百度 exports are read as they are
  # stations: {{path: stations.gpkg, kind_column: kind}}
  # parcels: {{path: parcels.shp, code_column: DLBM, code_system: gb2023}}
  # buildings: {{path: buildings.gpkg, floors_column: floors, type_column: use}}
life_circle:
  tiers_m: {{5min: 300, 10min: 500, 15min: 1000}}   # GB 50180-2018 walking distances
transit:
  radius_m: 500
compliance:
  profile: lowcarbon_pilot_2015   # 低碳社区试点建设指南; others: lowcarbon_application, chongqing_carbon_peak
  kind: existing                  # new 城市新建社区 | existing 城市既有社区 | rural 农村社区
carbon:
  province: {province}
  # grid_kg_per_kwh: 0.558        # a city's own factor overrides the 2022 provincial one
map:
  color_by: lc_15min_score_pct
"""
