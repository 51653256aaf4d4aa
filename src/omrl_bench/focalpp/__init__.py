"""FOCAL++ (Li, Gao et al.): attention encoders and contrastive task learning on FOCAL's actor-critic.

``algorithm.py`` (provenance, config, variants, registration), ``encoders.py``, ``losses.py``.
"""

from omrl_bench.focalpp import algorithm as algorithm  # registers "focalpp"
