"""python -m control_as_inference.cli: the `cai` command."""

import sys

from . import main

sys.exit(main())
