"""Baselines: FOCAL (context-based), MBML and contextual BCQ."""
