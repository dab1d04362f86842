/**
 * Float64 references of Optax contrib's ADOPT, AdEMAMix, simplified AdEMAMix, MADGRAD, Sophia and
 * SAM (src/optimizers/contrib.ts, src/transforms/contrib.ts), written naively from each paper's
 * update as Optax 0.2.8 states it (optax/contrib/_adopt.py, _ademamix.py, _madgrad.py, _sophia.py,
 * _sam.py). Parameters are a list of leaves (Float64Array each); `grads[k]` is the gradient of step
 * k; `alpha(k)` the learning rate of step k; t = k + 1.
 */
import type { Rate } from './seed000.js'
import type { Leaves } from './optimizers.js'

const clone = (x: readonly Float64Array[]): Leaves => x.map((l) => Float64Array.from(l))
const like = (x: readonly Float64Array[], v = 0): Leaves => x.map((l) => new Float64Array(l.length).fill(v))

/** Runs an elementwise rule `step(j, i, θ, g, k, t)` over every element of every leaf, step by step. */
const run = (theta0: Leaves, grads: readonly Leaves[], step: (j: number, i: number, theta: number, g: number, k: number, t: number) => number): Leaves => {
  const theta = clone(theta0)
  grads.forEach((g, k) => theta.forEach((leaf, j) => leaf.forEach((th, i) => (leaf[i] = step(j, i, th, g[j]![i]!, k, k + 1)))))
  return theta
}

const clip = (x: number, c: number) => Math.min(Math.max(x, -c), c)
/** A quotient that is 0 where numerator and denominator are both 0 (no gradient seen yet). */
const div = (a: number, b: number) => (a === 0 && b === 0 ? 0 : a / b)

/** Options of the ADOPT reference. */
export interface AdoptReferenceOptions {
  readonly b1: number
  readonly b2: number
  readonly eps: number
  readonly nesterov: boolean
  /** c(k) at the 0-based step k, or undefined for no clipping. */
  readonly clip?: (k: number) => number
}

/**
 * ADOPT, Taniguchi et al. 2024 Algorithm 2 (Optax `scale_by_adopt`): t = 1 sets v = g² and moves
 * nothing; then r = clip(g / max(√v, ε), ±c(t − 1)) with the previous v, m ← β₁m + (1 − β₁)r,
 * v ← β₂v + (1 − β₂)g², θ ← θ − α m (Nesterov: β₁m + (1 − β₁)r).
 */
export const adoptReference = (theta0: Leaves, grads: Leaves[], alpha: Rate, o: AdoptReferenceOptions): Leaves => {
  const [m, v] = [like(theta0), like(theta0)]
  return run(theta0, grads, (j, i, th, g, k, t) => {
    if (t === 1) {
      v[j]![i] = g * g
      return th
    }
    const r0 = g / Math.max(Math.sqrt(v[j]![i]!), o.eps)
    const r = o.clip ? clip(r0, o.clip(k)) : r0
    const mi = (m[j]![i] = o.b1 * m[j]![i]! + (1 - o.b1) * r)
    v[j]![i] = o.b2 * v[j]![i]! + (1 - o.b2) * g * g
    return th - alpha(k) * (o.nesterov ? o.b1 * mi + (1 - o.b1) * r : mi)
  })
}

/** Options of the AdEMAMix reference. */
export interface AdemamixReferenceOptions {
  readonly b1: number
  readonly b2: number
  readonly b3: (k: number) => number
  readonly alpha: (k: number) => number
  readonly eps: number
  readonly epsRoot: number
  readonly weightDecay: number
}

/**
 * AdEMAMix, Pagliardini et al. 2024 Algorithm 1 (Optax `ademamix`): m₁ ← β₁m₁ + (1 − β₁)g,
 * m₂ ← β₃m₂ + (1 − β₃)g, ν ← β₂ν + (1 − β₂)g², θ ← θ − η((m₁/(1 − β₁ᵗ) + α m₂)/(√(ν/(1 − β₂ᵗ) + ε_root) + ε) + λθ).
 */
export const ademamixReference = (theta0: Leaves, grads: Leaves[], eta: Rate, o: AdemamixReferenceOptions): Leaves => {
  const [m1, m2, nu] = [like(theta0), like(theta0), like(theta0)]
  return run(theta0, grads, (j, i, th, g, k, t) => {
    const a = (m1[j]![i] = o.b1 * m1[j]![i]! + (1 - o.b1) * g)
    const b3 = o.b3(k)
    const b = (m2[j]![i] = b3 * m2[j]![i]! + (1 - b3) * g)
    const n = (nu[j]![i] = o.b2 * nu[j]![i]! + (1 - o.b2) * g * g)
    return th - eta(k) * (div(a / (1 - o.b1 ** t) + o.alpha(k) * b, Math.sqrt(n / (1 - o.b2 ** t) + o.epsRoot) + o.eps) + o.weightDecay * th)
  })
}

/** Options of the simplified AdEMAMix reference. */
export interface SimplifiedAdemamixReferenceOptions {
  readonly b1: number
  readonly b2: number
  readonly alpha: number
  readonly eps: number
  readonly epsRoot: number
  readonly weightDecay: number
}

