"""Golden values of Optax 0.2.8's warmup and interpolation schedules (JAX on the CPU, float32):
writes test/fixtures/goldens/schedules-optax.json, checked by test/schedules-extra.test.ts.

Each case is a fluxion schedule with its options (fluxion's names) and the Optax call that builds
the same schedule; the fixture holds Optax's float32 value (8 hex digits of its bits, as in
common.py) at every step of `STEPS`. (The file is not named optax-<family>.json: those are
trajectory fixtures, which test/goldens.test.ts loads.)
"""

import json
import os
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, os.path.dirname(__file__))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from common import FIXTURES, hex_f32  # noqa: E402

jax.config.update("jax_enable_x64", False)

STEPS = list(range(0, 41)) + [49, 50, 51, 99, 100, 101, 149, 150, 151, 199, 200, 250, 299, 300, 301, 500, 849, 850, 851, 999, 1000, 1001, 2000, 10000]

# (fluxion schedule, config, fluxion options, Optax function, Optax keyword arguments)
CASES = [
    ("warmupConstant", "defaults", {"peak": 0.1, "warmupSteps": 10}, "warmup_constant_schedule", {"init_value": 0.0, "peak_value": 0.1, "warmup_steps": 10}),
    ("warmupConstant", "fromInit", {"init": 0.01, "peak": 0.5, "warmupSteps": 37}, "warmup_constant_schedule", {"init_value": 0.01, "peak_value": 0.5, "warmup_steps": 37}),
    ("warmupConstant", "down", {"init": 1.0, "peak": 0.25, "warmupSteps": 3}, "warmup_constant_schedule", {"init_value": 1.0, "peak_value": 0.25, "warmup_steps": 3}),
    ("warmupExponentialDecay", "defaults", {"peak": 0.1, "warmupSteps": 10, "transitionSteps": 20, "decayRate": 0.5},
     "warmup_exponential_decay_schedule", {"init_value": 0.0, "peak_value": 0.1, "warmup_steps": 10, "transition_steps": 20, "decay_rate": 0.5}),
    ("warmupExponentialDecay", "staircase", {"init": 0.01, "peak": 0.2, "warmupSteps": 5, "transitionSteps": 7, "decayRate": 0.8, "transitionBegin": 4, "staircase": True},
     "warmup_exponential_decay_schedule", {"init_value": 0.01, "peak_value": 0.2, "warmup_steps": 5, "transition_steps": 7, "decay_rate": 0.8, "transition_begin": 4, "staircase": True}),
    ("warmupExponentialDecay", "floor", {"init": 0.0, "peak": 1.0, "warmupSteps": 20, "transitionSteps": 10, "decayRate": 0.7, "end": 0.05},
     "warmup_exponential_decay_schedule", {"init_value": 0.0, "peak_value": 1.0, "warmup_steps": 20, "transition_steps": 10, "decay_rate": 0.7, "end_value": 0.05}),
    ("warmupExponentialDecay", "growthCeiling", {"init": 0.5, "peak": 0.1, "warmupSteps": 8, "transitionSteps": 15, "decayRate": 1.3, "end": 0.4},
     "warmup_exponential_decay_schedule", {"init_value": 0.5, "peak_value": 0.1, "warmup_steps": 8, "transition_steps": 15, "decay_rate": 1.3, "end_value": 0.4}),
    ("warmupExponentialDecay", "noWarmup", {"peak": 0.3, "warmupSteps": 0, "transitionSteps": 25, "decayRate": 0.9},
     "warmup_exponential_decay_schedule", {"init_value": 0.0, "peak_value": 0.3, "warmup_steps": 0, "transition_steps": 25, "decay_rate": 0.9}),
    ("linearOnecycle", "defaults", {"transitionSteps": 1000, "peak": 0.1}, "linear_onecycle_schedule", {"transition_steps": 1000, "peak_value": 0.1}),
    ("linearOnecycle", "short", {"transitionSteps": 30, "peak": 2.0, "pctStart": 0.2, "pctFinal": 0.7, "divFactor": 10.0, "finalDivFactor": 100.0},
     "linear_onecycle_schedule", {"transition_steps": 30, "peak_value": 2.0, "pct_start": 0.2, "pct_final": 0.7, "div_factor": 10.0, "final_div_factor": 100.0}),
    ("linearOnecycle", "noRise", {"transitionSteps": 40, "peak": 1.0, "pctStart": 0.0, "pctFinal": 0.5}, "linear_onecycle_schedule", {"transition_steps": 40, "peak_value": 1.0, "pct_start": 0.0, "pct_final": 0.5}),
    ("piecewiseInterpolate", "linear", {"interpolateType": "linear", "init": 1.0, "boundariesAndScales": {"4": 0.1, "8": 0.01}},
     "piecewise_interpolate_schedule", {"interpolate_type": "linear", "init_value": 1.0, "boundaries_and_scales": {4: 0.1, 8: 0.01}}),
    ("piecewiseInterpolate", "cosine", {"interpolateType": "cosine", "init": 0.5, "boundariesAndScales": {"10": 2.0, "25": 0.1, "200": 0.5}},
     "piecewise_interpolate_schedule", {"interpolate_type": "cosine", "init_value": 0.5, "boundaries_and_scales": {10: 2.0, 25: 0.1, 200: 0.5}}),
    ("piecewiseInterpolate", "atZero", {"interpolateType": "linear", "init": 2.0, "boundariesAndScales": {"0": 0.5, "30": 3.0, "31": 0.0}},
     "piecewise_interpolate_schedule", {"interpolate_type": "linear", "init_value": 2.0, "boundaries_and_scales": {0: 0.5, 30: 3.0, 31: 0.0}}),
    ("piecewiseInterpolate", "none", {"interpolateType": "cosine", "init": 0.7}, "piecewise_interpolate_schedule", {"interpolate_type": "cosine", "init_value": 0.7}),
]


def main():
    rows = []
    for schedule, config, options, fn, kwargs in CASES:
        f = getattr(optax, fn)(**kwargs)
        values = [np.float32(f(np.int32(k))) for k in STEPS]
        call = f"optax.{fn}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"
        rows.append({"id": f"{schedule}/{config}", "schedule": schedule, "options": options, "call": call, "values": hex_f32(values)})
    head = {"framework": "optax", "versions": {"optax": optax.__version__, "jax": jax.__version__}, "generator": "scripts/goldens/optax_schedules_goldens", "steps": STEPS}
    lines = [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in rows]
    text = (
        "{\n"
        + "\n".join(f"  {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}," for k, v in head.items())
        + '\n  "schedules": [\n    '
        + ",\n    ".join(lines)
        + "\n  ]\n}\n"
    )
    out = os.environ.get("GOLDENS_OUT")
    path = os.path.join(out or FIXTURES, "schedules-optax.json")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    print(f"{path}: {len(rows)} schedules")


if __name__ == "__main__":
    main()
