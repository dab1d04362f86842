"""Golden trajectories of PyTorch's ASGD (CPU, float32): writes test/fixtures/goldens/pytorch-asgd.json,
in the format of pytorch.json (see common.py), with one more field per trajectory: `averaged`, the
optimizer's `state[p]['ax']` after every step (what fluxion's `asgdEvalParams` returns), checked by
test/asgd-ftrl.test.ts.

Each case below is fluxion's `asgd` with its options (fluxion's names, the learning rate apart); it
is run with torch.optim.ASGD (the single-tensor loop, foreach=False) for every problem of
problems.json. A schedule sets each param group's lr before the step, as an LR scheduler would
(pytorch_goldens.py does the same).
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from common import FIXTURES, check_finite, gradients, hex_f32, learning_rates, load_problems, trajectory  # noqa: E402

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

# (config, learning rate, fluxion options)
CASES = [
    ("defaults", 0.05, {}),
    ("averaging", 0.05, {"lambd": 0.01, "alpha": 0.6, "t0": 5}),
    ("averagingFromStart", 0.02, {"lambd": 0.1, "alpha": 1.0, "t0": 0}),
    ("fractionalT0", 0.05, {"lambd": 0.001, "alpha": 0.75, "t0": 2.5}),
    ("weightDecay", 0.05, {"lambd": 0.05, "t0": 3, "weightDecay": 0.02}),
    ("maximize", 0.02, {"t0": 8, "weightDecay": 0.01, "maximize": True}),
]

RENAMES = {"weightDecay": "weight_decay"}


def run(learning_rate, options, problem, steps):
    lrs = learning_rates(problem, learning_rate, steps)
    kw = {RENAMES.get(k, k): v for k, v in options.items()}
    args = ["params", "lr=schedule" if lrs is not None else f"lr={learning_rate!r}"] + [f"{k}={v!r}" for k, v in kw.items()]
    call = f"torch.optim.ASGD({', '.join(args)})"
    params = [torch.tensor(np.array(init, dtype=np.float32), dtype=torch.float32, requires_grad=True) for _, _, init in problem["leaves"]]
    opt = torch.optim.ASGD(params, lr=learning_rate, foreach=False, **kw)
    out, averaged = [], []
    for k in range(steps):
        host = [p.detach().numpy().copy() for p in params]
        for p, g in zip(params, gradients(problem, host, k)):
            p.grad = torch.from_numpy(np.array(g, dtype=np.float32))
        if lrs is not None:
            for group in opt.param_groups:
                group["lr"] = float(lrs[k])
        opt.step()
        out.append([p.detach().numpy().copy() for p in params])
        averaged.append([opt.state[p]["ax"].detach().numpy().copy() for p in params])
        check_finite(f"asgd/{problem['name']}", out[-1])
    return out, averaged, call


def write(versions, rows, path):
    """The layout of common.write_fixture (a header, one trajectory per line), under this generator's name."""
    head = {"framework": "pytorch", "versions": versions, "generator": "scripts/goldens/pytorch_asgd_goldens"}
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
            params, averaged, call = run(learning_rate, options, problem, steps)
            case = {"optimizer": "asgd", "convention": "pytorch", "config": config, "learningRate": learning_rate, "options": options, "call": call}
            rows.append({**trajectory(case, problem, params), "averaged": [[hex_f32(leaf) for leaf in step] for step in averaged]})
    out = os.environ.get("GOLDENS_OUT")
    write({"torch": torch.__version__, "numpy": np.__version__}, rows, os.path.join(out or FIXTURES, "pytorch-asgd.json"))


if __name__ == "__main__":
    main()
