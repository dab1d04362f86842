/**
 * Muon's primitives: momentum orthogonalised by a Newton–Schulz iteration (`scaleByMuon`), and
 * the shape-based rescaling Muon applies after it (`scaleByShape`). Both act on 2-D leaves
 * (matrices, `[fanIn, fanOut]`); the optimizer `muon` sends every other leaf to AdamW.
 *
 * References: Jordan et al. 2024, "Muon: An optimizer for hidden layers in neural networks"
 * (https://kellerjordan.github.io/posts/muon/, modded-nanogpt); Bernstein & Newhouse 2024, "Old
 * Optimizer, New Norm: An Anthology" (adaptive scaling); Liu et al. 2025, "Muon is Scalable for LLM
 * Training" (consistent RMS); Boissin et al. 2025, "Turbo-Muon" (AOL); Grishina et al. 2025
 * (Schatten-4); Ahn et al. 2025, "Dion" (per-step coefficients); Optax 0.2.8
 * `optax/contrib/_muon.py` (`scale_by_muon`, `scale_by_shape`, `orthogonalize_via_newton_schulz`).
 */
import * as t from 'io-ts'
import { zerosLikeTree } from '../core/base.js'
import { checkCount, frozen, mapLeaves, statelessTransformation, transformation } from '../core/internal.js'
import { countCodec, paramsCodec } from '../core/state.js'
import type { GradientTransformation, Params } from '../core/types.js'
import { ranges, refinement, validate } from '../core/validate.js'
import { HyperparameterError, ShapeError } from '../errors.js'
import { elementwise, matmul, reshape, scope, sum, sumOfSquares, sumTo } from '../tensor/ops.js'
import { Tensor, defineElementwise } from '../tensor/tensor.js'
import * as tree from '../tree/index.js'
import { emptyLeaf, nanUnlessFinite, zeroWhereNoGradient } from './accumulator.js'
import { biasCorrection } from './raw.js'

const f32 = Math.fround

/** One Newton–Schulz step's coefficients (a, b, c): X ← aX + (bA + cA²)X with A = XXᵀ. */
export type NewtonSchulzCoefficients = readonly [number, number, number]

/** Keller Jordan's quintic coefficients, (3.4445, −4.7750, 2.0315), used at every step. */
export const muonNsCoefficients: NewtonSchulzCoefficients = Object.freeze([3.4445, -4.775, 2.0315] as const)

/** Dion's per-step coefficients (Ahn et al. 2025), five steps (Optax's `'dion'` preset). */
export const dionNsCoefficients: readonly NewtonSchulzCoefficients[] = Object.freeze([
  Object.freeze([4.0848, -6.8946, 2.927] as const),
  Object.freeze([3.9505, -6.3029, 2.6377] as const),
  Object.freeze([3.7418, -5.5913, 2.3037] as const),
  Object.freeze([2.8769, -3.1427, 1.2046] as const),
  Object.freeze([2.8366, -3.0525, 1.2012] as const),
])

/**
 * How the matrix is scaled before the iteration: by its Frobenius norm (X / (‖X‖_F + ε)); by AOL
 * (the first step's X and A rescaled by s = 1/√max(Σⱼ|Aᵢⱼ|, ε), row i of X by sᵢ and Aᵢⱼ by sᵢsⱼ);
 * or by the Schatten-4 norm (X and A by s = 1/√max(‖XXᵀ‖_F, ε) and s²).
 */
export type MuonPreconditioning = 'frobenius' | 'aol' | 'schatten'

const isTriple = (u: unknown): u is NewtonSchulzCoefficients => Array.isArray(u) && u.length === 3 && u.every((x) => typeof x === 'number' && Number.isFinite(x))

