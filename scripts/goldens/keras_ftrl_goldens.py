"""Golden trajectories of Keras 3's Ftrl on the JAX backend (CPU, float32): writes
test/fixtures/goldens/keras-ftrl.json, in the format of keras.json (see common.py).

Each case below is fluxion's `ftrl` with its options (fluxion's names, the learning rate apart); it
is run with keras.optimizers.Ftrl through `apply_gradients` on keras.Variables, for every problem
of problems.json. A schedule is a LearningRateSchedule over the step count (keras_goldens.py does
the same).
"""

import json
import os
import sys

os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from common import FIXTURES, check_finite, gradients, learning_rates, load_problems, trajectory  # noqa: E402

# (config, learning rate, fluxion options)
CASES = [
    ("defaults", 0.1, {}),
    ("l1", 0.2, {"l1RegularizationStrength": 0.05, "l2RegularizationStrength": 0.01}),
    ("sparse", 0.5, {"l1RegularizationStrength": 0.5, "initialAccumulatorValue": 0.5}),
    ("shrinkage", 0.1, {"l2ShrinkageRegularizationStrength": 0.05, "beta": 0.5, "initialAccumulatorValue": 0.01}),
    ("power", 0.05, {"learningRatePower": -0.3, "l2RegularizationStrength": 0.1}),
    ("fixedRate", 0.02, {"learningRatePower": 0.0, "l1RegularizationStrength": 0.01}),
    ("weightDecay", 0.1, {"weightDecay": 0.05, "beta": 0.2}),
]

RENAMES = {
    "learningRatePower": "learning_rate_power",
    "initialAccumulatorValue": "initial_accumulator_value",
    "l1RegularizationStrength": "l1_regularization_strength",
    "l2RegularizationStrength": "l2_regularization_strength",
    "l2ShrinkageRegularizationStrength": "l2_shrinkage_regularization_strength",
    "weightDecay": "weight_decay",
}


class Table(keras.optimizers.schedules.LearningRateSchedule):
    """α_k read from a float32 table at the step count k."""

    def __init__(self, values):
        self.values = np.array(values, dtype=np.float32)

    def __call__(self, step):
        return ops.take(ops.convert_to_tensor(self.values), ops.cast(step, "int32"))


def run(learning_rate, options, problem, steps):
    lrs = learning_rates(problem, learning_rate, steps)
    kw = {RENAMES.get(k, k): v for k, v in options.items()}
    args = ["learning_rate=schedule" if lrs is not None else f"learning_rate={learning_rate!r}"] + [f"{k}={v!r}" for k, v in kw.items()]
    call = f"keras.optimizers.Ftrl({', '.join(args)})"
    opt = keras.optimizers.Ftrl(learning_rate=Table(lrs) if lrs is not None else learning_rate, **kw)
    variables = [keras.Variable(np.array(init, dtype=np.float32), dtype="float32", name=name) for name, _, init in problem["leaves"]]
    opt.build(variables)
    out = []
    for k in range(steps):
        host = [np.array(v.numpy(), dtype=np.float32) for v in variables]
        grads = [ops.convert_to_tensor(np.array(g, dtype=np.float32)) for g in gradients(problem, host, k)]
        opt.apply_gradients(zip(grads, variables))
        out.append([np.array(v.numpy(), dtype=np.float32) for v in variables])
        check_finite(f"ftrl/{problem['name']}", out[-1])
    return out, call


def write(versions, rows, path):
    """The layout of common.write_fixture (a header, one trajectory per line), under this generator's name."""
    head = {"framework": "keras", "versions": versions, "generator": "scripts/goldens/keras_ftrl_goldens"}
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
    for config, learning_rate, options in CASES:
        for problem in problems.values():
            params, call = run(learning_rate, options, problem, steps)
            case = {"optimizer": "ftrl", "convention": "keras", "config": config, "learningRate": learning_rate, "options": options, "call": call}
            rows.append(trajectory(case, problem, params))
    out = os.environ.get("GOLDENS_OUT")
    write({"keras": keras.__version__, "jax": jax.__version__, "numpy": np.__version__}, rows, os.path.join(out or FIXTURES, "keras-ftrl.json"))


if __name__ == "__main__":
    main()
