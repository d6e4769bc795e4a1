"""Chaos runs that must lose nothing: kills, a database restart, corrupted files, a full disk.

    python -m benchmarks.chaos                  # every case below; figures for benchmarks/RESULTS.md
    python -m benchmarks.chaos --kill-loop 30   # only the kill-then-rerun loop on PostgreSQL, 30 times

Each case prints the faults it injected, the trials counted, configs trained twice (must be 0) and
results lost (must be 0). Workers are real processes (``worker.py``) that SIGKILL themselves at a
moment the harness chooses at random; PostgreSQL cases need a server (``--postgres``, default
``$ULSAM_NAS_TEST_POSTGRES``) and, for the restart, ``pg_ctlcluster`` run as root; the full-disk case
mounts a small tmpfs (root).
"""
