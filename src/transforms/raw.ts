/**
 * @internal Unvalidated builders of the adaptive transformations, taking every number resolved.
 * The public functions in `moments.ts` validate their options and call these; the optimizer
 * conventions call them directly where a framework's formula needs a value outside the public
 * range (TensorFlow.js' centered RMSProp subtracts its epsilon).
 */
import { defineElementwise } from '../tensor/tensor.js'
import { accumulator, nanUnlessFinite, zeroWhereNoGradient } from './accumulator.js'

export const emaOp = defineElementwise({
  name: 'ema',
  inputs: ['g', 'ema'],
  scalars: ['decay', 'omd', 'bc'],
  lets: [['e1', 'decay * ema + omd * g']],
  outputs: ['e1', 'e1 / bc'],
})

export const rawEma = (decay: number, debias: boolean) =>
  accumulator({ name: 'ema', buffers: ['ema'], op: emaOp, constants: ['decay', 'omd'], scalars: (t) => [decay, 1 - decay, debias ? 1 - decay ** t : 1] })

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

/** Adam; `epsOnUncorrected` is Keras' ε̂ = ε·√(1 − β₂ᵗ) (ε added to √ν rather than √ν̂). */
export const rawAdam = (b1: number, b2: number, eps: number, epsRoot: number, nesterov: boolean, epsOnUncorrected = false) =>
  accumulator({
    name: 'scaleByAdam',
    buffers: ['mu', 'nu'],
    nonNegative: ['nu'],
    op: adamOp,
    constants: ['b1', 'omb1', 'b2', 'omb2', 'nesterov', 'epsRoot', ...(epsOnUncorrected ? [] : ['eps'])],
    scalars: (t) => {
      const bc2 = 1 - b2 ** t
      return [b1, 1 - b1, b2, 1 - b2, 1 / (1 - b1 ** t), 1 / (1 - b1 ** (t + 1)), nesterov ? 1 : 0, 1 / bc2, epsOnUncorrected ? eps / Math.sqrt(bc2) : eps, epsRoot]
    },
  })

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

/** AMSGrad; `rawMax` keeps the maximum of the uncorrected ν (PyTorch, Keras) instead of ν̂ (Optax). */
export const rawAmsgrad = (b1: number, b2: number, eps: number, epsRoot: number, rawMax: boolean, epsOnUncorrected = false) =>
  accumulator({
    name: 'scaleByAmsgrad',
    buffers: ['mu', 'nu', 'nuMax'],
    nonNegative: ['nu', 'nuMax'],
    op: amsgradOp,
    constants: ['b1', 'omb1', 'b2', 'omb2', 'epsRoot', 'raw', ...(epsOnUncorrected ? [] : ['eps'])],
    scalars: (t) => {
      const bc2 = 1 - b2 ** t
      return [b1, 1 - b1, b2, 1 - b2, 1 - b1 ** t, bc2, epsOnUncorrected ? eps / Math.sqrt(bc2) : eps, epsRoot, rawMax ? 1 : 0]
    },
  })

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
export const rawAdamax = (b1: number, b2: number, eps: number, epsInMax: boolean) =>
  accumulator({
    name: 'scaleByAdamax',
    buffers: ['mu', 'nu'],
    nonNegative: ['nu'],
    op: adamaxOp,
    constants: ['b1', 'omb1', 'b2', 'epsIn', 'epsOut'],
    scalars: (t) => [b1, 1 - b1, b2, 1 - b1 ** t, epsInMax ? eps : 0, epsInMax ? 0 : eps],
  })

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

export const rawRms = (decay: number, epsIn: number, epsOut: number, initialScale: number, biasCorrection: boolean) =>
  accumulator({
    name: 'scaleByRms',
    buffers: ['nu'],
    nonNegative: ['nu'],
    initial: { nu: initialScale },
    op: rmsOp,
    constants: ['decay', 'omd', 'epsIn', 'epsOut'],
    scalars: (t) => [decay, 1 - decay, biasCorrection ? 1 - decay ** t : 1, epsIn, epsOut],
  })

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
export const rawStddev = (decay: number, epsIn: number, epsOut: number, initialScale: number, biasCorrection: boolean) =>
  accumulator({
    name: 'scaleByStddev',
    buffers: ['mu', 'nu'],
    nonNegative: ['nu'],
    initial: { nu: initialScale },
    op: stddevOp,
    constants: ['decay', 'omd', 'epsIn', 'epsOut'],
    scalars: (t) => [decay, 1 - decay, biasCorrection ? 1 - decay ** t : 1, epsIn, epsOut],
  })

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
    scalars: () => [epsIn, epsOut],
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
  accumulator({ name: 'scaleByAdadelta', buffers: ['eG', 'eX'], nonNegative: ['eG', 'eX'], op: adadeltaOp, constants: ['rho', 'omr', 'eps', 'useOld'], scalars: () => [rho, 1 - rho, eps, useOldAccumulator ? 1 : 0] })

const lionOp = defineElementwise({
  name: 'scaleByLion',
  inputs: ['g', 'mu'],
  scalars: ['b1', 'omb1', 'b2', 'omb2'],
  lets: [['c', 'b1 * mu + omb1 * g']],
  // sign(±∞) would be a finite step while μ stays infinite for good: NaN instead (docs/nonfinite.md)
  outputs: ['b2 * mu + omb2 * g', nanUnlessFinite('c', 'Math.sign(c)')],
})

export const rawLion = (b1: number, b2: number) =>
  accumulator({ name: 'scaleByLion', buffers: ['mu'], op: lionOp, constants: ['b1', 'omb1', 'b2', 'omb2'], scalars: () => [b1, 1 - b1, b2, 1 - b2] })

const radamOp = defineElementwise({
  name: 'scaleByRadam',
  inputs: ['g', 'mu', 'nu'],
  scalars: ['b1', 'omb1', 'b2', 'omb2', 'bc1', 'bc2', 'eps', 'epsRoot', 'rectify', 'r'],
  lets: [
    ['mu1', 'b1 * mu + omb1 * g'],
    ['nu1', 'b2 * nu + omb2 * (g * g)'],
    ['den', 'Math.sqrt(nu1 / bc2 + epsRoot) + eps'],
  ],
  outputs: ['mu1', 'nu1', `rectify > 0 ? ${zeroWhereNoGradient('den', nanUnlessFinite('nu1', '(r * (mu1 / bc1)) / den'))} : mu1 / bc1`],
})

/** The rectification of RAdam at step t: whether to use the adaptive step, and its factor r_t. */
export const radamRectification = (b2: number, t: number, threshold: number): { rectify: boolean; r: number } => {
  const roInf = 2 / (1 - b2) - 1
  const b2t = b2 ** t
  const ro = roInf - (2 * t * b2t) / (1 - b2t)
  if (!(ro >= threshold)) return { rectify: false, r: 0 }
  return { rectify: true, r: Math.sqrt(((ro - 4) * (ro - 2) * roInf) / ((roInf - 4) * (roInf - 2) * ro)) }
}

export const rawRadam = (b1: number, b2: number, eps: number, epsRoot: number, threshold: number) =>
  accumulator({
    name: 'scaleByRadam',
    buffers: ['mu', 'nu'],
    nonNegative: ['nu'],
    op: radamOp,
    constants: ['b1', 'omb1', 'b2', 'omb2', 'eps', 'epsRoot'],
    scalars: (t) => {
      const { rectify, r } = radamRectification(b2, t, threshold)
      return [b1, 1 - b1, b2, 1 - b2, 1 - b1 ** t, 1 - b2 ** t, eps, epsRoot, rectify ? 1 : 0, r]
    },
  })
