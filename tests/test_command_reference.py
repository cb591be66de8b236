"""docs/commands.md is every command's --help: it may not drift from the flags."""

from pathlib import Path

import pytest

from rag.config import ENVIRONMENT

ROOT = Path(__file__).resolve().parent.parent


def test_the_command_reference_is_what_the_commands_print(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, _ in ENVIRONMENT.values():
        monkeypatch.delenv(name, raising=False)  # the reference shows the packaged defaults
    from rag.cli import command_reference

    assert (ROOT / "docs" / "commands.md").read_text(encoding="utf-8") == command_reference(), (
        "the flags changed: run `make docs`"
    )