/** Codec of `nsCoeffs`: a triple, a non-empty list of triples, or a preset name. */
export const nsCoefficientsCodec = refinement(
  "a triple [a, b, c] of finite numbers, a non-empty list of such triples (one per step), or 'standard' / 'dion'",
  (u): u is NewtonSchulzCoefficients | readonly NewtonSchulzCoefficients[] | 'standard' | 'dion' =>
    u === 'standard' || u === 'dion' || isTriple(u) || (Array.isArray(u) && u.length > 0 && u.every(isTriple)),
)

/** Codec of `preconditioning`. */
export const muonPreconditioningCodec = refinement("one of 'frobenius', 'aol', 'schatten'", (u): u is MuonPreconditioning => u === 'frobenius' || u === 'aol' || u === 'schatten')

/**
 * The coefficients of each Newton–Schulz step: one triple repeated `nsSteps` times, or a list used
 * one row a step (then `nsSteps` is ignored, and Optax refuses a list longer than it).
 *
 * @example
 * ```ts
 * newtonSchulzSchedule('mine', 'dion', 5).length         // 5 rows, Dion's
 * newtonSchulzSchedule('mine', [3, -3.2, 1.2], 3).length // the triple, 3 times
 * ```
 */
export const newtonSchulzSchedule = (
  transform: string,
  nsCoeffs: NewtonSchulzCoefficients | readonly NewtonSchulzCoefficients[] | 'standard' | 'dion',
  nsSteps: number,
): readonly NewtonSchulzCoefficients[] => {
  const c = nsCoeffs === 'standard' ? muonNsCoefficients : nsCoeffs === 'dion' ? dionNsCoefficients : nsCoeffs
  if (isTriple(c)) return Array.from({ length: nsSteps }, () => c)
  const list = c as readonly NewtonSchulzCoefficients[]
  if (list.length > nsSteps) throw new HyperparameterError(transform, 'nsCoeffs', nsCoeffs, `at most nsSteps = ${nsSteps} triples (Optax refuses more)`)
  return list
}

/** The [rows, cols] of a 2-D leaf, or a ShapeError naming its path. */
const matrixShape = (transform: string, x: Tensor, path: string): readonly [number, number] => {
  if (x.shape.length !== 2) {
    throw new ShapeError(path, `${transform} orthogonalises 2-D leaves (matrices) only, got shape [${x.shape.join(', ')}]; leave the others out with a mask (muon sends them to AdamW)`)
  }
  return [x.shape[0]!, x.shape[1]!]
}

const checkMatrices = (transform: string, t0: Params): void => {
  const ps = tree.paths(t0)
  tree.leaves(t0).forEach((x, j) => {
    if (x instanceof Tensor) matrixShape(transform, x, ps[j]!)
  })
}

// ---- Newton–Schulz -------------------------------------------------------------------------------

