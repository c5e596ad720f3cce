"""Runs the user's test command on a copy of the workspace, in a box it cannot leave.

The command runs model-written code before the user has seen the diff, so it
gets as little as it needs: with bubblewrap (Debian's `bubblewrap`), no
network, a read-only view of the system, the home directory hidden (but for
the tool folders on PATH, read-only), a private /tmp holding only the copy,
and its own PID namespace, so every descendant dies with it, `setsid` or
not. Where bubblewrap is missing or cannot start, the command still runs
(the user confirmed it) with a scrubbed environment and HOME pointed at the
copy; every process that inherited this run's marker variable is killed at
the end, and the result says it was not sandboxed.

Output is kept in memory only up to a cap: a command that prints gigabytes
costs nothing but time.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

OUTPUT_CAP = 4000
MARKER_ENV = "HEARTH_CHECK_RUN"


@dataclass(frozen=True)
class RunResult:
    returncode: int | None
    """None when it ran past its time limit or could not start."""
    output: str
    """The last OUTPUT_CAP characters of stdout and stderr together."""
    sandboxed: bool
    note: str = ""
    """Why it was not sandboxed, or why it could not run."""
    timed_out: bool = False


def bubblewrap() -> str | None:
    return shutil.which("bwrap")


def _prefix(directory: Path) -> Path:
    """The installation a PATH folder belongs to: a venv or pyenv root for its bin/ or shims/."""
    return directory.parent if directory.name in ("bin", "sbin", "shims") else directory


def _tools_under(folders: Sequence[Path], argv: Sequence[str]) -> list[Path]:
    """Installations inside the hidden folders that the command needs, bound back read-only:
    those on PATH (a venv, pyenv, ~/.local) and the command's own, where its link leads too."""
    directories = [Path(e) for e in os.environ.get("PATH", "").split(os.pathsep) if os.path.isabs(e)]
    executable = shutil.which(argv[0]) if argv else None
    if executable:
        directories += [Path(executable).parent, Path(os.path.realpath(executable)).parent]
    roots: set[Path] = set()
    for directory in directories:
        for candidate in {directory, directory.resolve()}:
            prefix = _prefix(candidate)
            if any(_inside(prefix, folder) and prefix != folder for folder in folders):
                roots.add(prefix)
    return sorted(root for root in roots if root.is_dir())


def box_argv(bwrap: str, argv: Sequence[str], workdir: Path, hidden: Sequence[Path]) -> list[str]:
    """bubblewrap's command line for `argv` run in `workdir` (which stays writable)."""
    home = Path.home()
    box = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--ro-bind", "/", "/"]
    box += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    homes = sorted({folder for folder in (home, Path("/home"), Path("/root")) if folder.is_dir()})
    for folder in homes:
        box += ["--tmpfs", str(folder)]
    # Bound before the workspace copy, which is mounted writable over whatever holds it.
    for tool in _tools_under([*homes, Path("/tmp")], argv):
        box += ["--ro-bind", str(tool), str(tool)]
    for secret in hidden:
        if secret.is_dir():
            box += ["--tmpfs", str(secret)]
    box += ["--bind", str(workdir), str(workdir), "--chdir", str(workdir), "--"]
    return box + list(argv)


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def run_confined(
    argv: Sequence[str], workdir: Path, timeout_s: float, hidden: Sequence[Path] = (), sandbox: bool = True
) -> RunResult:
    """Run `argv` in `workdir`; every process it started is gone when this returns."""
    marker = uuid.uuid4().hex
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        MARKER_ENV: marker,
    }
    bwrap = bubblewrap() if sandbox else None
    note = "" if bwrap else "not sandboxed: bubblewrap (bwrap) is not installed"
    command = box_argv(bwrap, argv, workdir, hidden) if bwrap else list(argv)
    try:
        process = subprocess.Popen(
            command, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    except OSError as exc:
        return RunResult(None, "", False, f"could not run {argv[0]}: {exc.strerror}")
    tail = _Tail(process)
    try:
        returncode: int | None = process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        returncode = None
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        _kill_marked(marker)
    output = tail.text()
    if bwrap and returncode is not None and output.startswith("bwrap: execvp"):
        return RunResult(
            None, output, True, f"could not run {argv[0]} in the sandbox: {output.strip()[:200]}"
        )
    if bwrap and returncode is not None and output.startswith("bwrap: "):
        # bubblewrap itself could not start (no user namespaces here): run without it, said so.
        unboxed = run_confined(argv, workdir, timeout_s, hidden, sandbox=False)
        return replace(unboxed, note=f"not sandboxed: {output.strip()[:200]}")
    return RunResult(returncode, output, bwrap is not None, note, timed_out=returncode is None)


class _Tail:
    """Reads a process's output on a thread, keeping only the last OUTPUT_CAP bytes."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._data = bytearray()
        assert process.stdout is not None
        self._stream = process.stdout
        self._thread = threading.Thread(target=self._read, name="hearth-check-output", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while chunk := os.read(self._stream.fileno(), 65536):
            self._data += chunk
            if len(self._data) > 2 * OUTPUT_CAP:
                del self._data[:-OUTPUT_CAP]

    def text(self) -> str:
        self._thread.join(5)
        return self._data.decode("utf-8", errors="replace")[-OUTPUT_CAP:]


def _kill_marked(marker: str) -> None:
    """Kill every process whose environment carries this run's marker (a `setsid` child too)."""
    needle = f"{MARKER_ENV}={marker}".encode()
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)
