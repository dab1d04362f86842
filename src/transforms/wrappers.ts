/**
 * Wrappers around transformations: runtime hyperparameters (`injectHyperparams`), masks (`masked`,
 * `freeze`), parameter groups (`multiTransform` / `partition`), NaN safety (`applyIfFinite`),
 * gradient accumulation (`multiSteps`, `applyEvery`), `lookahead`, parameter averaging
 * (`emaParams`) and `reduceOnPlateau`.
 *
 * References: Optax `transforms/_masking`, `_combining`, `_conditionality`, `_accumulation`,
 * `_lookahead`, `contrib/_reduce_on_plateau`, `inject_hyperparams`; Zhang et al. 2019 (Lookahead);
 * Polyak & Juditsky 1992 (averaging); the lectures' advice to leave biases and batch-norm scales
 * out of weight decay (seed 000_33f4fbf331723dec.txt, "only applied to the connection weights").
 */
import * as t from 'io-ts'
import { type AnyTransformation, setToZero, zerosLikeTree } from '../core/base.js'
import { checkCount, elementwiseTree, frozen, leafRows, mapLeaves, paramsNeededBy, requireParams, transformation } from '../core/internal.js'
import { type Mask, maskLeaves } from '../core/mask.js'
import { countCodec, countCodecUpTo, floatCodec, floatCodecWhere, paramsCodec } from '../core/state.js'
import type { GradientTransformation, Params, Schedule, UpdateExtras } from '../core/types.js'
import { ownOptions, ranges, validate } from '../core/validate.js'
import { HyperparameterError, StructureError, UnsupportedError } from '../errors.js'
import { add, clone, elementwise, scope, sum } from '../tensor/ops.js'
import { cpu } from '../tensor/cpu.js'
import { Tensor, defineElementwise } from '../tensor/tensor.js'
import { emptyLeaf } from './accumulator.js'
import * as tree from '../tree/index.js'
import type { Tree } from '../tree/index.js'


const codecOrUnknown = (x: AnyTransformation): t.Mixed => x.stateCodec ?? t.unknown

// ---- injectHyperparams ------------------------------------------------------------------------

/** State of `injectHyperparams`: the step count, the numeric hyperparameters used last, the inner state. */
export interface InjectHyperparamsState<S> {
  readonly count: number
  readonly hyperparams: Readonly<Record<string, number>>
  readonly inner: S
}

/**
 * The options `injectHyperparams(factory)` takes: the factory's, where every numeric option may also
 * be a schedule (masks and non-numeric options keep their types).
 */
export type InjectableOptions<O> = {
  readonly [K in keyof O]: K extends `${string}${'mask' | 'Mask'}` ? O[K] : number extends O[K] ? O[K] | Schedule : O[K]
}

// masks may be functions too, but they are not schedules (conventions are strings, never injected)
const isStaticKey = (k: string) => /mask$/i.test(k)

/**
 * Moves the numeric hyperparameters of an optimizer into its state, so they can be read and set
 * between steps, and may themselves be schedules (evaluated at the wrapper's step count). Options
 * that are not numbers or schedules (booleans, masks, conventions) stay fixed. Wrapping does not
 * change the numbers: `injectHyperparams(adam)({ learningRate: 0.1 })` equals `adam(...)` step for step.
 * To change a value, pass a new state: `{ ...state, hyperparams: { ...state.hyperparams, learningRate: 0.01 } }`;
 * an invalid value throws the factory's HyperparameterError at the next update.
 *
 * Reference: Optax `inject_hyperparams`.
 *
 * @example
 * ```ts
 * const params = { w: fromArray([1, -2]) }
 * const opt = injectHyperparams(sgd)({ learningRate: cosineDecay({ init: 0.1, decaySteps: 1000 }), momentum: 0.9 })
 * let state = opt.init(params) // state.hyperparams: { learningRate: 0.1, momentum: 0.9 }
 * state = { ...state, hyperparams: { ...state.hyperparams, momentum: 0.5 } } // from the next update on
 * ```
 */
