"""Golden trajectories of Optax contrib's ADOPT, AdEMAMix, simplified AdEMAMix, MADGRAD, Sophia and
SAM (JAX on the CPU, float32, under jit). Writes two fixtures:

  test/fixtures/goldens/optax-contrib.json     ADOPT, AdEMAMix, simplified AdEMAMix and MADGRAD on
                                               every problem of problems.json, in the format of
                                               optax.json (read by test/goldens.test.ts)
  test/fixtures/goldens/objective-contrib.json the optimizers that need more than the gradient
                                               (read by test/contrib-optimizers.test.ts):
    sophia  on the sequence problems with a Hessian-diagonal sequence recorded in the fixture (a
            custom `hessian_diagonal_fn` that returns the estimate passed to `update`), and on the
            quadratic with its exact Hessian diagonal h;
    sam     on the quadratic, the gradient h ⊙ (x − c) evaluated at whatever params the loop holds
            (transparent mode) or by `grad_fn` at the adversarial points (opaque mode).

Each case is a fluxion optimizer with its options (fluxion's names, the learning rate apart); the
Optax call it was run with is recorded beside it.
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

from common import FIXTURES, check_finite, gradients, hex_f32, learning_rates, load_problems, trajectory  # noqa: E402
import json  # noqa: E402

jax.config.update("jax_enable_x64", False)

# (fluxion optimizer, config, learning rate, fluxion options)
CASES = [
    ("adopt", "defaults", 0.01, {}),
    ("adopt", "tuned", 0.01, {"b1": 0.8, "b2": 0.99, "eps": 1e-05}),
    ("adopt", "nesterov", 0.01, {"b2": 0.999, "nesterov": True}),
    ("adopt", "noclip", 0.01, {"b2": 0.999, "useClipping": False}),
    ("ademamix", "defaults", 0.01, {}),
    ("ademamix", "tuned", 0.01, {"b1": 0.8, "b2": 0.99, "b3": 0.999, "alpha": 8.0, "eps": 1e-06, "epsRoot": 1e-08, "weightDecay": 0.01}),
    ("simplifiedAdemamix", "defaults", 0.001, {}),
    ("simplifiedAdemamix", "tuned", 0.001, {"b1": 0.9, "b2": 0.99, "alpha": 2.0, "eps": 1e-06, "epsRoot": 1e-08, "weightDecay": 0.01}),
    ("madgrad", "defaults", 0.01, {}),
    ("madgrad", "tuned", 0.01, {"momentum": 0.5, "weightDecay": 0.01, "eps": 1e-05}),
]

ALIASES = {
    "adopt": ("adopt", {"useClipping": "use_clipping"}),
    "ademamix": ("ademamix", {"epsRoot": "eps_root", "weightDecay": "weight_decay"}),
    "simplifiedAdemamix": ("simplified_ademamix", {"epsRoot": "eps_root", "weightDecay": "weight_decay"}),
    "madgrad": ("madgrad", {"weightDecay": "weight_decay"}),
}


def schedule_of(learning_rate, lrs):
    if lrs is None:
        return learning_rate
    table = jnp.asarray(np.array(lrs, dtype=np.float32))
    return lambda count: table[count]  # noqa: E731


def call_text(alias, learning_rate, lrs, kw, module="optax.contrib"):
    args = ["learning_rate=schedule" if lrs is not None else f"learning_rate={learning_rate!r}"] + [f"{k}={v!r}" for k, v in kw.items()]
    return f"{module}.{alias}({', '.join(args)})"


def run_plain(optimizer, learning_rate, options, problem, steps):
    alias, names = ALIASES[optimizer]
    kw = {names.get(k, k): v for k, v in options.items()}
    lrs = learning_rates(problem, learning_rate, steps)
    opt = getattr(contrib, alias)(schedule_of(learning_rate, lrs), **kw)
    leaf_names = [name for name, _, _ in problem["leaves"]]
    params = {name: jnp.asarray(init) for name, _, init in problem["leaves"]}
    state = opt.init(params)

    @jax.jit
    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    out = []
    for k in range(steps):
        host = [np.asarray(params[n]) for n in leaf_names]
        grads = {n: jnp.asarray(g) for n, g in zip(leaf_names, gradients(problem, host, k))}
        params, state = step(params, state, grads)
        out.append([np.asarray(params[n]) for n in leaf_names])
        check_finite(f"{optimizer}/{problem['name']}", out[-1])
    return out, call_text(alias, learning_rate, lrs, kw)


def write_rows(name, generator, rows, key="trajectories", extra=None):
    head = {"framework": "optax", "versions": {"optax": optax.__version__, "jax": jax.__version__, "numpy": np.__version__}, "generator": generator}
    head.update(extra or {})
    lines = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in rows]
    text = (
        "{\n"
        + "\n".join(f"  {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}," for k, v in head.items())
        + f'\n  "{key}": [\n    '
        + ",\n    ".join(lines)
        + "\n  ]\n}\n"
    )
    out = os.environ.get("GOLDENS_OUT")
    path = os.path.join(out or FIXTURES, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"{path}: {len(rows)} {key}")


# ---- the objective fixture --------------------------------------------------------------------------


def given_hessian():
    """A `hessian_diagonal_fn` that returns the estimate passed to sophia's update as `hess`."""

    def init_fn(params):
        del params
        return optax.EmptyState()

    def update_fn(updates, state, params=None, hess=None, **extra):
        del updates, params, extra
        return hess, state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def hessian_sequence(problem, steps):
    """Per step and leaf, a Hessian-diagonal estimate: positive and varying, with some negative
    entries (a Hutchinson estimate can be negative), from a fixed formula in float64 rounded once."""
    seq = []
    for k in range(steps):
        row = []
        offset = 0
        for _, shape, _ in problem["leaves"]:
            n = int(np.prod(shape)) if shape else 1
            i = np.arange(offset, offset + n, dtype=np.float64)
            offset += n
            v = 2.0 + 1.5 * np.sin(0.7 * k + 1.3 * i) + 0.5 * np.cos(0.3 * k * (i + 1))
            v = np.where((k + i) % 7 == 3, -0.5 * v, v)
            row.append(np.asarray(v, dtype=np.float32).reshape(shape))
        seq.append(row)
    return seq


