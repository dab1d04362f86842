"""Golden trajectories of Optax's Adafactor, SM3, Fromage and Polyak SGD (JAX on the CPU, float32).

Writes two fixtures:

  test/fixtures/goldens/optax-factored.json    the problems of problems.json, in the format of
      optax.json (see common.py), checked by test/goldens.test.ts like every optax-*.json;
  test/fixtures/goldens/objective-factored.json    what that runner cannot check, checked by
      test/factored-optimizers.test.ts: polyak_sgd on the quadratic of problems.json (it needs the
      loss value through update's extras; the fixture records Optax's value at every step too), and
      Adafactor and SM3 on problems of its own whose leaves have rank 3 and 4, with the factored or
      covered axes in the middle of the shape as well as at its ends.

Each case is a fluxion optimizer of src/optimizers/factored.ts with its options (fluxion's names,
the learning rate apart), run with the Optax 0.2.8 alias of the same maths under jit.
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

from common import FIXTURES, check_finite, gradients, hex_f32, learning_rates, load_problems, trajectory, unhex_f32  # noqa: E402
from problems import STEPS, SplitMix64, away_from_zero, leaf, sequence  # noqa: E402

jax.config.update("jax_enable_x64", False)

NO_SCALARS = {"optax/tree": "Optax's scale_by_sm3 fails on a scalar leaf (its cover list is empty); fluxion covers a scalar by one accumulator"}

# (fluxion optimizer, config, learning rate, fluxion options[, skip])
CASES = [
    ("adafactor", "defaults", 0.01, {}),
    ("adafactor", "factored", 0.01, {"minDimSizeToFactor": 2}),
    ("adafactor", "momentum", 0.01, {"minDimSizeToFactor": 2, "decayRate": 0.7, "clippingThreshold": None, "momentum": 0.9, "weightDecayRate": 0.001}),
    ("adafactor", "absolute", 0.01, {"minDimSizeToFactor": 3, "multiplyByParameterScale": False, "clippingThreshold": 2.0, "eps": 1e-20, "factored": True}),
    ("adafactor", "unfactored", 0.01, {"minDimSizeToFactor": 2, "factored": False, "clippingThreshold": 0.5}),
    ("sm3", "defaults", 0.01, {}, NO_SCALARS),
    ("sm3", "tuned", 0.01, {"momentum": 0.5, "b2": 0.99, "eps": 1e-06}, NO_SCALARS),
    ("fromage", "defaults", 0.01, {}),
    ("fromage", "tuned", 0.05, {"minNorm": 0.01}),
]

ADAFACTOR = {
    "minDimSizeToFactor": "min_dim_size_to_factor", "decayRate": "decay_rate", "decayOffset": "decay_offset",
    "multiplyByParameterScale": "multiply_by_parameter_scale", "clippingThreshold": "clipping_threshold",
    "momentum": "momentum", "weightDecayRate": "weight_decay_rate", "eps": "eps", "factored": "factored",
}


def schedule_of(learning_rate, lrs):
    if lrs is None:
        return learning_rate, repr(learning_rate)
    table = jnp.asarray(np.array(lrs, dtype=np.float32))
    return (lambda count: table[count]), "schedule"  # noqa: E731


def build(optimizer, learning_rate, options, lrs):
    lr, lr_text = schedule_of(learning_rate, lrs)
    if optimizer == "adafactor":
        kw = {ADAFACTOR[k]: v for k, v in options.items()}
        args = ", ".join([f"learning_rate={lr_text}"] + [f"{k}={v!r}" for k, v in kw.items()])
        return optax.adafactor(lr, **kw), f"optax.adafactor({args})"
    if optimizer == "sm3":
        b1 = options.get("momentum", 0.9)
        if lrs is None and set(options) <= {"momentum"}:
            return optax.sm3(lr, momentum=b1), f"optax.sm3({lr_text}, momentum={b1!r})"
        # Optax's sm3 takes neither b2, eps nor a schedule (its scale(-learning_rate) needs a number):
        # the same maths as a chain
        b2, eps = options.get("b2", 1.0), options.get("eps", 1e-8)
        tx = optax.chain(optax.scale_by_sm3(b1, b2, eps), optax.scale_by_learning_rate(lr))
        return tx, f"optax.chain(optax.scale_by_sm3(b1={b1!r}, b2={b2!r}, eps={eps!r}), optax.scale_by_learning_rate({lr_text}))"
    if optimizer == "fromage":
        min_norm = options.get("minNorm", 1e-6)
        return optax.fromage(lr, min_norm=min_norm), f"optax.fromage({lr_text}, min_norm={min_norm!r})"
    raise ValueError(optimizer)


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


def header(generator, versions):
    return {"framework": "optax", "versions": versions, "generator": generator}


def write(head, rows, path, extra=None):
    """The layout of common.write_fixture (a header, one trajectory per line)."""
    lines = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in rows]
    fields = dict(head)
    if extra:
        fields.update(extra)
    text = (
        "{\n"
        + "\n".join(f"  {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}," for k, v in fields.items())
        + '\n  "trajectories": [\n    '
        + ",\n    ".join(lines)
        + "\n  ]\n}\n"
    )
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"{path}: {len(rows)} trajectories")


# ---- objective-factored.json ------------------------------------------------------------------

POLYAK = [
    ("defaults", {}),
    ("capped", {"maxLearningRate": 0.05}),
    ("scaled", {"scaling": 0.5, "eps": 0.001, "fMin": -0.25}),
    ("sps+", {"variant": "sps+", "fMin": 0.01, "maxLearningRate": 0.1}),
]
POLYAK_NAMES = {"maxLearningRate": "max_learning_rate", "scaling": "scaling", "fMin": "f_min", "eps": "eps", "variant": "variant"}


def polyak_run(options, problem, steps):
    kw = {POLYAK_NAMES[k]: v for k, v in options.items()}
    opt = optax.polyak_sgd(**kw)
    call = f"optax.polyak_sgd({', '.join(f'{k}={v!r}' for k, v in kw.items())})"
    h, c = jnp.asarray(problem["h"]), jnp.asarray(problem["c"])

    def f(x):
        return 0.5 * jnp.sum(h * (x - c) ** 2)

    @jax.jit
    def step(x, state):
        value, grad = jax.value_and_grad(f)(x)
        updates, state = opt.update(grad, state, x, value=value)
        return optax.apply_updates(x, updates), state, value

    x = jnp.asarray(problem["leaves"][0][2])
    state = opt.init(x)
    params, values = [], []
    for _ in range(steps):
        x, state, value = step(x, state)
        params.append([np.asarray(x)])
        values.append(hex_f32(np.float32(value)))
        check_finite("polyakSgd/quadratic", params[-1])
    return params, values, call


def own_problems():
    """Leaves of rank 3 and 4 whose two largest axes (Adafactor's factored pair) sit in the middle
    of the shape and at its ends, and a matrix; fixed gradient sequences as in problems.py."""
    rng = SplitMix64(17)
    leaves, per_leaf = [], []
    for name, shape in [("w", (3, 5, 4)), ("u", (5, 4, 3)), ("k", (2, 3, 4, 5)), ("m", (6, 4))]:
        n = int(np.prod(shape))
        init, bias = away_from_zero(rng, n)
        leaves.append(leaf(name, shape, init.reshape(shape)))
        per_leaf.append(sequence(rng, n, 1.0, bias))
    return {"ranks": {"leaves": leaves, "grads": [list(step) for step in zip(*per_leaf)]}}


def decode(raw_problems):
    out = {}
    for name, p in raw_problems.items():
        leaves = [(l["name"], tuple(l["shape"]), unhex_f32(l["init"], l["shape"])) for l in p["leaves"]]
        out[name] = {"name": name, "leaves": leaves, "grads": [[unhex_f32(g, l[1]) for g, l in zip(step, leaves)] for step in p["grads"]]}
    return out


OWN_CASES = [
    ("adafactor", "factored", 0.01, {"minDimSizeToFactor": 3}),
    ("adafactor", "momentum", 0.01, {"minDimSizeToFactor": 4, "momentum": 0.8, "clippingThreshold": None, "weightDecayRate": 0.001}),
    ("sm3", "defaults", 0.01, {}),
    ("sm3", "tuned", 0.01, {"momentum": 0.5, "b2": 0.99, "eps": 1e-06}),
]


def main():
    steps, problems = load_problems()
    versions = {"optax": optax.__version__, "jax": jax.__version__, "numpy": np.__version__}
    out = os.environ.get("GOLDENS_OUT") or FIXTURES

    rows = []
    for optimizer, config, learning_rate, options, *rest in CASES:
        skip = rest[0] if rest else {}
        for name, problem in problems.items():
            if f"optax/{name}" in skip:
                continue
            params, call = run(optimizer, learning_rate, options, problem, steps)
            case = {"optimizer": optimizer, "convention": "optax", "config": config, "learningRate": learning_rate, "options": options, "call": call}
            rows.append(trajectory(case, problem, params))
    write(header("scripts/goldens/optax_factored_goldens", versions), rows, os.path.join(out, "optax-factored.json"))

    own = own_problems()
    decoded = decode(own)
    objective_rows = []
    for config, options in POLYAK:
        params, values, call = polyak_run(options, problems["quadratic"], steps)
        case = {"optimizer": "polyakSgd", "convention": "optax", "config": config, "learningRate": None, "options": options, "call": call}
        objective_rows.append({**trajectory(case, problems["quadratic"], params), "values": values})
    for optimizer, config, learning_rate, options in OWN_CASES:
        for name, problem in decoded.items():
            params, call = run(optimizer, learning_rate, options, problem, steps)
            case = {"optimizer": optimizer, "convention": "optax", "config": config, "learningRate": learning_rate, "options": options, "call": call}
            objective_rows.append(trajectory(case, problem, params))
    write(
        header("scripts/goldens/optax_factored_goldens", versions),
        objective_rows,
        os.path.join(out, "objective-factored.json"),
        {"steps": STEPS, "objective": "quadratic of problems.json: f(x) = ½ Σ hᵢ(xᵢ − cᵢ)², value and gradient in float32", "problems": own},
    )


if __name__ == "__main__":
    main()
