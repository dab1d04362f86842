/**
 * Monitoring transformations: they record measurements of the updates (a norm, any function of
 * them, or a stateful measurement such as its moving average) into their state and pass the updates
 * through unchanged. Read a measurement back from the state of a whole chain with
 * `getMeasurement(state, name)`; measurements are trees of tensors, saved and loaded with the state.
 *
 * Reference: Optax `transforms/_monitoring.py` (`snapshot`, `monitor`, `measure_with_ema`) and
 * `optax.tree.get`.
 */
import * as t from 'io-ts'
import { type AnyTransformation } from '../core/base.js'
import { checkUpdates, frozen, transformation } from '../core/internal.js'
import { paramsCodec } from '../core/state.js'
import type { GradientTransformation, Params, UpdateExtras } from '../core/types.js'
import { validate, ranges } from '../core/validate.js'
import { HyperparameterError, StructureError } from '../errors.js'
import { clone, scope } from '../tensor/ops.js'
import { Tensor } from '../tensor/tensor.js'
import * as tree from '../tree/index.js'
import type { Tree } from '../tree/index.js'
import { type EmaState, ema } from './moments.js'

/** A measurement of the updates: a function returning a tensor or a tree of tensors (a norm, per-leaf statistics, …). */
export type Measure = (updates: Params) => Params

const tensorsOf = (t0: unknown): Set<Tensor> => new Set(tree.leaves(t0 as Tree<unknown>).filter((x): x is Tensor => x instanceof Tensor))

/**
 * Runs a measure and checks its result is a tree of tensors; a leaf that is one of the measured
 * tensors is copied, so that the state never shares a handle with the updates or the params (which
 * the caller may release).
 */
const measured = (transform: string, name: string, measure: Measure, input: Params): Params => {
  const out: unknown = measure(input)
  try {
    checkUpdates(transform, out)
  } catch (e) {
    throw new StructureError(`measurement ${name}`, `${transform}: the measure ${JSON.stringify(name)} must return a tensor or a tree of tensors (${(e as Error).message})`)
  }
  const inputs = tensorsOf(input)
  return tree.map((x: Tensor, path) => (inputs.has(x) ? clone(x, path) : x))(out as Params)
}

const checkName = (transform: string, field: string, name: unknown): string => {
  if (typeof name !== 'string' || name === '') throw new HyperparameterError(transform, field, name, 'a non-empty string')
  return name
}

// ---- snapshot -------------------------------------------------------------------------------------

/** State of `snapshot`: the last measurement, under its name. */
export interface SnapshotState {
  readonly measurement: Readonly<Record<string, Params>>
}

/**
 * Records `measure(updates)` in the state under `name` and passes the updates through unchanged:
 * in a chain it sees the updates as transformed by the members before it. `init` records
 * `measure(params)`, as Optax does, so the state has its final structure from the start. Read it
 * with `getMeasurement(state, name)` (or `state.measurement[name]`); the measurement is a tensor (or
 * a tree of tensors) on the updates' backend, saved and loaded with the state.
 *
 * State: `{ measurement: { [name]: tree } }`.
 * Reference: Optax `snapshot` (transforms/_monitoring.py).
 *
 * @example
 * ```ts
 * const opt = chain(sgd({ learningRate: 0.1, momentum: 0.9 }), snapshot('normBeforeClip', globalNorm), clipByGlobalNorm(0.05))
 * const params = { w: fromArray([1, 2, 3]) }
 * const [u, state] = opt.update({ w: fromArray([0.2, 0.4, 0.6]) }, opt.init(params), params)
 * const norm = getMeasurement(state, 'normBeforeClip') // a tensor of shape []: 0.0748…
 * ```
 */
export const snapshot = (name: string, measure: Measure): GradientTransformation<SnapshotState> => {
  checkName('snapshot', 'name', name)
  if (typeof measure !== 'function') throw new HyperparameterError('snapshot', 'measure', measure, 'a function (updates) => tensor or tree of tensors')
  const record = (x: Params) => frozen({ measurement: frozen({ [name]: measured('snapshot', name, measure, x) }) })
  return transformation('snapshot', {
    init: (params: Params) => record(params),
    update: (updates: Params) => [updates, record(updates)] as const,
    stateCodec: t.strict({ measurement: t.strict({ [name]: paramsCodec }) }, `{ measurement: { ${name} } }`),
  })
}

// ---- monitor ----------------------------------------------------------------------------------------

/** State of `monitor`: the last measurements and the states of the stateful measures, by name. */
export interface MonitorState {
  readonly measurements: Readonly<Record<string, Params>>
  readonly measureStates: Readonly<Record<string, unknown>>
}

/** What `monitor` measures under one name: a function of the updates, or a transformation whose output is the measurement (`measureWithEma`). */
export type MonitorMeasure = Measure | AnyTransformation

