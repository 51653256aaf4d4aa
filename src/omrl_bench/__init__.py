"""omrl-bench: an installable benchmark suite for offline meta-reinforcement learning.

Importing the package registers its gymnasium envs (``omrl/SparsePointRobot-v0``, ...), as gymnasium plug-in
packages do, so ``gym.register_envs(omrl_bench)`` works too.
"""

from omrl_bench import envs as envs  # registers the envs

__version__ = "0.1.0"
