/**
 * @internal Unvalidated builders of the adaptive transformations, taking every number resolved.
 * The public functions in `moments.ts` validate their options and call these; the optimizer
 * conventions call them directly where a framework's formula needs a value outside the public
 * range (TensorFlow.js' centered RMSProp subtracts its epsilon).
 */
import { defineElementwise } from '../tensor/tensor.js'
import { accumulator, nanUnlessFinite, zeroWhereNoGradient } from './accumulator.js'

/**
 * How a framework computes the host-side scalars its kernels take (docs/conventions.md). Every
 * framework hands float32 kernels float32 hyperparameters (β, 1 − β, ε); they differ in the
 * scalars that change with the step t:
 *
 * - 'float32' (Optax, Keras): βᵗ correctly rounded to float32, then 1 − βᵗ (and RAdam's ρₜ, rₜ)
 *   in float32 arithmetic;
 * - 'float32Product' (TensorFlow.js): βᵗ is a float32 running product, one multiplication a step;
 * - 'float64' (PyTorch): Python doubles, 1 − βᵗ in float64.
 *
 * It matters where 1 − βᵗ is small: float32(0.999) = 0.99900001287, so 1 − β₂ differs by 1.3e-5
 * relative from the float64 value, and the float32 rounding of β₂ᵗ adds up to 6e-8 / (1 − β₂ᵗ).
 */
export type Arithmetic = 'float32' | 'float32Product' | 'float64'

const f32 = Math.fround

/** βᵗ for t ≥ 1 as a running float32 product, memoised on the last t asked (steps come in order). */
const runningPower = (b: number) => {
  let last = { t: 0, value: 1 }
  return (t: number): number => {
    let { t: k, value } = t >= last.t ? last : { t: 0, value: 1 }
    const bf = f32(b)
    while (k < t && value !== 0) {
      value = f32(value * bf)
      k++
    }
    last = { t, value }
    return value
  }
}

/** 1 − βᵗ in the framework's arithmetic, as a function of t ≥ 1. */
export const biasCorrection = (b: number, arithmetic: Arithmetic): ((t: number) => number) => {
  if (arithmetic === 'float64') return (t) => 1 - b ** t
  if (arithmetic === 'float32') return (t) => f32(1 - f32(f32(b) ** t))
  const power = runningPower(b)
  return (t) => f32(1 - power(t))
}

/** A hyperparameter as the kernels of a float32 framework take it. */
const hyper = f32

export const emaOp = defineElementwise({
  name: 'ema',
  inputs: ['g', 'ema'],
  scalars: ['decay', 'omd', 'bc'],
  lets: [['e1', 'decay * ema + omd * g']],
  outputs: ['e1', 'e1 / bc'],
})

export const rawEma = (decay: number, debias: boolean, arithmetic: Arithmetic = 'float32') => {
  const bc = biasCorrection(decay, arithmetic)
  return accumulator({ name: 'ema', buffers: ['ema'], op: emaOp, constants: ['decay', 'omd'], scalars: (t) => [hyper(decay), hyper(1 - decay), debias ? bc(t) : 1] })
}

const adamOp = defineElementwise({
  name: 'scaleByAdam',
  inputs: ['g', 'mu', 'nu'],
  // the bias corrections come in as reciprocals, 1 / (1 − βᵗ), computed on the host: two
  // multiplications per element instead of two divisions
  scalars: ['b1', 'omb1', 'b2', 'omb2', 'ibc1', 'ibc1next', 'nesterov', 'ibc2', 'eps', 'epsRoot'],
  lets: [
    ['mu1', 'b1 * mu + omb1 * g'],
    ['nu1', 'b2 * nu + omb2 * (g * g)'],
    ['muHat', 'nesterov > 0 ? (b1 * mu1) * ibc1next + (omb1 * g) * ibc1 : mu1 * ibc1'],
    ['den', 'Math.sqrt(nu1 * ibc2 + epsRoot) + eps'],
  ],
  // den = 0 only where ν = 0, i.e. every gradient so far was 0 and μ = 0 too: the update is 0, not 0/0;
  // a NaN or overflowed ν gives NaN, never 0 (docs/nonfinite.md)
  outputs: ['mu1', 'nu1', zeroWhereNoGradient('den', nanUnlessFinite('nu1', 'muHat / den'))],
})

