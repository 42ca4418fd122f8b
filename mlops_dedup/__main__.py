"""python -m mlops_dedup: the mlops-dedup command."""

import sys

from mlops_dedup.cli import main

sys.exit(main())
