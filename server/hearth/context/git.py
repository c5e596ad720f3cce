"""Every git call Hearth makes, with the repository's power to run programs taken away.

A `.git/config` arrives with archives, shared folders and some clones, and
git runs programs it names: `core.fsmonitor` on `ls-files`/`status`, hooks,
`diff.external`, textconv and filter drivers. Command-line `-c` settings win
over every config file, so each call turns those off (and `diff`, `show` and
`log` get `--no-ext-diff --no-textconv`, which no setting can undo); Hearth
reads only committed blobs and the file list, so no filter driver runs.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SAFE_CONFIG = (
    "core.fsmonitor=false",
    "core.hooksPath=/dev/null",
    "core.pager=cat",
    "core.untrackedCache=false",
    "credential.helper=",
    "core.sshCommand=false",
    "protocol.allow=never",
)
SAFE_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "GIT_PAGER": "cat"}
"""Set for every call; every other GIT_* variable of this process is dropped."""


_SHOWS_CONTENT = ("diff", "show", "log")
"""Subcommands that would run `diff.external` or a textconv driver unless told not to."""


def git_argv(repo: Path, *args: str) -> list[str]:
    argv = ["git"]
    for setting in SAFE_CONFIG:
        argv += ["-c", setting]
    if args and args[0] in _SHOWS_CONTENT:
        args = (args[0], "--no-ext-diff", "--no-textconv", *args[1:])
    return [*argv, "-C", str(repo), *args]


def run_git(repo: Path, *args: str, timeout: float = 30.0) -> bytes:
    """Stdout of `git -C repo ARGS` (raises OSError or subprocess.SubprocessError)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    return subprocess.run(
        git_argv(repo, *args),
        capture_output=True,
        timeout=timeout,
        check=True,
        stdin=subprocess.DEVNULL,
        env={**env, **SAFE_ENV},
    ).stdout
