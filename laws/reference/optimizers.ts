/**
 * Float64 references of the optimizers, written naively from each published formula (the paper,
 * or the framework's documentation for a convention). Parameters are a list of leaves (Float64Array
 * each): elementwise rules treat leaves alike; the trust ratio works per leaf; L-BFGS on the
 * concatenation. `grads[k]` is the gradient of step k; `alpha(k)` the learning rate of step k.
 */
import type { Rate } from './seed000.js'

export type Leaves = Float64Array[]

const clone = (x: readonly Float64Array[]): Leaves => x.map((l) => Float64Array.from(l))
const zerosLike = (x: readonly Float64Array[], v = 0): Leaves => x.map((l) => new Float64Array(l.length).fill(v))

/** Runs an elementwise rule: `step(i, θᵢ, gᵢ, k, t)` mutates the per-element state it closes over. */
const elementwiseRun = (
  theta0: readonly Float64Array[],
  grads: readonly (readonly Float64Array[])[],
  step: (leaf: number, i: number, theta: number, g: number, k: number, t: number) => number,
): Leaves => {
  const theta = clone(theta0)
  grads.forEach((g, k) => {
    theta.forEach((leaf, j) => {
      for (let i = 0; i < leaf.length; i++) leaf[i] = step(j, i, leaf[i]!, g[j]![i]!, k, k + 1)
    })
  })
  return theta
}

/** Per-element state arrays shaped like the params. */
const buffers = (theta0: readonly Float64Array[], n: number, init = 0): Leaves[] => Array.from({ length: n }, () => zerosLike(theta0, init))

/** SGD with momentum, Optax/PyTorch/TF.js form: m ← g + βm; θ ← θ − α_k m (Nesterov: θ ← θ − α_k(g + βm)). */
export const sgdTraceReference = (theta0: Leaves, grads: Leaves[], alpha: Rate, beta: number, nesterov: boolean): Leaves => {
  const [m] = buffers(theta0, 1)
  return elementwiseRun(theta0, grads, (j, i, th, g, k) => {
    const mi = (m![j]![i] = g + beta * m![j]![i]!)
    return th - alpha(k) * (nesterov ? g + beta * mi : mi)
  })
}

/** Keras SGD: v ← βv − α_k g; θ ← θ + v (Nesterov: θ ← θ + βv − α_k g). */
export const sgdKerasReference = (theta0: Leaves, grads: Leaves[], alpha: Rate, beta: number, nesterov: boolean): Leaves => {
  const [v] = buffers(theta0, 1)
  return elementwiseRun(theta0, grads, (j, i, th, g, k) => {
    const vi = (v![j]![i] = beta * v![j]![i]! - alpha(k) * g)
    return nesterov ? th + beta * vi - alpha(k) * g : th + vi
  })
}

/** AdaGrad: r ← r + g²; θ ← θ − α g / √(r + ε) (inside) or θ − α g / (√r + ε); 0 where r = 0. */
export const adagradReference = (theta0: Leaves, grads: Leaves[], alpha: Rate, r0: number, eps: number, inside: boolean): Leaves => {
  const [r] = buffers(theta0, 1, r0)
  return elementwiseRun(theta0, grads, (j, i, th, g, k) => {
    const ri = (r![j]![i] = r![j]![i]! + g * g)
    if (ri === 0) return th
    return th - (alpha(k) * g) / (inside ? Math.sqrt(ri + eps) : Math.sqrt(ri) + eps)
  })
}

/** Options of the RMSProp reference. */
export interface RmspropReferenceOptions {
  readonly decay: number
  readonly eps: number
  readonly centered: boolean
  readonly momentum: number
  readonly nesterov: boolean
  /** 'inside': √(ν + ε); 'outside': √ν + ε; 'tfjsCentered': √(ν − μ² − ε). */
  readonly epsPlacement: 'inside' | 'outside' | 'tfjsCentered'
  /** Keras/TF.js/Optax put α inside the momentum buffer; PyTorch outside. */
  readonly lrInsideBuffer: boolean
  /** ν₀ (Optax `initial_scale`). Default 0. */
  readonly initialScale?: number
}

