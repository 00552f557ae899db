"""Benchmarks of the pipeline, side by side with bare Dramatiq in the same run.

``python -m benchmarks`` runs the quick suite; ``python -m benchmarks --help``
lists the modes. Every case uses its own Redis namespace and PostgreSQL
schema, starts real ``dramatiq workers`` processes and the emulators in a
separate process, and removes all of it when it ends.
"""
