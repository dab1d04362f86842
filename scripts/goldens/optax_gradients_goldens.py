"""Goldens of the gradient transforms of src/transforms/gradients.ts and privacy.ts, from Optax 0.2.8
(JAX on the CPU, float32): writes test/fixtures/goldens/gradients-optax.json, checked by
test/gradient-transforms.test.ts (not by test/goldens.test.ts: these take per-example gradients or
wrap an inner optimizer, so they do not fit its one-optimizer trajectory format).

Sections:
- normalizeByUpdateNorm: params after each step of optax.normalize_by_update_norm on the problems
  of problems.json (the same inputs as every other golden).
- perExampleClip: optax.per_example_global_norm_clip / per_example_layer_norm_clip on fixed
  per-example gradients: the clipped sums and the clip counts.
- dpsgd: optax.contrib.dpsgd with noise_multiplier = 0 (the noise is then exactly 0, so the
  trajectory does not depend on JAX's random keys) on a stored per-example gradient sequence.
- skip: optax.MultiSteps(inner, 1, should_skip_update_fn=skip_large_updates / skip_not_finite),
  the wrapper fluxion's skipLargeUpdates / skipNotFinite are, on sequences with spikes and NaNs.

Float32 values are hex words of their IEEE-754 bits (common.hex_f32).
"""

import functools
import json
import os
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from optax import contrib  # noqa: E402

from common import FIXTURES, check_finite, gradients, hex_f32, load_problems, output_path  # noqa: E402

jax.config.update("jax_enable_x64", False)

SEED = 20260317


def f32(a):
    return np.asarray(a, dtype=np.float32)


def run_plain(opt, init_leaves, names, grads_at, steps):
    """Params after each step of `opt` from init, gradients grads_at(host params, k)."""
    params = {n: jnp.asarray(v) for n, v in zip(names, init_leaves)}
    state = opt.init(params)

    @jax.jit
    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, updates

    out = []
    for k in range(steps):
        host = [np.asarray(params[n]) for n in names]
        grads = {n: jnp.asarray(g) for n, g in zip(names, grads_at(host, k))}
        params, state, _ = step(params, state, grads)
        out.append([np.asarray(params[n]) for n in names])
    return out, state


# ---- normalizeByUpdateNorm ------------------------------------------------------------------------

NORMALIZE = [
    ("descent", {"scaleFactor": -0.01}),
    ("tuned", {"scaleFactor": -0.05, "eps": 0.001}),
]


def normalize_rows():
    steps, problems = load_problems()
    rows = []
    for config, options in NORMALIZE:
        kw = {"scale_factor": options["scaleFactor"], **({"eps": options["eps"]} if "eps" in options else {})}
        for name, problem in problems.items():
            if "lr_multipliers" in problem:
                continue  # no learning rate to schedule
            opt = optax.normalize_by_update_norm(**kw)
            names = [n for n, _, _ in problem["leaves"]]
            traj, _ = run_plain(opt, [init for _, _, init in problem["leaves"]], names, lambda host, k: gradients(problem, host, k), steps)
            for p in traj:
                check_finite(f"normalizeByUpdateNorm/{config}/{name}", p)
            rows.append({
                "id": f"normalizeByUpdateNorm/{config}/{name}",
                "problem": name,
                "options": options,
                "call": f"optax.normalize_by_update_norm({', '.join(f'{k}={v!r}' for k, v in kw.items())})",
                "params": [[hex_f32(leaf) for leaf in step] for step in traj],
            })
    return rows


# ---- per-example clipping -------------------------------------------------------------------------

# leaves of one example: w [2, 3], b [3], s []; a batch of 5 with norms spread around 1 and 3
LEAVES = [("w", (2, 3)), ("b", (3,)), ("s", ())]
BATCH = 5


def per_example_grads(rng, batch=BATCH, scales=(0.2, 0.7, 1.5, 3.0, 0.05)):
    out = []
    for name, shape in LEAVES:
        g = rng.standard_normal((batch, *shape)).astype(np.float32)
        g = g * np.array(scales, dtype=np.float32).reshape((batch,) + (1,) * len(shape))
        out.append(f32(g))
    return out


