"""govern: audit and gate MLflow model versions.

Kept import-free on purpose: ``govern --help`` must start without pulling in mlflow, Great
Expectations or fairlearn, which take seconds to import.
"""

__version__ = "0.1.0"
