/**
 * Float64 references of PyTorch's averaged SGD and Keras' FTRL-Proximal (src/optimizers/asgd-ftrl.ts),
 * written naively from the update each framework documents: PyTorch 2 `torch/optim/asgd.py`
 * (`_single_tensor_asgd`, which is Polyak & Juditsky 1992 with Bottou 2012's step sizes) and
 * Keras 3 `keras/src/optimizers/ftrl.py` (McMahan et al. 2013, Algorithm 1). Parameters are a list of
 * leaves (Float64Array each); `grads[k]` is the gradient of step k; `alpha(k)` the learning rate of
 * step k (k from 0). Nothing is rounded to float32.
 */
import type { Rate } from './seed000.js'
import type { Leaves } from './optimizers.js'

const clone = (x: readonly Float64Array[]): Leaves => x.map((l) => Float64Array.from(l))

/** Options of the ASGD reference (PyTorch's names). */
export interface AsgdReferenceOptions {
  readonly lambd: number
  readonly alpha: number
  readonly t0: number
  readonly weightDecay: number
  readonly maximize: boolean
}

/**
 * PyTorch's ASGD: with η₁ = γ₀ and μ₁ = 1, at step t (k = t − 1)
 *
 *   g ← −g (maximize);  g ← g + λ_wd θ;  θ ← θ(1 − λη_t) − η_t g;
 *   ax ← θ if μ_t = 1, else ax + μ_t(θ − ax);
 *   η_{t+1} = γ_k / (1 + λ γ_k t)^α;  μ_{t+1} = 1 / max(1, t − t₀).
 *
 * Returns the params and the average ax after the last step (ax = 0 before any step).
 */
export const asgdReference = (theta0: Leaves, grads: readonly Leaves[], gamma: Rate, o: AsgdReferenceOptions): { readonly theta: Leaves; readonly ax: Leaves } => {
  const theta = clone(theta0)
  const ax = theta0.map((l) => new Float64Array(l.length))
  let eta = gamma(0)
  let mu = 1
  grads.forEach((g, k) => {
    theta.forEach((leaf, j) =>
      leaf.forEach((th, i) => {
        const gi = (o.maximize ? -g[j]![i]! : g[j]![i]!) + o.weightDecay * th
        const next = th * (1 - o.lambd * eta) - eta * gi
        leaf[i] = next
        ax[j]![i] = mu === 1 ? next : ax[j]![i]! + mu * (next - ax[j]![i]!)
      }),
    )
    const t = k + 1
    eta = gamma(k) / (1 + o.lambd * gamma(k) * t) ** o.alpha
    mu = 1 / Math.max(1, t - o.t0)
  })
  return { theta, ax }
}

/** Options of the FTRL reference (Keras' names, camel-cased). */
export interface FtrlReferenceOptions {
  readonly learningRatePower: number
  readonly initialAccumulatorValue: number
  readonly l1RegularizationStrength: number
  readonly l2RegularizationStrength: number
  readonly l2ShrinkageRegularizationStrength: number
  readonly beta: number
  readonly weightDecay: number
}

/**
 * Keras' FTRL-Proximal, per coordinate, with p = −learningRatePower and α = alpha(k):
 *
 *   θ′ = θ − wαθ;  ĝ = g + 2λₛθ′;  n′ = n + g²;  z ← z + ĝ − ((n′^p − n^p)/α) θ′;  n ← n′;
 *   θ ← 0 if |z| ≤ λ₁, else (sign(z)λ₁ − z) / (n′^p/α + 2λ₂ + β/α)
 *
 * (θ unchanged where that denominator is 0: no gradient seen, n₀ = λ₂ = β = 0).
 */
export const ftrlReference = (theta0: Leaves, grads: readonly Leaves[], alpha: Rate, o: FtrlReferenceOptions): Leaves => {
  const theta = clone(theta0)
  const p = -o.learningRatePower
  const n = theta0.map((l) => new Float64Array(l.length).fill(o.initialAccumulatorValue))
  const z = theta0.map((l) => new Float64Array(l.length))
  grads.forEach((g, k) => {
    const a = alpha(k)
    theta.forEach((leaf, j) =>
      leaf.forEach((th, i) => {
        const gi = g[j]![i]!
        const w = th - o.weightDecay * a * th
        const n1 = n[j]![i]! + gi * gi
        const zi = (z[j]![i] = z[j]![i]! + gi + 2 * o.l2ShrinkageRegularizationStrength * w - ((n1 ** p - n[j]![i]! ** p) / a) * w)
        n[j]![i] = n1
        const q = n1 ** p / a + 2 * o.l2RegularizationStrength + o.beta / a
        if (q === 0) return
        leaf[i] = Math.abs(zi) <= o.l1RegularizationStrength ? 0 : (Math.sign(zi) * o.l1RegularizationStrength - zi) / q
      }),
    )
  })
  return theta
}
