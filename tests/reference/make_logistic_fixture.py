#!/usr/bin/env python3
"""Build tests/fixtures/logistic_reference.json: reference L2-penalised logistic fits.

The fixture is an independent oracle for the Rust logistic solver of "recours".
For three synthetic datasets it stores the design x, the labels y, and

* "fits": for alpha in ALPHAS, the minimiser (intercept b, coef w) of

      F(b, w) = sum_i logloss(y_i, b + x_i . w) + alpha / 2 * ||w||^2

  (SUMMED log-loss, intercept NOT penalised). This is scikit-learn's
  LogisticRegression with C = 1 / alpha, l1_ratio = 0 (plain L2), lbfgs,
  tol=1e-12. The sklearn solution is then checked against the exact gradient of
  F (computed here with numpy; max |grad| must be < 1e-6) and polished with
  Newton steps on F until the gradient is at round-off level, so the stored
  numbers are the true optimum to ~1e-12, not lbfgs's stopping point.

* "statsmodels": the UNPENALISED maximum-likelihood fit
  sm.Logit(y, sm.add_constant(x)).fit(method="newton", tol=1e-12, maxiter=200)
  with its .bse standard errors (inverse observed information).

Deterministic: numpy default_rng with fixed seeds; BLAS is limited to one thread.
x is rounded to 6 decimals BEFORE fitting, so the stored x is exactly what was fitted.

Run from the repo root (versions pinned in tests/reference/requirements.txt):

    /root/skvenv/bin/python tests/reference/make_logistic_fixture.py
"""

import os

# One BLAS thread: modest CPU, and reproducible summation order.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import json  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import scipy  # noqa: E402
import sklearn  # noqa: E402
import statsmodels  # noqa: E402
import statsmodels.api as sm  # noqa: E402
from scipy.optimize import brentq  # noqa: E402
from scipy.special import expit, log_expit  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "fixtures" / "logistic_reference.json"
SCRIPT = "tests/reference/make_logistic_fixture.py"

SEED = 20250917
ALPHAS = [0.1, 1.0, 10.0]
SKLEARN_GRAD_TOL = 1e-6  # sklearn's own solution must already be this good
POLISHED_GRAD_TOL = 1e-9  # stored optimum must satisfy this

# --------------------------------------------------------------------------- data


def rng_for(index):
    return np.random.default_rng([SEED, index])


def draw_labels(rng, x, intercept, beta):
    eta = intercept + x @ beta
    return (rng.random(x.shape[0]) < expit(eta)).astype(np.int64)


def make_balanced_5():
    rng = rng_for(1)
    n, p = 2000, 5
    x = np.round(rng.standard_normal((n, p)), 6)
    beta = np.array([0.8, -0.5, 0.3, 0.0, 1.2])
    return x, draw_labels(rng, x, 0.1, beta)


def make_rare_8pct():
    rng = rng_for(2)
    n, p = 5000, 8
    z = rng.standard_normal((n, p))
    x = z.copy()
    # columns 0 and 1 correlated at ~0.6 (both unit variance)
    x[:, 1] = 0.6 * z[:, 0] + 0.8 * z[:, 1]
    x = np.round(x, 6)
    beta = np.array([0.7, 0.5, -0.4, 0.0, 0.25, -0.8, 0.15, 0.3])
    eta0 = x @ beta
    # intercept such that the expected positive rate on this x is exactly 8 %
    intercept = brentq(lambda b: expit(b + eta0).mean() - 0.08, -20.0, 20.0, xtol=1e-14)
    return x, draw_labels(rng, x, intercept, beta)


def make_binary_and_counts():
    rng = rng_for(3)
    n = 3000
    x = np.empty((n, 6))
    x[:, 0] = rng.standard_normal(n)
    x[:, 1] = (rng.random(n) < 0.3).astype(float)  # 0/1, 30 % ones
    x[:, 2] = rng.standard_normal(n)
    x[:, 3] = (rng.random(n) < 0.5).astype(float)  # 0/1, 50 % ones
    x[:, 4] = rng.poisson(2.0, n).astype(float)  # count, mean 2 (NOT standardised)
    x[:, 5] = rng.standard_normal(n)
    x = np.round(x, 6)
    beta = np.array([0.6, 0.9, -0.7, -0.4, 0.25, 0.0])
    return x, draw_labels(rng, x, -0.8, beta)


DATASETS = [
    ("balanced_5", make_balanced_5),
    ("rare_8pct", make_rare_8pct),
    ("binary_and_counts", make_binary_and_counts),
]

# ------------------------------------------------------------- exact objective


def objective(x, y, alpha, b, w):
    eta = b + x @ w
    # logloss(y, eta) = -[y log s(eta) + (1-y) log s(-eta)]
    loss = -(y * log_expit(eta) + (1 - y) * log_expit(-eta)).sum()
    return loss + 0.5 * alpha * (w @ w)


def gradient(x, y, alpha, b, w):
    r = expit(b + x @ w) - y
    return np.concatenate(([r.sum()], x.T @ r + alpha * w))


def hessian(x, alpha, b, w):
    s = expit(b + x @ w)
    d = s * (1.0 - s)
    x1 = np.column_stack((np.ones(x.shape[0]), x))
    h = x1.T @ (x1 * d[:, None])
    h[1:, 1:] += alpha * np.eye(x.shape[1])
    return h


