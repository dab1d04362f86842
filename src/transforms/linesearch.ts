/**
 * Line searches: transformations that scale the incoming update direction u by a step η chosen
 * from values and gradients of the objective f, which `update` receives through its extras
 * (`{ value, grad, valueFn, valueAndGradFn }`, Optax's `value`, `grad`, `value_fn`), and the
 * value-and-gradient plumbing of a training loop around them (`valueAndGradFromState`, `minimize`).
 *
 * The search decides on the host, from numbers read back synchronously (`Backend.readSync`): it
 * runs on the cpu backend and gpu.js webasm, cpu, webgl2 and headlessgl, not on gpu.js webgpu,
 * whose reads are asynchronous (an `UnsupportedError` says so).
 *
 * References: Nocedal & Wright 2006, Numerical Optimization, §3.1 (Armijo and Wolfe conditions),
 * Algorithm 3.1 (backtracking), Algorithms 3.5 and 3.6 (strong Wolfe line search and zoom); Hager &
 * Zhang 2006, Algorithm 851 (CG_DESCENT), eq. 23 (approximate Wolfe condition); Optax
 * `scale_by_backtracking_linesearch`, `scale_by_zoom_linesearch`, `value_and_grad_from_state`
 * (optax/_src/linesearch.py, 0.2.8).
 */
import * as t from 'io-ts'
import { applyUpdates } from '../core/base.js'
import { frozen, leafRows, mapLeaves, transformation } from '../core/internal.js'
import { floatCodec, paramsCodec, withIdentity } from '../core/state.js'
import type { GradientTransformation, Params, UpdateExtras } from '../core/types.js'
import { ranges, refinement, validate } from '../core/validate.js'
import { HyperparameterError, StructureError, UnsupportedError, describeValue } from '../errors.js'
import { add, clone, dispose, elementwise, mul, scope, sum } from '../tensor/ops.js'
import { Tensor, adoptIntoParentScope, defineElementwise, runInScope } from '../tensor/tensor.js'
import * as tree from '../tree/index.js'
import { emptyLeaf } from './accumulator.js'

/** An objective f: the params ↦ f(θ), a number or a tensor with one element. */
export type ValueFn = (params: Params) => number | Tensor

/** An objective with its gradient: the params ↦ [f(θ), ∇f(θ)], ∇f a tree of the params' structure. */
export type ValueAndGradFn = (params: Params) => readonly [value: number | Tensor, grad: Params]

declare module '../core/types.js' {
  interface UpdateExtras {
    /** ∇f(θ) at the params passed to `update` (the line searches' `grad`). */
    readonly grad?: Params
    /** θ ↦ f(θ), evaluated by `scaleByBacktrackingLinesearch` at its trial points. */
    readonly valueFn?: ValueFn
    /** θ ↦ [f(θ), ∇f(θ)], evaluated by `scaleByZoomLinesearch` (and by the backtracking search with `storeGrad`). */
    readonly valueAndGradFn?: ValueAndGradFn
  }
}

// ---- shared machinery ----------------------------------------------------------------------------

const trialOp = defineElementwise({ name: 'linesearchTrial', inputs: ['p', 'u'], scalars: ['eta'], outputs: ['p + eta * u'] })
const stepOp = defineElementwise({ name: 'linesearchStep', inputs: ['u'], scalars: ['eta'], outputs: ['eta * u'] })

const tensorLeaves = (x: unknown): Tensor[] => tree.leaves(x as tree.Tree<unknown>).filter((l): l is Tensor => l instanceof Tensor)

/** A host number from a value function's result: a number, or a one-element tensor read at once. */
const hostValue = (transform: string, field: string, v: unknown): number => {
  if (typeof v === 'number') return v
  if (!(v instanceof Tensor) || v.size !== 1) throw new HyperparameterError(transform, field, v, 'a function whose value is a number or a tensor with one element')
  const data = v.backend.readSync?.(v)
  if (data === undefined) {
    throw new UnsupportedError(`${transform}: the line search decides on the host and reads values back at once; ${v.backend.name} reads only asynchronously (use the cpu backend or gpu.js webasm, cpu or webgl2)`)
  }
  return data[0]!
}

/** `hostValue` of a value the caller hands over: a tensor is released once read (unless `grad` holds it). */
const takeValue = (transform: string, field: string, v: unknown, grad: unknown): number => {
  const x = hostValue(transform, field, v)
  if (v instanceof Tensor) dispose(v, grad)
  return x
}

/** Σᵢ aᵢ·bᵢ over the leaves of two trees of one structure, read back to the host (0 without leaves). */
const hostDot = (transform: string, a: Params, b: Params): number => {
  const { rows } = leafRows([['grad', a], ['updates', b]])
  if (rows.length === 0) return 0
  const total = scope(() => rows.map(([x, y]) => sum(mul(x!, y!))).reduce((acc, s) => add(acc, s)))
  try {
    return hostValue(transform, 'grad', total)
  } finally {
    dispose(total)
  }
}

/** η·u leaf by leaf (a zero-size leaf gets a fresh empty tensor). */
const scaleTree = (u: Params, eta: number): Params =>
  mapLeaves([['updates', u]], 1, ([x], path) => (x!.size === 0 ? [emptyLeaf(x!)] : elementwise(stepOp, [x!], [eta], path)))[0]!

/** θ + η·u leaf by leaf. */
const trialParams = (params: Params, u: Params, eta: number): Params =>
  mapLeaves([['params', params], ['updates', u]], 1, ([p, x], path) => (p!.size === 0 ? [emptyLeaf(p!)] : elementwise(trialOp, [p!, x!], [eta], path)))[0]!