const frobeniusOp = defineElementwise({
  name: 'muonFrobenius',
  inputs: ['x', 'ss'],
  scalars: ['eps'],
  lets: [['den', 'Math.sqrt(ss) + eps']],
  // an all-zero matrix with ε = 0 stays 0 (not 0/0); an overflowed ‖X‖² is NaN, never a silent 0
  outputs: [zeroWhereNoGradient('den', nanUnlessFinite('ss', 'x / den'))],
})
// PyTorch's form: X / max(‖X‖_F, ε)
const frobeniusClampOp = defineElementwise({
  name: 'muonFrobeniusClamp',
  inputs: ['x', 'ss'],
  scalars: ['eps'],
  lets: [['den', 'Math.max(Math.sqrt(ss), eps)']],
  outputs: [zeroWhereNoGradient('den', nanUnlessFinite('ss', 'x / den'))],
})
const polyOp = defineElementwise({ name: 'muonNsPoly', inputs: ['a', 'aa'], scalars: ['b', 'c'], outputs: ['b * a + c * aa'] })
const stepOp = defineElementwise({ name: 'muonNsStep', inputs: ['x', 'bx'], scalars: ['a'], outputs: ['a * x + bx'] })
const absOp = defineElementwise({ name: 'muonAbs', inputs: ['x'], outputs: ['Math.abs(x)'] })
// the AOL and Schatten-4 scales: 0 where the clipped sum is exactly 0 (an all-zero row, or matrix,
// with ε = 0: the rows it scales are 0 too), rather than 0·∞; a NaN or overflowed sum stays NaN
// (WGSL's and GLSL's max drop a NaN operand, so it is spelled through explicitly)
const rsqrtClipOp = defineElementwise({
  name: 'muonRsqrtClip',
  inputs: ['r'],
  scalars: ['eps'],
  lets: [['c', 'Math.max(r, eps)']],
  outputs: [zeroWhereNoGradient('c', nanUnlessFinite('r', '1 / Math.sqrt(c)'))],
})
const scaleByOp = defineElementwise({ name: 'muonScaleBy', inputs: ['x', 's'], outputs: ['x * s'] })
const scaleBy2Op = defineElementwise({ name: 'muonScaleBy2', inputs: ['x', 's', 'u'], outputs: ['(x * s) * u'] })
const scaleBySquareOp = defineElementwise({ name: 'muonScaleBySquare', inputs: ['x', 's'], outputs: ['x * (s * s)'] })
const schattenOp = defineElementwise({
  name: 'muonSchatten',
  inputs: ['ss'],
  scalars: ['eps'],
  lets: [['c', 'Math.max(Math.sqrt(ss), eps)']],
  outputs: [zeroWhereNoGradient('c', nanUnlessFinite('ss', '1 / Math.sqrt(c)'))],
})
const mulScalarOp = defineElementwise({ name: 'muonTimesScalar', inputs: ['x', 's'], scalars: ['k'], outputs: ['(x * s) * k'] })

/**
 * Newton–Schulz orthogonalisation of one matrix X ([m, n]), as Optax's
 * `orthogonalize_via_newton_schulz`: a tall X (m > n) is worked on as Xᵀ, so that A = XXᵀ is the
 * smaller Gram matrix (here without moving data: XᵀX, and X·Bᵀ for (B·Xᵀ)ᵀ). Each step is
 * X ← aX + (bA + cA²)X. The result approximates UVᵀ of X = USVᵀ (singular values near 1).
 * `preconditioning` (default 'frobenius') and `eps` (default 1e-8) as in `scaleByMuon`;
 * `clampNorm` (default false) divides by max(‖X‖_F, ε) instead of ‖X‖_F + ε (PyTorch's form).
 *
 * Reference: Jordan et al. 2024 (Muon); Optax `contrib.orthogonalize_via_newton_schulz`.
 *
 * @example
 * ```ts
 * const g = fromArray([3, 0, 0, 0, 0.5, 0], [2, 3])
 * const o = newtonSchulz(g, newtonSchulzSchedule('example', muonNsCoefficients, 5)) // ≈ [[s₁, 0, 0], [0, s₂, 0]], s₁, s₂ in [0.7, 1.2]
 * ```
 */
export const newtonSchulz = (
  x: Tensor,
  steps: readonly NewtonSchulzCoefficients[],
  options: { readonly preconditioning?: MuonPreconditioning; readonly eps?: number; readonly clampNorm?: boolean } = {},
  path = '',
): Tensor => {
  const { preconditioning, eps, clampNorm } = validate('newtonSchulz', { preconditioning: muonPreconditioningCodec, eps: ranges.nonNegative, clampNorm: ranges.boolean }, options, { preconditioning: 'frobenius', eps: 1e-8, clampNorm: false })
  if (!Array.isArray(steps) || steps.length === 0 || !steps.every(isTriple)) throw new HyperparameterError('newtonSchulz', 'steps', steps, 'a non-empty list of triples [a, b, c] of finite numbers, one per step')
  const [m, n] = matrixShape('newtonSchulz', x, path)
  if (x.size === 0) return emptyLeaf(x)
  // only the result survives: the Gram matrices and intermediate iterates are released
  return scope(() => iterate(x, m, n, steps, preconditioning, eps, clampNorm, path))
}

