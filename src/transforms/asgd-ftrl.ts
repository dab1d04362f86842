/**
 * The primitives of PyTorch's averaged SGD and Keras' FTRL-Proximal. Both compute the new params
 * themselves (ASGD's decay term and its running average of the params, FTRL's closed-form
 * minimiser), so each needs the params, has the learning rate inside it and emits the full step
 * u = θ_new − θ: chain nothing that changes the update after it.
 *
 * References: Polyak & Juditsky 1992, "Acceleration of Stochastic Approximation by Averaging";
 * Bottou 2012, "Stochastic Gradient Descent Tricks" (ASGD's η and μ schedules); PyTorch 2
 * `torch/optim/asgd.py` (`_single_tensor_asgd`); McMahan et al. 2013, "Ad Click Prediction: a View
 * from the Trenches", Algorithm 1; Keras 3 `keras/src/optimizers/ftrl.py` and `base_optimizer.py`
 * (`_apply_weight_decay`).
 */
import * as t from 'io-ts'
import { zerosLikeTree } from '../core/base.js'
import { checkCount, elementwiseTree, frozen, mapLeaves, requireParams, transformation } from '../core/internal.js'
import { countCodec, nonNegativeParamsCodec, paramsCodec } from '../core/state.js'
import type { GradientTransformation, Params, ScalarOrSchedule } from '../core/types.js'
import { evaluate, nonNegativeOrSchedule, ranges, refinement, validate } from '../core/validate.js'
import { StructureError } from '../errors.js'
import { clone } from '../tensor/ops.js'
import { defineElementwise } from '../tensor/tensor.js'
import { zeroWhereNoGradient } from './accumulator.js'

const f32 = Math.fround

// ---- ASGD --------------------------------------------------------------------------------------

/**
 * State of `scaleByAsgd`: the step count and the running average `ax` of the params (PyTorch's
 * `state['ax']`, zeros at init). PyTorch's `eta`, `mu` and `step` are functions of the count and
 * the learning rate, so they are not stored.
 */
export interface ScaleByAsgdState {
  readonly count: number
  readonly ax: Params
}

/** Options of `scaleByAsgd`. */
export interface ScaleByAsgdOptions {
  /** γ, a number ≥ 0 or a schedule. Required (PyTorch's default: 1e-2). */
  readonly learningRate: ScalarOrSchedule
  /** λ ≥ 0, the decay term. Default 1e-4. */
  readonly lambd?: number
  /** α ≥ 0, the power of η's decay. Default 0.75. */
  readonly alpha?: number
  /** t₀ ≥ 0: the average ax follows θ for t₀ + 2 steps, then averages. Default 1e6. */
  readonly t0?: number
}

const asgdOp = defineElementwise({
  name: 'scaleByAsgd',
  inputs: ['g', 'p', 'ax'],
  scalars: ['decay', 'eta', 'mu', 'copy'],
  lets: [
    // PyTorch's float32 param.mul_(1 − λη).add_(g, alpha=−η), then the step that reaches it
    ['u', 'Math.fround(decay * p - eta * g) - p'],
    // the params as applyUpdates will hold them (θ + u in float32): what the average takes in
    ['p1', 'Math.fround(p + Math.fround(u))'],
  ],
  outputs: ['copy > 0 ? p1 : ax + (p1 - ax) * mu', 'u'],
})

/**
 * The host scalars at count k (step k + 1), as PyTorch computes them: η and μ are set at the end of
 * the previous step, in float64 from that step's learning rate lr(k − 1), and stored in float32:
 *
 *   η = lr(0) (k = 0), else lr(k − 1) / (1 + λ lr(k − 1) k)^α;   μ = 1 (k = 0), else 1 / max(1, k − t₀).
 */
