"""A stations layer of a run config (inputs.stations): the kind of each station from a column or for the whole layer."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ditan.pipelines.config.layer_source import LayerSource


class StationSource(LayerSource):
    """A stations layer: the kind of each station from a column (kind_column) or one kind for the whole layer (kind).

    Several layers may be given (inputs.stations as a list). A layer replaces OSM's stations only for the kinds
    it supplies; the other kinds keep OSM's (ditan.pipelines.assemble.load._stations).
    """

    kind: str | None = Field(
        None,
        description="One station kind for every feature of the layer (instead of kind_column): bus_stop, metro, bike_rental "
        "or ev_charging, or their Chinese names (公交站, 地铁站, 自行车租赁点, 电动车充电站)",
    )
    kind_system: Literal["catalogue", "overture", "amap", "baidu"] | None = Field(
        None,
        description="What kind_column holds (the stations' name for category_system): catalogue (ids, Chinese names, "
        "aliases), overture, or amap / baidu (the web map's category paths, e.g. 交通设施服务;公交车站;普通公交站, so "
        "one Amap or Baidu export can feed pois and stations; crs then defaults to the provider's)",
    )

    @model_validator(mode="after")
    def _one_kind_source(self) -> StationSource:
        where = f"stations layer '{self.label}'"
        if self.kind_system is not None:
            if (
                "category_system" in self.model_fields_set
                and self.category_system != self.kind_system
            ):
                raise ValueError(
                    f"{where} has kind_system: {self.kind_system} and category_system: {self.category_system}: give "
                    "one (kind_system is the stations' name for it)"
                )
            self.category_system = self.kind_system
            self._provider_crs("kind_system", self.kind_system)
        if self.kind is None and self.kind_column is None:
            raise ValueError(
                f"{where} needs kind_column (the column naming each station's kind) or kind (one kind for "
                "every feature, e.g. kind: bus_stop)"
            )
        if self.kind is not None and self.kind_column is not None:
            raise ValueError(
                f"{where} has both kind_column and kind: give one (kind_column for a column of kinds, "
                "kind for one kind for every feature)"
            )
        from ditan.spatial.study_area.stations import (
            unknown_kind,
        )  # scipy, only when a config has a stations layer

        if self.kind is not None and (why := unknown_kind(self.kind, self.category_system)):
            raise ValueError(f"{where}: {why}")
        return self
