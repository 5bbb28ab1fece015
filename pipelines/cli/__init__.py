"""The `ditan` command line: parse the arguments, set up the console, hand the command to its handler.

The parser is in :mod:`.parser`, the handlers of `run` (one study area or a batch) in :mod:`.run`,
those of `screen`, `check-parcels`, `annex` and `units` in :mod:`.commands`.
"""

from __future__ import annotations

import logging
import sys

from ditan.pipelines.cli.checks import check_inputs
from ditan.pipelines.cli.commands import _annex, _check_parcels, _screen, _units
from ditan.pipelines.cli.console import _escape
from ditan.pipelines.cli.parser import _parser
from ditan.pipelines.cli.run import _is_batch, _run, _run_batch


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # while libraries were still being imported: nothing was written
        print("interrupted before any output was written", file=sys.stderr)
        return 130


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    from rich.console import Console
    from rich.logging import RichHandler

    # a log file or CI has no terminal width: lay the summary table out at a width where it fits
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 132)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False, show_time=False)],
    )
    logging.getLogger("pyogrio").setLevel(logging.WARNING)
    from ditan.pipelines.config.schema import load_config
    from ditan.spatial.errors import ConfigError, DitanError

    try:
        if _is_batch(args):
            return _run_batch(args, console)
        cfg = load_config(args.config, deriving_units=args.command == "units")
        # --refresh-osm: inputs.osm place or bbox fetched again, this once
        if getattr(args, "refresh_osm", False):
            if cfg.inputs.osm is None or cfg.inputs.osm.path is not None:
                raise ConfigError(
                    f"--refresh-osm fetches inputs.osm.place or inputs.osm.bbox again; {args.config} names "
                    + ("no OSM" if cfg.inputs.osm is None else "an OSM file (inputs.osm.path)")
                    + ": drop the option"
                )
            cfg.inputs.osm.refresh = True
        # the layers (and, for check-config, the bounds) from their schemas, before any work
        check_inputs(cfg, str(args.config), args.command, console)
        if args.command == "check-config":
            console.print(f"[green]✓[/] {args.config} is valid")
            return 0
        if args.command == "units":
            return _units(cfg, args, console)
        if args.command == "screen":
            return _screen(cfg, args, console)
        if args.command == "check-parcels":
            return _check_parcels(cfg, args, console)
        if args.command == "annex":
            return _annex(cfg, args, console)
        return _run(cfg, args, console)
    except DitanError as exc:
        console.print(f"[bold red]error:[/] {_escape(str(exc))}", soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        console.print(
            "[yellow]interrupted: the output folder holds the complete outputs of one run "
            "(the previous one unless this one had finished); no partial files[/]"
        )
        return 130
