/**
 * Float64 references of the learning-rate-free optimizers (src/optimizers/parameter-free.ts and
 * `mechanize`), written naively from each paper's update as Optax 0.2.8 states it
 * (optax/contrib/_prodigy.py, _dadapt_adamw.py, _dog.py, _cocob.py, _momo.py, _mechanic.py and
 * optax/_src/transform.py `scale_by_distance_over_gradients`). Parameters are a list of leaves
 * (Float64Array each); `grads[k]` is the gradient of step k; `alpha(k)` the learning rate (or
 * schedule multiplier) of step k; t = k + 1. The global sums run over every element of every leaf.
 *
 * Where the fluxion primitive departs from Optax on purpose (a 0/0 where no gradient was seen),
 * the reference follows fluxion and says so.
 */
import type { Rate } from './seed000.js'
import type { Leaves } from './optimizers.js'

const clone = (x: readonly Float64Array[]): Leaves => x.map((l) => Float64Array.from(l))
const like = (x: readonly Float64Array[], v = 0): Leaves => x.map((l) => new Float64Array(l.length).fill(v))
/** Σ over every element of f(j, i). */
const total = (x: readonly Float64Array[], f: (j: number, i: number) => number): number => x.reduce((s, l, j) => l.reduce((a, _, i) => a + f(j, i), s), 0)
/** Every element of every leaf. */
const each = (x: readonly Float64Array[], f: (j: number, i: number) => void): void => x.forEach((l, j) => l.forEach((_, i) => f(j, i)))

/** Options of the Prodigy reference. */
export interface ProdigyReferenceOptions {
  readonly b1: number
  readonly b2: number
  readonly b3: number
  readonly eps: number
  readonly estimLr0: number
  readonly estimLrCoef: number
  readonly weightDecay: number
  readonly safeguardWarmup: boolean
}

/**
 * Prodigy, Mishchenko & Defazio 2023 Algorithm 4 as Optax `contrib.prodigy` runs it: dₗᵣ = dγ√(1 − β₂ᵗ)/(1 − β₁ᵗ);
 * r ← β₃r + (d/d₀)dₗᵣ⟨g, x₀ − x⟩; m ← β₁m + (1 − β₁)dg; v ← β₂v + (1 − β₂)d²g²;
 * s ← β₃s + dₗᵣ d g/d₀ (safeguard: d²g/d₀); d ← max(d, c r/Σ|s|) (d kept where Σ|s| = 0);
 * x ← x − dₗᵣ m/(√v + d ε) − λdₗᵣx (the new d in the ε term).
 */
export const prodigyReference = (theta0: Leaves, grads: Leaves[], gamma: Rate, o: ProdigyReferenceOptions): Leaves => {
  const x = clone(theta0)
  const [m, v, s] = [like(x), like(x), like(x)]
  let [d, r] = [o.estimLr0, 0]
  grads.forEach((g, k) => {
    const t = k + 1
    const dlr = d * gamma(k) * (Math.sqrt(1 - o.b2 ** t) / (1 - o.b1 ** t))
    const num = total(x, (j, i) => g[j]![i]! * (theta0[j]![i]! - x[j]![i]!))
    each(x, (j, i) => {
      const dg = d * g[j]![i]!
      m[j]![i] = o.b1 * m[j]![i]! + (1 - o.b1) * dg
      v[j]![i] = o.b2 * v[j]![i]! + (1 - o.b2) * dg * dg
      s[j]![i] = o.b3 * s[j]![i]! + ((o.safeguardWarmup ? d : dlr) * dg) / o.estimLr0
    })
    r = o.b3 * r + (d / o.estimLr0) * dlr * num
    const den = total(s, (j, i) => Math.abs(s[j]![i]!))
    if (den > 0) d = Math.max(d, (o.estimLrCoef * r) / den)
    each(x, (j, i) => {
      const q = Math.sqrt(v[j]![i]!) + d * o.eps
      x[j]![i] = x[j]![i]! - o.weightDecay * dlr * x[j]![i]! - (q === 0 ? 0 : (dlr * m[j]![i]!) / q)
    })
  })
  return x
}

