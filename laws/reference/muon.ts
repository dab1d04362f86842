/**
 * Float64 references of Muon (src/optimizers/muon.ts, src/transforms/muon.ts) and schedule-free
 * learning (src/transforms/schedule-free.ts, src/optimizers/schedule-free.ts), written naively from
 * the published updates as Optax 0.2.8 states them (optax/contrib/_muon.py, _schedule_free.py):
 * plain row-major matrices and loops, no transposition trick (a tall matrix is transposed
 * explicitly, as Optax does). `grads[k]` is the gradient of step k; `alpha(k)` the learning rate of
 * step k; t = k + 1.
 */
import type { Leaves } from './optimizers.js'
import type { Rate } from './seed000.js'

/** A leaf with its shape (row-major values). */
export interface ShapedLeaf {
  readonly shape: readonly number[]
  readonly data: Float64Array
}

type Preconditioning = 'frobenius' | 'aol' | 'schatten'

const matmul = (a: Float64Array, b: Float64Array, m: number, k: number, n: number): Float64Array => {
  const out = new Float64Array(m * n)
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0
    for (let l = 0; l < k; l++) s += a[i * k + l]! * b[l * n + j]!
    out[i * n + j] = s
  }
  return out
}
const transpose = (a: Float64Array, m: number, n: number): Float64Array => {
  const out = new Float64Array(m * n)
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[j * m + i] = a[i * n + j]!
  return out
}

/**
 * Newton–Schulz orthogonalisation of an [m, n] matrix (Jordan et al. 2024; Optax
 * `orthogonalize_via_newton_schulz`): transpose when m > n; scale (Frobenius: X/(‖X‖_F + ε); AOL
 * and Schatten-4 in the first step); then Xₖ₊₁ = aXₖ + (bA + cA²)Xₖ, A = XₖXₖᵀ, for each row
 * (a, b, c) of `steps`; transpose back.
 */
export const newtonSchulzReference = (x0: Float64Array, m0: number, n0: number, steps: readonly (readonly [number, number, number])[], preconditioning: Preconditioning = 'frobenius', eps = 1e-8): Float64Array => {
  const tall = m0 > n0
  const [m, n] = tall ? [n0, m0] : [m0, n0]
  let x = tall ? transpose(x0, m0, n0) : Float64Array.from(x0)
  if (preconditioning === 'frobenius') {
    const norm = Math.sqrt(x.reduce((s, v) => s + v * v, 0))
    // 0/0 of an all-zero matrix with ε = 0 is 0 (fluxion's policy; Optax gives NaN)
    x = x.map((v) => (v === 0 && norm + eps === 0 ? 0 : v / (norm + eps)))
  }
  steps.forEach(([a, b, c], i) => {
    let g = matmul(x, transpose(x, m, n), m, n, m)
    if (i === 0 && preconditioning === 'aol') {
      // an all-zero row with ε = 0 is scaled by 0, not ∞ (fluxion's policy; Optax gives 0·∞)
      const rsqrt = (v: number) => (v === 0 ? 0 : 1 / Math.sqrt(v))
      const s = Array.from({ length: m }, (_, r) => rsqrt(Math.max(g.slice(r * m, r * m + m).reduce((acc, v) => acc + Math.abs(v), 0), eps)))
      x = x.map((v, idx) => v * s[Math.floor(idx / n)]!)
      g = g.map((v, idx) => v * s[Math.floor(idx / m)]! * s[idx % m]!)
    } else if (i === 0 && preconditioning === 'schatten') {
      const c = Math.max(Math.sqrt(g.reduce((acc, v) => acc + v * v, 0)), eps)
      const s = c === 0 ? 0 : 1 / Math.sqrt(c)
      x = x.map((v) => v * s)
      g = g.map((v) => v * s * s)
    }
    const gg = matmul(g, g, m, m, m)
    const bm = g.map((v, idx) => b * v + c * gg[idx]!)
    const bx = matmul(bm, x, m, m, n)
    x = x.map((v, idx) => a * v + bx[idx]!)
  })
  return tall ? transpose(x, m, n) : x
}

/** Options of the Muon reference. */
export interface MuonReferenceOptions {
  /** The coefficients of each Newton–Schulz step. */
  readonly steps: readonly (readonly [number, number, number])[]
  readonly beta: number
  readonly eps: number
  readonly nesterov: boolean
  readonly adaptive: boolean
  readonly preconditioning: Preconditioning
  readonly weightDecay: number
  /** Leaves to decay (default all Muon leaves). */
  readonly weightDecayMask?: readonly boolean[]
  readonly consistentRms?: number
  /** Which leaves are Muon's (default: the 2-D ones). */
  readonly muonMask?: readonly boolean[]
  readonly adamB1: number
  readonly adamB2: number
  readonly adamEpsRoot: number
  readonly adamWeightDecay: number
  /** AdamW's rate (default alpha). */
  readonly adamAlpha?: Rate
}

/**
 * Muon (Optax `contrib.muon`): for a Muon leaf of shape [fanIn, fanOut],
 * m ← βm + (1 − β)g; m̂ = m/(1 − βᵗ) (Nesterov: βm/(1 − βᵗ⁺¹) + (1 − β)g/(1 − βᵗ)); O = NS(m̂)
 * (adaptive: ⟨m̂, O⟩O); θ ← θ − α(s·O + λθ), s = √max(1, fanOut/fanIn) or √max(fanIn, fanOut)·ρ;
 * every other leaf follows AdamW with Nesterov's m̂ when `nesterov`.
 */