const asgdScalars = (name: string, lr: ScalarOrSchedule, o: { readonly lambd: number; readonly alpha: number; readonly t0: number }, k: number) => {
  const eta = k === 0 ? f32(evaluate(name, 'learningRate', lr, 0)) : (() => {
    const g = evaluate(name, 'learningRate', lr, k - 1)
    return f32(g / (1 + o.lambd * g * k) ** o.alpha)
  })()
  const mu = k === 0 ? 1 : f32(1 / Math.max(1, k - o.t0))
  return [f32(1 - o.lambd * eta), eta, mu, mu === 1 ? 1 : 0]
}

const checkAsgdState = (name: string, state: unknown): number => {
  if (typeof state !== 'object' || state === null) throw new StructureError('state', `${name}: state must be the { count, ax } that init returned`)
  const s = state as Record<string, unknown>
  if (s.ax === undefined) throw new StructureError('state.ax', `${name}: state.ax is missing (the state init returns is { count, ax })`)
  return checkCount(name, s.count)
}

/**
 * Averaged SGD (PyTorch's `ASGD`), the step and the average in one: with η and μ of step t (see
 * below), per element,
 *
 *   θ ← (1 − λη) θ − η g,   u = θ_new − θ,
 *   ax ← θ_new while μ = 1 (the first t₀ + 2 steps, t₀ an integer), else ax + μ (θ_new − ax),
 *
 * with γ_t the learning rate of step t (a schedule's value at count t − 1), η₁ = γ₁, μ₁ = 1 and
 * η_{t+1} = γ_t / (1 + λ γ_t t)^α, μ_{t+1} = 1 / max(1, t − t₀), each computed at the end of step t
 * in float64 and kept in float32, as PyTorch does (so with a schedule, step t + 1 uses γ_t: PyTorch's
 * LR schedulers have that lag too). 1 − λη is rounded to float32 before it multiplies θ, as
 * PyTorch's `param.mul_`. From step t₀ + 3 on, ax is the mean of the params of steps t₀ + 2 … t:
 * the Polyak–Ruppert average, which `asgdEvalParams` returns for evaluation. θ_new is the params after this update is applied, so
 * chain nothing after it that changes the update (the average would not follow).
 *
 * Defaults: lambd = 1e-4, alpha = 0.75, t0 = 1e6 (PyTorch's: averaging starts after a million
 * steps; until then ax is the current params). State: `{ count, ax }`, ax zeros at init. Needs the
 * params.
 * Reference: Polyak & Juditsky 1992; Bottou 2012, "Stochastic Gradient Descent Tricks", §5.3;
 * PyTorch `torch.optim.ASGD` (`_single_tensor_asgd`).
 *
 * @example
 * ```ts
 * const opt = scaleByAsgd({ learningRate: 0.01, t0: 100 })
 * ```
 */
export const scaleByAsgd = (options: ScaleByAsgdOptions): GradientTransformation<ScaleByAsgdState> => {
  const name = 'scaleByAsgd'
  const o = validate(
    name,
    { learningRate: nonNegativeOrSchedule, lambd: ranges.nonNegative, alpha: ranges.nonNegative, t0: ranges.nonNegative },
    options,
    { lambd: 1e-4, alpha: 0.75, t0: 1e6 },
  )
  return transformation(name, {
    init: (params: Params) => frozen({ count: 0, ax: zerosLikeTree(params) }),
    update: (updates: Params, state: ScaleByAsgdState, params?: Params) => {
      const k = checkAsgdState(name, state)
      const p = requireParams(name, params)
      const [ax, u] = elementwiseTree(asgdOp, [['updates', updates], ['params', p], ['state.ax', state.ax]], asgdScalars(name, o.learningRate, o, k))
      return [u!, frozen({ count: k + 1, ax: ax! })] as const
    },
    stateCodec: t.strict({ count: countCodec, ax: paramsCodec }, '{ count, ax }'),
  }, {
    needsParams: true,
    fusion: {
      kind: 'stage',
      stage: {
        name,
        op: asgdOp,
        sources: [{ from: 'updates' }, { from: 'params' }, { from: 'buffer', name: 'ax' }],
        sinks: [{ to: 'buffer', name: 'ax' }, { to: 'updates' }],
        buffers: ['ax'],
        host: (state, _grads, params) => {
          const k = checkAsgdState(name, state)
          requireParams(name, params)
          return { scalars: asgdScalars(name, o.learningRate, o, k), hostState: { count: k + 1 } }
        },
      },
    },
  })
}

