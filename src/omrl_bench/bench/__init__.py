"""Benchmark harness: single runs, experiment grids, tables and figures."""
