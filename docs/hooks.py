"""mkdocs hooks (mkdocs.yml `hooks:`): a fresh scratch directory for the `cai` examples.

The console blocks of docs/cli.md run `cai` for real while the site is built; they run in
build/docs-cli (ignored by git, emptied before every build) so that the runs, tables and figures
they write never land in the repository.
"""

import os
import pathlib
import shutil

SCRATCH = pathlib.Path("build/docs-cli")


def on_pre_build(config, **kwargs):
    shutil.rmtree(SCRATCH, ignore_errors=True)
    SCRATCH.mkdir(parents=True)
    os.environ.setdefault("MPLBACKEND", "Agg")  # figures written by examples: no display
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a throwaway local Ray instance
