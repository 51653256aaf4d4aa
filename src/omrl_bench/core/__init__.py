"""Shared offline meta-RL core: buffers, context sampling, networks, losses, actor-critic, evaluation."""