const isAsgdState = (s: unknown): s is ScaleByAsgdState =>
  typeof s === 'object' && s !== null && !Array.isArray(s) && 'ax' in s && 'count' in s && Object.keys(s).length === 2

/** The `scaleByAsgd` state inside `state`: itself, or the one in a chain's state tuple (searched depth-first). */
const findAsgdState = (state: unknown, depth = 0): ScaleByAsgdState | undefined => {
  if (isAsgdState(state)) return state
  if (Array.isArray(state) && depth < 8) {
    for (const s of state) {
      const found = findAsgdState(s, depth + 1)
      if (found) return found
    }
  }
  return undefined
}

/**
 * The parameters to evaluate with in averaged SGD: the average ax of `scaleByAsgd`'s state (the
 * params themselves before the first step, when ax is still PyTorch's zeros), as fresh tensors the
 * caller owns. `state` is the state of `scaleByAsgd` or of an optimizer that holds one (`asgd`, a
 * chain); a StructureError says when it holds none. Training continues from the params, not from
 * the average.
 *
 * Reference: Polyak & Juditsky 1992; PyTorch `ASGD` (`optimizer.state[p]['ax']`).
 *
 * @example
 * ```ts
 * const params = { w: fromArray([1, -2]) }
 * const opt = asgd({ learningRate: 0.01, t0: 0 })
 * const [u, state] = opt.update({ w: fromArray([0.5, -0.5]) }, opt.init(params), params)
 * const averaged = asgdEvalParams(state, applyUpdates(params, u))
 * ```
 */
export const asgdEvalParams = (state: unknown, params: Params): Params => {
  const s = findAsgdState(state)
  if (s === undefined) throw new StructureError('state', 'asgdEvalParams needs the state of scaleByAsgd (or of an optimizer holding one, such as asgd)')
  const k = checkCount('asgdEvalParams', s.count)
  return mapLeaves([['params', params], ['state.ax', s.ax]], 1, ([p, ax], path) => [clone(k === 0 ? p! : ax!, path)])[0]!
}

// ---- FTRL --------------------------------------------------------------------------------------

/** State of `scaleByFtrl`: the step count, the accumulator n of g² and the linear term z (Keras' `accumulator`, `linear`). */
export interface ScaleByFtrlState {
  readonly count: number
  readonly accumulator: Params
  readonly linear: Params
}

/** Options of `scaleByFtrl` (Keras' names, camel-cased). */
export interface ScaleByFtrlOptions {
  /** α > 0, a number or a schedule. Required (Keras' default: 1e-3). */
  readonly learningRate: ScalarOrSchedule
  /** −p ≤ 0: the per-coordinate rate is α / n^p. 0 keeps it fixed. Default −0.5. */
  readonly learningRatePower?: number
  /** n₀ ≥ 0, the accumulator's start. Default 0.1. */
  readonly initialAccumulatorValue?: number
  /** λ₁ ≥ 0, the L1 strength (sparsity: |z| ≤ λ₁ gives θ = 0). Default 0. */
  readonly l1RegularizationStrength?: number
  /** λ₂ ≥ 0, the L2 strength of the proximal step. Default 0. */
  readonly l2RegularizationStrength?: number
  /** λₛ ≥ 0, the L2 penalty on the loss: g ← g + 2λₛθ in z (not in n). Default 0. */
  readonly l2ShrinkageRegularizationStrength?: number
  /** β ≥ 0 of the paper's per-coordinate rate α / (β + √n), added as β/(2α) to λ₂. Default 0. */
  readonly beta?: number
  /** w ≥ 0, Keras' decoupled `weight_decay`: θ ← θ − wαθ before the step. Default 0. */
  readonly weightDecay?: number
}