export const injectHyperparams =
  <O extends object, S>(factory: (options: O) => GradientTransformation<S>) =>
  (options: InjectableOptions<O>): GradientTransformation<InjectHyperparamsState<S>> => {
    if (typeof factory !== 'function') throw new HyperparameterError('injectHyperparams', 'factory', factory, 'a function options => GradientTransformation')
    // own properties of a plain object; an explicit undefined is left to the factory's default
    const given = ownOptions('injectHyperparams', options)
    const entries = Object.entries(given)
    const schedules = entries.filter(([k, v]) => typeof v === 'function' && !isStaticKey(k)) as [string, Schedule][]
    const numeric = entries.filter(([, v]) => typeof v === 'number') as [string, number][]
    const at = (count: number, current: Readonly<Record<string, number>>): Record<string, number> => ({
      ...Object.fromEntries(numeric),
      ...current,
      ...Object.fromEntries(schedules.map(([k, s]) => [k, s(count)])),
    })
    const build = (hp: Readonly<Record<string, number>>) => factory({ ...given, ...hp } as O)
    const initial = build(at(0, {}))
    return transformation('injectHyperparams', {
      init: (params: Params) => {
        const hyperparams = frozen(at(0, {}))
        return frozen({ count: 0, hyperparams, inner: build(hyperparams).init(params) })
      },
      update: (updates: Params, state: InjectHyperparamsState<S>, params?: Params, extra?: UpdateExtras) => {
        const count = checkCount('injectHyperparams', state.count)
        const hyperparams = frozen(at(count, state.hyperparams))
        const [u, inner] = build(hyperparams).update(updates, state.inner, params, extra)
        return [u, frozen({ count: count + 1, hyperparams, inner })] as const
      },
      stateCodec: t.strict({ count: countCodec, hyperparams: t.record(t.string, floatCodec), inner: codecOrUnknown(initial) }, '{ count, hyperparams, inner }'),
    }, { needsParams: paramsNeededBy(initial) })
  }

// ---- masked, freeze, multiTransform ------------------------------------------------------------

const select = (t0: Params, on: readonly boolean[]): Tensor[] => tree.leaves(t0).filter((_, i) => on[i]) as Tensor[]

const scatter = (t0: Params, on: readonly boolean[], values: readonly unknown[]): Params => {
  const { leaves, structure } = tree.flatten(t0)
  let j = 0
  return tree.unflatten(structure, leaves.map((x, i) => (on[i] ? (values[j++] as Tensor) : x)))
}

/** State of `masked`: the inner transformation's state over the selected leaves. */
export interface MaskedState<S> {
  readonly inner: S
}

/**
 * Applies `inner` only to the leaves where the mask is true; masked-out leaves pass through
 * unchanged (their updates are returned as they came). The inner transformation sees the
 * selected leaves as an array, in leaf order (its state is shaped accordingly).
 *
 * Reference: Optax `masked`.
 *
 * @example
 * ```ts
 * const decayWeightsOnly = masked(addDecayedWeights({ weightDecay: 1e-4 }), { kernel: true, bias: false })
 * ```
 */
export const masked = <S>(inner: GradientTransformation<S>, mask: Mask): GradientTransformation<MaskedState<S>> =>
  transformation('masked', {
    init: (params: Params) => frozen({ inner: inner.init(select(params, maskLeaves('masked', mask, params, params, 'params'))) }),
    update: (updates: Params, state: MaskedState<S>, params?: Params, extra?: UpdateExtras) => {
      const on = maskLeaves('masked', mask, updates, params)
      if (params !== undefined) tree.assertSameStructure(updates, params, 'masked: updates vs params')
      const [u, s] = inner.update(select(updates, on), state.inner, params === undefined ? undefined : select(params, on), extra)
      const us = tree.leaves(u)
      if (us.length !== on.filter(Boolean).length) throw new StructureError('', `masked: the inner transformation returned ${us.length} leaves for ${on.filter(Boolean).length}`)
      return [scatter(updates, on, us), frozen({ inner: s })] as const
    },
    stateCodec: t.strict({ inner: codecOrUnknown(inner) }, '{ inner }'),
  }, { needsParams: paramsNeededBy(inner) })

/**
 * Freezes the leaves where the mask is true: their updates become 0, the others pass through.
 * `masked(setToZero(), mask)`.
 *
 * Reference: Optax `freeze`.
 *
 * @example
 * ```ts
 * const opt = chain(freeze({ encoder: true, head: false }), adam({ learningRate: 1e-3 }))
 * ```
 */
