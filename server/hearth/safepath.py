"""Keeps the working directory off `sys.path`, here and in every Python child Hearth starts.

Editors start a language server with the project folder as the working
directory. `python -m` and `python -c` put that folder first on `sys.path`,
so a repository's `jedi.py`, `numpy/` or `multiprocessing.py` would be
imported instead of the real one and run as the user. `isolate()` drops that
entry from this process and sets `PYTHONSAFEPATH` so that children (the model
worker, started by multiprocessing as `python -c ...`) never add it. A
`hearth/` folder in the project under `python -m hearth` is imported before
any of this runs; only the launch can prevent that (`python -P -m hearth`, or
the `hearth` console script), which is how the extension and the README start
the server.
"""

from __future__ import annotations

import os
import sys


def isolate() -> None:
    """Drop the working directory that `-m`/`-c` put first on sys.path; children inherit safe-path."""
    os.environ["PYTHONSAFEPATH"] = "1"
    if sys.flags.safe_path or not sys.path:
        return
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = ""
    if sys.path[0] in ("", ".") or (cwd and os.path.abspath(sys.path[0]) == cwd):
        del sys.path[0]
