"""taskmap's engine: tasks, prompts, scoring, caching, selection, training and evaluation.

Nothing in this package imports Streamlit. Only `models`, `scoring`, `engine`, `training`,
`evaluation` and the worker touch torch, and they import it themselves, so the dashboard can
use the light modules (tasks, taskmap, store, runs, figures) without loading torch.
"""

__version__ = "0.1.0"

# Bump when a change alters any score the engine writes: it is part of every cache key,
# so old cached results are never mixed with new ones.
ENGINE_VERSION = "4"
