/**
 * Float64 references of Optax's newer optimizers (src/optimizers/modern.ts), written naively from
 * each paper's update as Optax 0.2.8 states it (optax/_src/alias.py, transform.py). Parameters are a
 * list of leaves (Float64Array each); `grads[k]` is the gradient of step k; `alpha(k)` the learning
 * rate of step k; t = k + 1. Elementwise rules treat leaves alike; NovoGrad works per leaf.
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

/** A quotient that is 0 where numerator and denominator are both 0 (no gradient seen yet). */
const div = (a: number, b: number) => (a === 0 && b === 0 ? 0 : a / b)

/** Options of the AdaBelief reference. */
export interface AdabeliefReferenceOptions {
  readonly b1: number
  readonly b2: number
  readonly eps: number
  readonly epsRoot: number
  readonly nesterov: boolean
}

/**
 * AdaBelief, Zhuang et al. 2020 Algorithm 2 (Optax `scale_by_belief`): m ← β₁m + (1 − β₁)g;
 * s ← β₂s + (1 − β₂)(g − m)² + ε̄; θ ← θ − α m̂/(√ŝ + ε) (Nesterov: m̂ = β₁m/(1 − β₁ᵗ⁺¹) + (1 − β₁)g/(1 − β₁ᵗ)).
 */
export const adabeliefReference = (theta0: Leaves, grads: Leaves[], alpha: Rate, o: AdabeliefReferenceOptions): Leaves => {
  const [m, s] = [like(theta0), like(theta0)]
  return run(theta0, grads, (j, i, th, g, k, t) => {
    const mi = (m[j]![i] = o.b1 * m[j]![i]! + (1 - o.b1) * g)
    const si = (s[j]![i] = o.b2 * s[j]![i]! + (1 - o.b2) * (g - mi) ** 2 + o.epsRoot)
    const mHat = o.nesterov ? (o.b1 * mi) / (1 - o.b1 ** (t + 1)) + ((1 - o.b1) * g) / (1 - o.b1 ** t) : mi / (1 - o.b1 ** t)
    return th - alpha(k) * div(mHat, Math.sqrt(si / (1 - o.b2 ** t)) + o.eps)
  })
}

/**
 * Yogi, Zaheer et al. 2018 Algorithm 2 (Optax `scale_by_yogi`, with bias correction): m₀ = v₀ = v0;
 * m ← β₁m + (1 − β₁)g; v ← v − (1 − β₂) sign(v − g²) g²; θ ← θ − α m̂/(√v̂ + ε).
 */
export const yogiReference = (theta0: Leaves, grads: Leaves[], alpha: Rate, b1: number, b2: number, eps: number, v0 = 1e-6): Leaves => {
  const [m, v] = [like(theta0, v0), like(theta0, v0)]
  return run(theta0, grads, (j, i, th, g, k, t) => {
    const mi = (m[j]![i] = b1 * m[j]![i]! + (1 - b1) * g)
    const vOld = v[j]![i]!
    // v is stored in float32 as on every backend: sign(v − g²) is a discontinuous branch, and a
    // float64 v that differs from the stored one by rounding can take the other side of a tie
    const vi = (v[j]![i] = Math.fround(vOld - (1 - b2) * Math.sign(vOld - g * g) * g * g))
    return th - alpha(k) * div(mi / (1 - b1 ** t), Math.sqrt(vi / (1 - b2 ** t)) + eps)
  })
}

/** Options of the Adan reference. */
export interface AdanReferenceOptions {
  readonly b1: number
  readonly b2: number
  readonly b3: number
  readonly eps: number
  readonly epsRoot: number
  readonly weightDecay: number
}

/**
 * Adan, Xie et al. 2022 Algorithm 1 in Optax's form (`scale_by_adan`, decay rates β = 1 − the
 * paper's, bias-corrected, decoupled weight decay): Δ = g − g_prev (0 at t = 1);
 * m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)Δ; n ← β₃n + (1 − β₃)(g + (1 − β₂)Δ)²;
 * θ ← θ − α((m̂ + (1 − β₂)v̂)/(√(n̂ + ε_root) + ε) + λθ).
 */