SOPHIA_CASES = [
    ("defaults", 0.01, {}),
    ("every-step", 0.01, {"b1": 0.9, "b2": 0.95, "eps": 1e-06, "weightDecay": 0.01, "gamma": 0.05, "clipThreshold": 0.5, "updateInterval": 1}),
    ("noclip", 0.01, {"eps": 0.1, "gamma": 0.5, "clipThreshold": None, "updateInterval": 3}),
]

SOPHIA_NAMES = {"weightDecay": "weight_decay", "clipThreshold": "clip_threshold", "updateInterval": "update_interval"}


def run_sophia(config, learning_rate, options, problem, steps):
    kw = {SOPHIA_NAMES.get(k, k): v for k, v in options.items()}
    lrs = learning_rates(problem, learning_rate, steps)
    opt = contrib.sophia(schedule_of(learning_rate, lrs), hessian_diagonal_fn=given_hessian(), **kw)
    leaf_names = [name for name, _, _ in problem["leaves"]]
    params = {name: jnp.asarray(init) for name, _, init in problem["leaves"]}
    state = opt.init(params)
    quadratic = "grads" not in problem
    hess = [[problem["h"]]] * steps if quadratic else hessian_sequence(problem, steps)

    @jax.jit
    def step(params, state, grads, h):
        updates, state = opt.update(grads, state, params, hess=h)
        return optax.apply_updates(params, updates), state

    out = []
    for k in range(steps):
        host = [np.asarray(params[n]) for n in leaf_names]
        grads = {n: jnp.asarray(g) for n, g in zip(leaf_names, gradients(problem, host, k))}
        h = {n: jnp.asarray(x) for n, x in zip(leaf_names, hess[k])}
        params, state = step(params, state, grads, h)
        out.append([np.asarray(params[n]) for n in leaf_names])
        check_finite(f"sophia/{config}/{problem['name']}", out[-1])
    row = trajectory(
        {"optimizer": "sophia", "convention": "optax", "config": config, "learningRate": learning_rate, "options": options,
         "call": call_text("sophia", learning_rate, lrs, kw) + " with hessian_diagonal_fn returning update's hess="},
        problem, out)
    row["hessianDiagonal"] = "quadratic" if quadratic else [[hex_f32(x) for x in step_h] for step_h in hess]
    return row


