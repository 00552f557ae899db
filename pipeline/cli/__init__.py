"""The ``wallet-sync`` command line.

Each command module registers its commands on :data:`app`; ``main`` is the
console-script entry point. Exit codes are named in :class:`Exit`.
"""

from __future__ import annotations

from pipeline.cli.app import Exit, app


def main() -> None:
    import pipeline.cli.commands  # noqa: F401  (registers the commands)

    app()


__all__ = ["Exit", "app", "main"]
