/**
 * Float64 references of the clipping, decay and miscellaneous transforms, written from the cited
 * formulas. They work on host tensors (with shapes) leaf by leaf, except the global norm.
 */
import { HostTensor } from '../host.js'

const map = (h: HostTensor, f: (x: number, i: number) => number) => new HostTensor(h.shape, Array.from(h.data, f))
const sq = (h: HostTensor) => h.data.reduce((s, x) => s + x * x, 0)

/** Seed 002_22903fbb3df79e4c.txt, "Gradient Clipping by value": gᵢ ← α if gᵢ > α, β if gᵢ < β. */
export const clipByValueReference = (g: HostTensor, beta: number, alpha: number): HostTensor =>
  map(g, (x) => (x > alpha ? alpha : x < beta ? beta : x))

/** Seed 002, "Gradient Clipping by norm": if ‖g‖ > v, g ← (g/‖g‖) v. */
export const clipByNormReference = (g: HostTensor, v: number): HostTensor => {
  const n = Math.sqrt(sq(g))
  return n > v ? map(g, (x) => (x / n) * v) : g
}

/** Pascanu et al. 2013: with n = √Σ‖gᵢ‖², every leaf ← (gᵢ/n) v when n > v. */
export const clipByGlobalNormReference = (gs: readonly HostTensor[], v: number): HostTensor[] => {
  const n = Math.sqrt(gs.reduce((s, g) => s + sq(g), 0))
  return gs.map((g) => (n > v ? map(g, (x) => (x / n) * v) : g))
}

/** Optax `clip_by_block_rms`: g / max(1, rms(g)/τ). */
export const clipByBlockRmsReference = (g: HostTensor, tau: number): HostTensor => {
  const rms = g.data.length === 0 ? 0 : Math.sqrt(sq(g) / g.data.length)
  return map(g, (x) => x / Math.max(1, rms / tau))
}

/** Unit-wise norms of Brock et al. 2021 (per output unit: the last axis of rank-2/3 tensors, rank-4 kernels' last axis). */
const unitNorms = (h: HostTensor): ((i: number) => number) => {
  const s = h.shape
  if (s.filter((d) => d !== 1).length <= 1) {
    const n = Math.sqrt(sq(h))
    return () => n
  }
  const units = s.length === 4 ? s[3]! : s.slice(1).reduce((a, b) => a * b, 1)
  const acc = new Float64Array(units)
  h.data.forEach((x, i) => (acc[i % units]! += x * x))
  return (i) => Math.sqrt(acc[i % units]!)
}

/** Brock et al. 2021, eq. 3: g ← λ max(‖θ‖ᵤ, ε) g/‖g‖ᵤ where ‖g‖ᵤ > λ max(‖θ‖ᵤ, ε) (division guarded at 1e-6). */
export const adaptiveGradClipReference = (g: HostTensor, p: HostTensor, clipping: number, eps: number): HostTensor => {
  const gn = unitNorms(g)
  const pn = unitNorms(p)
  return map(g, (x, i) => {
    const max = clipping * Math.max(pn(i), eps)
    return gn(i) < max ? x : (x * max) / Math.max(gn(i), 1e-6)
  })
}

/**
 * Seed 001_6e8604431cc2cba1.txt: L2 adds λθ ("weight decay"), L1 adds λ θ/|θ| (0 at θ = 0); the
 * elastic net both (seed 002 / 004: R = β‖w‖² + ‖w‖₁).
 */
export const penaltyReference = (g: HostTensor, p: HostTensor, l1: number, l2: number): HostTensor =>
  map(g, (x, i) => x + l1 * Math.sign(p.data[i]!) + l2 * p.data[i]!)

/** Yong et al. 2020: g − mean over all axes but the first, for rank > 1. */
export const centralizeReference = (g: HostTensor): HostTensor => {
  if (g.shape.length <= 1) return g
  const rows = g.shape[0]!
  const inner = g.data.length / rows
  const means = Array.from({ length: rows }, (_, r) => g.data.slice(r * inner, (r + 1) * inner).reduce((a, b) => a + b, 0) / inner)
  return map(g, (x, i) => x - means[Math.floor(i / inner)]!)
}

/** Optax `keep_params_nonnegative`: u ← −θ where θ + u < 0. */
export const keepParamsNonnegativeReference = (u: HostTensor, p: HostTensor): HostTensor =>
  map(u, (x, i) => (p.data[i]! + x < 0 ? -p.data[i]! : x))

/** Optax `scale_by_trust_ratio`: u · η max(‖θ‖, m) / (max(‖u‖, m) + ε), ratio 1 if a norm is 0. */
export const trustRatioReference = (u: HostTensor, p: HostTensor, minNorm: number, coef: number, eps: number): HostTensor => {
  const pn = Math.max(Math.sqrt(sq(p)), minNorm)
  const un = Math.max(Math.sqrt(sq(u)), minNorm)
  const ratio = pn <= 0 || un <= 0 ? 1 : (coef * pn) / (un + eps)
  return map(u, (x) => x * ratio)
}

/** Exponential moving average, debiased: e ← βe + (1 − β)g; u = e/(1 − βᵗ). */
export const emaReference = (gs: readonly HostTensor[], decay: number, debias: boolean): HostTensor[] => {
  let e = new Float64Array(gs[0]!.data.length)
  return gs.map((g, k) => {
    e = e.map((x, i) => decay * x + (1 - decay) * g.data[i]!)
    const bc = debias ? 1 - decay ** (k + 1) : 1
    return new HostTensor(g.shape, Array.from(e, (x) => x / bc))
  })
}

/** The options `reduceOnPlateauReference` takes, all required (fluxion's defaults are not assumed). */
export interface ReduceOnPlateauReferenceOptions {
  readonly factor: number
  readonly patience: number
  readonly cooldown: number
  readonly minScale: number
  readonly rtol: number
  readonly atol: number
  readonly accumulationSize: number
}

/**
 * The update scale after each watched value (undefined: no value that step), transcribed from
 * Optax `contrib.reduce_on_plateau` (`_update_scale`), with its improvement test written as
 * v < best − (rtol·|best| + atol) so that it also holds for negative losses (Optax writes
 * (1 − rtol)·best − atol, the same for best ≥ 0). Values are averaged in groups of
 * accumulationSize; each group is one evaluation.
 */
export const reduceOnPlateauReference = (values: readonly (number | undefined)[], o: ReduceOnPlateauReferenceOptions): number[] => {
  let scale = 1
  let best = Infinity
  let plateauCount = 0
  let cooldownCount = 0
  let pending: number[] = []
  const scales: number[] = []
  for (const v of values) {
    if (v !== undefined) pending.push(v)
    if (pending.length === o.accumulationSize) {
      const avg = pending.reduce((a, b) => a + b, 0) / pending.length
      pending = []
      const improved = best === Infinity ? avg < Infinity : avg < best - (o.rtol * Math.abs(best) + o.atol)
      if (improved) best = avg
      const current = improved ? 0 : plateauCount + 1
      if (cooldownCount > 0) {
        plateauCount = 0
        cooldownCount -= 1
      } else if (current === o.patience) {
        plateauCount = 0
        scale = Math.max(scale * o.factor, o.minScale)
        cooldownCount = o.cooldown
      } else {
        plateauCount = current
        cooldownCount = 0
      }
    }
    scales.push(scale)
  }
  return scales
}
