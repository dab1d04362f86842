/**
 * Float64 references of the schedules, each written directly from its closed form at step k ≥ 0:
 * seed 000_33f4fbf331723dec.txt ("linear decay until iteration τ"), seed 001_6e8604431cc2cba1.txt
 * (inverse-time and exponential decay η₀/(1 + εt), η₀e^(−εt); momentum annealing), and the Optax
 * schedule docs for the rest (polynomial, exponential, piecewise, cosine, warmup-cosine, one-cycle)
 * and Loshchilov & Hutter 2017 for SGDR.
 */

const clamp = (x: number, lo: number, hi: number) => Math.min(Math.max(x, lo), hi)

/** α_k = α₀ + (α_τ − α₀)·j/τ with j = clamp(k − begin, 0, τ). */
export const linearReference = (init: number, end: number, tau: number, begin: number) => (k: number): number =>
  init + ((end - init) * clamp(k - begin, 0, tau)) / tau

/** (α₀ − α_τ)(1 − j/τ)^p + α_τ with j = clamp(k − begin, 0, τ). */
export const polynomialReference = (init: number, end: number, power: number, tau: number, begin: number) => (k: number): number =>
  (init - end) * (1 - clamp(k - begin, 0, tau) / tau) ** power + end

/** α₀·r^e, e = j/T (⌊j/T⌋ with staircase), j = max(k − begin, 0); bounded by `end` on the side it moves towards. */
export const exponentialDecayReference =
  (init: number, T: number, rate: number, begin: number, staircase: boolean, end: number | undefined) =>
  (k: number): number => {
    const j = Math.max(k - begin, 0)
    const v = init * rate ** (staircase ? Math.floor(j / T) : j / T)
    if (end === undefined) return v
    return rate < 1 ? Math.max(v, end) : Math.min(v, end)
  }

/** Seed 001: η₀/(1 + εt), t = k/s (⌊k/s⌋ with staircase). */
export const inverseTimeDecayReference = (init: number, eps: number, s: number, staircase: boolean) => (k: number): number =>
  init / (1 + eps * (staircase ? Math.floor(k / s) : k / s))

/** Seed 001: η₀·e^(−εt), t = k/s (⌊k/s⌋ with staircase). */
export const naturalExpDecayReference = (init: number, eps: number, s: number, staircase: boolean) => (k: number): number =>
  init * Math.exp(-eps * (staircase ? Math.floor(k / s) : k / s))

/** α₀·f^⌊k/T⌋. */
export const stepDecayReference = (init: number, factor: number, T: number) => (k: number): number => init * factor ** Math.floor(k / T)

/** values[i] where i is the number of boundaries strictly below k (a boundary step still has the value before it). */
export const piecewiseConstantReference = (boundaries: readonly number[], values: readonly number[]) => (k: number): number =>
  values[boundaries.filter((b) => k > b).length]!

/** α₀((1 − a)·c^p + a), c = ½(1 + cos(π·min(k, T)/T)). */
export const cosineDecayReference = (init: number, T: number, alpha: number, exponent: number) => (k: number): number =>
  init * ((1 - alpha) * (0.5 * (1 + Math.cos((Math.PI * Math.min(k, T)) / T))) ** exponent + alpha)

/** Linear from init to peak over W steps, then end + (peak − end)·c^p with c the cosine factor over the remaining T − W steps. */
export const warmupCosineDecayReference = (init: number, peak: number, W: number, T: number, end: number, exponent: number) => (k: number): number => {
  if (k < W) return init + ((peak - init) * k) / W
  const c = 0.5 * (1 + Math.cos((Math.PI * Math.min(k - W, T - W)) / (T - W)))
  return end + (peak - end) * c ** exponent
}

/** SGDR: η_min + ½(η_max − η_min)(1 + cos(π·T_cur/T_i)), T_i = T₀·m^i, restarting at each period's end. */
export const sgdrReference = (max: number, min: number, T0: number, mult: number) => (k: number): number => {
  let start = 0
  let T = T0
  for (; k >= start + T; T *= mult) start += T
  return min + 0.5 * (max - min) * (1 + Math.cos((Math.PI * (k - start)) / T))
}

