"""The `gridvend` console command: STS tools without a database, everything else via Django."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "sts":
        # Support staff use the token tools at a pay office; they need no database or settings.
        from gridvend.sts.cli import main as sts_main

        return sts_main(args[1:])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gridvend.settings")
    from django.core.management import execute_from_command_line

    from gridvend.configuration import ConfigurationError

    try:
        execute_from_command_line(["gridvend", *args])
    except ConfigurationError as exc:
        print(f"gridvend: configuration error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
