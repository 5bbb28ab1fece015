"""The `ditan` command line: parse the arguments, set up the console, hand the command to its handler.

The parser is in :mod:`.parser`, the handlers of `run` (one study area or a batch) in :mod:`.run`,
those of `screen`, `check-parcels`, `annex` and `units` in :mod:`.commands`.
"""

from __future__ import annotations

import logging
import sys

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
    from ditan.spatial.errors import DitanError

    try:
        if _is_batch(args):
            return _run_batch(args, console)
        cfg = load_config(args.config, deriving_units=args.command == "units")
        if args.command == "check-config":
            if cfg.bounds or (
                cfg.inputs.osm and cfg.inputs.osm.bounds
            ):  # bounds far from the data: the stored extents say so
                from ditan.pipelines.assemble.place import check_bounds_overlap, config_extents

                check_bounds_overlap(cfg, *config_extents(cfg))
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