export const freeze = (mask: Mask): GradientTransformation<MaskedState<Readonly<Record<string, never>>>> => masked(setToZero(), mask)

/** State of `multiTransform`: each group's inner state, by label. */
export interface MultiTransformState {
  readonly inner: Readonly<Record<string, unknown>>
}

/** A tree of group labels shaped like the params, or a function computing it. */
export type Labels = Tree<string> | ((params: Params) => Tree<string>)

const labelLeaves = (labels: Labels, reference: Params, params: Params | undefined, known: readonly string[]): string[] => {
  const l = typeof labels === 'function' ? labels(params ?? reference) : labels
  tree.assertSameStructure(reference, l, 'multiTransform: updates vs labels')
  const paths = tree.paths(l)
  return tree.leaves(l).map((x, i) => {
    if (!known.includes(x)) {
      throw new StructureError(paths[i]!, `multiTransform: label ${JSON.stringify(x)} has no transformation (labels: ${known.join(', ')})`)
    }
    return x
  })
}

/**
 * A different transformation per labelled group of parameters: each transformation sees only the
 * leaves of its label (as an array in leaf order). The lectures' "no weight decay on biases (and
 * batch-norm scales)" is a labelling by leaf name.
 *
 * Reference: Optax `multi_transform` / `partition`.
 *
 * @example
 * ```ts
 * const opt = multiTransform(
 *   { decay: adamw({ learningRate: 1e-3, weightDecay: 1e-2 }), noDecay: adam({ learningRate: 1e-3 }) },
 *   (p) => tree.map((x: Tensor, path) => (path.endsWith('kernel') ? 'decay' : 'noDecay'))(p),
 * )
 * ```
 */
export const multiTransform = (transforms: Readonly<Record<string, AnyTransformation>>, labels: Labels): GradientTransformation<MultiTransformState> => {
  const names = Object.keys(transforms).sort()
  if (names.length === 0) throw new HyperparameterError('multiTransform', 'transforms', transforms, 'at least one labelled transformation')
  return transformation('multiTransform', {
    init: (params: Params) => {
      const ls = labelLeaves(labels, params, params, names)
      return frozen({ inner: frozen(Object.fromEntries(names.map((n) => [n, transforms[n]!.init(select(params, ls.map((l) => l === n)))]))) })
    },
    update: (updates: Params, state: MultiTransformState, params?: Params, extra?: UpdateExtras) => {
      const ls = labelLeaves(labels, updates, params, names)
      let out = updates
      const inner: Record<string, unknown> = {}
      for (const n of names) {
        const on = ls.map((l) => l === n)
        const [u, s] = transforms[n]!.update(select(updates, on), state.inner[n], params === undefined ? undefined : select(params, on), extra)
        out = scatter(out, on, tree.leaves(u))
        inner[n] = s
      }
      return [out, frozen({ inner: frozen(inner) })] as const
    },
    stateCodec: t.strict({ inner: t.strict(Object.fromEntries(names.map((n) => [n, codecOrUnknown(transforms[n]!)]))) }, '{ inner }'),
  }, { needsParams: names.map((n) => paramsNeededBy(transforms[n]!)).find((x) => x !== undefined) })
}

/** `multiTransform` under Optax's newer name. */
export const partition = multiTransform

// ---- applyIfFinite -----------------------------------------------------------------------------

/** State of `applyIfFinite`; the counters are tensors of shape [] (they depend on device data). */
export interface ApplyIfFiniteState<S> {
  /** Consecutive non-finite steps (Optax's `notfinite_count`). */
  readonly notfiniteCount: Tensor
  /** 1 if the last step was finite, else 0 (`last_finite`). */
  readonly lastFinite: Tensor
  /** All non-finite steps so far (`total_notfinite`): the steps skipped, plus those applied anyway past `maxConsecutiveErrors`. */
  readonly totalNotfinite: Tensor
  readonly inner: S
}