/**
 * One-cycle (Optax `cosine_onecycle_schedule`): cosine from peak/d to the peak over the first
 * ⌊p·T⌋ steps, then cosine from the peak to peak/(d·d_final) until T, constant after.
 */
export const onecycleReference = (T: number, peak: number, pct: number, div: number, finalDiv: number) => (k: number): number => {
  const rise = Math.floor(pct * T)
  const j = Math.min(k, T)
  const cos = (a: number, b: number, f: number) => a + (b - a) * 0.5 * (1 - Math.cos(Math.PI * f))
  if (j <= rise) return rise === 0 ? peak : cos(peak / div, peak, j / rise)
  return cos(peak, peak / div / finalDiv, (j - rise) / (T - rise))
}

/** Linear warmup to a constant (Optax `warmup_constant_schedule`): init + (peak − init)·k/W for k < W, peak after (and for W = 0). */
export const warmupConstantReference = (init: number, peak: number, W: number) => (k: number): number => (k < W ? init + ((peak - init) * k) / W : peak)

/**
 * Linear warmup, then exponential decay from the peak (Optax `warmup_exponential_decay_schedule`):
 * peak·r^e with e = j/T (⌊j/T⌋ with staircase), j = max(k − W − begin, 0), bounded by `end` on the
 * side the decay moves towards.
 */
export const warmupExponentialDecayReference =
  (init: number, peak: number, W: number, T: number, rate: number, begin: number, staircase: boolean, end: number | undefined) =>
  (k: number): number => {
    if (k < W) return init + ((peak - init) * k) / W
    const j = Math.max(k - W - begin, 0)
    const v = peak * rate ** (staircase ? Math.floor(j / T) : j / T)
    if (end === undefined) return v
    return rate < 1 ? Math.max(v, end) : Math.min(v, end)
  }

/**
 * Piecewise interpolation (Optax `piecewise_interpolate_schedule`): values v₀ = init, vᵢ = vᵢ₋₁·sᵢ at
 * the sorted boundaries bᵢ (b₀ = 0); on [bᵢ, bᵢ₊₁) the value goes from vᵢ to vᵢ₊₁ with
 * f = (k − bᵢ)/(bᵢ₊₁ − bᵢ), linearly or as vᵢ₊₁ + (vᵢ − vᵢ₊₁)(1 + cos πf)/2; vₙ from bₙ on.
 */
export const piecewiseInterpolateReference = (type: 'linear' | 'cosine', init: number, boundaries: readonly number[], scales: readonly number[]) => (k: number): number => {
  const order = boundaries.map((_, i) => i).sort((a, b) => boundaries[a]! - boundaries[b]!)
  const b = [0, ...order.map((i) => boundaries[i]!)]
  const v = [init]
  order.forEach((i) => v.push(v[v.length - 1]! * scales[i]!))
  for (let i = 0; i + 1 < b.length; i++) {
    if (b[i]! <= k && k < b[i + 1]!) {
      const f = (k - b[i]!) / (b[i + 1]! - b[i]!)
      return type === 'linear' ? v[i]! + (v[i + 1]! - v[i]!) * f : v[i + 1]! + ((v[i]! - v[i + 1]!) * (1 + Math.cos(Math.PI * f))) / 2
    }
  }
  return v[v.length - 1]!
}

/**
 * Linear one-cycle (Optax `linear_onecycle_schedule`), its three phases written out: from peak/d to
 * the peak over [0, r), back to peak/d over [r, s), then to peak/(d·d_final) over [s, T), with
 * r = ⌊pctStart·T⌋ and s = ⌊pctFinal·T⌋; peak/(d·d_final) from T on.
 */
export const linearOnecycleReference = (T: number, peak: number, pctStart: number, pctFinal: number, d: number, dFinal: number) => (k: number): number => {
  const [r, s] = [Math.floor(pctStart * T), Math.floor(pctFinal * T)]
  const lerp = (a: number, b: number, f: number) => a + (b - a) * f
  if (k < r) return lerp(peak / d, peak, k / r)
  if (k < s) return lerp(peak, peak / d, (k - r) / (s - r))
  if (k < T) return lerp(peak / d, peak / d / dFinal, (k - s) / (T - s))
  return peak / d / dFinal
}