/** A copy of a tree of tensors (so a state never aliases a tensor the caller owns). */
const copyTree = (x: Params): Params => mapLeaves([['grad', x]], 1, ([l], path) => [clone(l!, path)])[0]!

/** One evaluated point η on the line θ + ηu. */
interface Point {
  readonly stepsize: number
  readonly value: number
  /** φ'(η) = ∇f(θ + ηu)ᵀu (NaN when only the value was computed). */
  readonly slope: number
  readonly grad: Params | undefined
  /** The tensors of `grad` that this search created (released once no kept point holds them). */
  readonly owned: readonly Tensor[]
}

/**
 * Evaluates f (and ∇f with `withGrad`) at θ + ηu. Everything the evaluation creates is released
 * except the gradient's tensors, which join the enclosing scope.
 */
const evaluateAt = (
  transform: string,
  fnField: string,
  fn: ValueFn | ValueAndGradFn,
  withGrad: boolean,
  params: Params,
  u: Params,
  stepsize: number,
): Point => {
  const { result, created } = runInScope(() => {
    const out: unknown = fn(trialParams(params, u, stepsize))
    if (!withGrad) return { value: hostValue(transform, fnField, out), slope: NaN, grad: undefined }
    if (!Array.isArray(out) || out.length !== 2) throw new HyperparameterError(transform, fnField, out, 'a function returning [value, grad]')
    const grad = out[1] as Params
    leafRows([['updates', u], [`${fnField} grad`, grad]])
    return { value: hostValue(transform, fnField, out[0]), slope: hostDot(transform, grad, u), grad }
  })
  const kept = new Set(result.grad === undefined ? [] : tensorLeaves(result.grad))
  for (const x of created) if (!kept.has(x) && x.backend.isLive(x)) x.backend.release(x)
  const owned = [...created].filter((x) => kept.has(x))
  adoptIntoParentScope(owned)
  return { stepsize, ...result, owned }
}

/** Releases what `dropped` owns and none of `kept` holds. */
const release = (dropped: Point, ...kept: readonly Point[]): void => {
  const held = new Set(kept.flatMap((p) => p.owned))
  for (const x of dropped.owned) if (!held.has(x) && x.backend.isLive(x)) x.backend.release(x)
}

/** The gradient a state keeps: the point's own tensors, or a copy of ones it does not own. */
const keptGrad = (p: Point): Params => {
  const owned = new Set(p.owned)
  return tensorLeaves(p.grad).every((x) => owned.has(x)) ? p.grad! : copyTree(p.grad!)
}

const isFunction = (u: unknown): u is (...args: never[]) => unknown => typeof u === 'function'

/** The extras a search needs, checked (with the trees' structures, shapes and backends) before any work. */
const checkExtras = (transform: string, updates: Params, params: Params, extra: UpdateExtras | undefined, fnField: 'valueFn' | 'valueAndGradFn', fallback?: 'valueAndGradFn') => {
  const e = (extra ?? {}) as Partial<Record<string, unknown>>
  if (typeof e.value !== 'number') throw new HyperparameterError(transform, 'value', e.value, 'a number: f(θ) at the params, passed as update(u, state, params, { value, grad, … })')
  if (e.grad === undefined) throw new HyperparameterError(transform, 'grad', e.grad, 'a tree of tensors: ∇f(θ) at the params, passed as update(u, state, params, { value, grad, … })')
  leafRows([['updates', updates], ['params', params], ['grad', e.grad as Params]])
  const field = isFunction(e[fnField]) ? fnField : fallback !== undefined && isFunction(e[fallback]) ? fallback : undefined
  if (field === undefined) {
    const which = fallback === undefined ? `${fnField}, θ ↦ [f(θ), ∇f(θ)]` : `${fnField}, θ ↦ f(θ) (or ${fallback}, θ ↦ [f(θ), ∇f(θ)])`
    throw new HyperparameterError(transform, fnField, e[fnField], `a function ${which}, passed in update's extras`)
  }
  return { value: e.value, grad: e.grad as Params, field, fn: e[field] as ValueFn | ValueAndGradFn }
}

const f32 = Math.fround

/** Error of a condition, as Optax measures it: the violation max(x, 0), NaN counted as +∞. */
const violation = (x: number): number => {
  const v = Math.max(x, 0)
  return Number.isNaN(v) ? Infinity : v
}

// ---- backtracking (Armijo) -------------------------------------------------------------------------

/** What the last backtracking search did (Optax's `BacktrackingLinesearchInfo`). */
export interface BacktrackingLinesearchInfo {
  /** Evaluations of f in the search. */
  readonly numLinesearchSteps: number
  /** The decrease condition's violation at the last trial: 0 when it held, +∞ for a NaN or +∞ value. */
  readonly decreaseError: number
}

/** State of `scaleByBacktrackingLinesearch` (Optax's `ScaleByBacktrackingLinesearchState`). */
export interface ScaleByBacktrackingLinesearchState {
  /** The step η the last search took (1 before the first). */
  readonly learningRate: number
  /** f at the last trial point (+∞ before the first search), reused by `valueAndGradFromState`. */
  readonly value: number
  /** ∇f at the last trial point with `storeGrad` (zeros before the first search), else null. */
  readonly grad: Params | null
  readonly info: BacktrackingLinesearchInfo
}

