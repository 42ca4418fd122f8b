#!/usr/bin/env python3
"""mlops-dedup in a clone: `python runner.py COMMAND` is the `mlops-dedup` command (mlops_dedup.cli), and
`import runner` gives the Python API (mlops_dedup.api) to scripts written before the package existed.
After `pip install .` use `mlops-dedup` and `import mlops_dedup` instead."""

import sys

from mlops_dedup.api import *  # noqa: F403  (the API under its old module name)
from mlops_dedup.cli import main

if __name__ == "__main__":
    sys.exit(main())