def clip_rows():
    rng = np.random.default_rng(SEED)
    grads = per_example_grads(rng)
    rows = []
    for c in [0.0, 0.5, 1.0, 2.5, float("inf")]:
        s, n = optax.per_example_global_norm_clip([jnp.asarray(g) for g in grads], c)
        rows.append({
            "id": f"global/{c}", "function": "perExampleGlobalNormClip", "l2NormClip": "Infinity" if c == float("inf") else c,
            "call": f"optax.per_example_global_norm_clip(grads, {c!r})",
            "leaves": [{"name": name, "shape": [BATCH, *shape], "grads": hex_f32(g)} for (name, shape), g in zip(LEAVES, grads)],
            "sum": [hex_f32(x) for x in s], "numClipped": int(n),
        })
        for uniform in [True, False]:
            s, n = optax.per_example_layer_norm_clip([jnp.asarray(g) for g in grads], c, uniform=uniform)
            rows.append({
                "id": f"layer/{'uniform' if uniform else 'nonuniform'}/{c}", "function": "perExampleLayerNormClip",
                "l2NormClip": "Infinity" if c == float("inf") else c, "uniform": uniform,
                "call": f"optax.per_example_layer_norm_clip(grads, {c!r}, uniform={uniform})",
                "leaves": [{"name": name, "shape": [BATCH, *shape], "grads": hex_f32(g)} for (name, shape), g in zip(LEAVES, grads)],
                "sum": [hex_f32(x) for x in s], "numClipped": [int(x) for x in n],
            })
    return rows


# ---- dpsgd (noise_multiplier = 0) -----------------------------------------------------------------

DPSGD = [
    ("plain", 0.1, {"l2NormClip": 1.0}),
    ("momentum", 0.05, {"l2NormClip": 1.0, "momentum": 0.9}),
    ("nesterov", 0.05, {"l2NormClip": 2.0, "momentum": 0.8, "nesterov": True}),
    ("tight", 0.2, {"l2NormClip": 0.1}),
]
DP_STEPS = 12


def dpsgd_rows():
    rng = np.random.default_rng(SEED + 1)
    init = [f32(rng.standard_normal(shape)) for _, shape in LEAVES]
    seq = [per_example_grads(rng, scales=tuple(rng.uniform(0.05, 3.0, BATCH))) for _ in range(DP_STEPS)]
    names = [n for n, _ in LEAVES]
    rows = []
    for config, lr, options in DPSGD:
        kw = {"learning_rate": lr, "l2_norm_clip": options["l2NormClip"], "noise_multiplier": 0.0, "seed": 0}
        if "momentum" in options:
            kw["momentum"] = options["momentum"]
        if "nesterov" in options:
            kw["nesterov"] = options["nesterov"]
        opt = contrib.dpsgd(**kw)
        traj, _ = run_plain(opt, init, names, lambda host, k: seq[k], DP_STEPS)
        for p in traj:
            check_finite(f"dpsgd/{config}", p)
        rows.append({
            "id": f"dpsgd/{config}", "learningRate": lr, "options": {**options, "noiseMultiplier": 0, "seed": 0},
            "call": f"optax.contrib.dpsgd({', '.join(f'{k}={v!r}' for k, v in kw.items())})",
            "leaves": [{"name": name, "shape": list(shape), "init": hex_f32(v)} for (name, shape), v in zip(LEAVES, init)],
            "grads": [[hex_f32(g) for g in step] for step in seq],
            "params": [[hex_f32(leaf) for leaf in step] for step in traj],
        })
    return rows


# ---- skipLargeUpdates / skipNotFinite ------------------------------------------------------------

SKIP_STEPS = 12


def skip_sequence(rng, spikes, bad):
    seq = []
    for k in range(SKIP_STEPS):
        step = [f32(rng.standard_normal(shape)) for _, shape in LEAVES]
        if k in spikes:
            step = [g * np.float32(20) for g in step]
        if k in bad:
            step[0] = step[0].copy()
            step[0].reshape(-1)[bad[k][0]] = np.float32(bad[k][1])
        seq.append(step)
    return seq


