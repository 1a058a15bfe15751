"""The model's own predictions on the audited data, from its files exactly as downloaded.

Loading an MLflow model runs its code (pickles, custom pyfunc), so this is the one place that
does it; the files were hashed before they got here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from govern.errors import DataError
from govern.registry.client import one_line

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Predictions:
    labels: Any
    """One predicted class label per row (a 1-D numpy array)."""
    signature_inputs: str | None = None
    signature_outputs: str | None = None


def predict(model_dir: Path, df: pd.DataFrame, label: str, uri: str) -> Predictions:
    """Load the model at ``model_dir`` and predict on the columns of its input signature (else
    every column but the label). ``uri`` names the model in messages."""
    import mlflow.pyfunc

    try:
        model = mlflow.pyfunc.load_model(str(model_dir))
    except Exception as exc:
        raise DataError(f"cannot load model {uri}: {one_line(exc)}") from exc
    signature = getattr(model.metadata, "signature", None)
    features = [c for c in df.columns if c != label]
    inputs = outputs = None
    if signature is not None and signature.inputs is not None:
        names = [n for n in (signature.inputs.input_names() or []) if isinstance(n, str)]
        inputs = str(signature.inputs)
        if signature.outputs is not None:
            outputs = str(signature.outputs)
        if names:
            missing = [n for n in names if n not in df.columns]
            if missing:
                raise DataError(
                    "the model's input signature needs columns absent from the training "
                    f"data: {', '.join(missing)}"
                )
            features = names
    try:
        pred = model.predict(df[features])
    except Exception as exc:
        raise DataError(f"model {uri} could not predict: {one_line(exc)}") from exc
    return Predictions(flatten(pred), inputs, outputs)


def flatten(pred: Any) -> Any:
    """``predict`` output as one label per row, or a DataError saying what shape came back."""
    import numpy as np
    import pandas as pd

    if isinstance(pred, pd.DataFrame):
        if pred.shape[1] != 1:
            raise DataError(
                f"the model returned {pred.shape[1]} columns; fairness needs one label per row"
            )
        return pred.iloc[:, 0].to_numpy()
    if isinstance(pred, pd.Series):
        return pred.to_numpy()
    arr = np.asarray(pred)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise DataError(
            f"the model returned an array of shape {arr.shape}; fairness needs one label per row"
        )
    return arr
