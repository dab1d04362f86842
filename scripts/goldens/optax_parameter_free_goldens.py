"""Golden trajectories of Optax contrib's learning-rate-free optimizers (JAX on the CPU, float32).

Writes two fixtures in the format of optax.json (see common.py):

- test/fixtures/goldens/optax-parameter-free.json: prodigy, dadaptAdamw, dog, dowg and cocob on
  every problem of problems.json, checked by test/goldens.test.ts like the other optimizers;
- test/fixtures/goldens/objective-parameter-free.json: the cases test/goldens.test.ts cannot build
  from a name and a learning rate, checked by test/parameter-free.test.ts: momo and momoAdam, which
  need the loss value through `update`'s extras (on the quadratic problem, whose loss is
  f(x) = Σ ½ hᵢ (xᵢ − cᵢ)², evaluated in float64 from the float32 params and rounded to float32,
  as the fluxion test does); mechanize around sgd and adam; and Optax's layer-wise
  scale_by_distance_over_gradients chained with scale_by_learning_rate.

Each case is a fluxion optimizer with its options (fluxion's names, the learning rate apart), run
with the Optax 0.2.8 function of the same maths under jit.
"""

import os
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from optax import contrib  # noqa: E402

from common import FIXTURES, check_finite, gradients, learning_rates, load_problems, trajectory  # noqa: E402
import json  # noqa: E402

jax.config.update("jax_enable_x64", False)

# (fluxion optimizer, config, learning rate, fluxion options[, problems])
CASES = [
    ("prodigy", "defaults", 1.0, {}),
    ("prodigy", "tuned", 1.0, {"b1": 0.8, "b2": 0.99, "b3": 0.9, "eps": 1e-06, "estimLr0": 1e-04, "estimLrCoef": 2.0, "weightDecay": 0.01}),
    ("prodigy", "safeguard", 0.5, {"safeguardWarmup": True, "estimLr0": 1e-03}),
    ("dadaptAdamw", "defaults", 1.0, {}),
    ("dadaptAdamw", "tuned", 1.0, {"b1": 0.8, "b2": 0.99, "eps": 1e-06, "estimLr0": 1e-04, "weightDecay": 0.01}),
    ("dog", "defaults", 1.0, {}),
    ("dog", "distance", 1.0, {"initStep": {"type": "distance", "value": 0.01}, "eps": 1e-06, "weightDecay": 0.01}),
    ("dog", "learningRate", 0.5, {"initStep": {"type": "learningRate", "value": 0.05}}),
    ("dowg", "defaults", 1.0, {}),
    ("dowg", "tuned", 1.0, {"initEstimSqDist": 0.01, "eps": 1e-06, "weightDecay": 0.01}),
    ("cocob", "defaults", 1.0, {}),
    ("cocob", "tuned", 1.0, {"alpha": 10.0, "eps": 1e-06, "weightDecay": 0.01}),
]

# mechanize has no learning rate (its base optimizer's is fixed): the schedule problem is left out
NO_SCHEDULE = ["fixed", "quadratic", "tiny", "large", "tree"]

# the objective cases: momo and momoAdam on the quadratic, the others on every problem
OBJECTIVE_CASES = [
    ("momo", "defaults", 1.0, {}, ["quadratic"]),
    ("momo", "tuned", 0.5, {"beta": 0.8, "lowerBound": -0.5, "weightDecay": 0.01}, ["quadratic"]),
    ("momo", "adaptive", 1.0, {"adaptLowerBound": True, "lowerBound": -1.0}, ["quadratic"]),
    ("momoAdam", "defaults", 0.01, {}, ["quadratic"]),
    ("momoAdam", "tuned", 0.1, {"b1": 0.8, "b2": 0.99, "eps": 1e-06, "lowerBound": -0.5, "weightDecay": 0.01}, ["quadratic"]),
    ("momoAdam", "adaptive", 0.1, {"adaptLowerBound": True, "lowerBound": -1.0}, ["quadratic"]),
    ("mechanize", "sgd", 1.0, {"base": "sgd", "baseOptions": {"learningRate": 0.1}}, NO_SCHEDULE),
    ("mechanize", "adam", 1.0, {"base": "adam", "baseOptions": {"learningRate": 0.1}, "weightDecay": 0.001, "numBetas": 4}, NO_SCHEDULE),
    ("scaleByDistanceOverGradients", "defaults", 1.0, {}, None),
    ("scaleByDistanceOverGradients", "tuned", 0.5, {"repsRel": 1e-04, "eps": 1e-06, "globalScale": 2.0}, None),
]


def write(versions, rows, path):
    """The layout of common.write_fixture (a header, one trajectory per line), under this generator's name."""
    head = {"framework": "optax", "versions": versions, "generator": "scripts/goldens/optax_parameter_free_goldens"}
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


def dog_init_step(spec):
    names = {"heuristic": "heuristic", "distance": "distance", "learningRate": "learning_rate"}
    return (names[spec["type"]], spec["value"])