const iterate = (x: Tensor, m: number, n: number, steps: readonly NewtonSchulzCoefficients[], preconditioning: MuonPreconditioning, eps: number, clampNorm: boolean, path: string): Tensor => {
  const tall = m > n
  const k = Math.min(m, n)
  const gram = (y: Tensor) => (tall ? matmul(y, y, { transposeA: true }, path) : matmul(y, y, { transposeB: true }, path))
  const left = (b: Tensor, y: Tensor) => (tall ? matmul(y, b, { transposeB: true }, path) : matmul(b, y, {}, path))
  const e = f32(eps)
  let y = preconditioning === 'frobenius' ? elementwise(clampNorm ? frobeniusClampOp : frobeniusOp, [x, sumOfSquares(x)], [e], path)[0]! : x
  steps.forEach(([ca, cb, cc], i) => {
    let a = gram(y)
    if (i === 0 && preconditioning === 'aol') {
      // s = 1/√max(Σⱼ|Aᵢⱼ|, ε) scales the rows of the (transposed, if tall) matrix: X's columns when tall
      const rowSums = sumTo(elementwise(absOp, [a])[0]!, [k, 1], path)
      const sRow = elementwise(rsqrtClipOp, [rowSums], [e], path)[0]!
      const sVec = reshape(sRow, [k], path)
      y = elementwise(scaleByOp, [y, tall ? sVec : sRow], [], path)[0]!
      a = elementwise(scaleBy2Op, [a, sRow, sVec], [], path)[0]!
    } else if (i === 0 && preconditioning === 'schatten') {
      const s = elementwise(schattenOp, [sumOfSquares(a)], [e], path)[0]!
      y = elementwise(scaleByOp, [y, s], [], path)[0]!
      a = elementwise(scaleBySquareOp, [a, s], [], path)[0]!
    }
    const b = elementwise(polyOp, [a, matmul(a, a, {}, path)], [f32(cb), f32(cc)], path)[0]!
    y = elementwise(stepOp, [y, left(b, y)], [f32(ca)], path)[0]!
  })
  return y
}

// ---- scaleByMuon ---------------------------------------------------------------------------------

/** State of `scaleByMuon`: the step count and the momentum mu (Optax's `MuonState`, less the coefficients, which are options). */
export interface ScaleByMuonState {
  readonly count: number
  readonly mu: Params
}

/** Options of `scaleByMuon`. */
export interface ScaleByMuonOptions {
  /** Newton–Schulz coefficients: a triple, a list of triples (one per step), or 'standard' / 'dion'. Default (3.4445, −4.7750, 2.0315). */
  readonly nsCoeffs?: NewtonSchulzCoefficients | readonly NewtonSchulzCoefficients[] | 'standard' | 'dion'
  /** Newton–Schulz steps, an integer ≥ 1 (ignored for a list of coefficients). Default 5. */
  readonly nsSteps?: number
  /** β, the momentum decay, in [0, 1). Default 0.95. */
  readonly beta?: number
  /** ε ≥ 0 in the preconditioning's denominators. Default 1e-8. */
  readonly eps?: number
  /** Nesterov momentum. Default true. */
  readonly nesterov?: boolean
  /** Scale the orthogonalised O by ⟨m̂, O⟩ (the dual norm of m̂). Default false. */
  readonly adaptive?: boolean
  /** Scaling before the iteration. Default 'frobenius'. */
  readonly preconditioning?: MuonPreconditioning
  /** 'optax' (default) or 'pytorch': `torch.optim.Muon`'s momentum (no bias correction) and norm clamp. */
  readonly convention?: MuonConvention
}

