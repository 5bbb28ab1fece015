"""`ditan export --shapefile`: a run's communities.gpkg as a Shapefile with a field mapping table."""

from __future__ import annotations

from ditan.pipelines.cli.console import _escape


def export(args, console) -> int:
    from ditan.pipelines.outputs.shapefile import export_shapefile

    with console.status("writing the Shapefile …"):
        done = export_shapefile(args.shapefile, args.out)
    renamed = int((done.fields["short_name"] != done.fields["column"]).sum())
    console.print(
        f"communities.shp: {len(done.fields)} fields, {renamed} renamed to ≤ 10 characters 字段名已缩短 "
        f"(field_map.csv maps them back 对照表) in [bold]{_escape(str(done.out))}/[/]"
    )
    for col, n in done.shortened.items():
        console.print(
            f"[yellow]{_escape(col)}: {n} texts cut to 254 bytes (the Shapefile limit 字段长度上限); "
            "the GeoPackage keeps them whole[/]"
        )
    print(done.out)
    return 0