export const adanReference = (theta0: Leaves, grads: Leaves[], alpha: Rate, o: AdanReferenceOptions): Leaves => {
  const [m, v, n, prev] = [like(theta0), like(theta0), like(theta0), like(theta0)]
  return run(theta0, grads, (j, i, th, g, k, t) => {
    const d = t === 1 ? 0 : g - prev[j]![i]!
    prev[j]![i] = g
    const mi = (m[j]![i] = o.b1 * m[j]![i]! + (1 - o.b1) * g)
    const vi = (v[j]![i] = o.b2 * v[j]![i]! + (1 - o.b2) * d)
    const ni = (n[j]![i] = o.b3 * n[j]![i]! + (1 - o.b3) * (g + (1 - o.b2) * d) ** 2)
    const num = mi / (1 - o.b1 ** t) + (1 - o.b2) * (vi / (1 - o.b2 ** t))
    return th - alpha(k) * (div(num, Math.sqrt(ni / (1 - o.b3 ** t) + o.epsRoot) + o.eps) + o.weightDecay * th)
  })
}

/**
 * AdamaxW (Optax `adamaxw`): Adamax, Kingma & Ba 2015 §7.1, with ε inside the max and decoupled
 * weight decay: u ← max(β₂u, |g| + ε); θ ← θ − α((m/(1 − β₁ᵗ))/u + λθ).
 */
export const adamaxwReference = (theta0: Leaves, grads: Leaves[], alpha: Rate, b1: number, b2: number, eps: number, wd: number): Leaves => {
  const [m, u] = [like(theta0), like(theta0)]
  return run(theta0, grads, (j, i, th, g, k, t) => {
    const mi = (m[j]![i] = b1 * m[j]![i]! + (1 - b1) * g)
    const ui = (u[j]![i] = Math.max(b2 * u[j]![i]!, Math.abs(g) + eps))
    return th - alpha(k) * (div(mi / (1 - b1 ** t), ui) + wd * th)
  })
}

/** Options of the NovoGrad reference. */
export interface NovogradReferenceOptions {
  readonly b1: number
  readonly b2: number
  readonly eps: number
  readonly epsRoot: number
  readonly weightDecay: number
}

/**
 * NovoGrad, Ginsburg et al. 2019 Algorithm 1 (Optax `scale_by_novograd`): per leaf, ν₁ = ‖g₁‖²,
 * ν ← β₂ν + (1 − β₂)‖g‖²; a = g/(√(ν + ε_root) + ε) + λθ; m₁ = a, m ← β₁m + a; θ ← θ − α m.
 */
export const novogradReference = (theta0: Leaves, grads: Leaves[], alpha: Rate, o: NovogradReferenceOptions): Leaves => {
  const theta = clone(theta0)
  const m = like(theta0)
  const nu = theta0.map(() => 0)
  grads.forEach((g, k) => {
    theta.forEach((leaf, j) => {
      const ss = g[j]!.reduce((s, x) => s + x * x, 0)
      nu[j] = k === 0 ? ss : o.b2 * nu[j]! + (1 - o.b2) * ss
      const den = Math.sqrt(nu[j]! + o.epsRoot) + o.eps
      for (let i = 0; i < leaf.length; i++) {
        const a = div(g[j]![i]!, den) + o.weightDecay * leaf[i]!
        m[j]![i] = k === 0 ? a : o.b1 * m[j]![i]! + a
        leaf[i] = leaf[i]! - alpha(k) * m[j]![i]!
      }
    })
  })
  return theta
}

/** Options of the Rprop reference. */
export interface RpropReferenceOptions {
  readonly learningRate: number
  readonly etaMinus: number
  readonly etaPlus: number
  readonly minStepSize: number
  readonly maxStepSize: number
}

/**
 * Rprop⁻ (Riedmiller & Braun 1993; Igel & Hüsken 2000) as Optax 0.2.8's `scale_by_rprop` runs it:
 * s = g·p with p the previous proposal; η ← clip(η·η⁺) where s > 0, clip(η·η⁻) where s < 0,
 * unchanged where s = 0; the step taken is the previous proposal (0 where s < 0), θ ← θ − p_prev;
 * then p ← 0 where s < 0, else η sign(g). (Optax applies each proposal one step late.)
 */