/** Whose Muon to reproduce: Optax's `contrib.scale_by_muon` or PyTorch's `torch.optim.Muon`. */
export type MuonConvention = 'optax' | 'pytorch'

/** Codec of a Muon `convention`. */
export const muonConventionCodec = refinement("one of 'optax', 'pytorch'", (u): u is MuonConvention => u === 'optax' || u === 'pytorch')

// PyTorch: buf.lerp_(g, 1 − μ), then g.lerp(buf, μ) with Nesterov (torch's lerp: a + w(b − a) for
// w < 0.5, b − (b − a)(1 − w) otherwise), no bias correction
const pytorchMomentumOp = defineElementwise({
  name: 'scaleByMuonMomentumPytorch',
  inputs: ['g', 'mu'],
  scalars: ['w', 'small', 'omw', 'nesterov'],
  lets: [['mu1', 'small > 0 ? mu + w * (g - mu) : g - (g - mu) * omw']],
  outputs: ['mu1', 'nesterov > 0 ? (small > 0 ? mu1 - (mu1 - g) * w : g + (mu1 - g) * omw) : mu1'],
})

const momentumOp = defineElementwise({
  name: 'scaleByMuonMomentum',
  inputs: ['g', 'mu'],
  scalars: ['b', 'omb', 'bc', 'bcNext', 'nesterov'],
  lets: [['mu1', 'omb * g + b * mu']],
  outputs: ['mu1', 'nesterov > 0 ? b * (mu1 / bcNext) + omb * (g / bc) : mu1 / bc'],
})

const bc = (b: number) => biasCorrection(b, 'float32')

const muonCodecs = {
  nsCoeffs: nsCoefficientsCodec,
  nsSteps: ranges.positiveInteger,
  beta: ranges.unitInterval,
  eps: ranges.nonNegative,
  nesterov: ranges.boolean,
  adaptive: ranges.boolean,
  preconditioning: muonPreconditioningCodec,
  convention: muonConventionCodec,
}
const muonDefaults = (c: MuonConvention) => ({ nsCoeffs: muonNsCoefficients, nsSteps: 5, beta: 0.95, eps: c === 'pytorch' ? 1e-7 : 1e-8, nesterov: true, adaptive: false, preconditioning: 'frobenius' as MuonPreconditioning, convention: c })

/** The convention asked for, checked on its own first (it sets the defaults). */
const muonConventionOf = (transform: string, options: unknown): MuonConvention => {
  const c = typeof options === 'object' && options !== null && Object.hasOwn(options, 'convention') ? (options as { convention?: unknown }).convention : undefined
  return validate(transform, { convention: muonConventionCodec }, { convention: c ?? 'optax' }).convention
}

/** Refuses, in the pytorch convention, the options torch.optim.Muon does not have. */
const pytorchRefuses = (transform: string, o: { readonly adaptive: boolean; readonly preconditioning: MuonPreconditioning; readonly nsCoeffs: unknown }) => {
  if (o.adaptive) throw new HyperparameterError(transform, 'adaptive', o.adaptive, 'false: only the optax convention has it, not pytorch')
  if (o.preconditioning !== 'frobenius') throw new HyperparameterError(transform, 'preconditioning', o.preconditioning, "'frobenius': only the optax convention has the others, not pytorch")
  if (!isTriple(o.nsCoeffs)) throw new HyperparameterError(transform, 'nsCoeffs', o.nsCoeffs, 'a triple [a, b, c]: torch.optim.Muon takes no per-step list or preset')
}

