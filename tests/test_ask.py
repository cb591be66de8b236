"""rag.ask tells any failure in one line and an exit code, never with a traceback."""

import json

import pytest

from rag import ask
from rag.pipeline import Pipeline


def _failing(*args, **kwargs):
    raise RuntimeError("Requested tokens (5000) exceed context window of 4096")


def test_an_internal_error_is_one_line_and_exit_code_1(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(Pipeline, "from_settings", classmethod(lambda cls, *a, **k: _failing()))
    assert ask.main(["What happened?"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: internal error (RuntimeError: Requested tokens")
    assert "Traceback" not in err


def test_an_internal_error_in_json_mode_is_a_json_error(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setattr(Pipeline, "from_settings", classmethod(lambda cls, *a, **k: _failing()))
    assert ask.main(["--json", "What happened?"]) == 1
    assert "exceed context window" in json.loads(capsys.readouterr().out)["error"]
