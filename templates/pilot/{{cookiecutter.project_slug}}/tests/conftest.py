"""The pilot's tests run offline: no library may call home."""

import os

for name, value in {"HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}.items():
    os.environ.setdefault(name, value)