/**
 * Muon's rescaling of 2-D leaves: momentum, bias-corrected, then orthogonalised by Newton–Schulz.
 * With t the step,
 *
 *   m ← βm + (1 − β)g,  m̂ = m/(1 − βᵗ)  (Nesterov: m̂ = β·m/(1 − βᵗ⁺¹) + (1 − β)·g/(1 − βᵗ)),
 *   X₀ = m̂ / (‖m̂‖_F + ε),  Xₖ₊₁ = aXₖ + (bA + cA²)Xₖ with A = XₖXₖᵀ  (k < nsSteps),
 *   u = X_N  (adaptive: u = ⟨m̂, X_N⟩·X_N).
 *
 * A tall matrix (rows > cols) is iterated as its transpose, as Optax does. The iteration drives the
 * singular values of m̂ towards 1 (to about [0.7, 1.2] with these coefficients), so u ≈ UVᵀ for
 * m̂ = USVᵀ: steepest descent under the spectral norm. Only 2-D leaves are accepted (a ShapeError
 * names any other); `muon` sends the others to AdamW by a mask, and `masked(scaleByMuon(), mask)`
 * does it by hand.
 *
 * Defaults (Optax 0.2.8's): nsCoeffs = (3.4445, −4.7750, 2.0315), nsSteps = 5, beta = 0.95,
 * eps = 1e-8, nesterov = true, adaptive = false, preconditioning = 'frobenius'. An all-zero
 * matrix (or, under AOL, row) with ε = 0 gives a 0 update, where Optax gives 0/0 or 0·∞. Optax's 'spectral' preconditioning
 * (an SVD per step) is not offered. State: `{ count, mu }`, zeros at init.
 *
 * `convention: 'pytorch'` reproduces `torch.optim.Muon` (PyTorch 2.9+): m ← m + (1 − β)(g − m),
 * m̂ = m or, with Nesterov, g + β(m − g), no bias correction; X₀ = m̂ / max(‖m̂‖_F, ε) with
 * ε = 1e-7 by default; one coefficient triple; no adaptive scaling or other preconditioning (they
 * are refused). PyTorch iterates in bfloat16; fluxion in float32 (docs/muon-schedule-free.md).
 * Reference: Jordan et al. 2024 (Muon); Bernstein & Newhouse 2024 (adaptive); Optax
 * `contrib.scale_by_muon`.
 *
 * @example
 * ```ts
 * const opt = chain(scaleByMuon(), scaleByShape(), scaleByLearningRate(0.02))
 * const params = { w: fromArray([1, 2, 3, 4, 5, 6], [2, 3]) }
 * const [u] = opt.update({ w: fromArray([0.1, -0.2, 0.3, 0.1, 0.5, -0.4], [2, 3]) }, opt.init(params), params)
 * ```
 */
export const scaleByMuon = (options: ScaleByMuonOptions = {}): GradientTransformation<ScaleByMuonState> => {
  const convention = muonConventionOf('scaleByMuon', options)
  const o = validate('scaleByMuon', muonCodecs, options, muonDefaults(convention))
  const pytorch = convention === 'pytorch'
  if (pytorch) pytorchRefuses('scaleByMuon', o)
  const steps = newtonSchulzSchedule('scaleByMuon', o.nsCoeffs, o.nsSteps)
  const name = 'scaleByMuon'
  const correction = bc(o.beta)
  const w = f32(1 - o.beta)
  const [op, scalarsAt] = pytorch
    ? [pytorchMomentumOp, () => [w, w < 0.5 ? 1 : 0, f32(1 - w), o.nesterov ? 1 : 0]]
    : [momentumOp, (k: number) => [f32(o.beta), f32(1 - o.beta), correction(k), correction(k + 1), o.nesterov ? 1 : 0]]
  return transformation(name, {
    init: (params: Params) => {
      checkMatrices(name, params)
      return frozen({ count: 0, mu: zerosLikeTree(params) })
    },
    update: (updates: Params, state: ScaleByMuonState) => {
      const k = checkCount(name, state.count) + 1
      checkMatrices(name, updates)
      const scalars = scalarsAt(k)
      const [mu, u] = mapLeaves([['updates', updates], ['state.mu', state.mu]], 2, ([g, m], path) => {
        const [mu1, muHat] = elementwise(op, [g!, m!], scalars, path)
        if (g!.size === 0) return [mu1!, emptyLeaf(g!)]
        const x = newtonSchulz(muHat!, steps, { preconditioning: o.preconditioning, eps: o.eps, clampNorm: pytorch }, path)
        return [mu1!, o.adaptive ? elementwise(mulScalarOp, [x, sum(elementwise(scaleByOp, [muHat!, x], [], path)[0]!)], [1], path)[0]! : x]
      })
      return [u!, frozen({ count: k, mu: mu! })] as const
    },
    stateCodec: t.strict({ count: countCodec, mu: paramsCodec }, '{ count, mu }'),
  })
}

