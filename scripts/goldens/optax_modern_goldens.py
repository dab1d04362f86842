"""Golden trajectories of Optax's newer optimizers (JAX on the CPU, float32): writes
test/fixtures/goldens/optax-modern.json, in the format of optax.json (see common.py).

Each case below is a fluxion optimizer of src/optimizers/modern.ts with its options (fluxion's names,
the learning rate apart); it is run with the Optax 0.2.8 alias of the same maths under jit, for every
problem of problems.json (less those a case skips, with the reason).
"""

import json
import os
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from common import FIXTURES, check_finite, gradients, learning_rates, load_problems, trajectory  # noqa: E402

jax.config.update("jax_enable_x64", False)

NO_SCHEDULE = {"optax/schedule": "Optax's rprop takes its learning rate as the initial step size, a number: no schedule"}

# (fluxion optimizer, config, learning rate, fluxion options[, skip])
CASES = [
    ("adabelief", "defaults", 0.01, {}),
    ("adabelief", "tuned", 0.01, {"b1": 0.8, "b2": 0.99, "eps": 1e-08, "epsRoot": 0.0}),
    ("adabelief", "nesterov", 0.01, {"b1": 0.85, "eps": 1e-06, "nesterov": True}),
    ("yogi", "defaults", 0.01, {}),
    ("yogi", "tuned", 0.01, {"b1": 0.8, "b2": 0.99, "eps": 0.0001}),
    ("adan", "defaults", 0.01, {}),
    ("adan", "tuned", 0.01, {"b1": 0.9, "b2": 0.8, "b3": 0.95, "eps": 1e-06, "epsRoot": 0.0, "weightDecay": 0.01}),
    ("adamaxw", "defaults", 0.01, {}),
    ("adamaxw", "tuned", 0.01, {"b1": 0.8, "b2": 0.99, "eps": 1e-06, "weightDecay": 0.05}),
    ("nadamw", "defaults", 0.01, {}),
    ("nadamw", "tuned", 0.01, {"b1": 0.8, "b2": 0.99, "eps": 1e-06, "epsRoot": 1e-08, "weightDecay": 0.05}),
    ("novograd", "defaults", 0.01, {}),
    ("novograd", "tuned", 0.01, {"b1": 0.8, "b2": 0.5, "eps": 0.0001, "weightDecay": 0.01}),
    ("rprop", "defaults", 0.01, {}, NO_SCHEDULE),
    ("rprop", "tuned", 0.01, {"etaMinus": 0.3, "etaPlus": 1.5, "minStepSize": 0.0001, "maxStepSize": 0.5}, NO_SCHEDULE),
    ("signSgd", "defaults", 0.01, {}),
    ("signum", "defaults", 0.01, {}),
    ("signum", "tuned", 0.01, {"beta": 0.5}),
    ("optimisticGradientDescent", "defaults", 0.01, {}),
    ("optimisticGradientDescent", "tuned", 0.01, {"alpha": 0.5, "beta": 0.3}),
    ("optimisticAdam", "defaults", 0.01, {}),
    ("optimisticAdam", "tuned", 0.01, {"alpha": 0.8, "beta": 0.5, "b1": 0.8, "b2": 0.99, "eps": 1e-06, "nesterov": False}),
]

# fluxion optimizer -> (Optax alias, fluxion option name -> Optax keyword for the names that differ)
ALIASES = {
    "adabelief": ("adabelief", {"epsRoot": "eps_root"}),
    "yogi": ("yogi", {}),
    "adan": ("adan", {"epsRoot": "eps_root", "weightDecay": "weight_decay"}),
    "adamaxw": ("adamaxw", {"weightDecay": "weight_decay"}),
    "nadamw": ("nadamw", {"epsRoot": "eps_root", "weightDecay": "weight_decay"}),
    "novograd": ("novograd", {"epsRoot": "eps_root", "weightDecay": "weight_decay"}),
    "rprop": ("rprop", {"etaMinus": "eta_minus", "etaPlus": "eta_plus", "minStepSize": "min_step_size", "maxStepSize": "max_step_size"}),
    "signSgd": ("sign_sgd", {}),
    "signum": ("signum", {}),
    "optimisticGradientDescent": ("optimistic_gradient_descent", {}),
    "optimisticAdam": ("optimistic_adam_v2", {"epsRoot": "eps_root"}),
}


def build(optimizer, learning_rate, options, lrs):
    alias, names = ALIASES[optimizer]
    kw = {names.get(k, k): v for k, v in options.items()}
    if lrs is None:
        lr = learning_rate
    else:
        table = jnp.asarray(np.array(lrs, dtype=np.float32))
        lr = lambda count: table[count]  # noqa: E731
    args = ["learning_rate=schedule" if lrs is not None else f"learning_rate={learning_rate!r}"] + [f"{k}={v!r}" for k, v in kw.items()]
    return getattr(optax, alias)(lr, **kw), f"optax.{alias}({', '.join(args)})"


def run(optimizer, learning_rate, options, problem, steps):
    lrs = learning_rates(problem, learning_rate, steps)
    opt, call = build(optimizer, learning_rate, options, lrs)
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
        check_finite(f"{optimizer}/{problem['name']}", out[-1])
    return out, call


def write(versions, rows, path):
    """The layout of common.write_fixture (a header, one trajectory per line), under this generator's name."""
    head = {"framework": "optax", "versions": versions, "generator": "scripts/goldens/optax_modern_goldens"}
    lines = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in rows]
    text = (
        "{\n"
        + "\n".join(f"  {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}," for k, v in head.items())
        + '\n  "trajectories": [\n    '
        + ",\n    ".join(lines)
        + "\n  ]\n}\n"
    )
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"{path}: {len(rows)} trajectories")


def main():
    steps, problems = load_problems()
    rows = []
    for optimizer, config, learning_rate, options, *rest in CASES:
        skip = rest[0] if rest else {}
        for name, problem in problems.items():
            if f"optax/{name}" in skip:
                continue
            params, call = run(optimizer, learning_rate, options, problem, steps)
            case = {"optimizer": optimizer, "convention": "optax", "config": config, "learningRate": learning_rate, "options": options, "call": call}
            rows.append(trajectory(case, problem, params))
    versions = {"optax": optax.__version__, "jax": jax.__version__, "numpy": np.__version__}
    out = os.environ.get("GOLDENS_OUT")
    write(versions, rows, os.path.join(out or FIXTURES, "optax-modern.json"))


if __name__ == "__main__":
    main()
