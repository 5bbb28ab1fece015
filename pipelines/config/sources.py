"""The inputs section of a run config: the OSM file, vector layers, stations layers and the land-cover raster.

The source models live in :mod:`~ditan.pipelines.config.osm_source`, :mod:`~ditan.pipelines.config.layer_source`
and :mod:`~ditan.pipelines.config.station_source`; databases in :mod:`~ditan.pipelines.config.database`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from ditan.pipelines.config.layer_source import LayerSource, ParcelSource
from ditan.pipelines.config.model import _existing, _Model
from ditan.pipelines.config.osm_source import OsmSource
from ditan.pipelines.config.station_source import StationSource
from ditan.spatial.standards import landcover_products


class RasterSource(_Model):
    """A land-cover raster (e.g. ESA WorldCover) or a continuous vegetation index (NDVI)."""

    path: Path
    product: str | None = Field(
        None,
        description="Land-cover product whose classes to use: worldcover, clcd, esri_lulc, dynamic_world, "
        "globeland30 (spatial/standards/landcover_products.yaml); default worldcover",
    )
    vegetation_classes: list[int] | None = Field(
        None, description="Class codes counted as vegetation (overrides the product's)"
    )
    impervious_classes: list[int] | None = Field(
        None,
        description="Class codes counted as impervious, permeable share = the rest (overrides the product's)",
    )
    tree_classes: list[int] | None = Field(
        None,
        description="Class codes counted as tree cover, for the carbon sink (overrides the product's)",
    )
    ndvi_threshold: float | None = Field(
        None, description="Continuous raster: pixels ≥ this value are vegetation"
    )
    nodata: float | None = Field(None, description="Override the raster's nodata value")

    _check_path = field_validator("path", mode="before")(_existing)
    _classes_note: str = PrivateAttr("")

    @field_validator("product")
    @classmethod
    def _known_product(cls, v: str | None) -> str | None:
        if v is None:
            return v
        try:
            return landcover_products.product(v).key
        except KeyError as e:
            raise ValueError(e.args[0]) from None

    @model_validator(mode="after")
    def _product_classes(self) -> RasterSource:
        """Fill the class lists the config leaves out from the product (WorldCover when none is named)."""
        prod = landcover_products.product(self.product or landcover_products.default_name())
        given = [
            k for k in ("vegetation_classes", "impervious_classes") if getattr(self, k) is not None
        ]
        if self.vegetation_classes is None:
            self.vegetation_classes = list(prod.vegetation)
        if self.impervious_classes is None:
            self.impervious_classes = list(prod.impervious)
        if self.tree_classes is None:
            self.tree_classes = list(prod.tree)
        if self.ndvi_threshold is not None:
            note = f"continuous raster (NDVI ≥ {self.ndvi_threshold:g}); no land-cover classes"
        else:
            note = (
                f"land-cover classes of {prod.key} ({prod.label}; {prod.source}"
                + (", legend unconfirmed" if prod.unconfirmed else "")
                + ")"
                + (
                    f"; {' and '.join(given)} given in the config override the product's"
                    if given
                    else ""
                )
                + f": vegetation {' '.join(map(str, self.vegetation_classes))}, "
                f"impervious {' '.join(map(str, self.impervious_classes))}"
            )
        self._classes_note = note
        return self

    @property
    def classes_note(self) -> str:
        """Which product's classes were used, for data_quality.csv."""
        return self._classes_note


VECTOR_INPUTS = ("units", "roads", "buildings", "parcels", "pois", "stations")


class Inputs(_Model):
    osm: OsmSource | None = None
    units: LayerSource | None = Field(
        None, description="Community boundaries; derive them with `ditan units` if you have none"
    )
    roads: LayerSource | None = None
    buildings: LayerSource | None = None
    parcels: ParcelSource | None = Field(
        None,
        description="Land-use parcels with a code column (GB 50137, 2023 codes, OSM or Overture)",
    )
    pois: LayerSource | None = None
    stations: StationSource | list[StationSource] | None = Field(
        None,
        description="One stations layer or a list of them, each with kind_column or kind; a layer replaces OSM's stations "
        "only for the kinds it supplies (the other kinds keep OSM's)",
    )
    landcover: RasterSource | None = None

    @field_validator("stations", mode="wrap")
    @classmethod
    def _station_layers(
        cls, v: Any, handler: Any, info: ValidationInfo
    ) -> StationSource | list[StationSource] | None:
        """One layer (a mapping) or a list of them; errors keep the layer's own keys (inputs.stations.kind, .1.kind)."""
        if v is None or isinstance(v, StationSource):
            return v
        if isinstance(v, list):
            if not v:
                raise ValueError(
                    "an empty list: name at least one stations layer, or leave inputs.stations out"
                )
            from pydantic import TypeAdapter

            return TypeAdapter(list[StationSource]).validate_python(v, context=info.context)
        if isinstance(v, dict):
            return StationSource.model_validate(v, context=info.context)
        raise ValueError(
            "give one stations layer (path: …, kind_column: … or kind: …) or a list of them"
        )

    @model_validator(mode="after")
    def _something(self) -> Inputs:
        """Something to measure; a missing layer (no roads, no buildings …) only leaves the indicators that need it NaN."""
        if all(
            getattr(self, k) is None
            for k in ("osm", "roads", "buildings", "parcels", "pois", "stations", "landcover")
        ):
            raise ValueError(
                "nothing to measure: name an OSM file (inputs.osm) or layers (inputs.roads, buildings, parcels, pois, "
                "stations, landcover)"
            )
        return self

    def database_layers(self) -> dict[str, LayerSource]:
        """The layers read from PostGIS (table or sql), by input key."""
        return {k: src for k, src in self.vector_layers().items() if src.path is None}

    def station_layers(self) -> list[StationSource]:
        """The stations layers in the order given (none, one, or the list)."""
        s = self.stations
        return [] if s is None else list(s) if isinstance(s, list) else [s]

    def vector_layers(self) -> dict[str, LayerSource]:
        """Every vector layer by input key (several stations layers as stations.0, stations.1 and so on)."""
        out: dict[str, LayerSource] = {}
        for k in VECTOR_INPUTS:
            src = getattr(self, k)
            if isinstance(src, list):
                out.update({f"{k}.{i}": s for i, s in enumerate(src)})
            elif src is not None:
                out[k] = src
        return out