/**
 * Simplified AdEMAMix, Morwani et al. 2025 (Optax `simplified_ademamix`): m ← g + β₁m,
 * n ← β₂n + (1 − β₂)g², θ ← θ − η((m + αg)/(√(n/(1 − β₂ᵗ) + ε_root) + ε) + λθ).
 */
export const simplifiedAdemamixReference = (theta0: Leaves, grads: Leaves[], eta: Rate, o: SimplifiedAdemamixReferenceOptions): Leaves => {
  const [m, n] = [like(theta0), like(theta0)]
  return run(theta0, grads, (j, i, th, g, k, t) => {
    const mi = (m[j]![i] = g + o.b1 * m[j]![i]!)
    const ni = (n[j]![i] = o.b2 * n[j]![i]! + (1 - o.b2) * g * g)
    return th - eta(k) * (div(mi + o.alpha * g, Math.sqrt(ni / (1 - o.b2 ** t) + o.epsRoot) + o.eps) + o.weightDecay * th)
  })
}

/** Options of the MADGRAD reference. */
export interface MadgradReferenceOptions {
  readonly momentum: number
  readonly eps: number
  readonly weightDecay: number
}

/**
 * MADGRAD, Defazio & Jelassi 2021 Algorithm 1 (Optax `madgrad`, PyTorch's λ = (η + ε)√(k + 1)):
 * g ← g + wθ; G ← G + λg²; s ← s + λg; z = x₀ − s/(∛G + ε); θ ← (1 − c)z + cθ.
 */
export const madgradReference = (theta0: Leaves, grads: Leaves[], eta: Rate, o: MadgradReferenceOptions): Leaves => {
  const [G, s] = [like(theta0), like(theta0)]
  const x0 = clone(theta0)
  return run(theta0, grads, (j, i, th, g0, k) => {
    const g = g0 + o.weightDecay * th
    const lambda = (eta(k) + o.eps) * Math.sqrt(k + 1)
    const Gi = (G[j]![i] = G[j]![i]! + lambda * g * g)
    const si = (s[j]![i] = s[j]![i]! + lambda * g)
    const z = x0[j]![i]! - div(si, Math.cbrt(Gi) + o.eps)
    return (1 - o.momentum) * z + o.momentum * th
  })
}

/** Options of the Sophia reference. */
export interface SophiaReferenceOptions {
  readonly b1: number
  readonly b2: number
  readonly eps: number
  readonly gamma: number
  readonly clipThreshold: number | null
  readonly updateInterval: number
  readonly weightDecay: number
}

/**
 * Sophia, Liu et al. 2023 Algorithm 3 (Optax `sophia`): m ← β₁m + (1 − β₁)g;
 * u = clip((m/(1 − β₁ᵗ))/max(γh, ε), ±ρ) with h before this step; θ ← θ − α(u + λθ); then at the
 * steps k ≡ 0 (mod updateInterval) h ← β₂h + (1 − β₂)ĥ_k. `hessians[k]` is the estimate of step k.
 */
export const sophiaReference = (theta0: Leaves, grads: Leaves[], hessians: readonly Leaves[], alpha: Rate, o: SophiaReferenceOptions): Leaves => {
  const [m, h] = [like(theta0), like(theta0)]
  return run(theta0, grads, (j, i, th, g, k, t) => {
    const mi = (m[j]![i] = o.b1 * m[j]![i]! + (1 - o.b1) * g)
    const r = mi / (1 - o.b1 ** t) / Math.max(o.gamma * h[j]![i]!, o.eps)
    const u = o.clipThreshold === null ? r : clip(r, o.clipThreshold)
    if (k % o.updateInterval === 0) h[j]![i] = o.b2 * h[j]![i]! + (1 - o.b2) * hessians[k]![j]![i]!
    return th - alpha(k) * (u + o.weightDecay * th)
  })
}

/** An optimizer as a float64 step: (g, θ) ↦ u, with its own state in the closure. */
export type SamOuterReferenceStep = (g: Leaves, theta: Leaves) => Leaves

/**
 * SAM, Foret et al. 2021 Algorithm 1, transparent mode of Optax `contrib.sam` with syncPeriod = 2
 * and the paper's adversary: at even steps the params move to θ + ρ g/‖g‖ (the outer params θ
 * cached), at odd steps the gradient there drives the outer step from θ: θ ← θ + outer(g, θ).
 * `gradAt(θ)` gives the gradient at the params the loop holds; returns the params after each step.
 */
export const samReference = (theta0: Leaves, steps: number, gradAt: (theta: Leaves) => Leaves, rho: number, outer: SamOuterReferenceStep): Leaves[] => {
  let theta = clone(theta0)
  let cache = clone(theta0)
  const out: Leaves[] = []
  for (let k = 0; k < steps; k++) {
    const g = gradAt(theta)
    if (k % 2 === 0) {
      const norm = Math.sqrt(g.reduce((a, l) => a + l.reduce((b, x) => b + x * x, 0), 0))
      cache = clone(theta)
      theta = theta.map((l, j) => l.map((x, i) => x + (norm === 0 ? 0 : (rho * g[j]![i]!) / norm)))
    } else {
      const u = outer(g, cache)
      theta = cache.map((l, j) => l.map((x, i) => x + u[j]![i]!))
    }
    out.push(clone(theta))
  }
  return out
}
