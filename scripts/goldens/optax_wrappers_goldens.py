"""Optax 0.2.8 trajectories of the wrappers of src/transforms/{conditional,monitoring,inject,microbatch}.ts,
written to test/fixtures/goldens/wrappers-optax.json and checked by test/wrappers-extra.test.ts (not
by test/goldens.test.ts: some cases pass extras through `update`, record measurements or are not
optimizers).

Cases, on one fixed float32 gradient sequence over the leaves {b: [3], w: [2, 2]} (sorted keys, as
both JAX and fluxion flatten records):
  - conditionally_transform / conditionally_mask around sgd, adam and ema, with predicates of the
    step and one of the extra argument `value` (forward_extra_args=True);
  - inject_hyperparams (Optax 0.2.8's stateful form) with a WrappedSchedule and with a stateful
    schedule driven by `value`, recording the injected hyperparameter of every step;
  - monitor with tree.norm and measure_with_ema(tree.norm), and snapshot, in a chain with clipping,
    recording the measurements of every step;
  - microbatch of one function of a [8, 3] batch, with SUM, MEAN, RUNNING_MEAN and CONCAT.

Run: /tmp/goldens-venv/bin/python scripts/goldens/optax_wrappers_goldens.py
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import optax

from common import FIXTURES, hex_f32

jax.config.update("jax_platform_name", "cpu")

STEPS = 8
rng = np.random.RandomState(17)
LEAVES = [("b", (3,)), ("w", (2, 2))]
INIT = {name: rng.uniform(-1, 1, shape).astype(np.float32) for name, shape in LEAVES}
GRADS = [{name: rng.uniform(-2, 2, shape).astype(np.float32) for name, shape in LEAVES} for _ in range(STEPS)]
VALUES = [float(np.float32(v)) for v in rng.uniform(0, 1, STEPS)]


def as_hex(tree):
    return [hex_f32(tree[name]) for name, _ in LEAVES]


def run(opt, with_values=False, measure=None):
    params = {k: jnp.asarray(v) for k, v in INIT.items()}
    state = opt.init(params)
    rows, measured = [], []
    for k in range(STEPS):
        grads = {n: jnp.asarray(v) for n, v in GRADS[k].items()}
        extra = {"value": VALUES[k]} if with_values else {}
        updates, state = opt.update(grads, state, params, **extra)
        params = optax.apply_updates(params, updates)
        rows.append(as_hex({n: np.asarray(v) for n, v in params.items()}))
        if measure is not None:
            measured.append(measure(state))
    return rows, measured


class Halving:
    """A stateful schedule: starts at 0.1, halves whenever the value passed in goes up."""

    def init(self):
        return {"lr": jnp.asarray(0.1, jnp.float32), "last": jnp.asarray(jnp.inf, jnp.float32)}

    def update(self, state, value=None, **_):
        v = jnp.asarray(value, jnp.float32)
        return {"lr": jnp.where(v > state["last"], state["lr"] / 2, state["lr"]), "last": v}

    def __call__(self, state, **_):
        return state["lr"]


cases = {}


def add(case_id, call, opt, with_values=False, measure=None, **extra):
    rows, measured = run(opt, with_values, measure)
    cases[case_id] = {"call": call, "values": with_values, "trajectory": rows, **({"measured": measured} if measure else {}), **extra}


add(
    "conditionallyTransform/sgd-momentum/every-3rd-skipped",
    "conditionally_transform(sgd(0.1, momentum=0.9), lambda step: step % 3 != 1)",
    optax.conditionally_transform(optax.sgd(0.1, momentum=0.9), lambda step: step % 3 != 1),
)
add(
    "conditionallyMask/adam/even-steps",
    "conditionally_mask(adam(0.05), lambda step: step % 2 == 0)",
    optax.conditionally_mask(optax.adam(0.05), lambda step: step % 2 == 0),
)
add(
    "conditionallyTransform/ema/value-above-half",
    "conditionally_transform(ema(0.8), lambda step, value: value > 0.5, forward_extra_args=True)",
    optax.conditionally_transform(optax.ema(0.8), lambda step, value: value > 0.5, forward_extra_args=True),
    with_values=True,
)
add(
    "injectStatefulHyperparams/adam/wrapped-schedule",
    "inject_hyperparams(adam)(learning_rate=lambda count: 0.1 / (1 + count), b1=0.8)",
    optax.inject_hyperparams(optax.adam)(learning_rate=lambda count: 0.1 / (1 + count), b1=0.8),
    measure=lambda s: hex_f32(s.hyperparams["learning_rate"]),
)
add(
    "injectStatefulHyperparams/sgd-momentum/halving-on-value",
    "inject_hyperparams(sgd)(learning_rate=Halving(), momentum=0.9), value passed to update",
    optax.inject_hyperparams(optax.sgd)(learning_rate=Halving(), momentum=0.9),
    with_values=True,
    measure=lambda s: hex_f32(s.hyperparams["learning_rate"]),
)
add(
    "monitor/sgd-momentum/norm-and-ema-then-clip",
    "chain(sgd(0.1, momentum=0.9), monitor({'norm': tree.norm, 'normEma': measure_with_ema(tree.norm, 0.9)}), clip_by_global_norm(1.0))",
    optax.chain(
        optax.sgd(0.1, momentum=0.9),
        optax.monitor({"norm": optax.tree.norm, "normEma": optax.measure_with_ema(optax.tree.norm, 0.9)}),
        optax.clip_by_global_norm(1.0),
    ),
    measure=lambda s: [hex_f32(optax.tree.get(s, "norm")), hex_f32(optax.tree.get(s, "normEma"))],
)
add(
    "snapshot/sgd-momentum/norm-before-clip",
    "chain(sgd(0.1, momentum=0.9), snapshot('normBeforeClip', tree.norm), clip_by_global_norm(0.5))",
    optax.chain(optax.sgd(0.1, momentum=0.9), optax.snapshot("normBeforeClip", optax.tree.norm), optax.clip_by_global_norm(0.5)),
    measure=lambda s: hex_f32(optax.tree.get(s, "normBeforeClip")),
)

# microbatch: outputs that reduce over the rows (the two sums) or are concatenated, which Optax's
# strided microbatches and fluxion's consecutive ones give alike
X = rng.uniform(-3, 3, (8, 3)).astype(np.float32)


def fun(x):
    return {"colSumSq": jnp.sum(x**2, axis=0), "mean": jnp.mean(x), "rows": x * 2 + 1}


A = optax.microbatching.AccumulationType
micro = {}
for name, acc in [("sum", A.SUM), ("mean", A.MEAN), ("runningMean", A.RUNNING_MEAN)]:
    out = optax.microbatch(fun, argnums=0, microbatch_size=2, accumulator={"colSumSq": acc, "mean": acc, "rows": A.CONCAT})(jnp.asarray(X))
    micro[name] = {k: hex_f32(np.asarray(v)) for k, v in out.items()}

fixture = {
    "generator": "scripts/goldens/optax_wrappers_goldens.py",
    "versions": {"optax": optax.__version__, "jax": jax.__version__},
    "leaves": [{"name": n, "shape": list(s), "init": hex_f32(INIT[n])} for n, s in LEAVES],
    "grads": [as_hex(g) for g in GRADS],
    "values": VALUES,
    "cases": cases,
    "microbatch": {"x": hex_f32(X), "shape": list(X.shape), "microbatchSize": 2, "outputs": micro},
}

out_dir = os.environ.get("GOLDENS_OUT") or FIXTURES
path = os.path.join(out_dir, "wrappers-optax.json")
with open(path, "w", encoding="utf-8") as f:
    json.dump(fixture, f, indent=1)
    f.write("\n")
print(f"{path}: {len(cases)} trajectories, {len(micro)} microbatch accumulations")