const ftrlScalars = ['lr', 'power', 'l1', 'l2x2', 'shrink2', 'wd'] as const

// one op per exponent form: √ for Keras' default p = 1/2, Math.pow otherwise; every intermediate
// rounded to float32 as Keras computes (the cpu loop would otherwise hold √n_new − √n in float64)
const ftrlOp = (sqrt: boolean) => {
  const pow = (x: string) => (sqrt ? `Math.fround(Math.sqrt(${x}))` : `Math.fround(Math.pow(${x}, power))`)
  return defineElementwise({
    name: sqrt ? 'scaleByFtrlSqrt' : 'scaleByFtrl',
    inputs: ['g', 'p', 'accumulator', 'linear'],
    scalars: [...ftrlScalars],
    lets: [
      ['w', 'wd > 0 ? Math.fround(p - Math.fround(Math.fround(p * wd) * lr)) : p'],
      ['gs', 'Math.fround(g + Math.fround(shrink2 * w))'],
      ['n1', 'Math.fround(accumulator + Math.fround(g * g))'],
      ['pn1', pow('n1')],
      ['sigma', `Math.fround((pn1 - ${pow('accumulator')}) / lr)`],
      ['z1', 'Math.fround(linear + Math.fround(gs - Math.fround(sigma * w)))'],
      ['q', 'Math.fround(Math.fround(pn1 / lr) + l2x2)'],
      ['w1', 'Math.fround((Math.min(Math.max(z1, -l1), l1) - z1) / q)'],
    ],
    // q = 0 only where no gradient was ever seen, with n₀ = λ₂ = β = 0: θ stays, not 0/0 (Keras: NaN)
    outputs: ['n1', 'z1', zeroWhereNoGradient('q', 'w1 - p')],
  })
}
const ftrlSqrtOp = ftrlOp(true)
const ftrlPowOp = ftrlOp(false)

/** α > 0 or a schedule. */
const positiveOrSchedule = refinement(
  'a finite number > 0 or a schedule (step) => number',
  (u): u is ScalarOrSchedule => ranges.positive.is(u) || typeof u === 'function',
)

/** Keras' `learning_rate_power`: "must be less or equal to zero". */
const nonPositive = refinement('a finite number ≤ 0', (u): u is number => typeof u === 'number' && Number.isFinite(u) && u <= 0)

const checkFtrlState = (name: string, state: unknown): number => {
  if (typeof state !== 'object' || state === null) throw new StructureError('state', `${name}: state must be the { count, accumulator, linear } that init returned`)
  const s = state as Record<string, unknown>
  for (const field of ['accumulator', 'linear']) {
    if (s[field] === undefined) throw new StructureError(`state.${field}`, `${name}: state.${field} is missing (the state init returns is { count, accumulator, linear })`)
  }
  return checkCount(name, s.count)
}

/**
 * FTRL-Proximal (Keras' `Ftrl`): per element, with α the learning rate of step k and p = −learningRatePower,
 *
 *   θ′ = θ − wαθ (Keras' weight decay, when w > 0),   ĝ = g + 2λₛθ′,   n′ = n + g²,
 *   σ = (n′^p − n^p) / α,   z ← z + ĝ − σθ′,   n ← n′,
 *   θ_new = (clip(z, −λ₁, λ₁) − z) / (n′^p / α + 2λ₂ + β/α),   u = θ_new − θ,
 *
 * i.e. θ_new = 0 where |z| ≤ λ₁, else −(z − sign(z)λ₁) / ((β + √n′)/α + 2λ₂) for p = ½: the
 * closed-form minimiser of McMahan et al.'s per-coordinate FTRL objective. Keras' λ₂ term is
 * 2λ₂ + β/α (the paper's λ₂ + β/α). Every intermediate is a float32, as Keras computes them; α,
 * λ₂ + β/(2α) and 2λₛ are rounded to float32 on the host, as Keras' ops take them.
 *
 * Where no gradient has ever been seen and nothing makes the denominator positive (n₀ = 0,
 * λ₂ = β = 0), the update is 0 (Keras gives 0/0 = NaN there).
 *
 * Defaults: learningRatePower = −0.5, initialAccumulatorValue = 0.1, l1RegularizationStrength = 0,
 * l2RegularizationStrength = 0, l2ShrinkageRegularizationStrength = 0, beta = 0, weightDecay = 0
 * (Keras'). State: `{ count, accumulator, linear }`, n₀ and 0 at init. Needs the params.
 * Reference: McMahan et al. 2013, "Ad Click Prediction: a View from the Trenches", Algorithm 1;
 * Keras `keras.optimizers.Ftrl`.
 *
 * @example
 * ```ts
 * const opt = scaleByFtrl({ learningRate: 0.1, l1RegularizationStrength: 0.01 })
 * ```
 */