const nonFiniteOp = defineElementwise({ name: 'nonFinite', inputs: ['x'], outputs: ['Math.abs(x) <= 3.4028234e38 ? 0 : 1'] })
const finiteFlagsOp = defineElementwise({
  name: 'finiteFlags',
  inputs: ['bad', 'nf', 'total'],
  scalars: ['maxErrors'],
  lets: [
    ['finite', 'bad > 0 ? 0 : 1'],
    ['nf1', 'finite > 0 ? 0 : nf + 1'],
  ],
  outputs: ['nf1', 'finite', 'finite > 0 ? total : total + 1', '(finite > 0 || nf1 > maxErrors) ? 1 : 0'],
})
const selectOp = defineElementwise({ name: 'selectIf', inputs: ['ok', 'a', 'b'], outputs: ['ok > 0 ? a : b'] })
const selectZeroOp = defineElementwise({ name: 'selectOrZero', inputs: ['ok', 'a'], outputs: ['ok > 0 ? a : 0'] })

/**
 * Skips non-finite steps. A step is non-finite when any entry of the incoming gradients, of the
 * updates `inner` returns, or of an inner state tensor the step produced is NaN or ±∞; the last
 * catches overflow inside the optimizer (a finite gradient of 1e30 makes Adam's ν infinite). On a
 * skipped step the returned updates are 0 and every tensor of the inner state keeps its old value;
 * `notfiniteCount` counts consecutive skips, `totalNotfinite` all of them (read it to know how many
 * steps were skipped), and after more than `maxConsecutiveErrors` consecutive non-finite steps the
 * step is applied anyway.
 *
 * Where the step's flag can be read at once (`Backend.readSync`: the cpu backend, gpu.js webasm and
 * cpu modes, and webgl2 and headlessgl, whose textures read back synchronously), the skip is decided
 * on the host from that one number, and a skipped step keeps the whole previous inner state, host
 * numbers included (step counters such as Adam's `count`, which drive bias corrections and
 * schedules), as Optax does. On webgl2 that read waits for the step's kernels to finish. The one
 * difference from Optax is gpu.js webgpu, whose reads are asynchronous: there the skip is decided on
 * the device (each state tensor selected there, nothing read back) and `update` is synchronous, so
 * the host counters advance once per call, and run `totalNotfinite` steps ahead of the steps
 * applied. A state whose structure changes
 * between steps (L-BFGS filling its memory) cannot be restored and throws UnsupportedError. The
 * counters are tensors of shape [] on the params' backend (the cpu for a tree without leaves).
 * Non-finite values are otherwise carried through to the params by every transform
 * (docs/nonfinite.md); this wrapper is the way to skip them instead.
 *
 * Defaults: maxConsecutiveErrors = Infinity (never give up).
 * Reference: Optax `apply_if_finite`.
 *
 * @example
 * ```ts
 * const opt = applyIfFinite(adam({ learningRate: 1e-3 }), { maxConsecutiveErrors: 5 })
 * const params = { w: fromArray([1, -2]) }
 * const [, state] = opt.update({ w: fromArray([1e30, 1]) }, opt.init(params), params) // ν overflows: skipped
 * const skipped = (await read(state.totalNotfinite))[0] // 1
 * ```
 */
