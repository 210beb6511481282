"""Allows `python -m gridvend.sts ...` as a synonym of `gridvend sts ...`."""

import sys

from gridvend.sts.cli import main

sys.exit(main())
