"""Writes test/fixtures/goldens/problems.json: the inputs every golden trajectory runs on.

Values come from splitmix64 (integer arithmetic, no library RNG), so the file depends on nothing but
this script. Problems (25 steps each):

  fixed      4 parameters, a fixed gradient sequence in (-1, 1) plus a bias of 0.4
  quadratic  4 parameters on f(x) = ½ Σ hᵢ(xᵢ − cᵢ)², h spanning 10⁴ (ill-conditioned); the
             gradient h ⊙ (x − c) is computed in float32 from the current parameters each step
  tiny       gradients of order 1e-7, where ε dominates the denominators
  large      gradients of order 1e3 to 1e4, each coordinate's of one sign
  schedule   the fixed-sequence kind of problem with a learning-rate schedule: α_k = float32(α·m_k),
             m_k a 5-step linear warm-up then a cosine decay to 0.1
  tree       three leaves, w [2, 3], b [3] and s [] (a scalar), each with its own gradients

Initial values of the sequence problems are in ±[1, 2] and their biases point away from 0 (see
away_from_zero).
"""

import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
import numpy as np  # noqa: E402

from common import PROBLEMS, hex_f32  # noqa: E402

STEPS = 25
MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def uniform(self, lo, hi, n):
        """n float32 values lo + (hi − lo)·u, u = top 24 bits / 2²⁴."""
        return np.array([lo + (hi - lo) * ((self.next() >> 40) / 16777216.0) for _ in range(n)], dtype=np.float32)


def leaf(name, shape, init):
    return {"name": name, "shape": list(shape), "init": hex_f32(init)}


def away_from_zero(rng, n):
    """Initial values in ±[1, 2] and gradient biases of 0.4 pointing away from zero (descent moves
    |θ| outwards), so that no coordinate passes near 0, where a 1-ulp difference in its history would
    be a large relative one."""
    init = rng.uniform(1, 2, n) * np.where(rng.uniform(-1, 1, n) < 0, -1, 1).astype(np.float32)
    return init, -0.4 * np.sign(init)


def sequence(rng, n, scale, bias, noise=1.0):
    return [hex_f32((rng.uniform(-noise, noise, n) + np.asarray(bias, dtype=np.float32)) * np.float32(scale)) for _ in range(STEPS)]


def fixed_problem(seed, scale, noise=1.0):
    rng = SplitMix64(seed)
    init, bias = away_from_zero(rng, 4)
    return {"leaves": [leaf("x", (4,), init)], "grads": [[g] for g in sequence(rng, 4, scale, bias, noise)]}


def main():
    problems = {}
    problems["fixed"] = fixed_problem(1, 1.0)
    # the minimum c has the sign of x₀ and lies 0.5 to 1 away, closer to 0, so that neither
    # descent (overshooting c) nor ascent (maximize) brings a coordinate near 0
    problems["quadratic"] = {
        "leaves": [leaf("x", (4,), np.array([1.5, -1.5, 2.5, 2.0], dtype=np.float32))],
        "quadratic": {"h": hex_f32([25.0, 2.5, 0.25, 0.0025]), "c": hex_f32([1.0, -1.0, 1.5, 1.0])},
    }
    problems["tiny"] = fixed_problem(3, 1e-7)
    # one sign per coordinate: θ moves outwards by steps of up to 10³ without cancelling, where the
    # frameworks' own roundings (a fused multiply-add in θ − αg, say) would differ by an ulp of a step
    problems["large"] = fixed_problem(4, 5e3, noise=0.3)
    sched = fixed_problem(5, 1.0)
    m = [(k + 1) / 5 if k < 5 else 0.1 + 0.45 * (1 + math.cos(math.pi * (k - 5) / (STEPS - 6))) for k in range(STEPS)]
    sched["lrMultipliers"] = hex_f32(m)
    problems["schedule"] = sched
    rng = SplitMix64(6)
    leaves, per_leaf = [], []
    for name, shape in [("w", (2, 3)), ("b", (3,)), ("s", ())]:
        n = int(np.prod(shape)) if shape else 1
        init, bias = away_from_zero(rng, n)
        leaves.append(leaf(name, shape, init.reshape(shape)))
        per_leaf.append(sequence(rng, n, 1.0, bias))
    problems["tree"] = {"leaves": leaves, "grads": [list(step) for step in zip(*per_leaf)]}
    body = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}" for k, v in problems.items())
    text = f'{{\n "steps": {STEPS},\n "problems": {{\n{body}\n }}\n}}\n'
    os.makedirs(os.path.dirname(PROBLEMS), exist_ok=True)
    out = os.environ.get("GOLDENS_OUT")
    path = os.path.join(out, "problems.json") if out else PROBLEMS
    with open(path, "w") as f:
        f.write(text)
    print(f"{path}: {len(problems)} problems")


if __name__ == "__main__":
    main()
