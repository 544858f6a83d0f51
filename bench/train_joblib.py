"""Save the example model with joblib for MLServer, trained by model/train.py's own functions.

Run with the bench venv's Python (`.venv-bench/bin/python bench/train_joblib.py OUT`), so the pickle is written by
the same scikit-learn version that MLServer will load it with.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "model"))

# Imported after the path is set: train is model/train.py.
import joblib
import train

if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.parent.mkdir(parents=True, exist_ok=True)
    features, labels = train.load_data()
    joblib.dump(train.train(features, labels), out)
