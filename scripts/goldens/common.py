"""Shared pieces of the golden generators: the problems file, float32 hex encoding, the quadratic's
gradient and the fixture writer. Every generator reads test/fixtures/goldens/problems.json (written
by problems.py), so all frameworks and the fluxion test run on identical float32 inputs.

A float32 is written as the 8 hex digits of its IEEE-754 bits (big-endian), so a fixture holds the
exact values a framework produced; a leaf is one string of such words separated by spaces.
"""

import json
import os
import sys

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "test", "fixtures", "goldens")
PROBLEMS = os.path.join(FIXTURES, "problems.json")


def hex_f32(values):
    """A leaf (any shape) as space-separated 8-digit hex words of its float32 bits, row-major."""
    a = np.ascontiguousarray(np.asarray(values, dtype=np.float32)).reshape(-1)
    return " ".join("%08x" % int(w) for w in a.view(np.uint32))


def unhex_f32(text, shape):
    words = [int(w, 16) for w in text.split()] if text else []
    return np.array(words, dtype=np.uint32).view(np.float32).reshape(shape)


def load_problems():
    """The problems, decoded: each has `leaves` (name, shape, init array), and either `grads`
    (steps × leaves arrays) or `quadratic` (h, c arrays), and optionally `lr_multipliers`."""
    with open(PROBLEMS) as f:
        raw = json.load(f)
    problems = {}
    for name, p in raw["problems"].items():
        leaves = [(l["name"], tuple(l["shape"]), unhex_f32(l["init"], l["shape"])) for l in p["leaves"]]
        q = {"name": name, "leaves": leaves}
        if "grads" in p:
            q["grads"] = [[unhex_f32(g, l[1]) for g, l in zip(step, leaves)] for step in p["grads"]]
        if "quadratic" in p:
            q["h"] = unhex_f32(p["quadratic"]["h"], leaves[0][1])
            q["c"] = unhex_f32(p["quadratic"]["c"], leaves[0][1])
        if "lrMultipliers" in p:
            q["lr_multipliers"] = unhex_f32(p["lrMultipliers"], (raw["steps"],))
        problems[name] = q
    return raw["steps"], problems


def gradients(problem, params, k):
    """The gradients at step k (0-based) for params (a list of float32 numpy arrays, one per leaf):
    the stored sequence, or the quadratic's h ⊙ (x − c) computed in float32."""
    if "grads" in problem:
        return [np.array(g, dtype=np.float32) for g in problem["grads"][k]]
    x = np.asarray(params[0], dtype=np.float32)
    return [(problem["h"] * (x - problem["c"])).astype(np.float32)]


def learning_rates(problem, lr, steps):
    """The learning rate at each step: lr, or float32(lr × m_k) on a problem with a schedule
    (the product taken in float64 and rounded once, as the fluxion test does)."""
    if "lr_multipliers" not in problem:
        return None
    return [np.float32(float(lr) * float(m)) for m in problem["lr_multipliers"][:steps]]


def check_finite(case_id, params):
    for leaf in params:
        if not np.all(np.isfinite(leaf)):
            sys.exit(f"{case_id}: non-finite parameters; choose other hyperparameters for this case")


def trajectory(case, problem, steps_params):
    """One fixture row. `case` carries optimizer, convention, config, options (fluxion's, without the
    learning rate), learningRate and call (the framework call, for the reader)."""
    return {
        "id": "/".join([case["optimizer"], case["convention"], case["config"], problem["name"]]),
        "optimizer": case["optimizer"],
        "convention": case["convention"],
        "config": case["config"],
        "problem": problem["name"],
        "learningRate": case["learningRate"],
        "options": case["options"],
        "call": case["call"],
        "params": [[hex_f32(leaf) for leaf in step] for step in steps_params],
    }


def write_fixture(framework, versions, rows, path=None):
    """Writes <framework>.json: a header, then one trajectory per line (stable, diff-friendly)."""
    path = path or os.path.join(FIXTURES, f"{framework}.json")
    head = {"framework": framework, "versions": versions, "generator": f"scripts/goldens/{framework}_goldens"}
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


def output_path(framework):
    """Where to write: $GOLDENS_OUT/<framework>.json when set (the check mode), else the fixtures."""
    out = os.environ.get("GOLDENS_OUT")
    return os.path.join(out, f"{framework}.json") if out else None


# fluxion optimizers that take a `convention` option (the others reproduce one framework only)
TAKES_CONVENTION = {"sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "nadam", "amsgrad", "adamax", "radam", "lion"}


def load_cases(convention, skip_problems=()):
    """The cases of cases.json for one convention, each with its fluxion options completed by the
    convention (where the optimizer takes one), and the problems it runs on: all of them, or those
    listed in its `problems`, less those in `skip` ("<convention>/<problem>": reason)."""
    with open(os.path.join(os.path.dirname(__file__), "cases.json")) as f:
        raw = json.load(f)
    steps, problems = load_problems()
    for c in raw["cases"]:
        if convention not in c["conventions"]:
            continue
        options = dict(c["options"])
        if c["optimizer"] in TAKES_CONVENTION:
            options["convention"] = convention
        skip = c.get("skip", {})
        for name, problem in problems.items():
            if name in skip_problems or f"{convention}/{name}" in skip or name not in c.get("problems", problems):
                continue
            yield {**c, "convention": convention, "options": options}, problem, steps
