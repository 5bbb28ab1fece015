"""A stations layer of a run config (inputs.stations): the kind of each station from a column or for the whole layer."""

from __future__ import annotations

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

    @model_validator(mode="after")
    def _one_kind_source(self) -> StationSource:
        where = f"stations layer '{self.label}'"
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
