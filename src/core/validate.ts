/**
 * Hyperparameter validation with io-ts, the one path every builder's options go through. Each
 * codec's name is the human description of its allowed range; a failed decode becomes a
 * `HyperparameterError` naming the builder, the field, the value and that range.
 *
 * Options are strict: the options object must be a plain object (an object literal, `JSON.parse`
 * output or `Object.create(null)`; `undefined` means all defaults), only its own properties are
 * read, every name must be one the builder knows (`constructor`, `toString` or a `"__proto__"` key
 * from `JSON.parse` are unknown names like any misspelling), and an explicit `undefined` for a field
 * means its default, as TypeScript allows while `exactOptionalPropertyTypes` is off. Sizes are
 * checked before anything is allocated (`checkShape`, at most `maxElements` per tensor).
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

/**
 * RAdam's threshold on ρₜ: the rectifier rₜ = √((ρₜ − 4)(ρₜ − 2)ρ∞ / ((ρ∞ − 4)(ρ∞ − 2)ρₜ)) is real
 * and non-zero only for ρₜ > 4 (Liu et al. 2020, Algorithm 2: "if ρₜ > 4"). ρₜ ≤ ρ∞ at every step,
 * so with ρₜ ≥ threshold > 4 every factor is positive wherever the rectified step is taken; a
 * threshold of 3 gives NaN at step 4 (β₂ = 0.999: ρ₄ ≈ 3.997), and 4 gives 0/0 once ρₜ rounds to
 * ρ∞ = 4 (β₂ = 0.6, step 81).
 */
export const radamThreshold = number('a finite number > 4 (RAdam rectifies only where ρₜ > 4)', (n) => Number.isFinite(n) && n > 4)

const scheduleCodec = refinement('a schedule (step) => number', (u): u is (step: number) => number => typeof u === 'function')

/** A non-negative number or a schedule; the schedule's values are checked when it is evaluated. */
export const nonNegativeOrSchedule = refinement(
  'a finite number ≥ 0 or a schedule (step) => number',
  (u): u is ScalarOrSchedule => ranges.nonNegative.is(u) || scheduleCodec.is(u),
)

/**
 * A plain object: an object literal or `JSON.parse` output (of this realm or another), or
 * `Object.create(null)`. Arrays, functions, boxed primitives, class instances and objects inheriting
 * from another object are not: options they inherit would be silently ignored.
 */
export const isPlainObject = (u: unknown): u is Readonly<Record<string, unknown>> => {
  if (typeof u !== 'object' || u === null || Array.isArray(u)) return false
  const proto: unknown = Object.getPrototypeOf(u)
  if (proto === null || proto === Object.prototype) return true
  // Object.prototype of another realm (a vm context, an iframe)
  return Object.getPrototypeOf(proto) === null && Object.hasOwn(proto as object, 'isPrototypeOf') && (proto as { constructor?: { name?: unknown } }).constructor?.name === 'Object'
}

/** What a non-object options argument is refused with. */
export const PLAIN_OPTIONS = 'a plain options object (or undefined for the defaults)'

const describeKey = (k: string | symbol) => (typeof k === 'symbol' ? k.toString() : k)

/**
 * The own properties of an options argument whose value is not `undefined`, as a fresh object;
 * `undefined` options are `{}`. Throws the `HyperparameterError` of a non-plain-object argument
 * (field `options`) or, when `known` is given, of the first own property (symbols included) that
 * is not one of its names.
 */
export const ownOptions = (transform: string, options: unknown, known?: readonly string[]): Record<string, unknown> => {
  if (options === undefined) return {}
  if (!isPlainObject(options)) throw new HyperparameterError(transform, 'options', options, PLAIN_OPTIONS)
  const out: Record<string, unknown> = {}
  for (const k of Reflect.ownKeys(options)) {
    const v: unknown = Reflect.get(options, k)
    if (known !== undefined && (typeof k === 'symbol' || !known.includes(k))) {
      throw new HyperparameterError(transform, describeKey(k), v, `no such option; known options are ${known.join(', ')}`)
    }
    // defined, not assigned: a "__proto__" key (from JSON.parse) stays a plain own property
    if (v !== undefined) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true })
  }
  return out
}

/** Defaults of some of the fields of `props`. */
export type Defaults<P extends t.Props> = { readonly [K in keyof P]?: t.TypeOf<P[K]> }

/**
 * Validates the options `value` of `transform` against a record of codecs and returns them typed,
 * with `defaults` filled in; throws the `HyperparameterError` of the first problem:
 *
 * - `value` not a plain object (`5`, `null`, `[]`, a function, a string): field `options`;
 *   `undefined` is `{}`, all defaults;
 * - an own property (only own ones are read) whose name is not in `props`, misspellings
 *   (`learning_rate`), `constructor`, `toString` and a `"__proto__"` key alike: the list of known
 *   names;
 * - a field whose value (an explicit `undefined` is its default) fails its codec: the codec's range.
 */
export const validate = <P extends t.Props>(transform: string, props: P, value: unknown, defaults: Defaults<P> = {}): t.TypeOf<t.TypeC<P>> => {
  const given = ownOptions(transform, value, Object.keys(props))
  const result = t.type(props).decode({ ...defaults, ...given })
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

/**
 * The most elements one tensor that a layer or an initializer allocates may have: 2^28
 * (268,435,456 elements, 1 GiB of float32; an initializer also holds its float64 draws on the host
 * while it builds the tensor). Larger requests are refused before anything is allocated.
 */
export const maxElements = 2 ** 28

const MAX_ELEMENTS_TEXT = `at most 2^28 = ${maxElements} elements`

/**
 * Checks a shape before anything of it is allocated: an array of integers ≥ 0 whose product is at
 * most `maxElements`; returns the number of elements, or throws a `HyperparameterError` naming
 * `transform`, `field`, the shape and, when it is too large, its size.
 */
export const checkShape = (transform: string, field: string, shape: unknown): number => {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new HyperparameterError(transform, field, shape, `a shape: an array of integers ≥ 0 with ${MAX_ELEMENTS_TEXT}`)
  }
  const size = (shape as number[]).reduce((a, d) => a * d, 1)
  if (size > maxElements) throw new HyperparameterError(transform, field, shape, `a shape with ${MAX_ELEMENTS_TEXT}; this one has ${size}`)
  return size
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
