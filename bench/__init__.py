"""Benchmarks against the real local control plane: ``bash bench/run.sh`` writes docs/benchmarks.md (see run.py)."""