# (config, outer Optax call, adversarial Optax call, fluxion description, sync period, opaque, reset)
SAM_CASES = [
    ("paper", "optax.sgd(learning_rate=0.01)", "optax.chain(optax.contrib.normalize(), optax.sgd(learning_rate=0.05))", {"outer": {"sgd": {"learningRate": 0.01}}, "adversary": {"rho": 0.05}}, 2, False, True),
    ("adam-sync3", "optax.adam(learning_rate=0.01)", "optax.chain(optax.contrib.normalize(), optax.sgd(learning_rate=0.05))", {"outer": {"adam": {"learningRate": 0.01}}, "adversary": {"rho": 0.05}}, 3, False, True),
    ("adam-adversary-keep", "optax.sgd(learning_rate=0.01, momentum=0.9)", "optax.adam(learning_rate=0.02)", {"outer": {"sgd": {"learningRate": 0.01, "momentum": 0.9}}, "adversary": {"adam": {"learningRate": 0.02}}}, 3, False, False),
    ("opaque", "optax.adam(learning_rate=0.01)", "optax.chain(optax.contrib.normalize(), optax.sgd(learning_rate=0.05))", {"outer": {"adam": {"learningRate": 0.01}}, "adversary": {"rho": 0.05}}, 2, True, True),
    ("opaque-sync3", "optax.sgd(learning_rate=0.01)", "optax.adam(learning_rate=0.02)", {"outer": {"sgd": {"learningRate": 0.01}}, "adversary": {"adam": {"learningRate": 0.02}}}, 3, True, False),
]


def run_sam(problem, steps, config, outer, adv, spec, sync, opaque, reset):
    opt = contrib.sam(eval(outer, {"optax": optax}), eval(adv, {"optax": optax}), sync_period=sync, reset_state=reset, opaque_mode=opaque)  # noqa: S307
    h, c = jnp.asarray(problem["h"]), jnp.asarray(problem["c"])

    def grad_of(x):
        return {"x": (h * (x["x"] - c)).astype(jnp.float32)}

    params = {"x": jnp.asarray(problem["leaves"][0][2])}
    state = opt.init(params)

    @jax.jit
    def step(params, state):
        g = grad_of(params)
        if opaque:
            updates, state = opt.update(g, state, params, grad_fn=lambda p, _: grad_of(p))
        else:
            updates, state = opt.update(g, state, params)
        return optax.apply_updates(params, updates), state

    out = []
    for _ in range(steps):
        params, state = step(params, state)
        out.append([np.asarray(params["x"])])
        check_finite(f"sam/{config}", out[-1])
    call = f"optax.contrib.sam({outer}, {adv}, sync_period={sync}, reset_state={reset}, opaque_mode={opaque})"
    return {
        "id": f"sam/optax/{config}/{problem['name']}",
        "optimizer": "sam",
        "config": config,
        "problem": problem["name"],
        "options": {**spec, "syncPeriod": sync, "opaqueMode": opaque, "resetState": reset},
        "call": call,
        "params": [[hex_f32(leaf) for leaf in s] for s in out],
    }


def main():
    steps, problems = load_problems()
    rows = []
    for optimizer, config, learning_rate, options in CASES:
        for problem in problems.values():
            params, call = run_plain(optimizer, learning_rate, options, problem, steps)
            case = {"optimizer": optimizer, "convention": "optax", "config": config, "learningRate": learning_rate, "options": options, "call": call}
            rows.append(trajectory(case, problem, params))
    write_rows("optax-contrib.json", "scripts/goldens/optax_contrib_goldens", rows)

    objective = []
    for config, learning_rate, options in SOPHIA_CASES:
        for problem in problems.values():
            objective.append(run_sophia(config, learning_rate, options, problem, steps))
    for case in SAM_CASES:
        objective.append(run_sam(problems["quadratic"], steps, *case))
    write_rows("objective-contrib.json", "scripts/goldens/optax_contrib_goldens", objective)


if __name__ == "__main__":
    main()
