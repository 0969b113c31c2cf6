"""Benchmarks of cohortflow against its targets: `python -m bench.run` (or `make bench`)."""