def build(optimizer, lr, o):
    """The Optax transformation of a case, and the call that made it (for the reader)."""
    if optimizer == "prodigy":
        kw = {"betas": (o.get("b1", 0.9), o.get("b2", 0.999)), "eps": o.get("eps", 1e-8), "estim_lr0": o.get("estimLr0", 1e-6),
              "estim_lr_coef": o.get("estimLrCoef", 1.0), "weight_decay": o.get("weightDecay", 0.0), "safeguard_warmup": o.get("safeguardWarmup", False)}
        if "b3" in o:
            kw["beta3"] = o["b3"]
        return contrib.prodigy(lr, **kw), "contrib.prodigy", kw
    if optimizer == "dadaptAdamw":
        kw = {"betas": (o.get("b1", 0.9), o.get("b2", 0.999)), "eps": o.get("eps", 1e-8), "estim_lr0": o.get("estimLr0", 1e-6), "weight_decay": o.get("weightDecay", 0.0)}
        return contrib.dadapt_adamw(lr, **kw), "contrib.dadapt_adamw", kw
    if optimizer == "dog":
        kw = {"eps": o.get("eps", 1e-8)}
        if "initStep" in o:
            kw["init_step"] = dog_init_step(o["initStep"])
        if "weightDecay" in o:
            kw["weight_decay"] = o["weightDecay"]
        return contrib.dog(lr, **kw), "contrib.dog", kw
    if optimizer == "dowg":
        kw = {"eps": o.get("eps", 1e-4)}
        if "initEstimSqDist" in o:
            kw["init_estim_sq_dist"] = o["initEstimSqDist"]
        if "weightDecay" in o:
            kw["weight_decay"] = o["weightDecay"]
        return contrib.dowg(lr, **kw), "contrib.dowg", kw
    if optimizer == "cocob":
        kw = {"alpha": o.get("alpha", 100.0), "eps": o.get("eps", 1e-8), "weight_decay": o.get("weightDecay", 0.0)}
        return contrib.cocob(lr, **kw), "contrib.cocob", kw
    if optimizer == "momo":
        kw = {"beta": o.get("beta", 0.9), "lower_bound": o.get("lowerBound", 0.0), "weight_decay": o.get("weightDecay", 0.0), "adapt_lower_bound": o.get("adaptLowerBound", False)}
        return contrib.momo(lr, **kw), "contrib.momo", kw
    if optimizer == "momoAdam":
        kw = {"b1": o.get("b1", 0.9), "b2": o.get("b2", 0.999), "eps": o.get("eps", 1e-8), "lower_bound": o.get("lowerBound", 0.0),
              "weight_decay": o.get("weightDecay", 0.0), "adapt_lower_bound": o.get("adaptLowerBound", False)}
        return contrib.momo_adam(lr, **kw), "contrib.momo_adam", kw
    if optimizer == "mechanize":
        base = getattr(optax, o["base"])(o["baseOptions"]["learningRate"])
        kw = {"weight_decay": o.get("weightDecay", 1e-2), "eps": o.get("eps", 1e-8), "s_init": o.get("sInit", 1e-6), "num_betas": o.get("numBetas", 6)}
        # mechanize has no learning rate of its own (lr is 1, and no schedule problem is run)
        assert lr == 1.0
        return contrib.mechanize(base, **kw), f"contrib.mechanize(optax.{o['base']}({o['baseOptions']['learningRate']!r}), ...)", kw
    if optimizer == "scaleByDistanceOverGradients":
        kw = {"reps_rel": o.get("repsRel", 1e-6), "eps": o.get("eps", 1e-8), "global_scale": o.get("globalScale", 1.0)}
        return optax.chain(optax.scale_by_distance_over_gradients(**kw), optax.scale_by_learning_rate(lr)), "optax.chain(optax.scale_by_distance_over_gradients", kw
    raise ValueError(optimizer)


def loss(problem, host):
    """The quadratic's loss Σ ½ h (x − c)², in float64 from the float32 params, rounded to float32."""
    x = np.asarray(host[0], dtype=np.float64)
    h = np.asarray(problem["h"], dtype=np.float64)
    c = np.asarray(problem["c"], dtype=np.float64)
    return np.float32(np.sum(0.5 * h * (x - c) ** 2))


def run(optimizer, learning_rate, options, problem, steps, objective):
    lrs = learning_rates(problem, learning_rate, steps)
    if lrs is None:
        lr = learning_rate
    else:
        table = jnp.asarray(np.array(lrs, dtype=np.float32))
        lr = lambda count: table[count]  # noqa: E731
    opt, fn, kw = build(optimizer, lr, options)
    lr_text = "schedule" if lrs is not None else repr(learning_rate)
    call = f"{fn}({lr_text}, {', '.join(f'{k}={v!r}' for k, v in kw.items())})"
    names = [name for name, _, _ in problem["leaves"]]
    params = {name: jnp.asarray(init) for name, _, init in problem["leaves"]}
    state = opt.init(params)

    @jax.jit
    def step(params, state, grads, value):
        updates, state = opt.update(grads, state, params, value=value) if objective else opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    out = []
    for k in range(steps):
        host = [np.asarray(params[n]) for n in names]
        grads = {n: jnp.asarray(g) for n, g in zip(names, gradients(problem, host, k))}
        value = loss(problem, host) if objective else np.float32(0)
        params, state = step(params, state, grads, value)
        out.append([np.asarray(params[n]) for n in names])
        check_finite(f"{optimizer}/{problem['name']}", out[-1])
    return out, call


def rows_of(cases, problems, steps, objective):
    rows = []
    for optimizer, config, learning_rate, options, *rest in cases:
        only = rest[0] if rest else None
        for name, problem in problems.items():
            if only is not None and name not in only:
                continue
            needs_value = optimizer in ("momo", "momoAdam")
            params, call = run(optimizer, learning_rate, options, problem, steps, needs_value)
            case = {"optimizer": optimizer, "convention": "optax", "config": config, "learningRate": learning_rate, "options": options, "call": call}
            rows.append(trajectory(case, problem, params))
    return rows


def main():
    steps, problems = load_problems()
    versions = {"optax": optax.__version__, "jax": jax.__version__, "numpy": np.__version__}
    out = os.environ.get("GOLDENS_OUT") or FIXTURES
    write(versions, rows_of(CASES, problems, steps, False), os.path.join(out, "optax-parameter-free.json"))
    write(versions, rows_of(OBJECTIVE_CASES, problems, steps, True), os.path.join(out, "objective-parameter-free.json"))


if __name__ == "__main__":
    main()
