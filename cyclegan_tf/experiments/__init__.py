"""Experiments kept apart from the core: the papers' ablations and the benchmarks."""