/** Options of `scaleByBacktrackingLinesearch` (Optax's names in camel case). */
export interface ScaleByBacktrackingLinesearchOptions {
  /** The most times η is decreased, an integer ≥ 0 (the search evaluates f at most this + 1 times). Required. */
  readonly maxBacktrackingSteps: number
  /** c in the decrease condition, in [0, 1). Default 1e-4. */
  readonly slopeRtol?: number
  /** η ← decreaseFactor·η after each failed trial, in (0, 1). Default 0.8. */
  readonly decreaseFactor?: number
  /** The first trial is min(increaseFactor·η_prev, maxLearningRate); a number ≥ 1 (Infinity: always maxLearningRate). Default 1.5. */
  readonly increaseFactor?: number
  /** The largest trial step, a finite number > 0. Default 1. */
  readonly maxLearningRate?: number
  /** ε, the absolute tolerance of the condition, ≥ 0. Default 0. */
  readonly atol?: number
  /** δ, the relative tolerance on f(θ), ≥ 0. Default 0. */
  readonly rtol?: number
  /** Evaluate ∇f at the trials too (with `valueAndGradFn`) and keep the last one in the state, for `valueAndGradFromState`. Default false. */
  readonly storeGrad?: boolean
}

const atLeastOneOrInfinity = refinement('a number ≥ 1 (Infinity allowed)', (u): u is number => typeof u === 'number' && u >= 1)

const backtrackingInfoCodec = t.strict({ numLinesearchSteps: ranges.nonNegativeInteger, decreaseError: floatCodec }, '{ numLinesearchSteps, decreaseError }')

/**
 * Backtracking line search (Armijo): scales the incoming direction u by the first step η of
 * η₀, βη₀, β²η₀, … that meets the sufficient decrease condition
 *
 *   f(θ + ηu) ≤ (1 + δ) f(θ) + c η ∇f(θ)ᵀu + ε,
 *
 * with η₀ = min(γ·η_prev, η_max) (γ = `increaseFactor`, η_prev the previous search's step, 1 at the
 * start), β = `decreaseFactor`, c = `slopeRtol`, δ = `rtol`, ε = `atol`. u must be a descent
 * direction (∇f(θ)ᵀu < 0) for such an η to exist: chain it after the transformation that gives
 * the direction, e.g. `chain(sgd({ learningRate: 1 }), scaleByBacktrackingLinesearch(…))`.
 *
 * `update(u, state, params, { value, grad, valueFn })` needs f(θ) (`value`), ∇f(θ) (`grad`) and
 * θ ↦ f(θ) (`valueFn`, or `valueAndGradFn`; with `storeGrad`, `valueAndGradFn`), all refused with a
 * `HyperparameterError` naming the field before anything is evaluated. When no trial meets the
 * condition within `maxBacktrackingSteps` decreases, the last (smallest) trial step is taken
 * anyway; when the last trial's value is NaN or +∞, the step is 0 (no move, as Optax: the next
 * search then starts from η₀ = 0 too). The state's `info` reports the number of evaluations and the
 * condition's violation at the end (0: it held). A NaN or ±∞ f(θ) or ∇f(θ)ᵀu (a non-finite
 * gradient or direction) gives a NaN step, so the non-finite value reaches the params
 * (docs/nonfinite.md); Optax makes a 0 step there.
 *
 * Defaults: slopeRtol = 1e-4, decreaseFactor = 0.8, increaseFactor = 1.5, maxLearningRate = 1,
 * atol = 0, rtol = 0, storeGrad = false; `maxBacktrackingSteps` has no default (as in Optax).
 * State: `{ learningRate, value, grad, info: { numLinesearchSteps, decreaseError } }`.
 * Reference: Nocedal & Wright 2006, Algorithm 3.1 and eq. 3.4; Vaswani et al. 2019 (stochastic
 * Armijo); Optax `scale_by_backtracking_linesearch`.
 *
 * @example
 * ```ts
 * // f(w) = Σw², ∇f = 2w
 * const valueFn = (p: Params) => sumOfSquares(p as Tensor)
 * const opt = chain(sgd({ learningRate: 1 }), scaleByBacktrackingLinesearch({ maxBacktrackingSteps: 15 }))
 * const w = fromArray([1, 2, 3])
 * const [updates, state] = opt.update(scaleTensor(w, 2), opt.init(w), w, { value: 14, grad: scaleTensor(w, 2), valueFn })
 * ```
 */
