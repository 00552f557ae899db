"""Imports every command module, so that each registers its commands."""

from pipeline.cli import core  # noqa: F401
