/**
 * Hyperparameters given by stateful schedules: `injectStatefulHyperparams` extends
 * `injectHyperparams` (src/transforms/wrappers.ts) to schedules that keep a state of their own,
 * updated at every step from the update's extras (the loss, …), and kept in the optimizer state.
 * `wrappedSchedule` turns a plain `(step) => value` schedule into one.
 *
 * Reference: Optax `schedules/_inject.py` (`inject_stateful_hyperparams`, `WrappedSchedule`,
 * `base.StatefulSchedule`); in Optax 0.2.8 `inject_hyperparams` is this same stateful wrapper.
 */
import * as t from 'io-ts'
import { frozen, paramsNeededBy, checkCount, transformation } from '../core/internal.js'
import { countCodec, floatCodec } from '../core/state.js'
import type { GradientTransformation, Params, Schedule, UpdateExtras } from '../core/types.js'
import { ownOptions } from '../core/validate.js'
import { HyperparameterError } from '../errors.js'
import type { InjectHyperparamsState } from './wrappers.js'

/**
 * A schedule with a state of its own: `init()` gives the first state, `value(state, extras)` the
 * hyperparameter for the step about to be taken, `update(state, extras)` the state for the next
 * one; `extras` are the update's extras (`value`, the loss, …). The state is plain host data; give
 * `stateCodec` (io-ts, over its JSON form) so that it saves and loads with the optimizer state.
 *
 * Reference: Optax `base.StatefulSchedule` (`init`, `update`, `__call__`).
 */
export interface StatefulSchedule<S = unknown> {
  readonly init: () => S
  readonly update: (state: S, extras?: UpdateExtras) => S
  readonly value: (state: S, extras?: UpdateExtras) => number
  readonly stateCodec?: t.Mixed
}

/** State of `wrappedSchedule`: the steps taken so far. */
export interface WrappedScheduleState {
  readonly count: number
}

/**
 * A plain schedule as a stateful one whose state is the step count: value = schedule(count),
 * count ← count + 1 at every update. Through `injectStatefulHyperparams` it gives exactly what the
 * plain schedule gives through `injectHyperparams`.
 *
 * Reference: Optax `WrappedSchedule` (schedules/_inject.py).
 *
 * @example
 * ```ts
 * const lr = wrappedSchedule(cosineDecay({ init: 0.1, decaySteps: 1000 }))
 * const opt = injectStatefulHyperparams(sgd)({ learningRate: lr })
 * ```
 */
export const wrappedSchedule = (schedule: Schedule): StatefulSchedule<WrappedScheduleState> => {
  if (typeof schedule !== 'function') throw new HyperparameterError('wrappedSchedule', 'schedule', schedule, 'a schedule (step) => number')
  return frozen({
    init: () => frozen({ count: 0 }),
    update: (state: WrappedScheduleState) => frozen({ count: checkCount('wrappedSchedule', state.count) + 1 }),
    value: (state: WrappedScheduleState) => schedule(checkCount('wrappedSchedule', state.count)),
    stateCodec: t.strict({ count: countCodec }, '{ count }'),
  })
}

/** Whether a value is a `StatefulSchedule` (an object with `init`, `update` and `value` functions). */
export const isStatefulSchedule = (u: unknown): u is StatefulSchedule =>
  typeof u === 'object' && u !== null && ['init', 'update', 'value'].every((k) => typeof (u as Record<string, unknown>)[k] === 'function')

/** State of `injectStatefulHyperparams`: `injectHyperparams`' state plus the schedules' own states, by hyperparameter. */
export interface InjectStatefulHyperparamsState<S> extends InjectHyperparamsState<S> {
  readonly hyperparamsStates: Readonly<Record<string, unknown>>
}

/**
 * The options `injectStatefulHyperparams(factory)` takes: the factory's, where every numeric option
 * may also be a plain schedule or a stateful one (masks and non-numeric options keep their types).
 */
export type StatefulInjectableOptions<O> = {
  readonly [K in keyof O]: K extends `${string}${'mask' | 'Mask'}` ? O[K] : number extends O[K] ? O[K] | Schedule | StatefulSchedule<any> : O[K]
}

