"""Errors raised by more than one stage, with messages meant for the user."""

from __future__ import annotations


class ModelError(Exception):
    """A model file or name cannot be loaded; the message says what to do."""