/**
 * RMSProp: ν ← ρν + (1 − ρ)g² from ν₀ = initialScale (centered: μ ← ρμ + (1 − ρ)g, ν − μ² in the root); s = g / denom;
 * lr inside: v ← βv + α s (Nesterov: step βv + α s with the new v); θ ← θ − step;
 * lr outside (PyTorch): b ← βb + s; θ ← θ − α b.
 */
export const rmspropReference = (theta0: Leaves, grads: Leaves[], alpha: Rate, o: RmspropReferenceOptions): Leaves => {
  const [mu, buf] = buffers(theta0, 2)
  const [nu] = buffers(theta0, 1, o.initialScale ?? 0)
  return elementwiseRun(theta0, grads, (j, i, th, g, k) => {
    const n = (nu![j]![i] = o.decay * nu![j]![i]! + (1 - o.decay) * g * g)
    const m = (mu![j]![i] = o.decay * mu![j]![i]! + (1 - o.decay) * g)
    const variance = o.centered ? Math.max(n - m * m, 0) : n // clamped as fluxion does (rounding guard)
    const denom =
      o.epsPlacement === 'inside' ? Math.sqrt(variance + o.eps) : o.epsPlacement === 'outside' ? Math.sqrt(variance) + o.eps : Math.sqrt(variance - o.eps)
    const s = g / denom
    if (o.momentum === 0 && !o.nesterov) return th - alpha(k) * s
    if (o.lrInsideBuffer) {
      const x = alpha(k) * s
      const v = (buf![j]![i] = o.momentum * buf![j]![i]! + x)
      return th - (o.nesterov ? x + o.momentum * v : v)
    }
    const b = (buf![j]![i] = o.momentum * buf![j]![i]! + s)
    return th - alpha(k) * b
  })
}

/**
 * The lectures' "RMSProp with Nesterov momentum" (seed 000_33f4fbf331723dec.txt):
 * θ̃ ← θ + βv; g ← ∇J(θ̃); r ← ρr + (1 − ρ)g⊙g; v ← βv − α/√(r + δ) ⊙ g; θ ← θ + v.
 * Returns the final interim point θ + βv.
 */
export const rmspropNesterovSeedReference = (
  theta0: Float64Array,
  gradient: (thetaTilde: Float64Array) => Float64Array,
  steps: number,
  alpha: number,
  rho: number,
  beta: number,
  delta: number,
): Float64Array => {
  const theta = Float64Array.from(theta0)
  const v = new Float64Array(theta.length)
  const r = new Float64Array(theta.length)
  const interim = () => theta.map((t, i) => t + beta * v[i]!)
  for (let s = 0; s < steps; s++) {
    const g = gradient(interim())
    for (let i = 0; i < theta.length; i++) {
      r[i] = rho * r[i]! + (1 - rho) * g[i]! * g[i]!
      v[i] = beta * v[i]! - (alpha / Math.sqrt(r[i]! + delta)) * g[i]!
      theta[i] = theta[i]! + v[i]!
    }
  }
  return interim()
}

/** AdaDelta (Zeiler 2012, Algorithm 1); `useOld` divides by E[g²] before this step (TF.js). */
export const adadeltaReference = (theta0: Leaves, grads: Leaves[], alpha: Rate, rho: number, eps: number, useOld: boolean): Leaves => {
  const [eg, ex] = buffers(theta0, 2)
  return elementwiseRun(theta0, grads, (j, i, th, g, k) => {
    const old = eg![j]![i]!
    const e = (eg![j]![i] = rho * old + (1 - rho) * g * g)
    const delta = (Math.sqrt(ex![j]![i]! + eps) / Math.sqrt((useOld ? old : e) + eps)) * g
    ex![j]![i] = rho * ex![j]![i]! + (1 - rho) * delta * delta
    return th - alpha(k) * delta
  })
}

