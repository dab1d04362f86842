"""Golden trajectories from Optax (JAX on the CPU, float32): writes test/fixtures/goldens/optax.json.

Each case of cases.json in the 'optax' convention is run with the Optax alias of the same name and
the same hyperparameters, under jit, for every problem of problems.json.
"""

import os
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from common import check_finite, gradients, learning_rates, load_cases, output_path, trajectory, write_fixture  # noqa: E402

jax.config.update("jax_enable_x64", False)

# fluxion option name -> Optax keyword, per optimizer (names not listed are the same)
RENAMES = {
    "adagrad": {"initialAccumulatorValue": "initial_accumulator_value"},
    "rmsprop": {"initialScale": "initial_scale", "epsInSqrt": "eps_in_sqrt", "biasCorrection": "bias_correction"},
    "adadelta": {"weightDecay": "weight_decay"},
    "adam": {"epsRoot": "eps_root"},
    "adamw": {"epsRoot": "eps_root", "weightDecay": "weight_decay"},
    "nadam": {"epsRoot": "eps_root"},
    "amsgrad": {"epsRoot": "eps_root", "biasCorrectionMu": "bias_correction_mu", "biasCorrectionNu": "bias_correction_nu"},
    "radam": {"epsRoot": "eps_root"},
    "lion": {"weightDecay": "weight_decay"},
    "lamb": {"epsRoot": "eps_root", "weightDecay": "weight_decay"},
    "lars": {"weightDecay": "weight_decay", "trustCoefficient": "trust_coefficient"},
    "lbfgs": {"memorySize": "memory_size", "scaleInitPrecond": "scale_init_precond"},
}


def kwargs_of(case):
    names = RENAMES.get(case["optimizer"], {})
    kw = {names.get(k, k): v for k, v in case["options"].items() if k != "convention"}
    if case["optimizer"] in ("sgd", "rmsprop") and kw.get("momentum", 0) == 0:
        kw.pop("momentum", None)  # fluxion's momentum 0 is Optax's None (no buffer)
    if case["optimizer"] == "lbfgs":
        kw["linesearch"] = None  # fluxion's lbfgs takes a fixed step
    return kw


def build(case, lrs):
    kw = kwargs_of(case)
    if lrs is None:
        lr = case["learningRate"]
    else:
        table = jnp.asarray(np.array(lrs, dtype=np.float32))
        lr = lambda count: table[count]  # noqa: E731
    args = ["learning_rate=schedule" if lrs is not None else f"learning_rate={case['learningRate']!r}"] + [f"{k}={v!r}" for k, v in kw.items()]
    call = f"optax.{case['optimizer']}({', '.join(args)})"
    return getattr(optax, case["optimizer"])(lr, **kw), call


def run(case, problem, steps):
    lrs = learning_rates(problem, case["learningRate"], steps)
    opt, call = build(case, lrs)
    names = [name for name, _, _ in problem["leaves"]]
    params = {name: jnp.asarray(init) for name, _, init in problem["leaves"]}
    state = opt.init(params)

    @jax.jit
    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    out = []
    for k in range(steps):
        host = [np.asarray(params[n]) for n in names]
        grads = {n: jnp.asarray(g) for n, g in zip(names, gradients(problem, host, k))}
        params, state = step(params, state, grads)
        out.append([np.asarray(params[n]) for n in names])
        check_finite(f"{case['optimizer']}/{case['config']}/{problem['name']}", out[-1])
    return out, call


def main():
    rows = []
    for case, problem, steps in load_cases("optax"):
        params, call = run(case, problem, steps)
        rows.append(trajectory({**case, "call": call}, problem, params))
    versions = {"optax": optax.__version__, "jax": jax.__version__, "numpy": np.__version__}
    write_fixture("optax", versions, rows, output_path("optax"))


if __name__ == "__main__":
    main()