INNERS = {
    "adam": (lambda: optax.adam(0.01), {"optimizer": "adam", "options": {"learningRate": 0.01}}),
    "sgd": (lambda: optax.sgd(0.05, momentum=0.9), {"optimizer": "sgd", "options": {"learningRate": 0.05, "momentum": 0.9}}),
}


def skip_rows():
    rng = np.random.default_rng(SEED + 2)
    init = [f32(rng.standard_normal(shape)) for _, shape in LEAVES]
    names = [n for n, _ in LEAVES]
    cases = [
        ("skipLargeUpdates", "adam", {"maxSquaredNorm": 100.0}, skip_sequence(rng, {2, 3, 7}, {})),
        ("skipLargeUpdates", "sgd", {"maxSquaredNorm": 40.0}, skip_sequence(rng, {1, 6, 10}, {9: (1, float("nan"))})),
        ("skipNotFinite", "adam", {}, skip_sequence(rng, {4}, {1: (0, float("nan")), 5: (3, float("inf")), 6: (2, float("-inf"))})),
        ("skipNotFinite", "sgd", {}, skip_sequence(rng, set(), {0: (5, float("nan")), 8: (4, float("nan"))})),
    ]
    rows = []
    for wrapper, inner, options, seq in cases:
        make, spec = INNERS[inner]
        if wrapper == "skipLargeUpdates":
            fn = functools.partial(optax.skip_large_updates, max_squared_norm=options["maxSquaredNorm"])
            call = f"optax.MultiSteps({inner}, every_k_schedule=1, should_skip_update_fn=partial(optax.skip_large_updates, max_squared_norm={options['maxSquaredNorm']!r}))"
        else:
            fn = optax.skip_not_finite
            call = f"optax.MultiSteps({inner}, every_k_schedule=1, should_skip_update_fn=optax.skip_not_finite)"
        opt = optax.MultiSteps(make(), every_k_schedule=1, should_skip_update_fn=fn)
        params = {n: jnp.asarray(v) for n, v in zip(names, init)}
        state = opt.init(params)
        traj, skipped = [], []
        for k in range(SKIP_STEPS):
            grads = {n: jnp.asarray(g) for n, g in zip(names, seq[k])}
            updates, state = opt.update(grads, state, params)
            params = optax.apply_updates(params, updates)
            traj.append([np.asarray(params[n]) for n in names])
            skipped.append(int(bool(state.skip_state["should_skip"])))
            check_finite(f"{wrapper}/{inner}", traj[-1])
        rows.append({
            "id": f"{wrapper}/{inner}", "wrapper": wrapper, "inner": spec, "options": options, "call": call,
            "leaves": [{"name": name, "shape": list(shape), "init": hex_f32(v)} for (name, shape), v in zip(LEAVES, init)],
            "grads": [[hex_f32(g) for g in step] for step in seq],
            "params": [[hex_f32(leaf) for leaf in step] for step in traj],
            "shouldSkip": skipped,
        })
    return rows


def main():
    sections = {"normalizeByUpdateNorm": normalize_rows(), "perExampleClip": clip_rows(), "dpsgd": dpsgd_rows(), "skip": skip_rows()}
    head = {"framework": "optax", "versions": {"optax": optax.__version__, "jax": jax.__version__}, "generator": "scripts/goldens/optax_gradients_goldens.py"}
    parts = [f"  {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}" for k, v in head.items()]
    for name, rows in sections.items():
        lines = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in rows]
        parts.append(f"  {json.dumps(name)}: [\n    " + ",\n    ".join(lines) + "\n  ]")
    text = "{\n" + ",\n".join(parts) + "\n}\n"
    path = output_path("gradients-optax") or os.path.join(FIXTURES, "gradients-optax.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"{path}: " + ", ".join(f"{len(r)} {n}" for n, r in sections.items()))


if __name__ == "__main__":
    main()
