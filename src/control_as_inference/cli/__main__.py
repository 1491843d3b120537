"""python -m control_as_inference.cli: the `cai` command."""

from . import script

script()