export const scaleByBacktrackingLinesearch = (options: ScaleByBacktrackingLinesearchOptions): GradientTransformation<ScaleByBacktrackingLinesearchState> => {
  const name = 'scaleByBacktrackingLinesearch'
  const o = validate(
    name,
    {
      maxBacktrackingSteps: ranges.nonNegativeInteger,
      slopeRtol: ranges.unitInterval,
      decreaseFactor: ranges.openUnitInterval,
      increaseFactor: atLeastOneOrInfinity,
      maxLearningRate: ranges.positive,
      atol: ranges.nonNegative,
      rtol: ranges.nonNegative,
      storeGrad: ranges.boolean,
    },
    options,
    { slopeRtol: 1e-4, decreaseFactor: 0.8, increaseFactor: 1.5, maxLearningRate: 1, atol: 0, rtol: 0, storeGrad: false },
  )
  const decreaseError = (stepsize: number, slope: number, value: number, newValue: number): number =>
    violation(newValue - (1 + o.rtol) * value - stepsize * o.slopeRtol * slope)
  const body = transformation<ScaleByBacktrackingLinesearchState>(
    name,
    {
      init: (params: Params) =>
        frozen({
          learningRate: 1,
          value: Infinity,
          grad: o.storeGrad ? mapLeaves([['params', params]], 1, ([p]) => [p!.backend.fill(p!.shape, 0)])[0]! : null,
          info: frozen({ numLinesearchSteps: 0, decreaseError: Infinity }),
        }),
      update: (updates: Params, state: ScaleByBacktrackingLinesearchState, params?: Params, extra?: UpdateExtras) => {
        const { value, grad, field, fn } = checkExtras(name, updates, params!, extra, o.storeGrad ? 'valueAndGradFn' : 'valueFn', o.storeGrad ? undefined : 'valueAndGradFn')
        if (typeof state.learningRate !== 'number') throw new StructureError('state.learningRate', `${name}: state.learningRate must be a number, got ${describeValue(state.learningRate)}`)
        return scope(() => {
          const slope = hostDot(name, grad, updates)
          if (!Number.isFinite(value) || !Number.isFinite(slope)) {
            // non-finite in, non-finite out (docs/nonfinite.md): no search, a NaN step
            const next: ScaleByBacktrackingLinesearchState = { learningRate: NaN, value: NaN, grad: o.storeGrad ? copyTree(grad) : null, info: { numLinesearchSteps: 0, decreaseError: Infinity } }
            return [scaleTree(updates, NaN), frozen(next)] as const
          }
          const withGrad = field === 'valueAndGradFn'
          let stepsize = f32(Math.min(o.increaseFactor * state.learningRate, o.maxLearningRate))
          let last: Point | undefined
          let error = Infinity
          let steps = 0
          while (!(error <= o.atol) && steps <= o.maxBacktrackingSteps) {
            if (steps > 0) stepsize = f32(o.decreaseFactor * stepsize)
            const point = evaluateAt(name, field, fn, withGrad, params!, updates, stepsize)
            if (last) release(last)
            last = point
            error = decreaseError(stepsize, slope, value, point.value)
            steps++
          }
          const learningRate = error === Infinity ? 0 : stepsize
          const next: ScaleByBacktrackingLinesearchState = {
            learningRate,
            value: last!.value,
            grad: o.storeGrad ? keptGrad(last!) : null,
            info: { numLinesearchSteps: steps, decreaseError: error },
          }
          return [scaleTree(updates, learningRate), frozen(next)] as const
        })
      },
      stateCodec: t.strict(
        { learningRate: floatCodec, value: floatCodec, grad: t.union([paramsCodec, t.null], 'a tree of tensors or null'), info: backtrackingInfoCodec },
        '{ learningRate, value, grad, info }',
      ),
    },
    { needsParams: true },
  )
  return withIdentity(body, name, o)
}

// ---- zoom (strong Wolfe) ---------------------------------------------------------------------------

/** What the last zoom search did (Optax's `ZoomLinesearchInfo`). */
export interface ZoomLinesearchInfo {
  /** Evaluations of f and ∇f in the search. */
  readonly numLinesearchSteps: number
  /** The decrease condition's violation at the last trial (0: it held; +∞ for a NaN or +∞ value). */
  readonly decreaseError: number
  /** The curvature condition's violation at the last trial (0: it held). */
  readonly curvatureError: number
}

/** State of `scaleByZoomLinesearch` (Optax's `ScaleByZoomLinesearchState`). */
export interface ScaleByZoomLinesearchState {
  /** The step η the last search took (1 before the first). */
  readonly learningRate: number
  /** f at the step taken (+∞ before the first search), reused by `valueAndGradFromState`. */
  readonly value: number
  /** ∇f at the step taken (zeros before the first search), reused by `valueAndGradFromState`. */
  readonly grad: Params
  readonly info: ZoomLinesearchInfo
}

/** Options of `scaleByZoomLinesearch` (Optax's names in camel case). */
export interface ScaleByZoomLinesearchOptions {
  /** The most evaluations of f and ∇f per search, an integer ≥ 1. Required. */
  readonly maxLinesearchSteps: number
  /** The largest step, a number > 0 (Infinity: no bound, Optax's None). Default Infinity. */
  readonly maxLearningRate?: number
  /** ε, the absolute tolerance of both conditions, ≥ 0. Default 0. */
  readonly tol?: number
  /** While bracketing, η ← increaseFactor·η; a finite number > 1. Default 2. */
  readonly increaseFactor?: number
  /** c₁ of the decrease condition, in (0, 1). Default 1e-4. */
  readonly slopeRtol?: number
  /** c₂ of the curvature condition, a number > c₁ (Infinity: no curvature condition). Default 0.9. */
  readonly curvRtol?: number
  /** c₃ of the approximate decrease condition, ≥ 0, or null for the Armijo condition alone. Default 1e-6. */
  readonly approxDecRtol?: number | null
  /** Once the bracket is shorter than this and a step with sufficient decrease is known, take that step; ≥ 0. Default 1e-5. */
  readonly stepsizePrecision?: number
  /** The first trial: 'keep' (the previous search's step; for SGD-like directions) or 'one' (for Newton and quasi-Newton directions). Default 'keep'. */
  readonly initialGuessStrategy?: 'one' | 'keep'
}

const positiveOrInfinity = refinement('a number > 0 (Infinity: no bound)', (u): u is number => typeof u === 'number' && u > 0)
const aboveOne = refinement('a finite number > 1', (u): u is number => typeof u === 'number' && Number.isFinite(u) && u > 1)
const positiveOrInfinityCurv = refinement('a number > 0 (Infinity allowed)', (u): u is number => typeof u === 'number' && u > 0)
const nonNegativeOrNull = refinement('a finite number ≥ 0, or null', (u): u is number | null => u === null || ranges.nonNegative.is(u))
const guessStrategy = refinement("'one' or 'keep'", (u): u is 'one' | 'keep' => u === 'one' || u === 'keep')