export const applyIfFinite = <S>(
  inner: GradientTransformation<S>,
  options: { readonly maxConsecutiveErrors?: number } = {},
): GradientTransformation<ApplyIfFiniteState<S>> => {
  const { maxConsecutiveErrors } = validate('applyIfFinite', { maxConsecutiveErrors: ranges.nonNegativeOrInfinity }, options, { maxConsecutiveErrors: Infinity })
  return transformation('applyIfFinite', {
    init: (params: Params) => {
      // the counters live with the params; a tree without leaves (nothing can be non-finite) keeps them on the cpu
      const b = (tree.leaves(params).find((x) => x instanceof Tensor) as Tensor | undefined)?.backend ?? cpu
      return frozen({ notfiniteCount: b.fill([], 0), lastFinite: b.fill([], 1), totalNotfinite: b.fill([], 0), inner: inner.init(params) })
    },
    update: (updates: Params, state: ApplyIfFiniteState<S>, params?: Params, extra?: UpdateExtras) => {
      const { rows } = leafRows([['updates', updates]])
      return scope(() => {
        const [u, next] = inner.update(updates, state.inner, params, extra)
        const d = tree.firstDifference(next, state.inner)
        if (d) throw new UnsupportedError(`applyIfFinite: the inner state changed structure at ${d.path} (${d.detail}), so a skipped step cannot restore it`)
        // a state tensor the step left as it was cannot have gone non-finite in this step
        const replaced = (a: unknown, b: unknown): a is Tensor => a instanceof Tensor && b instanceof Tensor && a !== b
        const before = tree.leaves(state.inner as Tree<unknown>)
        const produced = tree.leaves(next as Tree<unknown>).filter((a, i): a is Tensor => replaced(a, before[i]))
        const checked = [...rows.map(([g]) => g!), ...(tree.leaves(u) as Tensor[]), ...produced].filter((x) => x.size > 0)
        const bad = checked.map((x) => sum(elementwise(nonFiniteOp, [x])[0]!)).reduce((acc, x) => add(acc, x), state.notfiniteCount.backend.fill([], 0))
        const [nf, last, total, ok] = elementwise(finiteFlagsOp, [bad, state.notfiniteCount, state.totalNotfinite], [maxConsecutiveErrors])
        const outU = mapLeaves([['updates', u]], 1, ([x], path) => (x!.size === 0 ? [emptyLeaf(x!)] : elementwise(selectZeroOp, [ok!, x!], [], path)))[0]!
        // where the flag can be read at once (host memory), decide on the host: a skipped step keeps
        // the whole previous inner state, host counters included, as Optax does
        const decided = ok!.backend.readSync?.(ok!)
        if (decided !== undefined) {
          return [outU, frozen({ notfiniteCount: nf!, lastFinite: last!, totalNotfinite: total!, inner: decided[0] === 0 ? state.inner : next })] as const
        }
        const kept = tree.zipWith(([a, b]: readonly [unknown, unknown], path): unknown =>
          replaced(a, b) && a.size > 0 ? elementwise(selectOp, [ok!, a, b as Tensor], [], path)[0]! : a,
        )(next as Tree<unknown>, state.inner as Tree<unknown>)
        return [outU, frozen({ notfiniteCount: nf!, lastFinite: last!, totalNotfinite: total!, inner: kept as S })] as const
      })
    },
    stateCodec: t.strict(
      { notfiniteCount: paramsCodec, lastFinite: paramsCodec, totalNotfinite: paramsCodec, inner: codecOrUnknown(inner) },
      '{ notfiniteCount, lastFinite, totalNotfinite, inner }',
    ),
  }, { needsParams: paramsNeededBy(inner) })
}


// ---- gradient accumulation ------------------------------------------------------------------------

/** State of `multiSteps`. */
export interface MultiStepsState<S> {
  /** Mini-steps accumulated so far in this step (0 … k − 1). */
  readonly miniStep: number
  /** The running mean of this step's gradients. */
  readonly acc: Params
  readonly inner: S
}

const runningMeanOp = defineElementwise({ name: 'runningMean', inputs: ['acc', 'g'], scalars: ['w'], outputs: ['acc + (g - acc) * w'] })

/**
 * Gradient accumulation: over k mini-steps, keeps the running mean of the gradients (one
 * gradient-shaped buffer, no copy of the params) and emits zero updates; on the k-th, applies
 * `inner` to the mean and emits its update. k mini-steps equal one step on the mean gradient.
 *
 * Reference: Optax `MultiSteps`.
 *
 * @example
 * ```ts
 * const opt = multiSteps(adam({ learningRate: 1e-3 }), { everyK: 4 })
 * ```
 */
