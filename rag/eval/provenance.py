"""What a report was made with: the full settings tree, the git revision and the time, so a figure can be
traced back to the code and the configuration that produced it."""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path

from rag.config import Settings

PROJECT = Path(__file__).resolve().parent.parent.parent


def git_revision(folder: Path = PROJECT) -> str | None:
    """`git rev-parse HEAD`, with "+dirty" when tracked files have uncommitted changes; None outside a git
    checkout of the project (an installed copy, or no git)."""
    if not (folder / "pyproject.toml").is_file():
        return None  # an installed copy: a git repository around it is not this code's

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=folder, capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()

    try:
        revision = git("rev-parse", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{revision}+dirty" if changed else revision


def now() -> str:
    """The local time with its UTC offset, ISO 8601, to the second."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def provenance(settings: Settings, started: str | None = None, revision: str | None = None) -> dict:
    """The keys every evaluate and bench report carries: settings, revision, time. A run passes the time and
    revision it took when it started: the code may change while a long run goes on."""
    return {"settings": settings.to_dict(), "revision": revision or git_revision(), "time": started or now()}
