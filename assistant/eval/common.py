"""What the runners share: JSONL reading, the benchmark folder, even thinning, progress bars."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..config import PROJECT_ROOT
from ..errors import ConfigError

BENCHMARKS_ENV = "ASSISTANT_BENCHMARKS"
FORMAT_HINT = "see ../shared/benchmarks/README.md for the format"

T = TypeVar("T")


def benchmarks_dir(root: Path = PROJECT_ROOT) -> Path:
    """The shared benchmark folder: $ASSISTANT_BENCHMARKS when set, else ../shared/benchmarks
    beside the checkout, or beside the local checkout this one was cloned from (a clean clone in
    a temp dir, as CI makes)."""
    folder = os.environ.get(BENCHMARKS_ENV, "")
    if folder:
        return Path(folder).expanduser()
    beside = root.parent / "shared" / "benchmarks"
    origin = _origin_checkout(root)
    if not beside.is_dir() and origin is not None and (origin.parent / "shared" / "benchmarks").is_dir():
        return origin.parent / "shared" / "benchmarks"
    return beside


def _origin_checkout(root: Path) -> Path | None:
    """The local folder `root` was cloned from (git's origin), None for a URL or no git."""
    try:
        url = subprocess.run(["git", "-C", str(root), "config", "--get", "remote.origin.url"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    path = Path(url.removeprefix("file://")) if url else None
    return path if path is not None and path.is_absolute() and path.is_dir() else None


def read_jsonl(path: Path, kind: str, what: str, hint: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a clear error for anything else."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"no {kind} at {path}; {hint}")
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{lineno}: not {what} (invalid JSON: {exc})") from None
        if not isinstance(row, dict):
            raise ConfigError(f"{path}:{lineno}: not {what} (each line must be a JSON object)")
        yield lineno, row


def thin(items: Sequence[T], limit: int | None) -> list[T]:
    """`limit` items spread evenly over the sequence, in order (all of them without a limit)."""
    if not limit or limit >= len(items):
        return list(items)
    step = len(items) / limit
    return [items[int(i * step)] for i in range(limit)]


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, enabled: bool):
    """A tqdm bar over questions when asked for, else a do-nothing stand-in."""
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="q")


def with_progress(items: Iterable[T], enabled: bool, desc: str) -> Iterable[T]:
    """The items, behind a tqdm bar when asked for."""
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, unit="q")