const zoomInfoCodec = t.strict({ numLinesearchSteps: ranges.nonNegativeInteger, decreaseError: floatCodec, curvatureError: floatCodec }, '{ numLinesearchSteps, decreaseError, curvatureError }')

/**
 * The critical point of the cubic through (a, fa) with slope fpa at a, (b, fb) and (c, fc), or NaN
 * (SciPy's `_cubicmin`, as Optax uses it).
 */
const cubicMin = (a: number, fa: number, fpa: number, b: number, fb: number, c: number, fc: number): number => {
  const db = b - a
  const dc = c - a
  const denom = (db * dc) ** 2 * (db - dc)
  const rb = fb - fa - fpa * db
  const rc = fc - fa - fpa * dc
  const A = (dc ** 2 * rb - db ** 2 * rc) / denom
  const B = (-(dc ** 3) * rb + db ** 3 * rc) / denom
  return a + (-B + Math.sqrt(B * B - 3 * A * fpa)) / (3 * A)
}

/** The critical point of the quadratic through (a, fa) with slope fpa at a and (b, fb) (SciPy's `_quadmin`). */
const quadMin = (a: number, fa: number, fpa: number, b: number, fb: number): number => {
  const db = b - a
  const B = (fb - fa - fpa * db) / (db * db)
  return a - fpa / (2 * B)
}

/**
 * Zoom line search (strong Wolfe): scales the incoming direction u by a step η meeting the
 * sufficient decrease and curvature conditions
 *
 *   f(θ + ηu) ≤ f(θ) + c₁ η ∇f(θ)ᵀu + ε,   |∇f(θ + ηu)ᵀu| ≤ c₂ |∇f(θ)ᵀu| + ε,
 *
 * found as Nocedal & Wright's Algorithms 3.5 and 3.6 do: the bracketing phase tries η₀ (1, or the
 * previous step with `initialGuessStrategy: 'keep'`), then γη, γ²η, … (γ = `increaseFactor`, at
 * most `maxLearningRate`) until a bracket holds a good step; the zoom phase shrinks the bracket,
 * trying the minimizer of the cubic through three points, else of the quadratic through two, else
 * the midpoint (a new point must lie inside the bracket, 0.2 resp. 0.1 of its length from the
 * ends). As in Optax, near a minimizer (f(θ + ηu) ≤ f(θ) + c₃|f(θ)|) the decrease condition may be
 * met by Hager and Zhang's approximate one instead, ∇f(θ + ηu)ᵀu ≤ (2c₁ − 1) ∇f(θ)ᵀu, which float32
 * can still resolve where f's differences are lost to rounding (`approxDecRtol: null` turns it off).
 *
 * `update(u, state, params, { value, grad, valueAndGradFn })` needs f(θ), ∇f(θ) and
 * θ ↦ [f(θ), ∇f(θ)], all refused with a `HyperparameterError` naming the field before anything is
 * evaluated. Failure, as in Optax: after `maxLinesearchSteps` evaluations (or once the bracket is
 * shorter than `stepsizePrecision`), the search takes the best step found with sufficient decrease;
 * without one it takes the last trial step (an unsafe step, reported by `info.decreaseError` > 0),
 * or no step when the last trial's value is NaN or +∞. With `maxLearningRate` reached before a
 * bracket, that step is taken (curvature unmet, `info.curvatureError` > 0). A NaN or ±∞ f(θ) or
 * ∇f(θ)ᵀu gives a NaN step, so the non-finite value reaches the params (docs/nonfinite.md); Optax
 * makes a 0 step there. The value and gradient at the step taken are kept in the state for
 * `valueAndGradFromState`.
 *
 * Defaults: maxLearningRate = Infinity, tol = 0, increaseFactor = 2, slopeRtol = 1e-4,
 * curvRtol = 0.9, approxDecRtol = 1e-6, stepsizePrecision = 1e-5, initialGuessStrategy = 'keep';
 * `maxLinesearchSteps` has no default (as in Optax; `lbfgs` uses 20 with 'one').
 * State: `{ learningRate, value, grad, info: { numLinesearchSteps, decreaseError, curvatureError } }`.
 * Reference: Nocedal & Wright 2006, Algorithms 3.5 and 3.6, eqs. 3.7a–b; Hager & Zhang 2006, eq. 23;
 * Optax `scale_by_zoom_linesearch`.
 *
 * @example
 * ```ts
 * // f(w) = Σw², ∇f = 2w
 * const valueAndGradFn = (p: Params) => [sumOfSquares(p as Tensor), scaleTensor(p as Tensor, 2)] as const
 * const opt = chain(sgd({ learningRate: 1 }), scaleByZoomLinesearch({ maxLinesearchSteps: 15 }))
 * const w = fromArray([1, 2, 3])
 * const [value, grad] = valueAndGradFn(w)
 * const [updates, state] = opt.update(grad, opt.init(w), w, { value: (await read(value))[0]!, grad, valueAndGradFn })
 * ```
 */
