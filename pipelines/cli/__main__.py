"""`python -m ditan.pipelines.cli`: the `ditan` command."""

import sys

from ditan.pipelines.cli import main

if __name__ == "__main__":
    sys.exit(main())
