import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def private_data_dir(tmp_path_factory, monkeypatch):
    """Every test gets its own data directory: nothing touches the user's."""
    directory = tmp_path_factory.mktemp("hearth-data")
    monkeypatch.setenv("HEARTH_DATA_DIR", str(directory))
    monkeypatch.setenv("HEARTH_CACHE_DIR", str(directory / "cache"))
    return Path(os.environ["HEARTH_DATA_DIR"])


@pytest.fixture
def edit_project(tmp_path):
    """A fresh copy of the small real project the edit benchmark and the agent tests change."""
    from hearth.bench.edits import copy_project

    return copy_project(tmp_path / "shelf-project")