const isTransformation = (m: unknown): m is AnyTransformation =>
  typeof m === 'object' && m !== null && typeof (m as AnyTransformation).init === 'function' && typeof (m as AnyTransformation).update === 'function'

/**
 * Records several measurements of the updates, some of them stateful, and passes the updates
 * through unchanged. Each entry of `measures` is either a function of the updates (recorded as
 * `snapshot` does) or a transformation whose output is the measurement and whose state the monitor
 * keeps (`measureWithEma(globalNorm, { decay: 0.9 })`): at each update it gets the updates, its own
 * state, the params and the extras. Read a measurement with `getMeasurement(state, name)`.
 *
 * `init` records the measurement of the params under every name (a stateful measure as its first
 * update from a fresh state would give it), so the state has one fixed structure, which saved
 * states, `applyIfFinite` and compiled steps need; Optax starts with an empty record instead.
 *
 * State: `{ measurements: { [name]: tree }, measureStates: { [name]: state } }` (a function's state is `{}`).
 * Reference: Optax `monitor` (transforms/_monitoring.py).
 *
 * @example
 * ```ts
 * const opt = chain(
 *   sgd({ learningRate: 0.1, momentum: 0.9 }),
 *   monitor({ normBeforeClip: globalNorm, normEma: measureWithEma(globalNorm, { decay: 0.9 }) }),
 *   clipByGlobalNorm(1),
 * )
 * const params = { w: fromArray([1, 2, 3]) }
 * const [u, state] = opt.update({ w: fromArray([0.2, 0.4, 0.6]) }, opt.init(params), params)
 * const normEma = getMeasurement(state, 'normEma') // the debiased EMA of the pre-clipping norm
 * ```
 */
export const monitor = (measures: Readonly<Record<string, MonitorMeasure>>): GradientTransformation<MonitorState> => {
  if (!tree.isNode(measures) || Array.isArray(measures)) throw new HyperparameterError('monitor', 'measures', measures, 'a record { name: measure function or transformation }')
  const names = Object.keys(measures)
  if (names.length === 0) throw new HyperparameterError('monitor', 'measures', measures, 'at least one named measure')
  for (const n of names) {
    const m: unknown = measures[n]
    if (typeof m !== 'function' && !isTransformation(m)) throw new HyperparameterError('monitor', `measures.${n}`, m, 'a function (updates) => tensor or tree of tensors, or a GradientTransformation')
  }
  const stateful = (n: string): AnyTransformation | undefined => (isTransformation(measures[n]) ? (measures[n] as AnyTransformation) : undefined)
  const emptyState = frozen({})
  const step = (n: string, updates: Params, state: unknown, params: Params | undefined, extra: UpdateExtras | undefined): readonly [Params, unknown] => {
    const m = stateful(n)
    if (m === undefined) return [measured('monitor', n, measures[n] as Measure, updates), emptyState] as const
    const [out, next] = m.update(updates, state, params, extra)
    try {
      checkUpdates('monitor', out)
    } catch (e) {
      throw new StructureError(`measurement ${n}`, `monitor: the measure ${JSON.stringify(n)} must output a tensor or a tree of tensors (${(e as Error).message})`)
    }
    // the measurement must not be a handle of the updates or params, which the caller may release
    const inputs = new Set([...tensorsOf(updates), ...tensorsOf(params)])
    return [tree.map((x: Tensor, path) => (inputs.has(x) ? clone(x, path) : x))(out as Params), next] as const
  }
  return transformation('monitor', {
    init: (params: Params) => {
      const measureStates: Record<string, unknown> = {}
      const measurements: Record<string, Params> = {}
      for (const n of names) {
        const m = stateful(n)
        measureStates[n] = m === undefined ? emptyState : m.init(params)
        // a stateful measure's first measurement, from a fresh state it then forgets
        measurements[n] = m === undefined ? measured('monitor', n, measures[n] as Measure, params) : scope(() => step(n, params, m.init(params), params, undefined)[0])
      }
      return frozen({ measurements: frozen(measurements), measureStates: frozen(measureStates) })
    },
    update: (updates: Params, state: MonitorState, params?: Params, extra?: UpdateExtras) => {
      const measureStates: Record<string, unknown> = {}
      const measurements: Record<string, Params> = {}
      for (const n of names) {
        if (stateful(n) !== undefined && state.measureStates?.[n] === undefined) throw new StructureError(`state.measureStates.${n}`, `monitor: state.measureStates.${n} is missing`)
        const [out, next] = step(n, updates, state.measureStates[n], params, extra)
        measurements[n] = out
        measureStates[n] = next
      }
      return [updates, frozen({ measurements: frozen(measurements), measureStates: frozen(measureStates) })] as const
    },
    stateCodec: t.strict(
      {
        measurements: t.strict(Object.fromEntries(names.map((n) => [n, paramsCodec]))),
        measureStates: t.strict(Object.fromEntries(names.map((n) => [n, stateful(n)?.stateCodec ?? (stateful(n) ? t.unknown : t.strict({}, '{}'))]))),
      },
      '{ measurements, measureStates }',
    ),
  })
}