/** Options of the D-Adaptation AdamW reference. */
export interface DadaptAdamwReferenceOptions {
  readonly b1: number
  readonly b2: number
  readonly eps: number
  readonly estimLr0: number
  readonly weightDecay: number
}

/**
 * D-Adaptation AdamW, Defazio & Mishchenko 2023 Algorithm 4 as Optax `contrib.dadapt_adamw` runs it
 * (β̄ = √β₂, dₗᵣ = dγ√(1 − β₂ᵗ)/(1 − β₁ᵗ)): r ← β̄r + (1 − β̄)dₗᵣ⟨g, s/(√v + ε)⟩ (old s, v);
 * m ← β₁m + (1 − β₁)dₗᵣg; v ← β₂v + (1 − β₂)g²; s ← β̄s + (1 − β̄)dₗᵣg;
 * d ← max(d, r/((1 − β̄)Σ|s|)) (kept where Σ|s| = 0); x ← x − m/(√v + ε) − λdₗᵣx.
 */
export const dadaptAdamwReference = (theta0: Leaves, grads: Leaves[], gamma: Rate, o: DadaptAdamwReferenceOptions): Leaves => {
  const x = clone(theta0)
  const [m, v, s] = [like(x), like(x), like(x)]
  const sb2 = Math.sqrt(o.b2)
  let [d, r] = [o.estimLr0, 0]
  grads.forEach((g, k) => {
    const t = k + 1
    const dlr = d * gamma(k) * (Math.sqrt(1 - o.b2 ** t) / (1 - o.b1 ** t))
    const num = total(x, (j, i) => {
      const q = Math.sqrt(v[j]![i]!) + o.eps
      return g[j]![i]! * (q === 0 ? 0 : s[j]![i]! / q)
    })
    each(x, (j, i) => {
      const gi = g[j]![i]!
      m[j]![i] = o.b1 * m[j]![i]! + (1 - o.b1) * dlr * gi
      v[j]![i] = o.b2 * v[j]![i]! + (1 - o.b2) * gi * gi
      s[j]![i] = sb2 * s[j]![i]! + (1 - sb2) * dlr * gi
    })
    r = sb2 * r + (1 - sb2) * dlr * num
    const l1 = total(s, (j, i) => Math.abs(s[j]![i]!))
    if (l1 > 0) d = Math.max(d, r / ((1 - sb2) * l1))
    each(x, (j, i) => {
      const q = Math.sqrt(v[j]![i]!) + o.eps
      x[j]![i] = x[j]![i]! - o.weightDecay * dlr * x[j]![i]! - (q === 0 ? 0 : m[j]![i]! / q)
    })
  })
  return x
}

/**
 * DoG, Ivgi et al. 2023 (Optax `contrib.dog`, no weight decay): r̄ ← max(r̄, ‖x − x₀‖);
 * G ← G + ‖g‖²; η = r̄/√(G + ε) (η₀ at the first step for the learningRate init); x ← x − γ_k η g.
 * r̄₀ = value(1 + ‖x₀‖) (heuristic), value (distance) or 0 (learningRate).
 */
export const dogReference = (theta0: Leaves, grads: Leaves[], gamma: Rate, o: { readonly type: 'heuristic' | 'distance' | 'learningRate'; readonly value: number; readonly eps: number }): Leaves => {
  const x = clone(theta0)
  let rbar = o.type === 'heuristic' ? o.value * (1 + Math.sqrt(total(x, (j, i) => x[j]![i]! ** 2))) : o.type === 'distance' ? o.value : 0
  let G = 0
  grads.forEach((g, k) => {
    rbar = Math.max(rbar, Math.sqrt(total(x, (j, i) => (x[j]![i]! - theta0[j]![i]!) ** 2)))
    G += total(g, (j, i) => g[j]![i]! ** 2)
    const eta = k === 0 && o.type === 'learningRate' ? o.value : rbar / Math.sqrt(G + o.eps)
    each(x, (j, i) => (x[j]![i] = x[j]![i]! - gamma(k) * eta * g[j]![i]!))
  })
  return x
}

