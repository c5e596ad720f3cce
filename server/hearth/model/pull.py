"""`hearth models pull NAME`: the one command that uses the network, and only when asked.

Downloads through huggingface_hub (resumable, with a progress bar) into the
data directory, then checks the sha256: the catalog's pin when it has one,
else the hash the hub publishes for the file. A file that fails the check
is deleted.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from hearth.model.catalog import CatalogEntry, models_dir


class PullError(Exception):
    pass


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pull(entry: CatalogEntry, data_dir: Path) -> Path:
    if entry.package:
        raise PullError(f"{entry.name} ships inside the {entry.package} package; nothing to pull")
    try:
        from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
    except ImportError as exc:
        raise PullError("downloads need huggingface_hub: pip install 'hearth[pull]'") from exc
    target_dir = models_dir(data_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    repo = entry.repo.split(" ")[0]
    try:
        expected = entry.sha256 or _hub_sha256(get_hf_file_metadata(hf_hub_url(repo, entry.file)))
        downloaded = Path(hf_hub_download(repo_id=repo, filename=entry.file))
    except Exception as exc:  # network errors come in many types; all mean the same here
        raise PullError(
            f"download of {repo}/{entry.file} failed ({type(exc).__name__}: {exc}). "
            "Are you online? Hearth itself needs no network; only `models pull` does."
        ) from exc
    actual = sha256_of(downloaded)
    if expected and actual != expected:
        downloaded.unlink(missing_ok=True)
        raise PullError(f"sha256 mismatch for {entry.file}: expected {expected}, got {actual}")
    target = target_dir / entry.file
    shutil.copyfile(downloaded, target)
    return target


def _hub_sha256(metadata: object) -> str:
    etag = str(getattr(metadata, "etag", "") or "").strip('"')
    # For files stored with LFS the hub's etag is the sha256 of the content.
    return etag if len(etag) == 64 and all(c in "0123456789abcdef" for c in etag) else ""
