"""Entry point: `python -m model_server` (settings come from environment variables, see `settings`)."""

import os
import sys

# NumPy's BLAS would start one thread per host CPU at import; the server never uses BLAS, so keep it at one.
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

# Imported only now: the environment above must be set before NumPy is.
from model_server.main import main  # noqa: E402 - NumPy must see the environment set above

sys.exit(main())
