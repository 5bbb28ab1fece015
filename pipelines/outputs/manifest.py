"""What every job's manifest and maps share: the attribution, the package versions, the input files, file hashes.

The helpers of the job skeleton (:mod:`ditan.pipelines.jobs.skeleton`); no job imports them from another job.
"""

from __future__ import annotations

import datetime as dt
import platform
import sys
from importlib import metadata
from pathlib import Path

from ditan.pipelines.config.schema import Config
from ditan.pipelines.outputs import files as write

__all__ = [
    "ATTRIBUTION",
    "PACKAGES",
    "attribution",
    "carbon_manifest",
    "base_entries",
    "input_files",
    "osm_fetch_entry",
    "versions",
]

#: the packages whose versions a manifest records
PACKAGES = (
    "ditan", "geopandas", "shapely", "pyproj", "osmium", "networkx", "osmnx", "scipy", "numpy",
    "pandas", "rasterio", "folium", "pyogrio", "pydantic", "openpyxl", "psycopg",
)  # fmt: skip
ATTRIBUTION = "© OpenStreetMap contributors (ODbL 1.0)"


def attribution(cfg: Config) -> str:
    """The data attribution of a job: the config's, else OpenStreetMap's."""
    return cfg.attribution or ATTRIBUTION


def versions() -> dict[str, str]:
    """Python's version and each of PACKAGES' ("not installed" when absent)."""
    out = {"python": sys.version.split()[0]}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out


def input_files(cfg: Config) -> list[Path]:
    """The files a config reads (PostGIS layers are recorded apart, in the manifest's database_inputs)."""
    inp = cfg.inputs
    layers = [inp.osm, *inp.vector_layers().values(), inp.landcover]  # several stations layers each
    paths = [src.path for src in layers if src is not None and src.path is not None]
    # a place or bbox: the cached file read
    fetched = inp.osm.cached() if inp.osm is not None else None
    paths += [fetched.path] if fetched is not None else []
    paths += [p for p in (cfg.life_circle.catalogue, cfg.life_circle.population_raster) if p]
    return paths


def osm_fetch_entry(cfg: Config) -> dict:
    """``{"osm_fetch": …}`` for a config whose OSM is fetched by place or bbox: what was asked, where from, when, the file."""
    src = cfg.inputs.osm
    hit = src.cached() if src is not None else None
    if hit is None:
        return {}
    r = hit.record
    keep = ("request", "place", "bbox_fetched", "area_km2", "overpass_url", "nominatim_url")
    entry = {k: r[k] for k in keep if k in r}
    if "place" in entry:  # its name and OSM id, not the outline's coordinates
        entry["place"] = {k: v for k, v in entry["place"].items() if k != "outline_geojson"}
    return {
        "osm_fetch": entry
        | {
            "fetched_utc": r.get("fetched_utc"),
            "osm_base_utc": r.get("osm_base_utc"),
            "counts": r.get("counts"),
            "cache_file": str(hit.path),
            "sha256": r.get("sha256"),
        }
    }


def carbon_manifest(inventory, factors) -> dict:
    """The manifest's ``carbon`` entry: where the factors were taken for, and what is not assessable.

    ``inventory`` and ``factors``: ``RunResult.carbon`` and ``RunResult.carbon_factors`` (None: no entry).
    """
    if factors is None or inventory is None:
        return {}
    grid = factors.grid_kg_per_kwh
    return {
        "carbon": {
            "province": factors.province,
            "province_how": factors.province_how,
            "climate_zone": factors.climate_zone,
            "grid_kg_per_kwh": None if grid != grid else grid,  # NaN: none for the place
            "district_heating": factors.heating_gj_per_m2 is not None,
            "not_assessable": {c: en for c, (en, _) in inventory.reasons.items()},
        }
    }


#: the platform, read once when the process is small: ``platform.platform()`` runs ``uname -p`` in a
#: child process, which after a whole-city run would briefly map gigabytes twice
PLATFORM = platform.platform()


def base_entries(started: dt.datetime, files: dict[str, Path], timings_s: dict[str, float]) -> dict:
    """The entries every manifest has: ditan's version, the start, the timings and each output's sha256.

    ``files``: name → staged path of every output, the manifest's own included (it is listed, not hashed).
    """
    return {
        "ditan": versions()["ditan"],
        "run_started_utc": started.isoformat(timespec="seconds"),
        "platform": PLATFORM,
        "timings_s": timings_s,
        "outputs": sorted(files),
        "output_sha256": {
            name: write.file_sha256(p) for name, p in sorted(files.items()) if p.is_file()
        },
    }