/** Options of `injectStatefulHyperparams` itself. */
export interface InjectStatefulHyperparamsConfig {
  /** Options whose function values are not schedules (callbacks the factory takes); masks always are. Optax's `static_args`. */
  readonly staticArgs?: readonly string[]
}

/**
 * A hyperparameter as Optax hands it to the inner optimizer: a float is cast to the params' dtype
 * (float32 here), an integer passes unchanged (Optax's `_convert_floats`). So 1 − β is computed
 * from float32(β), as in Optax, and not from the float64 number given.
 */
const asParamsDtype = (v: number): number => (Number.isInteger(v) ? v : Math.fround(v))

const isStaticKey = (k: string, staticArgs: readonly string[]) => staticArgs.includes(k) || /mask$/i.test(k)

/**
 * The numeric hyperparameters the factory resolved by default (from the identity it records, e.g.
 * Adam's b2 and eps), as Optax binds a factory's defaults: each one that the factory accepts back
 * as an option, to the same resolved transformation, joins the injected hyperparameters.
 */
const resolvedDefaults = <O, S>(
  factory: (options: O) => GradientTransformation<S>,
  given: Readonly<Record<string, unknown>>,
  probe: GradientTransformation<S>,
  staticArgs: readonly string[],
): [string, number][] => {
  const resolved = probe.identity?.hyperparameters ?? {}
  const same = JSON.stringify(probe.identity)
  const out: [string, number][] = []
  for (const [k, v] of Object.entries(resolved)) {
    if (typeof v !== 'number' || Object.hasOwn(given, k) || isStaticKey(k, staticArgs)) continue
    let accepted = false
    try {
      accepted = JSON.stringify(factory({ ...given, [k]: v } as O).identity) === same
    } catch {
      // an option the factory resolves but does not take (one of another convention): not injected
    }
    if (accepted) out.push([k, asParamsDtype(v)])
  }
  return out
}

/**
 * Moves the numeric hyperparameters of an optimizer into its state, as `injectHyperparams` does,
 * where each may be a number, a plain schedule of the step, or a `StatefulSchedule` whose own state
 * is kept in the optimizer state and advanced at every update from the update's extras. At an
 * update with state (count, h, σ):
 *
 *   h′ₖ = scheduleₖ.value(σₖ, extras) for a scheduled k, else h′ₖ = hₖ
 *   σ′ₖ = scheduleₖ.update(σₖ, extras)
 *   (u, s′) = factory({ ...static options, ...h′ }).update(g, s, params, extras)
 *
 * A plain schedule is `wrappedSchedule(schedule)`. As Optax binds the factory's defaults, the
 * numeric hyperparameters the factory resolved by default (Adam's b2, eps, … read from its
 * `identity`) are injected too. As in Optax, every non-integer hyperparameter is
 * cast to the params' dtype (float32) before the factory sees it, so 1 − β is computed from
 * float32(β) and the state holds float32 values; `injectHyperparams` passes the float64 numbers
 * as given, so the two agree exactly where the values are float32 numbers.
 * Unscheduled numeric hyperparameters can be changed between steps through `state.hyperparams`;
 * a scheduled one is recomputed at every step. An invalid value throws the factory's
 * HyperparameterError at that update. `staticArgs` names the options whose functions are not
 * schedules.
 *
 * State: `{ count, hyperparams, hyperparamsStates, inner }`.
 * Reference: Optax `inject_stateful_hyperparams` / `inject_hyperparams` (schedules/_inject.py).
 *
 * @example
 * ```ts
 * // halve the learning rate whenever the loss passed in the extras goes up
 * const halving: StatefulSchedule<{ lr: number; last: number }> = {
 *   init: () => ({ lr: 0.1, last: Infinity }),
 *   value: (s) => s.lr,
 *   update: (s, extras) => ({ lr: (extras?.value ?? s.last) > s.last ? s.lr / 2 : s.lr, last: extras?.value ?? s.last }),
 * }
 * const opt = injectStatefulHyperparams(sgd)({ learningRate: halving, momentum: 0.9 })
 * const params = { w: fromArray([1, -2]) }
 * const [u, state] = opt.update(params, opt.init(params), params, { value: 2.5 })
 * ```
 */
