"""The training-side API: ``from govern.track import log_training_data``.

Kept at the top of the package because it is what training code imports; the implementation
lives with the rest of the code that talks to MLflow (``govern.registry.track``).
"""

from govern.registry.track import log_evaluation_data, log_training_data

__all__ = ["log_evaluation_data", "log_training_data"]