// ---- measureWithEma ---------------------------------------------------------------------------------

/** State of `measureWithEma`: `ema`'s state over the measurement (step count and the moving average). */
export type MeasureWithEmaState = EmaState

/** Options of `measureWithEma`. */
export interface MeasureWithEmaOptions {
  /** β in [0, 1). Required (Optax has no default). */
  readonly decay: number
  /** Divide by 1 − βᵗ. Default true. */
  readonly debias?: boolean
}

/**
 * A stateful measurement for `monitor`: the exponential moving average of `measure(updates)`,
 *
 *   e ← β e + (1 − β) m(u),   output e / (1 − βᵗ) (debiased, the default) or e,
 *
 * with e shaped like the measurement (0 at init). As a transformation its output is that average,
 * not the updates: put it inside `monitor`, which passes the updates on. It is `ema` applied to the
 * measurement, in float32 as `ema` computes it.
 *
 * Defaults: debias = true. State: `{ count, ema }`.
 * Reference: Optax `measure_with_ema` (transforms/_monitoring.py), `ema`.
 *
 * @example
 * ```ts
 * // how often the gradient norm exceeds the clipping threshold, smoothed
 * const clipped = (u: Params) => elementwise(defineElementwise({ name: 'above1', inputs: ['n'], outputs: ['n > 1 ? 1 : 0'] }), [globalNorm(u)])[0]!
 * const opt = chain(monitor({ clippedRate: measureWithEma(clipped, { decay: 0.99 }) }), clipByGlobalNorm(1), sgd({ learningRate: 0.1 }))
 * ```
 */
export const measureWithEma = (measure: Measure, options: MeasureWithEmaOptions): GradientTransformation<MeasureWithEmaState> => {
  if (typeof measure !== 'function') throw new HyperparameterError('measureWithEma', 'measure', measure, 'a function (updates) => tensor or tree of tensors')
  const { decay, debias } = validate('measureWithEma', { decay: ranges.unitInterval, debias: ranges.boolean }, options, { debias: true })
  const average = ema({ decay, debias })
  return transformation('measureWithEma', {
    // the average is shaped like the measurement, which is computed from the params and dropped
    init: (params: Params) => scope(() => average.init(measured('measureWithEma', 'measure', measure, params))),
    update: (updates: Params, state: MeasureWithEmaState) => scope(() => average.update(measured('measureWithEma', 'measure', measure, updates), state)),
    stateCodec: average.stateCodec!,
  })
}

// ---- reading measurements ---------------------------------------------------------------------------

/**
 * The measurement recorded under `name` by a `snapshot` or `monitor` anywhere in `state` (the state
 * of a chain, of a wrapper, …), or undefined when there is none. Two measurements of that name in
 * one state are ambiguous: a StructureError naming both paths.
 *
 * Reference: Optax `optax.tree.get(state, name)`.
 *
 * @example
 * ```ts
 * const opt = chain(snapshot('gradNorm', globalNorm), sgd({ learningRate: 0.1 }))
 * const params = { w: fromArray([3, 4]) }
 * const state = opt.init(params)
 * getMeasurement(state, 'gradNorm') // ‖params‖ = 5 until the first update
 * ```
 */
export const getMeasurement = (state: unknown, name: string): Params | undefined => {
  checkName('getMeasurement', 'name', name)
  const found: { path: string; value: Params }[] = []
  const visit = (node: unknown, path: string, depth: number): void => {
    if (depth > tree.maxDepth || !tree.isNode(node)) return
    const records = Array.isArray(node) ? [] : ['measurement', 'measurements']
    for (const [k, v] of Object.entries(node)) {
      const child = tree.childPath(path, Array.isArray(node) ? Number(k) : k)
      // a measurement record is read, not searched: its trees are the user's measurements
      if (records.includes(k) && tree.isNode(v) && !Array.isArray(v)) {
        if (Object.hasOwn(v, name)) found.push({ path: tree.childPath(child, name), value: (v as Record<string, Params>)[name]! })
      } else visit(v, child, depth + 1)
    }
  }
  visit(state, 'state', 0)
  if (found.length > 1) throw new StructureError(found[1]!.path, `getMeasurement: ${JSON.stringify(name)} is measured at ${found.map((d) => d.path).join(' and ')}`)
  return found[0]?.value
}
