/**
 * Hyperparameter validation with io-ts. Each codec's name is the human description of its allowed
 * range; a failed decode becomes a `HyperparameterError` naming the transform, the field, the value
 * and that range.
 */
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { HyperparameterError } from '../errors.js'
import type { ScalarOrSchedule } from './types.js'

/**
 * A codec from one predicate, which its `is` and its `validate` share (so the two cannot drift
 * apart); `name` is the description of what the predicate accepts, used in error messages.
 */
export const refinement = <A>(name: string, is: (u: unknown) => u is A): t.Type<A, A, unknown> =>
  new t.Type<A, A, unknown>(name, is, (u, c) => (is(u) ? t.success(u) : t.failure(u, c)), t.identity)

const number = (name: string, ok: (n: number) => boolean) => refinement(name, (u): u is number => typeof u === 'number' && ok(u))

/** Codecs for the usual hyperparameter ranges; each name states the range. */
export const ranges = {
  finite: number('a finite number', Number.isFinite),
  nonNegative: number('a finite number ≥ 0', (n) => Number.isFinite(n) && n >= 0),
  nonNegativeOrInfinity: number('a number ≥ 0 (Infinity allowed)', (n) => n >= 0),
  positive: number('a finite number > 0', (n) => Number.isFinite(n) && n > 0),
  /** [0, 1): decay rates such as momentum and Adam's β. */
  unitInterval: number('a number in [0, 1)', (n) => n >= 0 && n < 1),
  unitIntervalClosed: number('a number in [0, 1]', (n) => n >= 0 && n <= 1),
  openUnitInterval: number('a number in (0, 1)', (n) => n > 0 && n < 1),
  atLeastOne: number('a finite number ≥ 1', (n) => Number.isFinite(n) && n >= 1),
  positiveInteger: number('an integer ≥ 1', (n) => Number.isInteger(n) && n >= 1),
  nonNegativeInteger: number('an integer ≥ 0', (n) => Number.isInteger(n) && n >= 0),
  positiveIntegerOrInfinity: number('an integer ≥ 1 or Infinity', (n) => (Number.isInteger(n) && n >= 1) || n === Infinity),
  seed: number('an integer in [0, 2^53)', (n) => Number.isSafeInteger(n) && n >= 0),
  boolean: t.boolean,
} as const

const scheduleCodec = refinement('a schedule (step) => number', (u): u is (step: number) => number => typeof u === 'function')

/** A non-negative number or a schedule; the schedule's values are checked when it is evaluated. */
export const nonNegativeOrSchedule = refinement(
  'a finite number ≥ 0 or a schedule (step) => number',
  (u): u is ScalarOrSchedule => ranges.nonNegative.is(u) || scheduleCodec.is(u),
)

/**
 * Validates `value` against a record of codecs; returns it typed, or throws the
 * `HyperparameterError` of the first invalid field. Unknown fields are rejected too, so typos
 * (`learning_rate`) do not pass silently.
 */
export const validate = <P extends t.Props>(transform: string, props: P, value: unknown): t.TypeOf<t.TypeC<P>> => {
  if (typeof value !== 'object' || value === null) throw new HyperparameterError(transform, 'options', value, 'an options object')
  for (const k of Object.keys(value)) {
    if (!(k in props)) throw new HyperparameterError(transform, k, (value as Record<string, unknown>)[k], `no such option; known options are ${Object.keys(props).join(', ')}`)
  }
  const result = t.type(props).decode(value)
  if (E.isRight(result)) return result.right
  const error = result.left[0]!
  // The path down to the innermost codec that failed (an array element: `boundaries.2`), stopping
  // at a union: its members' failures say less than the union's own name ("a number or undefined").
  const union = error.context.findIndex((c) => c.type instanceof t.UnionType)
  const context = union === -1 ? error.context : error.context.slice(0, union + 1)
  const field = context
    .map((c) => c.key)
    .filter((k) => k !== '')
    .join('.')
  const last = context[context.length - 1]!
  throw new HyperparameterError(transform, field, last.actual, last.type.name)
}

/** Evaluates a number-or-schedule at `step` and checks the value against `range`. */
export const evaluate = (
  transform: string,
  field: string,
  value: ScalarOrSchedule,
  step: number,
  range: t.Type<number, number, unknown> = ranges.nonNegative,
): number => {
  const v = typeof value === 'function' ? value(step) : value
  if (!range.is(v)) throw new HyperparameterError(transform, `${field}(step ${step})`, v, range.name)
  return v
}