/**
 * Adam. `kerasEps` is Keras' form: θ ← θ − α_k (√(1 − β₂ᵗ)/(1 − β₁ᵗ)) μ / (√ν + ε), ε on the
 * uncorrected √ν (as ibc1 = √(1 − β₂ᵗ)/(1 − β₁ᵗ), ibc2 = 1).
 */
export const rawAdam = (b1: number, b2: number, eps: number, epsRoot: number, nesterov: boolean, kerasEps = false, arithmetic: Arithmetic = 'float32') => {
  const bc1 = biasCorrection(b1, arithmetic)
  const bc2 = biasCorrection(b2, arithmetic)
  const sqrt = arithmetic === 'float64' ? Math.sqrt : (x: number) => f32(Math.sqrt(x))
  return accumulator({
    name: 'scaleByAdam',
    buffers: ['mu', 'nu'],
    nonNegative: ['nu'],
    op: adamOp,
    constants: ['b1', 'omb1', 'b2', 'omb2', 'nesterov', 'eps', 'epsRoot', ...(kerasEps ? ['ibc2'] : [])],
    // the reciprocals stay float64: μ·(1/bc) is within 1 ulp of the frameworks' float32 μ/bc
    scalars: (t) => [
      hyper(b1),
      hyper(1 - b1),
      hyper(b2),
      hyper(1 - b2),
      kerasEps ? sqrt(bc2(t)) / bc1(t) : 1 / bc1(t),
      1 / bc1(t + 1),
      nesterov ? 1 : 0,
      kerasEps ? 1 : 1 / bc2(t),
      hyper(eps),
      hyper(epsRoot),
    ],
  })
}

const amsgradOp = defineElementwise({
  name: 'scaleByAmsgrad',
  inputs: ['g', 'mu', 'nu', 'nuMax'],
  scalars: ['b1', 'omb1', 'b2', 'omb2', 'bc1', 'bc2', 'eps', 'epsRoot', 'raw'],
  lets: [
    ['mu1', 'b1 * mu + omb1 * g'],
    ['nu1', 'b2 * nu + omb2 * (g * g)'],
    // WGSL's and GLSL's max drop a NaN operand: spell the NaN through explicitly
    ['m1', nanUnlessFinite('nu1', nanUnlessFinite('nuMax', 'raw > 0 ? Math.max(nuMax, nu1) : Math.max(nuMax, nu1 / bc2)'))],
    ['den', 'Math.sqrt((raw > 0 ? m1 / bc2 : m1) + epsRoot) + eps'],
  ],
  outputs: ['mu1', 'nu1', 'm1', zeroWhereNoGradient('den', nanUnlessFinite('m1', '(mu1 / bc1) / den'))],
})

/**
 * AMSGrad; `rawMax` keeps the maximum of the uncorrected ν (PyTorch, Keras) instead of ν̂ (Optax);
 * `kerasEps` is Keras' form (see `rawAdam`), with the maximum of ν in place of ν; `debiasMu` and
 * `debiasNu` false leave μ or ν uncorrected (Optax's bias_correction_mu, bias_correction_nu).
 */
export const rawAmsgrad = (
  b1: number,
  b2: number,
  eps: number,
  epsRoot: number,
  rawMax: boolean,
  kerasEps = false,
  arithmetic: Arithmetic = 'float32',
  { debiasMu = true, debiasNu = true }: { readonly debiasMu?: boolean; readonly debiasNu?: boolean } = {},
) => {
  const bc1 = debiasMu ? biasCorrection(b1, arithmetic) : () => 1
  const bc2 = debiasNu ? biasCorrection(b2, arithmetic) : () => 1
  const sqrt = arithmetic === 'float64' ? Math.sqrt : (x: number) => f32(Math.sqrt(x))
  return accumulator({
    name: 'scaleByAmsgrad',
    buffers: ['mu', 'nu', 'nuMax'],
    nonNegative: ['nu', 'nuMax'],
    op: amsgradOp,
    constants: ['b1', 'omb1', 'b2', 'omb2', 'eps', 'epsRoot', 'raw', ...(kerasEps ? ['bc2'] : [])],
    scalars: (t) => [hyper(b1), hyper(1 - b1), hyper(b2), hyper(1 - b2), kerasEps ? bc1(t) / sqrt(bc2(t)) : bc1(t), kerasEps ? 1 : bc2(t), hyper(eps), hyper(epsRoot), rawMax || kerasEps ? 1 : 0],
  })
}

