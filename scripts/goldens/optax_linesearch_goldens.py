"""Golden runs of Optax's line searches and of its L-BFGS (which uses the zoom line search by
default): writes test/fixtures/goldens/optax-linesearch.json.

Each run minimizes one objective from a fixed start with the loop Optax's documentation gives
(`optax.value_and_grad_from_state`, then `update(grad, state, params, value=, grad=, value_fn=)`),
under jit, in float32 (x64 disabled, as the other Optax goldens). A run stops once ‖∇f‖₂ < `tol` at
the current params (checked before each update, so `iterations` is the number of updates it took)
or after `max_iterations` updates. For each update it records the params after it, the learning
rate the line search chose, the number of line-search steps and the value at the new params.

The L-BFGS runs are also repeated in float64 (x64 enabled, in a subprocess) and only their
iteration count is recorded (`iterationsFloat64`), to document what float32 costs.

Objectives:
  rosenbrock     f(x, y) = (1 − x)² + 100 (y − x²)², params {x: [1], y: [1]}, from (−1.2, 1)
  quadratic003   seed 003's ill-conditioned quadratic f(θ) = θᵀAθ, A = diag(1, 100), params
                 {theta: [2]}, from (1, −1) (laws/problems.ts `illConditionedQuadratic(2, 100)`)
"""

import json
import os
import subprocess
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, os.path.dirname(__file__))

X64 = "--x64" in sys.argv

import jax  # noqa: E402

jax.config.update("jax_enable_x64", X64)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from common import FIXTURES, hex_f32  # noqa: E402

DTYPE = jnp.float64 if X64 else jnp.float32
TOL = 1e-6


def rosenbrock(p):
    return jnp.sum((1 - p["x"]) ** 2 + 100 * (p["y"] - p["x"] ** 2) ** 2)


A003 = np.array([1.0, 100.0])


def quadratic003(p):
    return jnp.sum(jnp.asarray(A003, DTYPE) * p["theta"] ** 2)


PROBLEMS = {
    "rosenbrock": (rosenbrock, {"x": [-1.2], "y": [1.0]}),
    "quadratic003": (quadratic003, {"theta": [1.0, -1.0]}),
}

# id, problem, the Optax call (evaluated with `optax` in scope), max updates, whether to repeat in float64
RUNS = [
    ("lbfgs/rosenbrock", "rosenbrock", "optax.lbfgs()", 100, True),
    ("lbfgs/quadratic003", "quadratic003", "optax.lbfgs()", 100, True),
    ("sgd-zoom/quadratic003", "quadratic003", "optax.chain(optax.sgd(learning_rate=1.0), optax.scale_by_zoom_linesearch(max_linesearch_steps=15))", 8, False),
    ("sgd-zoom-one/rosenbrock", "rosenbrock", "optax.chain(optax.sgd(learning_rate=1.0), optax.scale_by_zoom_linesearch(max_linesearch_steps=15, initial_guess_strategy='one'))", 8, False),
    ("sgd-backtracking/quadratic003", "quadratic003", "optax.chain(optax.sgd(learning_rate=1.0), optax.scale_by_backtracking_linesearch(max_backtracking_steps=15, store_grad=True))", 8, False),
    ("sgd-backtracking/rosenbrock", "rosenbrock", "optax.chain(optax.sgd(learning_rate=1.0), optax.scale_by_backtracking_linesearch(max_backtracking_steps=15, store_grad=True))", 8, False),
]


def linesearch_state(state):
    """The line search's state: the last member of the chain (Optax's aliases put it last)."""
    return state[-1]


def run(problem, call, max_iterations):
    fn, start = PROBLEMS[problem]
    names = sorted(start)
    params = {k: jnp.asarray(v, DTYPE) for k, v in start.items()}
    opt = eval(call, {"optax": optax})  # noqa: S307 (a call from the table above)
    value_and_grad = optax.value_and_grad_from_state(fn)

    @jax.jit
    def step(params, state):
        value, grad = value_and_grad(params, state=state)
        updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=fn)
        return optax.apply_updates(params, updates), state

    state = opt.init(params)
    rows = []
    converged = False
    for _ in range(max_iterations + 1):
        g = jax.grad(fn)(params)
        if float(optax.tree.norm(g)) < TOL:
            converged = True
            break
        if len(rows) == max_iterations:
            break
        params, state = step(params, state)
        ls = linesearch_state(state)
        rows.append(
            {
                "params": [hex_f32(np.asarray(params[k])) for k in names],
                "learningRate": hex_f32(np.asarray(ls.learning_rate)),
                "linesearchSteps": int(ls.info.num_linesearch_steps),
                "value": hex_f32(np.asarray(fn(params))),
            }
        )
    return names, rows, converged


def float64_iterations():
    """The iteration count of each run repeated in float64, from a subprocess with x64 enabled."""
    out = subprocess.run([sys.executable, __file__, "--x64"], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    if X64:
        counts = {}
        for run_id, problem, call, max_iterations, repeat in RUNS:
            if repeat:
                _, rows, converged = run(problem, call, max_iterations)
                counts[run_id] = len(rows) if converged else None
        print(json.dumps(counts))
        return
    counts64 = float64_iterations()
    runs = []
    for run_id, problem, call, max_iterations, _ in RUNS:
        names, rows, converged = run(problem, call, max_iterations)
        _, start = PROBLEMS[problem]
        entry = {
            "id": run_id,
            "problem": problem,
            "call": call,
            "leaves": names,
            "start": [hex_f32(np.asarray(start[k], np.float32)) for k in names],
            "maxIterations": max_iterations,
            "converged": converged,
            "iterations": len(rows),
        }
        if run_id in counts64:
            entry["iterationsFloat64"] = counts64[run_id]
        entry["steps"] = rows
        runs.append(entry)
    head = {
        "framework": "optax",
        "versions": {"optax": optax.__version__, "jax": jax.__version__, "numpy": np.__version__},
        "generator": "scripts/goldens/optax_linesearch_goldens.py",
        "dtype": "float32",
        "gradientTolerance": TOL,
    }
    lines = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in runs]
    text = (
        "{\n"
        + "\n".join(f"  {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}," for k, v in head.items())
        + '\n  "runs": [\n    '
        + ",\n    ".join(lines)
        + "\n  ]\n}\n"
    )
    out = os.environ.get("GOLDENS_OUT")
    path = os.path.join(out if out else FIXTURES, "optax-linesearch.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"{path}: {len(runs)} runs")


if __name__ == "__main__":
    main()
