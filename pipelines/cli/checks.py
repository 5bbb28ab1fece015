"""The checks of a config's input layers before any work: `ditan check-config`, and the start of every command.

The layers are checked from their schemas only (:mod:`ditan.pipelines.config.layer_checks`); check-config also
compares the config's bounds with the extents the files store. Every problem is listed at once, each with its key
path; notes (a multi-layer file read without layer:) are shown and do not stop the command.
"""

from __future__ import annotations

from ditan.pipelines.cli.console import _escape


def check_inputs(cfg, source: str, command: str, console) -> None:
    """Raise ConfigError listing every problem of the config's layers (and, for check-config, of its bounds)."""
    from ditan.pipelines.config.layer_checks import check_layers
    from ditan.spatial.errors import ConfigError

    found = check_layers(cfg, land_sale=command in ("check-config", "check-parcels"))
    if command == "check-config" and (cfg.bounds or (cfg.inputs.osm and cfg.inputs.osm.bounds)):
        from ditan.pipelines.assemble.place import check_bounds_overlap, config_extents

        try:  # bounds far from the data: the stored extents say so
            check_bounds_overlap(cfg, *config_extents(cfg))
        except ConfigError as exc:
            found.problems.append(("", str(exc)))
    for key, text in found.notes:
        console.print(f"[yellow]note:[/] {_escape(f'{key}: {text}')}", soft_wrap=True)
    if found.problems:
        raise ConfigError(found.message(source))


def check_batch_inputs(batch, console) -> None:
    """Raise ConfigError listing the layer problems of every area of a batch (`ditan check-config BATCH`)."""
    from ditan.pipelines.config.layer_checks import check_layers
    from ditan.spatial.errors import ConfigError

    lines = []
    for i, area in enumerate(batch.areas):
        found = check_layers(area.cfg)
        where = f"areas.{i} ({area.name}, {area.config_file.name})"
        lines += [f"  - {where}: {k}: {m}" for k, m in found.problems]
        for k, m in found.notes:
            console.print(f"[yellow]note:[/] {_escape(f'{where}: {k}: {m}')}", soft_wrap=True)
    if lines:
        raise ConfigError(
            f"batch config {batch.source_path}: {len(lines)} problem(s) with its areas' layers (nothing was run):\n"
            + "\n".join(lines)
        )