export const multiSteps = <S>(inner: GradientTransformation<S>, options: { readonly everyK: number }): GradientTransformation<MultiStepsState<S>> => {
  const { everyK } = validate('multiSteps', { everyK: ranges.positiveInteger }, options)
  return transformation('multiSteps', {
    init: (params: Params) => frozen({ miniStep: 0, acc: zerosLikeTree(params), inner: inner.init(params) }),
    update: (updates: Params, state: MultiStepsState<S>, params?: Params, extra?: UpdateExtras) => {
      const mini = checkCount('multiSteps', state.miniStep, 'miniStep')
      const [acc] = elementwiseTree(runningMeanOp, [['state.acc', state.acc], ['updates', updates]], [1 / (mini + 1)])
      if (mini + 1 < everyK) return [zerosLikeTree(updates), frozen({ miniStep: mini + 1, acc: acc!, inner: state.inner })] as const
      const [u, innerNext] = inner.update(acc!, state.inner, params, extra)
      return [u, frozen({ miniStep: 0, acc: zerosLikeTree(updates), inner: innerNext })] as const
    },
    stateCodec: t.strict({ miniStep: countCodec, acc: paramsCodec, inner: codecOrUnknown(inner) }, '{ miniStep, acc, inner }'),
  }, { needsParams: paramsNeededBy(inner) })
}

/** State of `applyEvery`. */
export interface ApplyEveryState {
  readonly count: number
  readonly gradAcc: Params
}

const accumulateOp = defineElementwise({ name: 'applyEvery', inputs: ['g', 'acc'], scalars: ['keep'], outputs: ['g + keep * acc'] })

/**
 * Accumulates updates and applies their sum every k steps (zeros in between).
 *
 * Reference: Optax `apply_every`.
 *
 * @example
 * ```ts
 * const opt = chain(sgd({ learningRate: 0.01 }), applyEvery(4))
 * ```
 */
export const applyEvery = (k = 1): GradientTransformation<ApplyEveryState> => {
  validate('applyEvery', { k: ranges.positiveInteger }, { k })
  return transformation('applyEvery', {
    init: (params: Params) => frozen({ count: 0, gradAcc: zerosLikeTree(params) }),
    update: (updates: Params, state: ApplyEveryState) => {
      const count = checkCount('applyEvery', state.count)
      const phase = count % k
      const [acc] = elementwiseTree(accumulateOp, [['updates', updates], ['state.gradAcc', state.gradAcc]], [phase === 0 ? 0 : 1])
      const emit = phase === k - 1
      return [emit ? mapLeaves([['state.gradAcc', acc!]], 1, ([x], path) => [clone(x!, path)])[0]! : zerosLikeTree(updates), frozen({ count: (phase + 1) % k, gradAcc: acc! })] as const
    },
    stateCodec: t.strict({ count: countCodec, gradAcc: paramsCodec }, '{ count, gradAcc }'),
  })
}

// ---- lookahead, emaParams ------------------------------------------------------------------------

/** State of `lookahead`. */
export interface LookaheadState<S> {
  readonly count: number
  /** The slow weights φ. */
  readonly slow: Params
  readonly inner: S
}

const lookaheadOp = defineElementwise({
  name: 'lookaheadSync',
  inputs: ['p', 'u', 'slow'],
  scalars: ['alpha'],
  lets: [['s1', 'slow + alpha * ((p + u) - slow)']],
  outputs: ['s1', 's1 - p'],
})

/**
 * Lookahead: the inner ("fast") optimizer takes k steps; then the slow weights move
 * φ ← φ + α(θ − φ) and the params jump to φ. Needs the params.
 *
 * Defaults: syncPeriod = 6, slowStepSize = 0.5.
 * Reference: Zhang et al. 2019, "Lookahead Optimizer: k steps forward, 1 step back", Algorithm 1.
 *
 * @example
 * ```ts
 * const opt = lookahead(adam({ learningRate: 1e-3 }), { syncPeriod: 5, slowStepSize: 0.5 })
 * ```
 */
