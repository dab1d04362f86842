"""Golden trajectories from Keras 3 on the JAX backend (CPU, float32): writes
test/fixtures/goldens/keras.json.

Each case of cases.json in the 'keras' convention is run with the keras.optimizers class fluxion's
convention reproduces, given only the options the case sets (so the defaults are Keras' own), through
`apply_gradients` on keras.Variables. A schedule is a LearningRateSchedule over the step count.
fluxion's `momentum` (the lectures' velocity form) is Keras' SGD with momentum.
"""

import os
import sys

os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from common import check_finite, gradients, learning_rates, load_cases, output_path, trajectory, write_fixture  # noqa: E402

CLASSES = {
    "sgd": "SGD",
    "momentum": "SGD",
    "adagrad": "Adagrad",
    "rmsprop": "RMSprop",
    "adadelta": "Adadelta",
    "adam": "Adam",
    "adamw": "AdamW",
    "amsgrad": "Adam",
    "adamax": "Adamax",
    "nadam": "Nadam",
    "lion": "Lion",
}

COMMON = {"b1": "beta_1", "b2": "beta_2", "eps": "epsilon", "weightDecay": "weight_decay"}
RENAMES = {
    "adagrad": {"initialAccumulatorValue": "initial_accumulator_value"},
    "rmsprop": {"decay": "rho"},
}


class Table(keras.optimizers.schedules.LearningRateSchedule):
    """α_k read from a float32 table at the step count k."""

    def __init__(self, values):
        self.values = np.array(values, dtype=np.float32)

    def __call__(self, step):
        return ops.take(ops.convert_to_tensor(self.values), ops.cast(step, "int32"))


def kwargs_of(case):
    names = {**COMMON, **RENAMES.get(case["optimizer"], {})}
    kw = {names.get(k, k): v for k, v in case["options"].items() if k != "convention"}
    if case["optimizer"] == "momentum":
        kw.setdefault("momentum", 0.9)  # fluxion's momentum default
    if case["optimizer"] == "amsgrad":
        kw["amsgrad"] = True
    return kw


def run(case, problem, steps):
    lrs = learning_rates(problem, case["learningRate"], steps)
    kw = kwargs_of(case)
    cls = CLASSES[case["optimizer"]]
    args = ["learning_rate=schedule" if lrs is not None else f"learning_rate={case['learningRate']!r}"] + [f"{k}={v!r}" for k, v in kw.items()]
    call = f"keras.optimizers.{cls}({', '.join(args)})"
    lr = Table(lrs) if lrs is not None else case["learningRate"]
    opt = getattr(keras.optimizers, cls)(learning_rate=lr, **kw)
    variables = [keras.Variable(np.array(init, dtype=np.float32), dtype="float32", name=name) for name, _, init in problem["leaves"]]
    opt.build(variables)
    out = []
    for k in range(steps):
        host = [np.array(v.numpy(), dtype=np.float32) for v in variables]
        grads = [ops.convert_to_tensor(np.array(g, dtype=np.float32)) for g in gradients(problem, host, k)]
        opt.apply_gradients(zip(grads, variables))
        out.append([np.array(v.numpy(), dtype=np.float32) for v in variables])
        check_finite(f"{case['optimizer']}/{case['config']}/{problem['name']}", out[-1])
    return out, call


def main():
    rows = []
    for case, problem, steps in load_cases("keras"):
        params, call = run(case, problem, steps)
        rows.append(trajectory({**case, "call": call}, problem, params))
    write_fixture("keras", {"keras": keras.__version__, "jax": jax.__version__, "numpy": np.__version__}, rows, output_path("keras"))


if __name__ == "__main__":
    main()