const adamaxOp = defineElementwise({
  name: 'scaleByAdamax',
  inputs: ['g', 'mu', 'nu'],
  scalars: ['b1', 'omb1', 'b2', 'bc1', 'epsIn', 'epsOut'],
  lets: [
    ['mu1', 'b1 * mu + omb1 * g'],
    // WGSL's and GLSL's max drop a NaN operand: spell the NaN through explicitly
    ['nu1', nanUnlessFinite('g', nanUnlessFinite('nu', 'Math.max(b2 * nu, Math.abs(g) + epsIn)'))],
    ['den', 'nu1 + epsOut'],
  ],
  outputs: ['mu1', 'nu1', zeroWhereNoGradient('den', nanUnlessFinite('nu1', '(mu1 / bc1) / den'))],
})

/** Adamax; ε inside the max (Optax, PyTorch) or added to the denominator (Keras, TensorFlow.js). */
export const rawAdamax = (b1: number, b2: number, eps: number, epsInMax: boolean, arithmetic: Arithmetic = 'float32') => {
  const bc1 = biasCorrection(b1, arithmetic)
  return accumulator({
    name: 'scaleByAdamax',
    buffers: ['mu', 'nu'],
    nonNegative: ['nu'],
    op: adamaxOp,
    constants: ['b1', 'omb1', 'b2', 'epsIn', 'epsOut'],
    scalars: (t) => [hyper(b1), hyper(1 - b1), hyper(b2), bc1(t), epsInMax ? hyper(eps) : 0, epsInMax ? 0 : hyper(eps)],
  })
}

const rmsOp = defineElementwise({
  name: 'scaleByRms',
  inputs: ['g', 'nu'],
  scalars: ['decay', 'omd', 'bc', 'epsIn', 'epsOut'],
  lets: [
    ['nu1', 'decay * nu + omd * (g * g)'],
    ['den', 'Math.sqrt(nu1 / bc + epsIn) + epsOut'],
  ],
  outputs: ['nu1', zeroWhereNoGradient('den', nanUnlessFinite('nu1', 'g / den'))],
})

export const rawRms = (decay: number, epsIn: number, epsOut: number, initialScale: number, debias: boolean, arithmetic: Arithmetic = 'float32') => {
  const bc = biasCorrection(decay, arithmetic)
  return accumulator({
    name: 'scaleByRms',
    buffers: ['nu'],
    nonNegative: ['nu'],
    initial: { nu: initialScale },
    op: rmsOp,
    constants: ['decay', 'omd', 'epsIn', 'epsOut', ...(debias ? [] : ['bc'])],
    scalars: (t) => [hyper(decay), hyper(1 - decay), debias ? bc(t) : 1, hyper(epsIn), hyper(epsOut)],
  })
}

const stddevOp = defineElementwise({
  name: 'scaleByStddev',
  inputs: ['g', 'mu', 'nu'],
  scalars: ['decay', 'omd', 'bc', 'epsIn', 'epsOut'],
  lets: [
    ['mu1', 'decay * mu + omd * g'],
    ['nu1', 'decay * nu + omd * (g * g)'],
    // ν − μ² ≥ 0 in exact arithmetic; float32 rounding can make it slightly negative, so clamp at 0
    // (Math.max keeps a NaN variance NaN)
    ['den', 'Math.sqrt(Math.max(nu1 / bc - (mu1 / bc) * (mu1 / bc), 0) + epsIn) + epsOut'],
  ],
  // ε > 0 keeps den > 0 (no zero guard: tfjs' negative epsIn gives its own NaN, and g/0 is loud)
  outputs: ['mu1', 'nu1', nanUnlessFinite('nu1', 'g / den')],
})

/** Centered RMS; `epsIn` may be negative to reproduce TensorFlow.js' √(ν − μ² − ε). */
export const rawStddev = (decay: number, epsIn: number, epsOut: number, initialScale: number, debias: boolean, arithmetic: Arithmetic = 'float32') => {
  const bc = biasCorrection(decay, arithmetic)
  return accumulator({
    name: 'scaleByStddev',
    buffers: ['mu', 'nu'],
    nonNegative: ['nu'],
    initial: { nu: initialScale },
    op: stddevOp,
    constants: ['decay', 'omd', 'epsIn', 'epsOut', ...(debias ? [] : ['bc'])],
    scalars: (t) => [hyper(decay), hyper(1 - decay), debias ? bc(t) : 1, hyper(epsIn), hyper(epsOut)],
  })
}