/**
 * DoWG, Khaled et al. 2023 (Optax `contrib.dowg`, no weight decay): r̄² ← max(r̄², ‖x − x₀‖²);
 * v ← v + r̄²‖g‖²; x ← x − γ_k (r̄²/(√v + ε)) g.
 */
export const dowgReference = (theta0: Leaves, grads: Leaves[], gamma: Rate, o: { readonly initEstimSqDist: number; readonly eps: number }): Leaves => {
  const x = clone(theta0)
  let [r2, v] = [o.initEstimSqDist, 0]
  grads.forEach((g, k) => {
    r2 = Math.max(r2, total(x, (j, i) => (x[j]![i]! - theta0[j]![i]!) ** 2))
    v += r2 * total(g, (j, i) => g[j]![i]! ** 2)
    const eta = r2 / (Math.sqrt(v) + o.eps)
    each(x, (j, i) => (x[j]![i] = x[j]![i]! - gamma(k) * eta * g[j]![i]!))
  })
  return x
}

/**
 * Layer-wise DoG (Ivgi et al. 2023 §4; Optax `scale_by_distance_over_gradients` chained with
 * `scale_by_learning_rate`): per leaf ℓ, r̄ℓ₀ = r_rel(1 + ‖x₀ℓ‖), r̄ℓ ← max(r̄ℓ, ‖xℓ − x₀ℓ‖),
 * Gℓ ← Gℓ + ‖gℓ‖², xℓ ← xℓ − γ_k s (r̄ℓ/√(Gℓ + ε)) gℓ.
 */
export const ldogReference = (theta0: Leaves, grads: Leaves[], gamma: Rate, o: { readonly repsRel: number; readonly eps: number; readonly globalScale: number }): Leaves => {
  const x = clone(theta0)
  const rbar = x.map((l) => o.repsRel * (1 + Math.sqrt(l.reduce((a, y) => a + y * y, 0))))
  const G = x.map(() => 0)
  grads.forEach((g, k) => {
    x.forEach((l, j) => {
      rbar[j] = Math.max(rbar[j]!, Math.sqrt(l.reduce((a, y, i) => a + (y - theta0[j]![i]!) ** 2, 0)))
      G[j] = G[j]! + g[j]!.reduce((a, y) => a + y * y, 0)
      const eta = o.globalScale * (rbar[j]! / Math.sqrt(G[j]! + o.eps))
      l.forEach((y, i) => (l[i] = y - gamma(k) * eta * g[j]![i]!))
    })
  })
  return x
}

/**
 * COCOB-Backprop, Orabona & Tommasi 2017 Algorithm 2 (Optax `contrib.cocob`, with the L2 penalty
 * λx added to g and g scaled by γ_k first): L ← max(L, |g|); G ← G + |g|;
 * R ← max(R − g(x − x₀), 0); C ← C − g; x ← x₀ + C/(L max(G + L, αL)) (L + R).
 */
export const cocobReference = (theta0: Leaves, grads: Leaves[], gamma: Rate, o: { readonly alpha: number; readonly eps: number; readonly weightDecay: number }): Leaves => {
  const x = clone(theta0)
  const [C, L, G, R] = [like(x), like(x, o.eps), like(x), like(x)]
  grads.forEach((g, k) =>
    each(x, (j, i) => {
      const gi = gamma(k) * (g[j]![i]! + o.weightDecay * x[j]![i]!)
      const Li = (L[j]![i] = Math.max(L[j]![i]!, Math.abs(gi)))
      const Gi = (G[j]![i] = G[j]![i]! + Math.abs(gi))
      const Ri = (R[j]![i] = Math.max(R[j]![i]! - gi * (x[j]![i]! - theta0[j]![i]!), 0))
      const Ci = (C[j]![i] = C[j]![i]! - gi)
      x[j]![i] = theta0[j]![i]! + (Li === 0 ? 0 : (Ci / (Li * Math.max(Gi + Li, o.alpha * Li))) * (Li + Ri))
    }),
  )
  return x
}