export const lookahead = <S>(
  inner: GradientTransformation<S>,
  options: { readonly syncPeriod?: number; readonly slowStepSize?: number } = {},
): GradientTransformation<LookaheadState<S>> => {
  const { syncPeriod, slowStepSize } = validate(
    'lookahead',
    { syncPeriod: ranges.positiveInteger, slowStepSize: ranges.unitIntervalClosed },
    options,
    { syncPeriod: 6, slowStepSize: 0.5 },
  )
  return transformation('lookahead', {
    init: (params: Params) => frozen({ count: 0, slow: mapLeaves([['params', params]], 1, ([x], path) => [clone(x!, path)])[0]!, inner: inner.init(params) }),
    update: (updates: Params, state: LookaheadState<S>, params?: Params, extra?: UpdateExtras) => {
      const count = checkCount('lookahead', state.count) + 1
      const p = requireParams('lookahead', params)
      // checked every step, not only at the sync steps that use them
      leafRows([['updates', updates], ['params', p], ['state.slow', state.slow]])
      const [u, innerNext] = inner.update(updates, state.inner, p, extra)
      if (count % syncPeriod !== 0) return [u, frozen({ count, slow: state.slow, inner: innerNext })] as const
      const [slow, jump] = elementwiseTree(lookaheadOp, [['params', p], ['updates', u], ['state.slow', state.slow]], [slowStepSize])
      return [jump!, frozen({ count, slow: slow!, inner: innerNext })] as const
    },
    stateCodec: t.strict({ count: countCodec, slow: paramsCodec, inner: codecOrUnknown(inner) }, '{ count, slow, inner }'),
  }, { needsParams: true })
}

/** State of `emaParams`. */
export interface EmaParamsState {
  readonly count: number
  /** The averaged parameters. */
  readonly ema: Params
}

const emaParamsOp = defineElementwise({ name: 'emaParams', inputs: ['e', 'p', 'u'], scalars: ['d'], outputs: ['d * e + (1 - d) * (p + u)'] })

/**
 * Polyak / exponential moving average of the parameters (Keras' `use_ema`): updates pass through
 * unchanged, and the state keeps ē ← βē + (1 − β)(θ + u), starting from θ₀. Evaluate with
 * `state.ema`. Needs the params.
 *
 * Defaults: decay = 0.999.
 * Reference: Polyak & Juditsky 1992; Keras `Optimizer(use_ema=True, ema_momentum=0.99)`.
 *
 * @example
 * ```ts
 * const opt = chain(adam({ learningRate: 1e-3 }), emaParams({ decay: 0.99 }))
 * ```
 */
export const emaParams = (options: { readonly decay?: number } = {}): GradientTransformation<EmaParamsState> => {
  const { decay } = validate('emaParams', { decay: ranges.unitIntervalClosed }, options, { decay: 0.999 })
  return transformation('emaParams', {
    init: (params: Params) => frozen({ count: 0, ema: mapLeaves([['params', params]], 1, ([x], path) => [clone(x!, path)])[0]! }),
    update: (updates: Params, state: EmaParamsState, params?: Params) => {
      const p = requireParams('emaParams', params)
      const [ema] = elementwiseTree(emaParamsOp, [['state.ema', state.ema], ['params', p], ['updates', updates]], [decay])
      return [updates, frozen({ count: checkCount('emaParams', state.count) + 1, ema: ema! })] as const
    },
    stateCodec: t.strict({ count: countCodec, ema: paramsCodec }, '{ count, ema }'),
  }, { needsParams: true })
}

// ---- reduceOnPlateau ------------------------------------------------------------------------------

/** State of `reduceOnPlateau` (all host numbers: the loss is a host number). */
export interface ReduceOnPlateauState {
  /** The factor applied to the updates. */
  readonly scale: number
  readonly bestValue: number
  readonly plateauCount: number
  readonly cooldownCount: number
  /** Values accumulated towards the next evaluation, and their sum. */
  readonly count: number
  readonly sumValue: number
}

/** Options of `reduceOnPlateau`. */
export interface ReduceOnPlateauOptions {
  /** Multiply the scale by this on a plateau, in (0, 1). Default 0.1. */
  readonly factor?: number
  /** Evaluations without improvement before reducing. Default 10. */
  readonly patience?: number
  /** Evaluations to wait after a reduction. Default 0. */
  readonly cooldown?: number
  /** The scale never goes below this, in [0, 1]. Default 0. */
  readonly minScale?: number
  /** Relative improvement threshold. Default 1e-4. */
  readonly rtol?: number
  /** Absolute improvement threshold. Default 0. */
  readonly atol?: number
  /** Values averaged into one evaluation. Default 1. */
  readonly accumulationSize?: number
}

const scaleByOp = defineElementwise({ name: 'plateauScale', inputs: ['u'], scalars: ['s'], outputs: ['u * s'] })