const rssOp = defineElementwise({
  name: 'scaleByRss',
  inputs: ['g', 'sumOfSquares'],
  scalars: ['epsIn', 'epsOut'],
  lets: [
    ['s1', 'sumOfSquares + g * g'],
    ['den', 'Math.sqrt(s1 + epsIn) + epsOut'],
  ],
  // den = 0 only where s1 = 0, i.e. g = 0 and nothing accumulated: the update is 0 there, never 0/0
  outputs: ['s1', zeroWhereNoGradient('den', nanUnlessFinite('s1', 'g / den'))],
})

export const rawRss = (initialAccumulatorValue: number, epsIn: number, epsOut: number) =>
  accumulator({
    name: 'scaleByRss',
    buffers: ['sumOfSquares'],
    nonNegative: ['sumOfSquares'],
    initial: { sumOfSquares: initialAccumulatorValue },
    op: rssOp,
    constants: ['epsIn', 'epsOut'],
    scalars: () => [hyper(epsIn), hyper(epsOut)],
  })

const adadeltaOp = defineElementwise({
  name: 'scaleByAdadelta',
  inputs: ['g', 'eG', 'eX'],
  scalars: ['rho', 'omr', 'eps', 'useOld'],
  lets: [
    ['eG1', 'rho * eG + omr * (g * g)'],
    ['eGUsed', 'useOld > 0 ? eG : eG1'],
    // ε > 0 keeps the denominator > 0; an overflowed E[g²] gives NaN, not a 0 step
    ['u', nanUnlessFinite('eGUsed', '(Math.sqrt(eX + eps) / Math.sqrt(eGUsed + eps)) * g')],
  ],
  outputs: ['eG1', 'rho * eX + omr * (u * u)', 'u'],
})

/** AdaDelta; `useOldAccumulator` divides by E[g²] before this step's update (TensorFlow.js). */
export const rawAdadelta = (rho: number, eps: number, useOldAccumulator: boolean) =>
  accumulator({ name: 'scaleByAdadelta', buffers: ['eG', 'eX'], nonNegative: ['eG', 'eX'], op: adadeltaOp, constants: ['rho', 'omr', 'eps', 'useOld'], scalars: () => [hyper(rho), hyper(1 - rho), hyper(eps), useOldAccumulator ? 1 : 0] })

const lionOp = defineElementwise({
  name: 'scaleByLion',
  inputs: ['g', 'mu'],
  scalars: ['b1', 'omb1', 'b2', 'omb2'],
  lets: [['c', 'b1 * mu + omb1 * g']],
  // sign(±∞) would be a finite step while μ stays infinite for good: NaN instead (docs/nonfinite.md)
  outputs: ['b2 * mu + omb2 * g', nanUnlessFinite('c', 'Math.sign(c)')],
})

/** Lion; `oneMinusOfFloat32` takes 1 − β of the float32 β, as Keras does (Optax: of the Python β). */
export const rawLion = (b1: number, b2: number, oneMinusOfFloat32 = false) => {
  const omb = (b: number) => (oneMinusOfFloat32 ? f32(1 - f32(b)) : hyper(1 - b))
  return accumulator({ name: 'scaleByLion', buffers: ['mu'], op: lionOp, constants: ['b1', 'omb1', 'b2', 'omb2'], scalars: () => [hyper(b1), omb(b1), hyper(b2), omb(b2)] })
}

const radamOp = defineElementwise({
  name: 'scaleByRadam',
  inputs: ['g', 'mu', 'nu'],
  scalars: ['b1', 'omb1', 'b2', 'omb2', 'bc1', 'bc1next', 'nesterov', 'bc2', 'eps', 'epsRoot', 'rectify', 'r'],
  lets: [
    ['mu1', 'b1 * mu + omb1 * g'],
    ['nu1', 'b2 * nu + omb2 * (g * g)'],
    ['muHat', 'nesterov > 0 ? (b1 * mu1) / bc1next + (omb1 * g) / bc1 : mu1 / bc1'],
    ['den', 'Math.sqrt(nu1 / bc2 + epsRoot) + eps'],
  ],
  outputs: ['mu1', 'nu1', `rectify > 0 ? ${zeroWhereNoGradient('den', nanUnlessFinite('nu1', '(r * muHat) / den'))} : muHat`],
})