/** Options of the Adam-family reference. */
export interface AdamReferenceOptions {
  readonly b1: number
  readonly b2: number
  readonly eps: number
  readonly epsRoot: number
  /** Keras: θ ← θ − α_t m / (√ν + ε) with α_t = α√(1 − β₂ᵗ)/(1 − β₁ᵗ). */
  readonly keras?: boolean
  /** NAdam (Optax): μ̂ = β₁μ/(1 − β₁ᵗ⁺¹) + (1 − β₁)g/(1 − β₁ᵗ). */
  readonly nesterov?: boolean
  /** AMSGrad: 'corrected' keeps max of ν̂ (Optax), 'raw' max of ν then corrects (PyTorch, Keras). */
  readonly amsgrad?: 'corrected' | 'raw'
  /** AdamW's decoupled weight decay λ (θ ← θ − α(step + λθ)). */
  readonly weightDecay?: number
}

/** Adam and its variants, per Kingma & Ba 2015 Algorithm 1 and the cited changes. */
export const adamFamilyReference = (theta0: Leaves, grads: Leaves[], alpha: Rate, o: AdamReferenceOptions): Leaves => {
  const [m, v, vmax] = buffers(theta0, 3)
  return elementwiseRun(theta0, grads, (j, i, th, g, k, t) => {
    const mi = (m![j]![i] = o.b1 * m![j]![i]! + (1 - o.b1) * g)
    const vi = (v![j]![i] = o.b2 * v![j]![i]! + (1 - o.b2) * g * g)
    const bc1 = 1 - o.b1 ** t
    const bc2 = 1 - o.b2 ** t
    let step: number
    if (o.keras) {
      let vv = vi
      if (o.amsgrad) vv = vmax![j]![i] = Math.max(vmax![j]![i]!, vi)
      step = ((Math.sqrt(bc2) / bc1) * mi) / (Math.sqrt(vv + o.epsRoot) + o.eps)
    } else {
      const mHat = o.nesterov ? (o.b1 * mi) / (1 - o.b1 ** (t + 1)) + ((1 - o.b1) * g) / bc1 : mi / bc1
      let vHat = vi / bc2
      if (o.amsgrad === 'corrected') vHat = vmax![j]![i] = Math.max(vmax![j]![i]!, vi / bc2)
      if (o.amsgrad === 'raw') vHat = (vmax![j]![i] = Math.max(vmax![j]![i]!, vi)) / bc2
      step = mHat / (Math.sqrt(vHat + o.epsRoot) + o.eps)
    }
    return th - alpha(k) * (step + (o.weightDecay ?? 0) * th)
  })
}

/** Adamax: u ← max(β₂u, |g| + ε) and θ ← θ − α m̂/u (epsInMax), or u ← max(β₂u, |g|), θ ← θ − α m̂/(u + ε). */
export const adamaxReference = (theta0: Leaves, grads: Leaves[], alpha: Rate, b1: number, b2: number, eps: number, epsInMax: boolean): Leaves => {
  const [m, u] = buffers(theta0, 2)
  return elementwiseRun(theta0, grads, (j, i, th, g, k, t) => {
    const mi = (m![j]![i] = b1 * m![j]![i]! + (1 - b1) * g)
    const ui = (u![j]![i] = Math.max(b2 * u![j]![i]!, Math.abs(g) + (epsInMax ? eps : 0)))
    return th - (alpha(k) * (mi / (1 - b1 ** t))) / (ui + (epsInMax ? 0 : eps))
  })
}

/**
 * ρₜ and the rectifier rₜ of RAdam (Liu et al. 2020, Algorithm 2). With `float32`, as Optax's
 * `scale_by_radam` computes them: ρ∞ = 2/(1 − β₂) − 1 in Python float64, then βᵗ, ρₜ and rₜ in
 * float32 arrays, each operation rounded (ρ∞ joins them as a float32 weak type, while
 * (ρ∞ − 4)(ρ∞ − 2) stays a Python float64 product). ρₜ cancels (ρ∞ − 2tβᵗ/(1 − βᵗ), both near ρ∞),
 * so the float32 rₜ differs from the float64 one by up to about 1% in early steps.
 */
