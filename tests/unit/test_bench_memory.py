"""The benchmarks' memory figure: a process and its children, read from /proc."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hearth.bench import peak_rss_mb


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_peak_memory_counts_the_child_processes():
    child = "x = bytearray(64 * 2**20); import time; time.sleep(30)"
    parent = subprocess.Popen(
        [sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}])"],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        peak = peak_rss_mb(parent.pid) or 0.0
        while peak < 64 and time.monotonic() < deadline:  # until the child has allocated
            time.sleep(0.1)
            peak = peak_rss_mb(parent.pid) or 0.0
        assert peak >= 64
    finally:
        os.killpg(parent.pid, signal.SIGKILL)  # the child too
        parent.wait()
    assert peak_rss_mb(2**22 + 12345) is None  # no such process
