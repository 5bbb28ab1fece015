"""The `ditan` command line: parse the arguments, set up the console, hand the command to its handler.

The parser is in :mod:`.parser`, the handlers of `run` (one study area or a batch) in :mod:`.run`,
those of `screen`, `check-parcels`, `annex` and `units` in :mod:`.commands`.
"""

from __future__ import annotations

import logging
import sys

from ditan.pipelines.cli.checks import check_inputs
from ditan.pipelines.cli.commands import _annex, _check_parcels, _screen, _units
from ditan.pipelines.cli.console import InertLog, _escape, inert_excepthook
from ditan.pipelines.cli.parser import _parser
from ditan.pipelines.cli.run import _is_batch, _run, _run_batch
from ditan.spatial.errors import Terminated, terminate_as_interrupt


def main(argv: list[str] | None = None) -> int:
    # an unexpected error's traceback: no data text acts on the terminal
    if sys.excepthook is sys.__excepthook__:
        sys.excepthook = inert_excepthook
    try:
        with terminate_as_interrupt(("SIGTERM", "SIGHUP")):
            return _main(argv)
    # while libraries were still being imported: nothing was written
    except KeyboardInterrupt as exc:
        what = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"{what} before any output was written", file=sys.stderr)
        return exc.exit_code if isinstance(exc, Terminated) else 130


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    from rich.console import Console
    from rich.logging import RichHandler

    # a log file or CI has no terminal width: lay the summary table out at a width where it fits
    console = Console(stderr=True, width=None if sys.stderr.isatty() else 132)
    handler = RichHandler(console=console, show_path=False, show_time=False)
    handler.addFilter(InertLog())  # data text in a log line: control characters shown as \xNN
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s",
        handlers=[handler],
    )
    logging.getLogger("pyogrio").setLevel(logging.WARNING)
    from ditan.pipelines.config.schema import load_config
    from ditan.pipelines.outputs.staging import LOCK_WAIT
    from ditan.spatial.errors import ConfigError, DitanError

    # --no-wait: stop at once when another run writes the same output folder (else wait for it)
    waiting = LOCK_WAIT.set(not getattr(args, "no_wait", False))
    try:
        if args.command == "init":
            from ditan.pipelines.cli.init_cmd import init_config

            path, nxt = init_config(args.name, args.osm, units=args.units, out=args.out)
            console.print(f"[green]✓[/] wrote {_escape(str(path))}; next: {_escape(nxt)}")
            return 0
        if args.command == "export":  # of a run's outputs: no config
            from ditan.pipelines.cli.export import export

            return export(args, console)
        if getattr(args, "sample", None):
            from ditan.pipelines.cli.init_cmd import sample_config

            args.config = sample_config(args.sample)
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
        if args.command == "report":
            from ditan.pipelines.jobs.report import run_report

            folder, done = run_report(cfg, args.out)
            console.print(
                f"[green]✓[/] report in {_escape(str(folder))}/ ({', '.join(done.files)})"
            )
            if done.pdf_note:
                console.print(f"[yellow]报告.pdf not written:[/] {_escape(done.pdf_note)}")
            return 0
        return _run(cfg, args, console)
    except DitanError as exc:
        if args.verbose:  # -v: where it was raised
            logging.getLogger("ditan").debug("traceback", exc_info=True)
        console.print(f"[bold red]error:[/] {_escape(str(exc))}", soft_wrap=True)
        return getattr(exc, "exit_code", 2)  # 75: another run holds the folder (--no-wait)
    # a file met outside the output folder's own checks (those raise OutputError): one line all the same
    except OSError as exc:
        if args.verbose:
            logging.getLogger("ditan").debug("traceback", exc_info=True)
        from ditan.pipelines.outputs.staging import describe_os_error

        target = exc.filename if isinstance(exc.filename, str) else None
        line = describe_os_error(exc, target or getattr(args, "out", None) or ".", fix=False)
        console.print(f"[bold red]error:[/] {_escape(line)}", soft_wrap=True)
        return 1
    except KeyboardInterrupt as exc:
        what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        console.print(
            f"[yellow]{what}: the output folder holds the complete outputs of one run "
            "(the previous one unless this one had finished); no partial files[/]"
        )
        return exc.exit_code if isinstance(exc, Terminated) else 130
    finally:
        LOCK_WAIT.reset(waiting)