/**
 * Reduces the update scale when the watched value (e.g. the validation loss, passed as
 * `update(u, s, params, { value })`) stops improving. An evaluation (the mean of
 * `accumulationSize` values) improves when v < best − (rtol·|best| + atol), which works for
 * negative losses too. After `patience` evaluations without improvement, scale ← max(scale·factor,
 * minScale), then `cooldown` evaluations are ignored. Updates are multiplied by the scale after
 * this step's evaluation.
 *
 * Defaults: factor 0.1, patience 10, cooldown 0, minScale 0, rtol 1e-4, atol 0, accumulationSize 1.
 * Reference: Keras `ReduceLROnPlateau`; Optax `contrib.reduce_on_plateau`.
 *
 * @example
 * ```ts
 * const params = { w: fromArray([1, -2]) }
 * const opt = chain(adam({ learningRate: 1e-3 }), reduceOnPlateau({ patience: 5 }))
 * const state = opt.init(params)
 * const validationLoss = 0.42 // measured on the validation set after this step
 * const [u, s] = opt.update(params, state, params, { value: validationLoss })
 * ```
 */
export const reduceOnPlateau = (options: ReduceOnPlateauOptions = {}): GradientTransformation<ReduceOnPlateauState> => {
  const o = validate(
    'reduceOnPlateau',
    {
      factor: ranges.openUnitInterval,
      patience: ranges.positiveInteger,
      cooldown: ranges.nonNegativeInteger,
      minScale: ranges.unitIntervalClosed,
      rtol: ranges.nonNegative,
      atol: ranges.nonNegative,
      accumulationSize: ranges.positiveInteger,
    },
    options,
    { factor: 0.1, patience: 10, cooldown: 0, minScale: 0, rtol: 1e-4, atol: 0, accumulationSize: 1 },
  )
  const evaluate = (s: ReduceOnPlateauState, v: number): ReduceOnPlateauState => {
    // v is finite; the first value always improves on the initial best (∞, where the threshold is NaN)
    const improved = s.bestValue === Infinity || v < s.bestValue - (o.rtol * Math.abs(s.bestValue) + o.atol)
    const bestValue = improved ? v : s.bestValue
    const plateau = improved ? 0 : s.plateauCount + 1
    if (s.cooldownCount > 0) return { ...s, bestValue, plateauCount: 0, cooldownCount: s.cooldownCount - 1 }
    const reduce = plateau >= o.patience
    return {
      ...s,
      bestValue,
      plateauCount: reduce ? 0 : plateau,
      scale: reduce ? Math.max(s.scale * o.factor, o.minScale) : s.scale,
      cooldownCount: reduce ? o.cooldown : 0,
    }
  }
  return transformation('reduceOnPlateau', {
    init: () => frozen({ scale: 1, bestValue: Infinity, plateauCount: 0, cooldownCount: 0, count: 0, sumValue: 0 }),
    update: (updates: Params, state: ReduceOnPlateauState, _params?: Params, extra?: UpdateExtras) => {
      let s = state
      if (extra?.value !== undefined) {
        if (!Number.isFinite(extra.value)) throw new HyperparameterError('reduceOnPlateau', 'value', extra.value, 'a finite number (the watched loss)')
        const count = s.count + 1
        const sumValue = s.sumValue + extra.value
        s = count === o.accumulationSize ? { ...evaluate(s, sumValue / count), count: 0, sumValue: 0 } : { ...s, count, sumValue }
      }
      return [elementwiseTree(scaleByOp, [['updates', updates]], [s.scale])[0]!, frozen(s)] as const
    },
    stateCodec: t.strict(
      {
        // the scale starts at 1 and only shrinks, by factor ∈ (0, 1), down to minScale ∈ [0, 1]
        scale: floatCodecWhere('a number in [0, 1]', (x) => x >= 0 && x <= 1),
        bestValue: floatCodecWhere('a finite number or Infinity', (x) => Number.isFinite(x) || x === Infinity),
        plateauCount: countCodec,
        cooldownCount: countCodec,
        // a count past accumulationSize would never reach it again
        count: countCodecUpTo(o.accumulationSize - 1),
        sumValue: floatCodecWhere('a finite number', Number.isFinite),
      },
      '{ scale, bestValue, plateauCount, cooldownCount, count, sumValue }',
    ),
  })
}
