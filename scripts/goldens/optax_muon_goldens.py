"""Golden trajectories of Optax 0.2.8's Muon and schedule-free optimizers (optax.contrib; JAX on the
CPU, float32). Writes two fixtures:

  test/fixtures/goldens/optax-muon.json     on the shared problems of problems.json (checked by
                                            test/goldens.test.ts): the `tree` problem's w [2, 3] is
                                            Muon's, every other leaf AdamW's
  test/fixtures/goldens/matrices-muon.json  on problems of its own, written here, with matrices of
                                            every aspect (tall ones are iterated transposed), so that
                                            Newton–Schulz runs on more than one 2 × 3 leaf (checked by
                                            test/muon-schedule-free.test.ts); with PyTorch's too
  test/fixtures/goldens/pytorch-muon.json   PyTorch 2.13's torch.optim.Muon (+ torch.optim.AdamW for the
                                            other leaves) on the shared problems (test/goldens.test.ts)

torch.optim.Muon casts the matrix to bfloat16 for Newton–Schulz. The trajectories checked at the
goldens' 1e-6 bound are run with that one cast replaced by float32 (float32_newton_schulz, the
`call` says so); matrices-muon.json also holds the unmodified bfloat16 runs (config `*-bfloat16`),
which test/muon-schedule-free.test.ts checks at the bound bfloat16 allows (measured, stated there).

Each case is a fluxion optimizer (src/optimizers/muon.ts, schedule-free.ts) with its options
(fluxion's names, the learning rate apart), run with the Optax call of the same maths under jit.
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
from optax import contrib  # noqa: E402

from common import FIXTURES, check_finite, gradients, hex_f32, learning_rates, load_problems, trajectory  # noqa: E402
from problems import STEPS, SplitMix64, away_from_zero, leaf, sequence  # noqa: E402

jax.config.update("jax_enable_x64", False)

NO_SCHEDULE = {
    "optax/schedule": "Optax's schedule_free_adamw / schedule_free_sgd take a number (and warmup_steps), not a schedule; the warm-up cases cover schedules",
}

MUON_CASES = [
    ("muon", "defaults", 0.02, {}),
    ("muon", "tuned", 0.02, {"beta": 0.9, "nesterov": False, "weightDecay": 0.05, "adamB1": 0.8, "adamB2": 0.99, "adamEpsRoot": 1e-08, "adamWeightDecay": 0.01, "adamLearningRate": 0.005}),
    ("muon", "consistentRms", 0.02, {"consistentRms": 0.2}),
    ("muon", "adaptive", 0.02, {"adaptive": True, "eps": 1e-07}),
    ("muon", "aol", 0.02, {"preconditioning": "aol"}),
    ("muon", "schatten", 0.02, {"preconditioning": "schatten"}),
    ("muon", "dion", 0.02, {"nsCoeffs": "dion"}),
    ("muon", "coefficients", 0.02, {"nsCoeffs": [3.0, -3.2, 1.2], "nsSteps": 3}),
]

SCHEDULE_FREE_CASES = [
    ("scheduleFreeAdamw", "defaults", 0.01, {}, NO_SCHEDULE),
    ("scheduleFreeAdamw", "tuned", 0.01, {"b1": 0.95, "b2": 0.99, "eps": 1e-06, "weightDecay": 0.01, "weightLrPower": 1.5}, NO_SCHEDULE),
    ("scheduleFreeAdamw", "warmup", 0.01, {"warmupSteps": 5}, NO_SCHEDULE),
    ("scheduleFreeSgd", "defaults", 0.05, {}, NO_SCHEDULE),
    ("scheduleFreeSgd", "tuned", 0.05, {"b1": 0.8, "weightDecay": 0.01, "warmupSteps": 4, "weightLrPower": 1.0}, NO_SCHEDULE),
]

MUON_NAMES = {
    "nsCoeffs": "ns_coeffs", "nsSteps": "ns_steps", "weightDecay": "weight_decay", "adamB1": "adam_b1", "adamB2": "adam_b2",
    "adamEpsRoot": "adam_eps_root", "adamWeightDecay": "adam_weight_decay", "adamLearningRate": "adam_learning_rate",
    "consistentRms": "consistent_rms",
}
SF_NAMES = {"warmupSteps": "warmup_steps", "weightDecay": "weight_decay", "weightLrPower": "weight_lr_power"}


def dimension_numbers(mask):
    """fluxion's muonMask (a tree of booleans) as Optax's muon_weight_dimension_numbers."""
    return {k: (contrib.MuonDimensionNumbers() if v else None) for k, v in mask.items()}


def build(optimizer, learning_rate, options, lrs):
    if lrs is None:
        lr, lr_text = learning_rate, repr(learning_rate)
    else:
        table = jnp.asarray(np.array(lrs, dtype=np.float32))
        lr, lr_text = (lambda count: table[count]), "schedule"  # noqa: E731
    if optimizer == "muon":
        kw = {}
        for k, v in options.items():
            if k == "muonMask":
                kw["muon_weight_dimension_numbers"] = dimension_numbers(v)
            else:
                kw[MUON_NAMES.get(k, k)] = tuple(v) if isinstance(v, list) else v
        text = ", ".join([f"learning_rate={lr_text}"] + [f"{k}={v!r}" for k, v in kw.items()])
        return contrib.muon(lr, **kw), f"optax.contrib.muon({text})"
    kw = {SF_NAMES.get(k, k): v for k, v in options.items()}
    fn = {"scheduleFreeAdamw": "schedule_free_adamw", "scheduleFreeSgd": "schedule_free_sgd"}[optimizer]
    text = ", ".join([f"learning_rate={lr_text}"] + [f"{k}={v!r}" for k, v in kw.items()])
    return getattr(contrib, fn)(lr, **kw), f"optax.contrib.{fn}({text})"


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


def write(path, head, rows, extra=None):
    """The layout of common.write_fixture (a header, one trajectory per line), with extra header keys."""
    lines = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in rows]
    items = list(head.items()) + list((extra or {}).items())
    text = (
        "{\n"
        + "\n".join(f"  {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}," for k, v in items)
        + '\n  "trajectories": [\n    '
        + ",\n    ".join(lines)
        + "\n  ]\n}\n"
    )
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"{path}: {len(rows)} trajectories")


def matrix_problems():
    """Problems with matrices of every aspect, a vector and a scalar; fixed gradient sequences
    (splitmix64, as problems.py), initial values in ±[1, 2], biases pointing away from 0."""
    out = {}
    for name, seed, shapes in [
        ("matrices", 11, [("tall", (3, 2)), ("square", (4, 4)), ("wide", (2, 5)), ("b", (4,)), ("s", ())]),
        ("layer", 12, [("kernel", (8, 6)), ("bias", (6,))]),
    ]:
        rng = SplitMix64(seed)
        leaves, per_leaf = [], []
        for leaf_name, shape in shapes:
            n = int(np.prod(shape)) if shape else 1
            init, bias = away_from_zero(rng, n)
            leaves.append(leaf(leaf_name, shape, init.reshape(shape)))
            per_leaf.append(sequence(rng, n, 1.0, bias))
        out[name] = {"leaves": leaves, "grads": [list(step) for step in zip(*per_leaf)]}
    return out


def decode(raw):
    """A problem as load_problems decodes it (common.py)."""
    from common import unhex_f32

    problems = {}
    for name, p in raw.items():
        leaves = [(l["name"], tuple(l["shape"]), unhex_f32(l["init"], l["shape"])) for l in p["leaves"]]
        problems[name] = {"name": name, "leaves": leaves, "grads": [[unhex_f32(g, l[1]) for g, l in zip(step, leaves)] for step in p["grads"]]}
    return problems


MATRIX_CASES = MUON_CASES + [
    ("muon", "mask", 0.02, {"muonMask": {"tall": True, "square": False, "wide": True, "b": False, "s": False}}),
]


# ---- PyTorch: torch.optim.Muon on the matrices, torch.optim.AdamW on the other leaves ----------------

TORCH_CASES = [
    ("muon", "defaults", 0.02, {"convention": "pytorch"}),
    ("muon", "tuned", 0.02, {"convention": "pytorch", "beta": 0.9, "nesterov": False, "weightDecay": 0.05, "eps": 1e-06, "adamB1": 0.8, "adamB2": 0.99, "adamEps": 1e-06, "adamWeightDecay": 0.02, "adamLearningRate": 0.005}),
    ("muon", "matchRmsAdamw", 0.02, {"convention": "pytorch", "consistentRms": 0.2}),
    ("muon", "coefficients", 0.02, {"convention": "pytorch", "nsCoeffs": [3.0, -3.2, 1.2], "nsSteps": 3}),
]


def float32_newton_schulz(torch):
    """torch.optim._muon._zeropower_via_newtonschulz with float32 in place of its bfloat16 cast
    (the only change): the trajectories then carry no bfloat16 rounding, which no float32
    implementation could reproduce at the goldens' bound."""
    def ns(grad, ns_coefficients, ns_steps, eps):
        a, b, c = ns_coefficients
        x = grad.float()
        if grad.size(0) > grad.size(1):
            x = x.T
        x = x.div(x.norm().clamp(min=eps))
        for _ in range(ns_steps):
            gram = x @ x.T
            update = torch.addmm(gram, gram, gram, beta=b, alpha=c)
            x = torch.addmm(x, update, x, beta=a)
        if grad.size(0) > grad.size(1):
            x = x.T
        return x
    return ns