def newton_polish(x, y, alpha, b, w, max_iter=20):
    theta = np.concatenate(([b], w))
    g = gradient(x, y, alpha, theta[0], theta[1:])
    for _ in range(max_iter):
        step = np.linalg.solve(hessian(x, alpha, theta[0], theta[1:]), g)
        cand = theta - step
        g_new = gradient(x, y, alpha, cand[0], cand[1:])
        if np.abs(g_new).max() >= np.abs(g).max():
            break  # round-off floor reached
        theta, g = cand, g_new
        if np.abs(step).max() < 1e-15:
            break
    return theta[0], theta[1:], np.abs(g).max()


# ------------------------------------------------------------------- fitting


def fit_sklearn(x, y, alpha, solver="lbfgs"):
    model = LogisticRegression(
        C=1.0 / alpha,
        l1_ratio=0.0,  # plain L2 (penalty= is deprecated in scikit-learn >= 1.8)
        fit_intercept=True,
        solver=solver,
        tol=1e-12,
        max_iter=100000,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(x, y)
    return float(model.intercept_[0]), model.coef_[0].astype(np.float64)


def fit_statsmodels(x, y):
    res = sm.Logit(y, sm.add_constant(x)).fit(method="newton", tol=1e-12, maxiter=200, disp=0)
    if not res.mle_retvals["converged"]:
        sys.exit("statsmodels Logit did not converge")
    params = np.asarray(res.params)
    bse = np.asarray(res.bse)
    # self-checks: zero score, and bse == sqrt(diag(inverse observed information))
    g = gradient(x, y, 0.0, params[0], params[1:])
    cov = np.linalg.inv(hessian(x, 0.0, params[0], params[1:]))
    bse_rel = np.abs(np.sqrt(np.diag(cov)) / bse - 1.0).max()
    return params, bse, np.abs(g).max(), bse_rel


def floats(a):
    return [float(v) for v in a]


def build():
    datasets = []
    for name, make in DATASETS:
        x, y = make()
        n, p = x.shape
        print(f"{name}: n={n} p={p} positives={y.mean():.4f}")
        fits = []
        for alpha in ALPHAS:
            b_sk, w_sk = fit_sklearn(x, y, alpha)
            g_sk = np.abs(gradient(x, y, alpha, b_sk, w_sk)).max()
            # lbfgs usually stops on its relative-f criterion (ftol = 64 eps on the
            # 1/n-scaled objective) before gtol=1e-12, i.e. at a summed gradient of
            # ~1e-6..1e-5. Newton steps on F take it to the round-off floor.
            flag = "ok" if g_sk < SKLEARN_GRAD_TOL else f">= {SKLEARN_GRAD_TOL:g}"
            b, w, g = newton_polish(x, y, alpha, b_sk, w_sk)
            if not g < POLISHED_GRAD_TOL:
                sys.exit(f"{name} alpha={alpha}: polished max|grad|={g:.3e}")
            f_sk = objective(x, y, alpha, b_sk, w_sk)
            f_opt = objective(x, y, alpha, b, w)
            moved = np.abs(np.concatenate(([b - b_sk], w - w_sk))).max()
            # cross-check with a second sklearn solver
            b_nc, w_nc = fit_sklearn(x, y, alpha, solver="newton-cholesky")
            nc_diff = np.abs(np.concatenate(([b - b_nc], w - w_nc))).max()
            print(
                f"  alpha={alpha:>5}: sklearn max|grad|={g_sk:.2e} ({flag})  polished max|grad|={g:.2e}  "
                f"|polish move|={moved:.2e}  F_sk-F_opt={f_sk - f_opt:.2e}  "
                f"|opt - newton-cholesky|={nc_diff:.2e}"
            )
            fits.append({"alpha": alpha, "intercept": float(b), "coef": floats(w)})
        params, bse, g_sm, bse_rel = fit_statsmodels(x, y)
        print(f"  statsmodels: max|score|={g_sm:.2e}  bse vs own inv-Hessian rel diff={bse_rel:.2e}")
        datasets.append(
            {
                "name": name,
                "x": [floats(row) for row in x],
                "y": [int(v) for v in y],
                "fits": fits,
                "statsmodels": {
                    "intercept": float(params[0]),
                    "coef": floats(params[1:]),
                    "se_intercept": float(bse[0]),
                    "se": floats(bse[1:]),
                },
            }
        )
    return {
        "generator": (
            f"scikit-learn {sklearn.__version__} / statsmodels {statsmodels.__version__} "
            f"/ numpy {np.__version__}"
        ),
        "script": SCRIPT,
        "datasets": datasets,
    }


# ------------------------------------------------------------------ writing


def dump(value, indent=0):
    """JSON with one line per x row; scalars via json.dumps (floats = repr, round-trip)."""
    pad = "  " * indent
    inner = "  " * (indent + 1)
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k)}: {dump(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            return "[" + ",".join(json.dumps(v, allow_nan=False) for v in value) + "]"
        # list of rows / objects: one element per line
        return "[\n" + ",\n".join(inner + dump(v, indent + 1) for v in value) + "\n" + pad + "]"
    return json.dumps(value, allow_nan=False)


def main():
    print(f"scikit-learn {sklearn.__version__}, statsmodels {statsmodels.__version__}, "
          f"numpy {np.__version__}, scipy {scipy.__version__}")
    fixture = build()
    text = dump(fixture) + "\n"
    assert json.loads(text) == fixture  # round-trips exactly
    OUT.write_text(text)
    print(f"wrote {OUT.relative_to(REPO)} ({len(text.encode())} bytes)")


if __name__ == "__main__":
    main()
