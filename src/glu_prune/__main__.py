"""`python -m glu_prune ...`: the `glu-prune` command where its console script is not installed
(the package on a PYTHONPATH, e.g. a GPU machine's own torch)."""

import sys

from .cli import main

sys.exit(main())
