"""`hearth models pull NAME`: the one command that uses the network, and only when asked.

Downloads through huggingface_hub (resumable, with a progress bar), then
checks size and sha256 (the catalog's pin when it has one, else the hash the
hub publishes for the file; with neither, nothing is downloaded unless the
user says so) before the file is moved into the data directory. A file that
fails is deleted, and only a verified file counts as downloaded.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from hearth.model.catalog import CatalogEntry, models_dir, verified_record


class PullError(Exception):
    pass


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pull(entry: CatalogEntry, data_dir: Path, allow_unverified: bool = False) -> Path:
    """Download, verify, then move into place; a file that fails is deleted, never used."""
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
        if not expected and not allow_unverified:
            raise PullError(
                f"no sha256 is known for {entry.file} (the catalog pins none and the hub published none); "
                "not downloading it. Pass --allow-unverified to take it anyway."
            )
        downloaded = Path(hf_hub_download(repo_id=repo, filename=entry.file))
    except PullError:
        raise
    except Exception as exc:  # network errors come in many types; all mean the same here
        raise PullError(
            f"download of {repo}/{entry.file} failed ({type(exc).__name__}: {exc}). "
            "Are you online? Hearth itself needs no network; only `models pull` does."
        ) from exc
    return install_verified(downloaded, target_dir / entry.file, expected, entry.size)


def install_verified(source: Path, target: Path, sha256: str, size: int | None = None) -> Path:
    """Copy `source` beside `target`, check size and hash, then rename it into place.

    Nothing is at `target` until the copy is whole and verified, so an
    interrupted pull leaves only a `.part` file, which never counts.
    """
    part = target.with_name(f".{target.name}.part")
    verified_record(target).unlink(missing_ok=True)
    try:
        shutil.copyfile(source, part)
        actual_size = part.stat().st_size
        if size and actual_size != size:
            raise PullError(f"{target.name} is {actual_size} bytes, expected {size}; deleted")
        actual = sha256_of(part)
        if sha256 and actual != sha256:
            raise PullError(f"sha256 mismatch for {target.name}: expected {sha256}, got {actual}; deleted")
    except (OSError, PullError) as exc:
        part.unlink(missing_ok=True)
        source.unlink(missing_ok=True)
        raise (
            exc if isinstance(exc, PullError) else PullError(f"could not store {target.name}: {exc}")
        ) from exc
    os.replace(part, target)
    verified_record(target).write_text(f"{actual} {actual_size}\n", "ascii")
    return target


def _hub_sha256(metadata: object) -> str:
    etag = str(getattr(metadata, "etag", "") or "").strip('"')
    # For files stored with LFS the hub's etag is the sha256 of the content.
    return etag if len(etag) == 64 and all(c in "0123456789abcdef" for c in etag) else ""