def torch_run(options, learning_rate, problem, steps, bfloat16):
    import torch
    import torch.optim._muon as tmuon

    original = tmuon._zeropower_via_newtonschulz
    if not bfloat16:
        tmuon._zeropower_via_newtonschulz = float32_newton_schulz(torch)
    try:
        names = [name for name, _, _ in problem["leaves"]]
        params = {name: torch.tensor(np.array(init, dtype=np.float32), requires_grad=True) for name, _, init in problem["leaves"]}
        mask = options.get("muonMask")
        is_muon = {n: (mask[n] if mask else params[n].ndim == 2) for n in names}
        coeffs = tuple(options.get("nsCoeffs", (3.4445, -4.775, 2.0315)))
        muon_kw = dict(lr=learning_rate, weight_decay=options.get("weightDecay", 0.1), momentum=options.get("beta", 0.95), nesterov=options.get("nesterov", True),
                       ns_coefficients=coeffs, eps=options.get("eps", 1e-7), ns_steps=options.get("nsSteps", 5),
                       adjust_lr_fn="match_rms_adamw" if options.get("consistentRms") == 0.2 else "original")
        adam_kw = dict(lr=options.get("adamLearningRate", learning_rate), betas=(options.get("adamB1", 0.9), options.get("adamB2", 0.999)),
                       eps=options.get("adamEps", 1e-8), weight_decay=options.get("adamWeightDecay", 0.01))
        opts = []
        if any(is_muon.values()):
            opts.append(torch.optim.Muon([params[n] for n in names if is_muon[n]], **muon_kw))
        if not all(is_muon.values()):
            opts.append(torch.optim.AdamW([params[n] for n in names if not is_muon[n]], **adam_kw))
        out = []
        for k in range(steps):
            host = [params[n].detach().numpy().copy() for n in names]
            for n, g in zip(names, gradients(problem, host, k)):
                params[n].grad = torch.tensor(np.asarray(g, dtype=np.float32))
            for o in opts:
                o.step()
            out.append([params[n].detach().numpy().copy() for n in names])
            check_finite(f"torch muon/{problem['name']}", out[-1])
        call = f"torch.optim.Muon({', '.join(f'{k}={v!r}' for k, v in muon_kw.items())}) + torch.optim.AdamW({', '.join(f'{k}={v!r}' for k, v in adam_kw.items())})"
        if not bfloat16:
            call += ", Newton-Schulz in float32 instead of bfloat16"
        return out, call
    finally:
        tmuon._zeropower_via_newtonschulz = original