const radamRho = (b2: number, t: number, float32: boolean): { rho: number; r: () => number } => {
  const rhoInf = 2 / (1 - b2) - 1
  if (!float32) {
    const rho = rhoInf - (2 * t * b2 ** t) / (1 - b2 ** t)
    return { rho, r: () => Math.sqrt(((rho - 4) * (rho - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rho)) }
  }
  const f = Math.fround
  const b2t = f(f(b2) ** t)
  const rho = f(f(rhoInf) - f(f(2 * t * b2t) / f(1 - b2t)))
  return { rho, r: () => f(Math.sqrt(f(f(f(f(rho - 4) * f(rho - 2)) * f(rhoInf)) / f(f((rhoInf - 4) * (rhoInf - 2)) * rho)))) }
}

/**
 * RAdam, Liu et al. 2020, Algorithm 2 (with Optax's ε_root and threshold); `float32Rho` computes ρₜ
 * and rₜ as Optax does (see `radamRho`), the rest in float64.
 */
export const radamReference = (theta0: Leaves, grads: Leaves[], alpha: Rate, b1: number, b2: number, eps: number, threshold: number, float32Rho = false): Leaves => {
  const [m, v] = buffers(theta0, 2)
  return elementwiseRun(theta0, grads, (j, i, th, g, k, t) => {
    const mi = (m![j]![i] = b1 * m![j]![i]! + (1 - b1) * g)
    const vi = (v![j]![i] = b2 * v![j]![i]! + (1 - b2) * g * g)
    const mHat = mi / (1 - b1 ** t)
    const { rho, r } = radamRho(b2, t, float32Rho)
    if (rho < threshold) return th - alpha(k) * mHat
    return th - (alpha(k) * r() * mHat) / (Math.sqrt(vi / (1 - b2 ** t)) + eps)
  })
}

/** Lion, Chen et al. 2023 Algorithm 2: θ ← θ − α(sign(β₁m + (1 − β₁)g) + λθ); m ← β₂m + (1 − β₂)g. */
export const lionReference = (theta0: Leaves, grads: Leaves[], alpha: Rate, b1: number, b2: number, wd: number): { theta: Leaves; minMargin: number } => {
  const [m] = buffers(theta0, 1)
  let minMargin = Infinity
  const theta = elementwiseRun(theta0, grads, (j, i, th, g, k) => {
    const c = b1 * m![j]![i]! + (1 - b1) * g
    if (c !== 0) minMargin = Math.min(minMargin, Math.abs(c))
    m![j]![i] = b2 * m![j]![i]! + (1 - b2) * g
    return th - alpha(k) * (Math.sign(c) + wd * th)
  })
  return { theta, minMargin }
}

const norm = (x: Float64Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0))

/** LAMB, You et al. 2020 Algorithm 2: r = Adam step + λθ, θ ← θ − α (‖θ‖/‖r‖) r per leaf (ratio 1 if a norm is 0). */
export const lambReference = (theta0: Leaves, grads: Leaves[], alpha: Rate, b1: number, b2: number, eps: number, wd: number): Leaves => {
  const theta = clone(theta0)
  const [m, v] = buffers(theta0, 2)
  grads.forEach((g, k) => {
    const t = k + 1
    theta.forEach((leaf, j) => {
      const r = new Float64Array(leaf.length)
      for (let i = 0; i < leaf.length; i++) {
        m![j]![i] = b1 * m![j]![i]! + (1 - b1) * g[j]![i]!
        v![j]![i] = b2 * v![j]![i]! + (1 - b2) * g[j]![i]! ** 2
        r[i] = m![j]![i]! / (1 - b1 ** t) / (Math.sqrt(v![j]![i]! / (1 - b2 ** t)) + eps) + wd * leaf[i]!
      }
      const pn = norm(leaf)
      const rn = norm(r)
      const ratio = pn === 0 || rn === 0 ? 1 : pn / rn
      for (let i = 0; i < leaf.length; i++) leaf[i] = leaf[i]! - alpha(k) * ratio * r[i]!
    })
  })
  return theta
}