// ---- scaleByShape --------------------------------------------------------------------------------

/** Options of `scaleByShape`. */
export interface ScaleByShapeOptions {
  /** When set (≥ 0), scale by √max(fanIn, fanOut)·consistentRms instead of √max(1, fanOut/fanIn). Default unset. */
  readonly consistentRms?: number
  /** The weight layout: 'optax' (default) [fanIn, fanOut], or 'pytorch' [fanOut, fanIn] (torch's `Linear.weight`). */
  readonly convention?: MuonConvention
}

const timesOp = defineElementwise({ name: 'scaleByShape', inputs: ['u'], scalars: ['s'], outputs: ['u * s'] })

/**
 * The shape-based scale Muon applies to each orthogonalised matrix update of shape
 * [fanIn, fanOut]:
 *
 *   u ← √max(1, fanOut/fanIn) · u                     (width transfer, the default)
 *   u ← √max(fanIn, fanOut) · consistentRms · u       (consistent RMS, when consistentRms is set)
 *
 * An orthogonal [fanIn, fanOut] matrix has RMS 1/√max(fanIn, fanOut); the second form gives every
 * matrix the RMS `consistentRms` (0.2 matches AdamW's typical update RMS, Liu et al. 2025). 2-D
 * leaves only (a ShapeError names any other). Stateless. `convention: 'pytorch'` reads the shape as
 * torch's [fanOut, fanIn] (`torch.optim.Muon`'s `adjust_lr_fn` 'original', √max(1, rows/cols);
 * consistentRms 0.2 is its 'match_rms_adamw').
 *
 * Reference: Jordan's Muon (github.com/KellerJordan/Muon); Liu et al. 2025, "Muon is Scalable for
 * LLM Training"; Optax `contrib.scale_by_shape`.
 *
 * @example
 * ```ts
 * const opt = chain(scaleByMuon(), scaleByShape({ consistentRms: 0.2 }), scaleByLearningRate(1e-3))
 * ```
 */
export const scaleByShape = (options: ScaleByShapeOptions = {}): GradientTransformation<Readonly<Record<string, never>>> => {
  const { consistentRms, convention } = validate('scaleByShape', { consistentRms: t.union([ranges.nonNegative, t.undefined], 'a finite number ≥ 0, or undefined (width scaling)'), convention: muonConventionCodec }, options, { convention: 'optax' })
  const factor = (rows: number, cols: number) => (convention === 'pytorch' ? scaleFor(cols, rows) : scaleFor(rows, cols))
  const scaleFor = (fanIn: number, fanOut: number) =>
    consistentRms === undefined ? f32(Math.sqrt(f32(Math.max(1, fanOut / fanIn)))) : f32(f32(Math.sqrt(Math.max(fanIn, fanOut))) * f32(consistentRms))
  return statelessTransformation('scaleByShape', (updates: Params) => {
    checkMatrices('scaleByShape', updates)
    return mapLeaves([['updates', updates]], 1, ([u], path) => {
      const [fanIn, fanOut] = matrixShape('scaleByShape', u!, path)
      return [u!.size === 0 ? emptyLeaf(u!) : elementwise(timesOp, [u!], [factor(fanIn, fanOut)], path)[0]!]
    })[0]!
  })
}