export const scaleByZoomLinesearch = (options: ScaleByZoomLinesearchOptions): GradientTransformation<ScaleByZoomLinesearchState> => {
  const name = 'scaleByZoomLinesearch'
  const o = validate(
    name,
    {
      maxLinesearchSteps: ranges.positiveInteger,
      maxLearningRate: positiveOrInfinity,
      tol: ranges.nonNegative,
      increaseFactor: aboveOne,
      slopeRtol: ranges.openUnitInterval,
      curvRtol: positiveOrInfinityCurv,
      approxDecRtol: nonNegativeOrNull,
      stepsizePrecision: ranges.nonNegative,
      initialGuessStrategy: guessStrategy,
    },
    options,
    { maxLearningRate: Infinity, tol: 0, increaseFactor: 2, slopeRtol: 1e-4, curvRtol: 0.9, approxDecRtol: 1e-6, stepsizePrecision: 1e-5, initialGuessStrategy: 'keep' },
  )
  if (!(o.curvRtol > o.slopeRtol)) {
    throw new HyperparameterError(name, 'curvRtol', o.curvRtol, `a number > slopeRtol = ${o.slopeRtol} (a strong Wolfe step exists for 0 < c₁ < c₂, Nocedal & Wright Lemma 3.1)`)
  }
  const { tol, slopeRtol: c1, curvRtol: c2, approxDecRtol: c3 } = o

  const decreaseError = (stepsize: number, value: number, slope: number, value0: number, slope0: number): number => {
    let error = value - value0 - c1 * stepsize * slope0
    if (c3 !== null) {
      // Hager and Zhang's approximate condition, used once f is within c₃|f(θ)| of its start
      const approx = Math.max(slope - (2 * c1 - 1) * slope0, value - value0 - c3 * Math.abs(value0))
      error = Math.min(approx, error)
    }
    return violation(error)
  }
  const curvatureError = (slope: number, slope0: number): number => violation(Math.abs(slope) - c2 * Math.abs(slope0))

  /** One search from (θ, u), f(θ) = value0, ∇f(θ) = grad0: the step taken, its point and the last trial's errors. */
  const search = (fn: ValueAndGradFn, params: Params, u: Params, value0: number, grad0: Params, slope0: number, guess: number) => {
    const evaluate = (stepsize: number) => evaluateAt(name, 'valueAndGradFn', fn, true, params, u, stepsize)
    const start: Point = { stepsize: 0, value: value0, slope: slope0, grad: grad0, owned: [] }
    let current = start
    let safe = start
    let low = { stepsize: 0, value: value0, slope: slope0 }
    let high = low
    let cubicRef = low
    let count = 0
    let decrease = Infinity
    let curvature = Infinity
    let bracketed = false
    let done = false
    let failed = false
    const replaceCurrent = (p: Point) => {
      release(current, safe, p)
      current = p
    }
    const replaceSafe = (p: Point) => {
      release(safe, current, p)
      safe = p
    }
    while (!done && !failed) {
      if (!bracketed) {
        // Algorithm 3.5: increase the step until a bracket [low, high] holds a good one
        const previous = current
        let stepsize = count === 0 ? guess : f32(o.increaseFactor * previous.stepsize)
        const maxReached = stepsize >= o.maxLearningRate
        stepsize = f32(Math.min(stepsize, o.maxLearningRate))
        const p = evaluate(stepsize)
        decrease = decreaseError(stepsize, p.value, p.slope, value0, slope0)
        curvature = curvatureError(p.slope, slope0)
        const good = Math.max(decrease, curvature) <= tol
        replaceCurrent(p)
        if (decrease <= tol) replaceSafe(p)
        const highIsNew = decrease > 0 || (p.value >= previous.value && count > 0)
        const lowIsNew = p.slope >= 0 && !highIsNew
        const prev = { stepsize: previous.stepsize, value: previous.value, slope: previous.slope }
        const next = { stepsize, value: p.value, slope: p.slope }
        ;[low, high] = lowIsNew ? [next, prev] : [prev, next]
        cubicRef = low
        bracketed = highIsNew || lowIsNew || good
        done = good || (maxReached && !bracketed)
        failed = count + 1 >= o.maxLinesearchSteps && !done
      } else {
        // Algorithm 3.6: shrink the bracket by interpolation
        const delta = Math.abs(high.stepsize - low.stepsize)
        const left = Math.min(high.stepsize, low.stepsize)
        const right = Math.max(high.stepsize, low.stepsize)
        const tooSmall = delta <= o.stepsizePrecision
        const cubic = cubicMin(low.stepsize, low.value, low.slope, high.stepsize, high.value, cubicRef.stepsize, cubicRef.value)
        const quad = quadMin(low.stepsize, low.value, low.slope, high.stepsize, high.value)
        const stepsize = f32(
          cubic > left + 0.2 * delta && cubic < right - 0.2 * delta
            ? cubic
            : quad > left + 0.1 * delta && quad < right - 0.1 * delta
              ? quad
              : (low.stepsize + high.stepsize) / 2,
        )
        const p = evaluate(stepsize)
        decrease = decreaseError(stepsize, p.value, p.slope, value0, slope0)
        curvature = curvatureError(p.slope, slope0)
        replaceCurrent(p)
        if (decrease <= tol && p.value < safe.value) replaceSafe(p)
        done = Math.max(decrease, curvature) <= tol
        const middle = { stepsize, value: p.value, slope: p.slope }
        const highToMiddle = decrease > 0 || p.value >= low.value
        const highToLow = p.slope * (high.stepsize - low.stepsize) >= 0 && !highToMiddle
        cubicRef = highToMiddle || highToLow ? high : low
        const newHigh = highToLow ? low : highToMiddle ? middle : high
        low = highToMiddle ? low : middle
        high = newHigh
        failed = (count + 1 >= o.maxLinesearchSteps || (tooSmall && safe.stepsize > 0)) && !done
      }
      count++
      // a failed search falls back on the best step with sufficient decrease, or on none outside f's domain
      if (failed && (safe.stepsize > 0 || decrease === Infinity)) {
        release(current, safe)
        current = safe
      }
    }
    return { point: current, count, decrease, curvature }
  }

  const body = transformation<ScaleByZoomLinesearchState>(
    name,
    {
      init: (params: Params) =>
        frozen({
          learningRate: 1,
          value: Infinity,
          grad: mapLeaves([['params', params]], 1, ([p]) => [p!.backend.fill(p!.shape, 0)])[0]!,
          info: frozen({ numLinesearchSteps: 0, decreaseError: Infinity, curvatureError: Infinity }),
        }),
      update: (updates: Params, state: ScaleByZoomLinesearchState, params?: Params, extra?: UpdateExtras) => {
        const { value, grad, fn } = checkExtras(name, updates, params!, extra, 'valueAndGradFn')
        if (typeof state.learningRate !== 'number') throw new StructureError('state.learningRate', `${name}: state.learningRate must be a number, got ${describeValue(state.learningRate)}`)
        return scope(() => {
          const slope = hostDot(name, grad, updates)
          if (!Number.isFinite(value) || !Number.isFinite(slope)) {
            // non-finite in, non-finite out (docs/nonfinite.md): no search, a NaN step
            const next: ScaleByZoomLinesearchState = { learningRate: NaN, value: NaN, grad: copyTree(grad), info: { numLinesearchSteps: 0, decreaseError: Infinity, curvatureError: Infinity } }
            return [scaleTree(updates, NaN), frozen(next)] as const
          }
          const guess = f32(o.initialGuessStrategy === 'one' ? 1 : state.learningRate)
          const r = search(fn as ValueAndGradFn, params!, updates, value, grad, slope, guess)
          const next: ScaleByZoomLinesearchState = {
            learningRate: r.point.stepsize,
            value: r.point.value,
            grad: keptGrad(r.point),
            info: { numLinesearchSteps: r.count, decreaseError: r.decrease, curvatureError: r.curvature },
          }
          return [scaleTree(updates, r.point.stepsize), frozen(next)] as const
        })
      },
      stateCodec: t.strict({ learningRate: floatCodec, value: floatCodec, grad: paramsCodec, info: zoomInfoCodec }, '{ learningRate, value, grad, info }'),
    },
    { needsParams: true },
  )
  return withIdentity(body, name, o)
}