export const rpropReference = (theta0: Leaves, grads: Leaves[], o: RpropReferenceOptions): Leaves => {
  const [eta, prev] = [like(theta0, o.learningRate), like(theta0)]
  const clip = (x: number) => Math.min(Math.max(x, o.minStepSize), o.maxStepSize)
  return run(theta0, grads, (j, i, th, g) => {
    const s = g * prev[j]![i]!
    if (s > 0) eta[j]![i] = clip(eta[j]![i]! * o.etaPlus)
    if (s < 0) eta[j]![i] = clip(eta[j]![i]! * o.etaMinus)
    const u = s < 0 ? 0 : prev[j]![i]!
    prev[j]![i] = s < 0 ? 0 : eta[j]![i]! * Math.sign(g)
    return th - u
  })
}

/**
 * Signum, Bernstein et al. 2018 Algorithm 3 (Optax `signum`): m ← βm + (1 − β)g; θ ← θ − α sign(m);
 * β = 0 is signSGD (Algorithm 1). `minMargin` is the smallest |m| met that is not 0, for skipping
 * draws where float32 rounding could decide the sign.
 */
export const signumReference = (theta0: Leaves, grads: Leaves[], alpha: Rate, beta: number): { theta: Leaves; minMargin: number } => {
  const m = like(theta0)
  let minMargin = Infinity
  const theta = run(theta0, grads, (j, i, th, g, k) => {
    const mi = (m[j]![i] = beta * m[j]![i]! + (1 - beta) * g)
    if (mi !== 0) minMargin = Math.min(minMargin, Math.abs(mi))
    return th - alpha(k) * Math.sign(mi)
  })
  return { theta, minMargin }
}

/**
 * Optimistic gradient descent (Mokhtari, Ozdaglar & Pattathil 2020; Optax
 * `optimistic_gradient_descent`): d_t = αg_t + β(g_t − g_{t−1}), g₀ = g₁; θ ← θ − η d_t.
 */
export const optimisticGradientDescentReference = (theta0: Leaves, grads: Leaves[], eta: Rate, a: number, b: number): Leaves => {
  const prev = like(theta0)
  return run(theta0, grads, (j, i, th, g, k, t) => {
    const p = t === 1 ? g : prev[j]![i]!
    prev[j]![i] = g
    return th - eta(k) * (a * g + b * (g - p))
  })
}

/** Options of the optimistic Adam reference. */
export interface OptimisticAdamReferenceOptions {
  readonly alpha: number
  readonly beta: number
  readonly b1: number
  readonly b2: number
  readonly eps: number
  readonly epsRoot: number
  readonly nesterov: boolean
}

/**
 * Optimistic Adam (Daskalakis et al. 2018, Algorithm 1, as Optax's `optimistic_adam_v2`): Adam's
 * direction d_t = m̂/(√(ν̂ + ε_root) + ε) (Nesterov's m̂ by default), then
 * θ ← θ − η(αd_t + β(d_t − d_{t−1})), d₀ = d₁.
 */
export const optimisticAdamReference = (theta0: Leaves, grads: Leaves[], eta: Rate, o: OptimisticAdamReferenceOptions): Leaves => {
  const [m, v, prev] = [like(theta0), like(theta0), like(theta0)]
  return run(theta0, grads, (j, i, th, g, k, t) => {
    const mi = (m[j]![i] = o.b1 * m[j]![i]! + (1 - o.b1) * g)
    const vi = (v[j]![i] = o.b2 * v[j]![i]! + (1 - o.b2) * g * g)
    const mHat = o.nesterov ? (o.b1 * mi) / (1 - o.b1 ** (t + 1)) + ((1 - o.b1) * g) / (1 - o.b1 ** t) : mi / (1 - o.b1 ** t)
    const d = div(mHat, Math.sqrt(vi / (1 - o.b2 ** t) + o.epsRoot) + o.eps)
    const p = t === 1 ? d : prev[j]![i]!
    prev[j]![i] = d
    return th - eta(k) * (o.alpha * d + o.beta * (d - p))
  })
}