export const scaleByFtrl = (options: ScaleByFtrlOptions): GradientTransformation<ScaleByFtrlState> => {
  const name = 'scaleByFtrl'
  const o = validate(
    name,
    {
      learningRate: positiveOrSchedule,
      learningRatePower: nonPositive,
      initialAccumulatorValue: ranges.nonNegative,
      l1RegularizationStrength: ranges.nonNegative,
      l2RegularizationStrength: ranges.nonNegative,
      l2ShrinkageRegularizationStrength: ranges.nonNegative,
      beta: ranges.nonNegative,
      weightDecay: ranges.nonNegative,
    },
    options,
    { learningRatePower: -0.5, initialAccumulatorValue: 0.1, l1RegularizationStrength: 0, l2RegularizationStrength: 0, l2ShrinkageRegularizationStrength: 0, beta: 0, weightDecay: 0 },
  )
  const power = f32(-o.learningRatePower)
  const op = power === 0.5 ? ftrlSqrtOp : ftrlPowOp
  const n0 = f32(o.initialAccumulatorValue)
  const scalars = (k: number) => {
    const lr = f32(evaluate(name, 'learningRate', o.learningRate, k, ranges.positive))
    const l2 = f32(o.l2RegularizationStrength + f32(o.beta / f32(2 * lr)))
    return [lr, power, f32(o.l1RegularizationStrength), f32(2 * l2), f32(2 * o.l2ShrinkageRegularizationStrength), f32(o.weightDecay)]
  }
  return transformation(name, {
    init: (params: Params) =>
      frozen({ count: 0, accumulator: mapLeaves([['params', params]], 1, ([p]) => [p!.backend.fill(p!.shape, n0)])[0]!, linear: zerosLikeTree(params) }),
    update: (updates: Params, state: ScaleByFtrlState, params?: Params) => {
      const k = checkFtrlState(name, state)
      const p = requireParams(name, params)
      const [accumulator, linear, u] = elementwiseTree(op, [['updates', updates], ['params', p], ['state.accumulator', state.accumulator], ['state.linear', state.linear]], scalars(k))
      return [u!, frozen({ count: k + 1, accumulator: accumulator!, linear: linear! })] as const
    },
    stateCodec: t.strict({ count: countCodec, accumulator: nonNegativeParamsCodec, linear: paramsCodec }, '{ count, accumulator, linear }'),
  }, {
    needsParams: true,
    fusion: {
      kind: 'stage',
      stage: {
        name,
        op,
        sources: [{ from: 'updates' }, { from: 'params' }, { from: 'buffer', name: 'accumulator' }, { from: 'buffer', name: 'linear' }],
        sinks: [{ to: 'buffer', name: 'accumulator' }, { to: 'buffer', name: 'linear' }, { to: 'updates' }],
        buffers: ['accumulator', 'linear'],
        constants: ['power', 'l1', 'shrink2', 'wd', ...(typeof o.learningRate === 'number' ? ['lr', 'l2x2'] : [])],
        host: (state, _grads, params) => {
          const k = checkFtrlState(name, state)
          requireParams(name, params)
          return { scalars: scalars(k), hostState: { count: k + 1 } }
        },
      },
    },
  })
}