export const injectStatefulHyperparams = <O extends object, S>(
  factory: (options: O) => GradientTransformation<S>,
  config: InjectStatefulHyperparamsConfig = {},
): ((options: StatefulInjectableOptions<O>) => GradientTransformation<InjectStatefulHyperparamsState<S>>) => {
  const name = 'injectStatefulHyperparams'
  if (typeof factory !== 'function') throw new HyperparameterError(name, 'factory', factory, 'a function options => GradientTransformation')
  const { staticArgs = [] } = ownOptions(name, config, ['staticArgs']) as InjectStatefulHyperparamsConfig
  if (!Array.isArray(staticArgs) || !staticArgs.every((k) => typeof k === 'string')) throw new HyperparameterError(name, 'staticArgs', staticArgs, 'an array of option names')
  return   (options: StatefulInjectableOptions<O>): GradientTransformation<InjectStatefulHyperparamsState<S>> => {
    const given = ownOptions(name, options)
    const schedules: [string, StatefulSchedule<any>][] = []
    const numeric: [string, number][] = []
    for (const [k, v] of Object.entries(given)) {
      if (isStaticKey(k, staticArgs)) continue
      if (isStatefulSchedule(v)) schedules.push([k, v])
      else if (typeof v === 'function') schedules.push([k, wrappedSchedule(v as Schedule)])
      else if (typeof v === 'number') numeric.push([k, asParamsDtype(v)])
    }
    const valueOf = (k: string, s: StatefulSchedule<any>, state: unknown, extra: UpdateExtras | undefined): number => {
      const v: unknown = extra === undefined ? s.value(state) : s.value(state, extra)
      if (typeof v !== 'number') throw new HyperparameterError(name, `${k}(schedule state)`, v, 'a number')
      return asParamsDtype(v)
    }
    const build = (hp: Readonly<Record<string, number>>) => factory({ ...given, ...hp } as O)
    const first = () => {
      const hyperparamsStates = Object.fromEntries(schedules.map(([k, s]) => [k, s.init()]))
      const hyperparams = { ...Object.fromEntries(numeric), ...Object.fromEntries(schedules.map(([k, s]) => [k, valueOf(k, s, hyperparamsStates[k], undefined)])) }
      return { hyperparams: frozen(hyperparams), hyperparamsStates: frozen(hyperparamsStates) }
    }
    // built once here: a bad option is refused now, and the factory's resolved defaults are known
    const probe = build(first().hyperparams)
    numeric.push(...resolvedDefaults(factory, { ...given, ...first().hyperparams }, probe, staticArgs))
    const initial = build(first().hyperparams)
    return transformation(name, {
      init: (params: Params) => {
        const { hyperparams, hyperparamsStates } = first()
        return frozen({ count: 0, hyperparams, hyperparamsStates, inner: build(hyperparams).init(params) })
      },
      update: (updates: Params, state: InjectStatefulHyperparamsState<S>, params?: Params, extra?: UpdateExtras) => {
        const count = checkCount(name, state.count)
        const states = state.hyperparamsStates
        for (const [k] of schedules) {
          if (!Object.hasOwn(states, k)) throw new HyperparameterError(name, `state.hyperparamsStates.${k}`, undefined, 'the state of the schedule of that hyperparameter')
        }
        const hyperparams = frozen({ ...Object.fromEntries(numeric), ...state.hyperparams, ...Object.fromEntries(schedules.map(([k, s]) => [k, valueOf(k, s, states[k], extra)])) })
        const hyperparamsStates = frozen(Object.fromEntries(schedules.map(([k, s]) => [k, extra === undefined ? s.update(states[k]) : s.update(states[k], extra)])))
        const [u, inner] = build(hyperparams).update(updates, state.inner, params, extra)
        return [u, frozen({ count: count + 1, hyperparams, hyperparamsStates, inner })] as const
      },
      stateCodec: t.strict(
        {
          count: countCodec,
          hyperparams: t.record(t.string, floatCodec),
          hyperparamsStates: t.strict(Object.fromEntries(schedules.map(([k, s]) => [k, s.stateCodec ?? t.unknown]))),
          inner: initial.stateCodec ?? t.unknown,
        },
        '{ count, hyperparams, hyperparamsStates, inner }',
      ),
    }, { needsParams: paramsNeededBy(initial) })
  }
}
