"""Golden trajectories from PyTorch (CPU, float32): writes test/fixtures/goldens/pytorch.json.

Each case of cases.json in the 'pytorch' convention is run with the torch.optim class fluxion's
convention reproduces, given only the options the case sets (so the defaults are PyTorch's own).
A schedule sets each param group's lr before the step, as an LR scheduler would.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from common import check_finite, gradients, learning_rates, load_cases, output_path, trajectory, write_fixture  # noqa: E402

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

CLASSES = {
    "sgd": "SGD",
    "adagrad": "Adagrad",
    "rmsprop": "RMSprop",
    "adadelta": "Adadelta",
    "adam": "Adam",
    "adamw": "AdamW",
    "amsgrad": "Adam",
    "adamax": "Adamax",
    "nadam": "NAdam",
    "radam": "RAdam",
}

# fluxion option name -> torch keyword, per optimizer (names not listed are the same)
RENAMES = {
    "adagrad": {"initialAccumulatorValue": "initial_accumulator_value", "lrDecay": "lr_decay", "weightDecay": "weight_decay"},
    "rmsprop": {"decay": "alpha", "weightDecay": "weight_decay"},
    "sgd": {"weightDecay": "weight_decay"},
    "adadelta": {"weightDecay": "weight_decay"},
    "adam": {"weightDecay": "weight_decay"},
    "adamw": {"weightDecay": "weight_decay"},
    "amsgrad": {"weightDecay": "weight_decay"},
    "adamax": {"weightDecay": "weight_decay"},
    "nadam": {"weightDecay": "weight_decay", "momentumDecay": "momentum_decay", "decoupledWeightDecay": "decoupled_weight_decay"},
    "radam": {"weightDecay": "weight_decay", "decoupledWeightDecay": "decoupled_weight_decay"},
}


def kwargs_of(case):
    names = RENAMES.get(case["optimizer"], {})
    kw = {}
    for k, v in case["options"].items():
        if k in ("convention", "b1", "b2"):
            continue
        kw[names.get(k, k)] = v
    if "b1" in case["options"] or "b2" in case["options"]:
        kw["betas"] = (case["options"].get("b1", 0.9), case["options"].get("b2", 0.999))
    if case["optimizer"] == "amsgrad":
        kw["amsgrad"] = True
    kw["foreach"] = False  # the single-tensor loop, the default on the CPU, named explicitly
    return kw


def run(case, problem, steps):
    lrs = learning_rates(problem, case["learningRate"], steps)
    kw = kwargs_of(case)
    cls = CLASSES[case["optimizer"]]
    args = ["params", "lr=schedule" if lrs is not None else f"lr={case['learningRate']!r}"] + [f"{k}={v!r}" for k, v in kw.items()]
    call = f"torch.optim.{cls}({', '.join(args)})"
    params = [torch.tensor(np.array(init, dtype=np.float32), dtype=torch.float32, requires_grad=True) for _, _, init in problem["leaves"]]
    opt = getattr(torch.optim, cls)(params, lr=case["learningRate"], **kw)
    out = []
    for k in range(steps):
        host = [p.detach().numpy().copy() for p in params]
        for p, g in zip(params, gradients(problem, host, k)):
            p.grad = torch.from_numpy(np.array(g, dtype=np.float32))
        if lrs is not None:
            for group in opt.param_groups:
                group["lr"] = float(lrs[k])
        opt.step()
        out.append([p.detach().numpy().copy() for p in params])
        check_finite(f"{case['optimizer']}/{case['config']}/{problem['name']}", out[-1])
    return out, call


def main():
    rows = []
    for case, problem, steps in load_cases("pytorch"):
        params, call = run(case, problem, steps)
        rows.append(trajectory({**case, "call": call}, problem, params))
    write_fixture("pytorch", {"torch": torch.__version__, "numpy": np.__version__}, rows, output_path("pytorch"))


if __name__ == "__main__":
    main()