/**
 * Optax's rectification of RAdam at step t: whether to use the adaptive step, and its factor rₜ,
 * with ρ∞ = 2/(1 − β₂) − 1, ρₜ = ρ∞ − 2tβ₂ᵗ/(1 − β₂ᵗ), rₜ = √((ρₜ − 4)(ρₜ − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρₜ)),
 * in Optax's arithmetic: ρ∞ and (ρ∞ − 4)(ρ∞ − 2) in float64 (Python), rounded once, and everything
 * involving t in float32. It matters: ρₜ is a difference of numbers near ρ∞ (1999 for β₂ = 0.999),
 * so its float32 value differs from the float64 one by ~0.1 in the first steps.
 */
export const radamRectification = (b2: number, t: number, threshold: number): { rectify: boolean; r: number } => {
  const roInf = 2 / (1 - b2) - 1
  const b2t = f32(f32(b2) ** t)
  const ro = f32(f32(roInf) - f32(f32(2 * t * b2t) / f32(1 - b2t)))
  // against the threshold as given (Optax compares with float32(threshold)): a threshold just above 4
  // must never let ρₜ = 4 through, where rₜ is 0/0
  if (!(ro >= threshold)) return { rectify: false, r: 0 }
  const num = f32(f32(f32(ro - 4) * f32(ro - 2)) * f32(roInf))
  const den = f32(f32((roInf - 4) * (roInf - 2)) * ro)
  return { rectify: true, r: f32(Math.sqrt(f32(num / den))) }
}

/** PyTorch's rectification, in Python doubles: the adaptive step is taken where ρₜ > 5. */
const pytorchRectification = (b2: number, t: number): { rectify: boolean; r: number } => {
  const roInf = 2 / (1 - b2) - 1
  const ro = roInf - (2 * t * b2 ** t) / (1 - b2 ** t)
  return ro > 5 ? { rectify: true, r: Math.sqrt(((ro - 4) * (ro - 2) * roInf) / ((roInf - 4) * (roInf - 2) * ro)) } : { rectify: false, r: 0 }
}

/**
 * RAdam. `form` 'optax': u = rₜ μ̂ / (√(ν̂ + ε_root) + ε) once ρₜ ≥ threshold, optionally with
 * Nesterov's μ̂, scalars in float32; 'pytorch': u = rₜ √(1 − β₂ᵗ) μ̂ / (√ν + ε) (ε on the uncorrected
 * √ν) once ρₜ > 5, scalars in float64 (`threshold` unused).
 */
export const rawRadam = (
  b1: number,
  b2: number,
  eps: number,
  epsRoot: number,
  threshold: number,
  { nesterov = false, form = 'optax' }: { readonly nesterov?: boolean; readonly form?: 'optax' | 'pytorch' } = {},
) => {
  const pytorch = form === 'pytorch'
  const bc1 = biasCorrection(b1, pytorch ? 'float64' : 'float32')
  const bc2 = biasCorrection(b2, pytorch ? 'float64' : 'float32')
  return accumulator({
    name: 'scaleByRadam',
    buffers: ['mu', 'nu'],
    nonNegative: ['nu'],
    op: radamOp,
    constants: ['b1', 'omb1', 'b2', 'omb2', 'nesterov', 'eps', 'epsRoot', ...(pytorch ? ['bc2'] : [])],
    scalars: (t) => {
      const { rectify, r } = pytorch ? pytorchRectification(b2, t) : radamRectification(b2, t, threshold)
      return [
        hyper(b1),
        hyper(1 - b1),
        hyper(b2),
        hyper(1 - b2),
        bc1(t),
        bc1(t + 1),
        nesterov ? 1 : 0,
        pytorch ? 1 : bc2(t),
        hyper(eps),
        hyper(epsRoot),
        rectify ? 1 : 0,
        pytorch ? r * Math.sqrt(bc2(t)) : r,
      ]
    },
  })
}

const dampedTraceOp = defineElementwise({
  name: 'dampedTrace',
  inputs: ['g', 'trace'],
  scalars: ['decay', 'c'],
  lets: [['m1', 'decay * trace + c * g']],
  outputs: ['m1', 'm1'],
})