/** LARS, You et al. 2017 Algorithm 1 (Optax's form): d = g + λθ; u = η‖θ‖/(‖d‖ + ε) d; v ← βv + α u; θ ← θ − v. */
export const larsReference = (theta0: Leaves, grads: Leaves[], alpha: Rate, wd: number, eta: number, eps: number, beta: number): Leaves => {
  const theta = clone(theta0)
  const [vel] = buffers(theta0, 1)
  grads.forEach((g, k) => {
    theta.forEach((leaf, j) => {
      const d = leaf.map((p, i) => g[j]![i]! + wd * p)
      const pn = norm(leaf)
      const dn = norm(d)
      const ratio = pn === 0 || dn === 0 ? 1 : (eta * pn) / (dn + eps)
      for (let i = 0; i < leaf.length; i++) {
        vel![j]![i] = beta * vel![j]![i]! + alpha(k) * ratio * d[i]!
        leaf[i] = leaf[i]! - vel![j]![i]!
      }
    })
  })
  return theta
}

/**
 * L-BFGS with a fixed step (Nocedal & Wright 2006, Algorithms 7.4/7.5, initial H₀ = γI with
 * γ = sᵀy/yᵀy of the newest pair, γ = min(1, 1/‖g‖) at the first step (Optax, SciPy), or H₀ = I
 * when `scaleInitPrecond` is false), skipping (ρ = 0) pairs that fail the curvature condition
 * sᵀy > 1e-10‖s‖‖y‖ (or sᵀy ≤ 1e-30), on the concatenated vector;
 * `gradient(θ)` gives ∇f.
 */
export const lbfgsReference = (
  theta0: Float64Array,
  gradient: (theta: Float64Array) => Float64Array,
  steps: number,
  alpha: number,
  memory: number,
  scaleInitPrecond = true,
): Float64Array => {
  const dot = (a: Float64Array, b: Float64Array) => a.reduce((s, x, i) => s + x * b[i]!, 0)
  let theta = Float64Array.from(theta0)
  let prevTheta: Float64Array | undefined
  let prevG: Float64Array | undefined
  const S: Float64Array[] = []
  const Y: Float64Array[] = []
  for (let k = 0; k < steps; k++) {
    const g = gradient(theta)
    if (prevTheta && prevG) {
      S.push(theta.map((x, i) => x - prevTheta![i]!))
      Y.push(g.map((x, i) => x - prevG![i]!))
      if (S.length > memory) {
        S.shift()
        Y.shift()
      }
    }
    const rho = S.map((s, i) => {
      const d = dot(Y[i]!, s)
      // written as "fails the condition", so a NaN sᵀy gives ρ = NaN, as in scaleByLbfgs
      return d <= 1e-30 || d <= 1e-10 * Math.sqrt(dot(s, s)) * Math.sqrt(dot(Y[i]!, Y[i]!)) ? 0 : 1 / d
    })
    const q = Float64Array.from(g)
    const a = new Array<number>(S.length)
    for (let i = S.length - 1; i >= 0; i--) {
      a[i] = rho[i]! * dot(S[i]!, q)
      for (let n = 0; n < q.length; n++) q[n] = q[n]! - a[i]! * Y[i]![n]!
    }
    let gamma = 1
    if (scaleInitPrecond && S.length > 0 && !(rho[S.length - 1]! <= 0)) gamma = dot(S[S.length - 1]!, Y[S.length - 1]!) / dot(Y[S.length - 1]!, Y[S.length - 1]!)
    // the first step (no pairs yet): min(1, 1/‖g‖) g, Optax `scale_by_lbfgs` (after SciPy's fmin_bfgs)
    if (scaleInitPrecond && k === 0) gamma = Math.min(1, 1 / Math.sqrt(dot(g, g)))
    const r = q.map((x) => gamma * x)
    for (let i = 0; i < S.length; i++) {
      const b = rho[i]! * dot(Y[i]!, r)
      for (let n = 0; n < r.length; n++) r[n] = r[n]! + S[i]![n]! * (a[i]! - b)
    }
    prevTheta = theta
    prevG = g
    theta = theta.map((x, i) => x - alpha * r[i]!)
  }
  return theta
}