def torch_rows(problems, steps, bfloat16):
    rows = []
    for optimizer, config, learning_rate, options in TORCH_CASES:
        for name, problem in problems.items():
            if "lr_multipliers" in problem:
                continue  # torch.optim.Muon takes a number (a scheduler is a separate object)
            params, call = torch_run(options, learning_rate, problem, steps, bfloat16)
            case = {"optimizer": optimizer, "convention": "pytorch", "config": config if not bfloat16 else f"{config}-bfloat16", "learningRate": learning_rate, "options": options, "call": call}
            rows.append(trajectory(case, problem, params))
    return rows


def main():
    out_dir = os.environ.get("GOLDENS_OUT") or FIXTURES
    versions = {"optax": optax.__version__, "jax": jax.__version__, "numpy": np.__version__}
    head = {"framework": "optax", "versions": versions, "generator": "scripts/goldens/optax_muon_goldens"}

    steps, problems = load_problems()
    rows = []
    for optimizer, config, learning_rate, options, *rest in MUON_CASES + SCHEDULE_FREE_CASES:
        skip = rest[0] if rest else {}
        for name, problem in problems.items():
            if f"optax/{name}" in skip:
                continue
            params, call = run(optimizer, learning_rate, options, problem, steps)
            case = {"optimizer": optimizer, "convention": "optax", "config": config, "learningRate": learning_rate, "options": options, "call": call}
            rows.append(trajectory(case, problem, params))
    write(os.path.join(out_dir, "optax-muon.json"), head, rows)

    raw = matrix_problems()
    own = decode(raw)
    rows = []
    for optimizer, config, learning_rate, options in MATRIX_CASES:
        for name, problem in own.items():
            if "muonMask" in options and name != "matrices":
                continue
            params, call = run(optimizer, learning_rate, options, problem, STEPS)
            case = {"optimizer": optimizer, "convention": "optax", "config": config, "learningRate": learning_rate, "options": options, "call": call}
            rows.append(trajectory(case, problem, params))
    for optimizer, config, learning_rate, options, _ in SCHEDULE_FREE_CASES:
        problem = own["matrices"]
        params, call = run(optimizer, learning_rate, options, problem, STEPS)
        case = {"optimizer": optimizer, "convention": "optax", "config": config, "learningRate": learning_rate, "options": options, "call": call}
        rows.append(trajectory(case, problem, params))
    import torch

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    rows += torch_rows(own, STEPS, bfloat16=False) + torch_rows(own, STEPS, bfloat16=True)
    write(os.path.join(out_dir, "matrices-muon.json"), {**head, "versions": {**versions, "torch": torch.__version__}, "steps": STEPS, "problems": raw}, rows)

    torch_head = {"framework": "pytorch", "versions": {"torch": torch.__version__, "numpy": np.__version__}, "generator": "scripts/goldens/optax_muon_goldens"}
    write(os.path.join(out_dir, "pytorch-muon.json"), torch_head, torch_rows(problems, steps, bfloat16=False))


if __name__ == "__main__":
    main()
