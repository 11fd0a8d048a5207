"""Fit scikit-learn's LogisticRegression on the design matrix written by `recours bench-fit`
and print its time and solution as JSON (one line), for the side-by-side benchmark.

Usage: python fit_sklearn.py X.npy y.npy ALPHA TOL
The objective is the same as recours': summed log-loss + alpha/2 * ||w||^2, intercept not
penalised, C = 1/alpha, lbfgs solver.
"""
import json
import sys
import time

import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression


def main() -> None:
    x = np.load(sys.argv[1])
    y = np.load(sys.argv[2])
    alpha = float(sys.argv[3])
    tol = float(sys.argv[4])
    kwargs = dict(C=1.0 / alpha, solver="lbfgs", tol=tol, max_iter=10_000, fit_intercept=True)
    major, minor = (int(v) for v in sklearn.__version__.split(".")[:2])
    if (major, minor) >= (1, 8):
        kwargs["l1_ratio"] = 0.0
    else:
        kwargs["penalty"] = "l2"
    best = None
    for _ in range(3):
        model = LogisticRegression(**kwargs)
        t0 = time.perf_counter()
        model.fit(x, y)
        elapsed = time.perf_counter() - t0
        best = elapsed if best is None else min(best, elapsed)
    print(json.dumps({
        "seconds": best,
        "intercept": float(model.intercept_[0]),
        "coef": [float(v) for v in model.coef_[0]],
        "n_iter": int(model.n_iter_[0]),
        "sklearn": sklearn.__version__,
        "tol": tol,
    }))


if __name__ == "__main__":
    main()