// ---- the training-loop plumbing ---------------------------------------------------------------------

/** The `{ value, grad }` records of line-search states inside a (chain's) state, with their paths. */
const linesearchStates = (state: unknown): { readonly path: string; readonly value: unknown; readonly grad: unknown }[] => {
  const found: { path: string; value: unknown; grad: unknown }[] = []
  const go = (node: unknown, path: string, depth: number) => {
    if (!tree.isNode(node) || depth > tree.maxDepth) return
    if (!Array.isArray(node) && Object.hasOwn(node, 'value') && Object.hasOwn(node, 'grad')) {
      found.push({ path, value: (node as Record<string, unknown>).value, grad: (node as Record<string, unknown>).grad })
      return
    }
    for (const [k, child] of Object.entries(node)) go(child, tree.childPath(path, Array.isArray(node) ? Number(k) : k), depth + 1)
  }
  go(state, '', 0)
  return found
}

/**
 * Optax's `value_and_grad_from_state`: `(params, state) => [f(θ), ∇f(θ)]` that reuses the value
 * and gradient the line search computed at its accepted step (the params of this call, when the
 * loop applied that step), and calls `valueAndGradFn(params)` only when the stored value is not
 * finite (before the first search, the initial +∞, or after a failed one). The state must hold
 * exactly one line-search state (`{ value, grad }`, found anywhere in a chain's state), with a
 * gradient (`scaleByBacktrackingLinesearch` needs `storeGrad: true`); otherwise a `StructureError`.
 * A reused gradient is the state's own tensors: release it with the state. Values are read back at
 * once (`Backend.readSync`), as the line searches do.
 *
 * Reference: Optax `value_and_grad_from_state`.
 *
 * @example
 * ```ts
 * const valueAndGradFn = (p: Params) => [sumOfSquares(p as Tensor), scaleTensor(p as Tensor, 2)] as const
 * const opt = lbfgs()
 * let w: Params = fromArray([1, 2, 3])
 * let state = opt.init(w)
 * const valueAndGrad = valueAndGradFromState(valueAndGradFn)
 * for (let k = 0; k < 3; k++) {
 *   const [value, grad] = valueAndGrad(w, state)
 *   const [updates, next] = opt.update(grad, state, w, { value, grad, valueAndGradFn })
 *   ;[w, state] = [applyUpdates(w, updates), next]
 * }
 * ```
 */
export const valueAndGradFromState = (valueAndGradFn: ValueAndGradFn): ((params: Params, state: unknown) => readonly [value: number, grad: Params]) => {
  const name = 'valueAndGradFromState'
  if (!isFunction(valueAndGradFn)) throw new HyperparameterError(name, 'valueAndGradFn', valueAndGradFn, 'a function θ ↦ [f(θ), ∇f(θ)]')
  return (params, state) => {
    const found = linesearchStates(state)
    if (found.length !== 1) {
      const where = found.length === 0 ? 'none' : found.map((x) => (x.path === '' ? '<root>' : x.path)).join(', ')
      throw new StructureError('state', `${name}: the state must hold exactly one line-search state { value, grad }; found ${where}`)
    }
    const [{ path, value, grad }] = found as [(typeof found)[number]]
    const at = (field: string) => (path === '' ? field : `${path}.${field}`)
    if (typeof value !== 'number') throw new StructureError(at('value'), `${name}: the line search's value must be a number, got ${describeValue(value)}`)
    if (grad === null) throw new StructureError(at('grad'), `${name}: the line search keeps no gradient (build scaleByBacktrackingLinesearch with storeGrad: true)`)
    if (Number.isFinite(value)) return [value, grad as Params] as const
    // the function's temporaries are released; its value and gradient are kept
    const out: unknown = scope(() => valueAndGradFn(params))
    if (!Array.isArray(out) || out.length !== 2) throw new HyperparameterError(name, 'valueAndGradFn', out, 'a function returning [value, grad]')
    return [takeValue(name, 'valueAndGradFn', out[0], out[1]), out[1] as Params] as const
  }
}