export const muonReference = (theta0: readonly ShapedLeaf[], grads: readonly Leaves[], alpha: Rate, o: MuonReferenceOptions): Leaves => {
  const theta = theta0.map((l) => Float64Array.from(l.data))
  const isMuon = o.muonMask ?? theta0.map((l) => l.shape.length === 2)
  const mu = theta0.map((l) => new Float64Array(l.data.length))
  const nu = theta0.map((l) => new Float64Array(l.data.length))
  const adamAlpha = o.adamAlpha ?? alpha
  grads.forEach((g, k) => {
    const t = k + 1
    theta.forEach((th, j) => {
      const gj = g[j]!
      if (isMuon[j]) {
        const [fanIn, fanOut] = [theta0[j]!.shape[0]!, theta0[j]!.shape[1]!]
        const b = o.beta
        mu[j] = mu[j]!.map((m, i) => b * m + (1 - b) * gj[i]!)
        const mHat = mu[j]!.map((m, i) => (o.nesterov ? (b * m) / (1 - b ** (t + 1)) + ((1 - b) * gj[i]!) / (1 - b ** t) : m / (1 - b ** t)))
        let u = newtonSchulzReference(mHat, fanIn, fanOut, o.steps, o.preconditioning, o.eps)
        if (o.adaptive) {
          const dot = mHat.reduce((s, v, i) => s + v * u[i]!, 0)
          u = u.map((v) => dot * v)
        }
        const s = o.consistentRms === undefined ? Math.sqrt(Math.max(1, fanOut / fanIn)) : Math.sqrt(Math.max(fanIn, fanOut)) * o.consistentRms
        const lambda = o.weightDecayMask === undefined || o.weightDecayMask[j] ? o.weightDecay : 0
        theta[j] = th.map((v, i) => v - alpha(k) * (s * u[i]! + lambda * v))
      } else {
        const [b1, b2] = [o.adamB1, o.adamB2]
        theta[j] = th.map((v, i) => {
          const m = (mu[j]![i] = b1 * mu[j]![i]! + (1 - b1) * gj[i]!)
          const n = (nu[j]![i] = b2 * nu[j]![i]! + (1 - b2) * gj[i]! ** 2)
          const mHat = o.nesterov ? (b1 * m) / (1 - b1 ** (t + 1)) + ((1 - b1) * gj[i]!) / (1 - b1 ** t) : m / (1 - b1 ** t)
          const den = Math.sqrt(n / (1 - b2 ** t) + o.adamEpsRoot) + o.eps
          const u = mHat === 0 && den === 0 ? 0 : mHat / den
          return v - adamAlpha(k) * (u + o.adamWeightDecay * v)
        })
      }
    })
  })
  return theta
}

/** Options of the schedule-free reference. */
export interface ScheduleFreeReferenceOptions {
  /** γ_t at t = 1, 2, … (the schedule-free weights) and γ_k at k = 0, 1, … (the base step) are both `rate`, offset by one. */
  readonly rate: Rate
  readonly b1: number
  readonly weightLrPower: number
  /** 'sgd': z ← z − γ(g + λy); 'adamw': z ← z − γ(g/(√ν̂ + ε) + λy). */
  readonly base: 'sgd' | 'adamw'
  readonly b2?: number
  readonly eps?: number
  readonly weightDecay: number
}

/**
 * Schedule-free learning, Defazio et al. 2024 Algorithm 1 as Optax's `schedule_free` computes it:
 * z ← z + base(∇f(y)); w = (max_{s≤t} γ_s)^r; c = w/Σw (0/0 = 0); x ← (1 − c)x + cz;
 * y ← βx + (1 − β)z. Returns y and the evaluation params x after the last step.
 */
export const scheduleFreeReference = (theta0: Leaves, grads: readonly Leaves[], o: ScheduleFreeReferenceOptions): { readonly y: Leaves; readonly x: Leaves } => {
  let y = theta0.map((l) => Float64Array.from(l))
  let z = theta0.map((l) => Float64Array.from(l))
  let x = theta0.map((l) => Float64Array.from(l))
  const nu = theta0.map((l) => new Float64Array(l.length))
  let maxLr = 0
  let weightSum = 0
  grads.forEach((g, k) => {
    const t = k + 1
    maxLr = Math.max(maxLr, o.rate(t))
    const w = maxLr ** o.weightLrPower
    weightSum += w
    const c = w === 0 && weightSum === 0 ? 0 : w / weightSum
    const gamma = o.rate(k)
    z = z.map((zj, j) =>
      zj.map((v, i) => {
        const gi = g[j]![i]!
        const yi = y[j]![i]!
        if (o.base === 'sgd') return v - gamma * (gi + o.weightDecay * yi)
        const n = (nu[j]![i] = o.b2! * nu[j]![i]! + (1 - o.b2!) * gi * gi)
        const den = Math.sqrt(n / (1 - o.b2! ** t)) + o.eps!
        return v - gamma * ((gi === 0 && den === 0 ? 0 : gi / den) + o.weightDecay * yi)
      }),
    )
    x = x.map((xj, j) => xj.map((v, i) => (1 - c) * v + c * z[j]![i]!))
    y = x.map((xj, j) => xj.map((v, i) => o.b1 * v + (1 - o.b1) * z[j]![i]!))
  })
  return { y, x }
}