/** Options of the MoMo references. */
export interface MomoReferenceOptions {
  readonly lowerBound: number
  readonly weightDecay: number
  readonly adaptLowerBound: boolean
}

/**
 * MoMo, Schaipp et al. 2023 Algorithms 1 and 3 as Optax `contrib.momo` runs them (β₀ = 0 at the
 * first step): f̄ ← βf̄ + (1 − β)f; m ← βm + (1 − β)g; γ ← βγ + (1 − β)⟨g, x⟩; c = 1 + αλ;
 * τ = min(α, max(c(f̄ − f* − γ) + ⟨m, x⟩, 0)/‖m‖²) (0 where ‖m‖² ≤ 2.2e-16);
 * x ← x − (αλ/c)x − τm; with the adaptive bound, f* is revised before and after the step.
 * `values[k]` is the loss passed at step k.
 */
export const momoReference = (theta0: Leaves, grads: Leaves[], values: readonly number[], alpha: Rate, o: MomoReferenceOptions & { readonly beta: number }): Leaves => {
  const x = clone(theta0)
  const m = like(x)
  let [barf, gam, lb] = [0, 0, o.lowerBound]
  grads.forEach((g, k) => {
    const b = k === 0 ? 0 : o.beta
    barf = b * barf + (1 - b) * values[k]!
    each(x, (j, i) => (m[j]![i] = b * m[j]![i]! + (1 - b) * g[j]![i]!))
    gam = b * gam + (1 - b) * total(x, (j, i) => g[j]![i]! * x[j]![i]!)
    const mm = total(m, (j, i) => m[j]![i]! ** 2)
    const ip = total(x, (j, i) => m[j]![i]! * x[j]![i]!)
    const a = alpha(k)
    const c = 1 + a * o.weightDecay
    let thisLb = lb
    if (o.adaptLowerBound) {
      const cap = c * (barf - gam) + ip
      if (cap < c * lb) thisLb = Math.max(cap / (2 * c), o.lowerBound)
    }
    const t1 = mm <= 2.220446049250313e-16 ? 0 : Math.max(c * (barf - thisLb - gam) + ip, 0) / mm
    const tau = Math.min(a, t1)
    each(x, (j, i) => (x[j]![i] = x[j]![i]! - ((a * o.weightDecay) / c) * x[j]![i]! - tau * m[j]![i]!))
    if (o.adaptLowerBound) lb = Math.max(barf + ip - gam - 0.5 * tau * mm, o.lowerBound)
  })
  return x
}

/**
 * MoMo-Adam, Schaipp et al. 2023 Algorithm 2 as Optax `contrib.momo_adam` runs it: bᵢ = 1 − βᵢᵗ;
 * f̄, m, γ averaged with β₁, v with β₂; D = ε + √(v/b₂); c = 1 + αλ;
 * τ = min(α/b₁, max(c(f̄ − b₁f* − γ) + ⟨m, x⟩, 0)/⟨m, m/D⟩); x ← x − (αλ/c)x − τ m/D.
 */