/** Options of `minimize`. */
export interface MinimizeOptions {
  /** The most updates, an integer ≥ 0. Default 100. */
  readonly maxIterations?: number
  /** Stop once ‖∇f(θ)‖₂ < tolerance at the current params, ≥ 0. Default 1e-6. */
  readonly tolerance?: number
}

/** What `minimize` returns; the caller owns `params` and `state` (release them with `dispose`). */
export interface MinimizeResult<P extends Params, S> {
  readonly params: P
  readonly state: S
  /** The number of updates applied. */
  readonly iterations: number
  /** Whether ‖∇f‖₂ < tolerance at `params`. */
  readonly converged: boolean
  /** f and ‖∇f‖₂ at `params`. */
  readonly value: number
  readonly gradientNorm: number
  /** f at the start and after each update. */
  readonly values: readonly number[]
}

/**
 * A deterministic minimization loop for an objective written with fluxion tensors: from `params`,
 * repeat [f, ∇f] ← `valueAndGradFromState` (or `valueAndGradFn` when the optimizer has no line
 * search that keeps a gradient), stop when ‖∇f‖₂ < `tolerance` or after `maxIterations` updates, else
 * `update(∇f, state, θ, { value: f, grad: ∇f, valueAndGradFn })` and θ ← θ + u. Every tensor the
 * loop makes is released except the returned params and state; `params` itself is left as it is.
 * Needs a backend with synchronous reads (`Backend.readSync`), as the line searches do.
 *
 * Defaults: maxIterations = 100, tolerance = 1e-6.
 * Reference: the loop of Optax's L-BFGS documentation (`value_and_grad_from_state`).
 *
 * @example
 * ```ts
 * // Rosenbrock's f(x, y) = (1 − x)² + 100 (y − x²)² and its gradient, on the device
 * const rosenbrock = defineElementwise({
 *   name: 'docRosenbrock',
 *   inputs: ['x', 'y'],
 *   lets: [['r', 'y - x * x']],
 *   outputs: ['(1 - x) * (1 - x) + 100 * r * r', '-2 * (1 - x) - 400 * x * r', '200 * r'],
 * })
 * const valueAndGradFn = (p: Params) => {
 *   const { x, y } = p as { x: Tensor; y: Tensor }
 *   const [f, gx, gy] = elementwise(rosenbrock, [x, y])
 *   return [sum(f!), { x: gx!, y: gy! }] as const
 * }
 * const r = minimize(valueAndGradFn, { x: fromArray([-1.2]), y: fromArray([1]) }, lbfgs(), { tolerance: 1e-6 })
 * console.log(r.converged, r.iterations) // true 37 (Optax's lbfgs: 38)
 * ```
 */
export const minimize = <P extends Params, S>(
  valueAndGradFn: ValueAndGradFn,
  params: P,
  optimizer: GradientTransformation<S>,
  options: MinimizeOptions = {},
): MinimizeResult<P, S> => {
  const name = 'minimize'
  const { maxIterations, tolerance } = validate(name, { maxIterations: ranges.nonNegativeInteger, tolerance: ranges.nonNegative }, options, { maxIterations: 100, tolerance: 1e-6 })
  if (!isFunction(valueAndGradFn)) throw new HyperparameterError(name, 'valueAndGradFn', valueAndGradFn, 'a function θ ↦ [f(θ), ∇f(θ)]')
  const ok = typeof optimizer === 'object' && optimizer !== null && isFunction(optimizer.init) && isFunction(optimizer.update)
  if (!ok) throw new HyperparameterError(name, 'optimizer', optimizer, 'a GradientTransformation { init, update }')
  const fromState = valueAndGradFromState(valueAndGradFn)
  let p: P = params
  let state = optimizer.init(p)
  // reuse the line search's value and gradient when it keeps them (one search, with a gradient)
  const found = linesearchStates(state)
  const hasLinesearch = found.length === 1 && found[0]!.grad !== null
  const values: number[] = []
  let iterations = 0
  let grad: Params | undefined
  try {
    for (;;) {
      let value: number
      if (hasLinesearch) [value, grad] = fromState(p, state)
      else {
        const out = scope(() => valueAndGradFn(p))
        grad = out[1]
        value = takeValue(name, 'valueAndGradFn', out[0], grad)
      }
      const g = grad
      const gradientNorm = Math.sqrt(hostDot(name, g, g))
      values.push(value)
      const converged = gradientNorm < tolerance
      if (converged || iterations === maxIterations) {
        dispose(g, state, p, params)
        return { params: p, state, iterations, converged, value, gradientNorm, values }
      }
      const [p2, next] = scope(() => {
        const [u, s] = optimizer.update(g, state, p, { value, grad: g, valueAndGradFn })
        return [applyUpdates(p, u), s] as const
      })
      dispose([g, state, p === params ? [] : p], next, p2, params)
      grad = undefined
      p = p2
      state = next
      iterations++
    }
  } catch (e) {
    dispose([grad ?? [], state, p === params ? [] : p], params)
    throw e
  }
}