/**
 * PyTorch's SGD momentum with dampening d: m ← g on the first step, then m ← βm + (1 − d)g; u = m.
 * (PyTorch refuses Nesterov with dampening.)
 */
export const rawDampedTrace = (decay: number, dampening: number) =>
  accumulator({
    name: 'dampedTrace',
    buffers: ['trace'],
    op: dampedTraceOp,
    constants: ['decay'],
    scalars: (t) => [hyper(decay), t === 1 ? 1 : hyper(1 - dampening)],
  })

const nadamOp = defineElementwise({
  name: 'scaleByNadam',
  inputs: ['g', 'mu', 'nu'],
  scalars: ['b1', 'omb1', 'b2', 'omb2', 'cg', 'cm', 'ibc2', 'eps'],
  lets: [
    ['mu1', 'b1 * mu + omb1 * g'],
    ['nu1', 'b2 * nu + omb2 * (g * g)'],
    ['den', 'Math.sqrt(nu1 * ibc2) + eps'],
  ],
  outputs: ['mu1', 'nu1', zeroWhereNoGradient('den', nanUnlessFinite('nu1', '(cg * g + cm * mu1) / den'))],
})

/**
 * The momentum schedule of PyTorch's and Keras' NAdam (Dozat 2016): μₜ = β₁(1 − ½·0.96^(ψt)) and
 * Πₜ = μ₁⋯μₜ, as a function of t returning [(1 − μₜ)/(1 − Πₜ), μₜ₊₁/(1 − Πₜμₜ₊₁)], the weights of g
 * and of m in the update. PyTorch (ψ = momentum_decay): μ in Python doubles, Π a float32 tensor;
 * Keras (ψ = 1): everything in float32, Π updated as (Π·β₁)·(1 − ½·0.96ᵗ).
 */
const nadamMomentum = (b1: number, psi: number, form: 'pytorch' | 'keras') => {
  const mu = (t: number): number =>
    form === 'pytorch' ? b1 * (1 - 0.5 * 0.96 ** (t * psi)) : f32(f32(b1) * f32(1 - f32(0.5 * f32(f32(0.96) ** t))))
  const next = (product: number, t: number): number =>
    form === 'pytorch' ? f32(product * f32(mu(t))) : f32(f32(product * f32(b1)) * f32(1 - f32(0.5 * f32(f32(0.96) ** t))))
  let last = { t: 0, product: 1 }
  return (t: number): readonly [number, number] => {
    let { t: k, product } = t >= last.t ? last : { t: 0, product: 1 }
    while (k < t) product = next(product, ++k)
    last = { t, product }
    const m = mu(t)
    const m1 = mu(t + 1)
    if (form === 'pytorch') return [(1 - m) / (1 - product), m1 / (1 - product * m1)]
    return [f32(1 - m) / f32(1 - product), m1 / f32(1 - f32(product * m1))]
  }
}

/**
 * NAdam with the momentum schedule of PyTorch (ψ = momentum_decay) or Keras:
 * u = ((1 − μₜ)/(1 − Πₜ) g + μₜ₊₁/(1 − Πₜμₜ₊₁) m) / (√(ν/(1 − β₂ᵗ)) + ε).
 */
export const rawNadam = (b1: number, b2: number, eps: number, psi: number, form: 'pytorch' | 'keras') => {
  const arithmetic: Arithmetic = form === 'pytorch' ? 'float64' : 'float32'
  const bc2 = biasCorrection(b2, arithmetic)
  const weights = nadamMomentum(b1, psi, form)
  // Keras' Nadam takes 1 − β of the float32 β (its Adam of the Python β)
  const [omb1, omb2] = form === 'keras' ? [f32(1 - f32(b1)), f32(1 - f32(b2))] : [hyper(1 - b1), hyper(1 - b2)]
  return accumulator({
    name: 'scaleByNadam',
    buffers: ['mu', 'nu'],
    nonNegative: ['nu'],
    op: nadamOp,
    constants: ['b1', 'omb1', 'b2', 'omb2', 'eps'],
    scalars: (t) => {
      const [cg, cm] = weights(t)
      return [hyper(b1), omb1, hyper(b2), omb2, cg, cm, 1 / bc2(t), hyper(eps)]
    },
  })
}