export const momoAdamReference = (
  theta0: Leaves,
  grads: Leaves[],
  values: readonly number[],
  alpha: Rate,
  o: MomoReferenceOptions & { readonly b1: number; readonly b2: number; readonly eps: number },
): Leaves => {
  const x = clone(theta0)
  const [m, v] = [like(x), like(x)]
  let [barf, gam, lb] = [0, 0, o.lowerBound]
  grads.forEach((g, k) => {
    const t = k + 1
    const [bc1, bc2] = [1 - o.b1 ** t, 1 - o.b2 ** t]
    barf = o.b1 * barf + (1 - o.b1) * values[k]!
    each(x, (j, i) => {
      m[j]![i] = o.b1 * m[j]![i]! + (1 - o.b1) * g[j]![i]!
      v[j]![i] = o.b2 * v[j]![i]! + (1 - o.b2) * g[j]![i]! ** 2
    })
    const w = m.map((l, j) => l.map((mi, i) => {
      const D = o.eps + Math.sqrt(v[j]![i]! / bc2)
      return D === 0 ? 0 : mi / D
    }))
    const mm = total(m, (j, i) => m[j]![i]! * w[j]![i]!)
    gam = o.b1 * gam + (1 - o.b1) * total(x, (j, i) => g[j]![i]! * x[j]![i]!)
    const ip = total(x, (j, i) => m[j]![i]! * x[j]![i]!)
    const a = alpha(k)
    const c = 1 + a * o.weightDecay
    let thisLb = lb
    if (o.adaptLowerBound) {
      const cap = c * (barf - gam) + ip
      if (cap < c * bc1 * lb) thisLb = Math.max(cap / (2 * bc1 * c), o.lowerBound)
    }
    const t1 = mm <= 2.220446049250313e-16 ? 0 : Math.max(c * (barf - bc1 * thisLb - gam) + ip, 0) / mm
    const tau = Math.min(a / bc1, t1)
    each(x, (j, i) => (x[j]![i] = x[j]![i]! - ((a * o.weightDecay) / c) * x[j]![i]! - tau * w[j]![i]!))
    if (o.adaptLowerBound) lb = Math.max((barf + ip - gam - 0.5 * tau * mm) / bc1, o.lowerBound)
  })
  return x
}

/**
 * Mechanic around SGD (Cutkosky et al. 2023 Algorithm 1, Optax `contrib.mechanize(sgd(η))`):
 * x₀ = the first params; S = Σs; g̃ = g + λS‖g‖/(‖x‖ + ε) x; Δ_prev = (x₀ − x)/(S + ε);
 * Δ = Δ_prev + ηg; h = ⟨g̃, Δ_prev⟩; per βᵢ = 1 − 0.1ⁱ: rᵢ ← βᵢrᵢ + clip(h, −mᵢ, mᵢ)sᵢ,
 * mᵢ ← max(βᵢmᵢ, |h| + ε), vᵢ ← βᵢ²vᵢ + h², sᵢ ← ((s₀/n)mᵢ + max(0, rᵢ))/(√vᵢ + ε); x ← x₀ − (Σs)Δ.
 */
export const mechanizeSgdReference = (
  theta0: Leaves,
  grads: Leaves[],
  eta: number,
  o: { readonly weightDecay: number; readonly eps: number; readonly sInit: number; readonly numBetas: number },
): Leaves => {
  const x = clone(theta0)
  const x0 = clone(theta0)
  const n = o.numBetas
  const betas = Array.from({ length: n }, (_, i) => 1 - 0.1 ** (i + 1))
  const [r, m, v] = [new Array<number>(n).fill(0), new Array<number>(n).fill(0), new Array<number>(n).fill(0)]
  let s = new Array<number>(n).fill(o.sInit)
  grads.forEach((g) => {
    const S = s.reduce((a, b) => a + b, 0)
    const gn = Math.sqrt(total(g, (j, i) => g[j]![i]! ** 2))
    const pn = Math.sqrt(total(x, (j, i) => x[j]![i]! ** 2))
    const coef = (o.weightDecay * S * gn) / (pn + o.eps)
    const h = total(x, (j, i) => (g[j]![i]! + coef * x[j]![i]!) * ((x0[j]![i]! - x[j]![i]!) / (S + o.eps)))
    const next = s.map((si, b) => {
      const beta = betas[b]!
      const ch = Math.min(Math.max(h, -m[b]!), m[b]!)
      m[b] = Math.max(beta * m[b]!, Math.abs(h) + o.eps)
      v[b] = beta * beta * v[b]! + h * h
      r[b] = beta * r[b]! + ch * si
      return ((o.sInit / n) * m[b]! + Math.max(0, r[b]!)) / (Math.sqrt(v[b]!) + o.eps)
    })
    const Snew = next.reduce((a, b) => a + b, 0)
    each(x, (j, i) => (x[j]![i] = x0[j]![i]! - Snew * ((x0[j]![i]! - x[j]![i]!) / (S + o.eps) + eta * g[j]![i]!)))
    s = next
  })
  return x
}
