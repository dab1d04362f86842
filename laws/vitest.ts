/**
 * fluxion/laws/vitest: vitest suites over the law predicates, one test per law and backend. Needs
 * vitest and fast-check (peer dependencies); everything else in the law suite is in `fluxion/laws`,
 * which needs only fast-check.
 *
 * @module fluxion/laws/vitest
 */
import fc from 'fast-check'
import { describe, it } from 'vitest'
import type { AnyTransformation, Layer, Schedule } from '../src/index.js'
import { float32Tolerance } from './allclose.js'
import { sequenceArb } from './arbitraries.js'
import { lawTable } from './law-table.js'
import * as laws from './predicates/index.js'
import { type LayerLawOptions, type ScheduleLawOptions, type TransformLawOptions, assertLaw, propertyParameters } from './runners.js'

/**
 * Registers a vitest suite checking the transformation laws on `make()` on every backend (see
 * `verifyTransformLaws` for the list); each law is one test that fails with fast-check's seed and
 * counterexample path.
 *
 * @example
 * ```ts
 * const myClip = (maxNorm: number) => chain(clipByNorm(maxNorm), scale(-0.1))
 * checkTransformLaws('my clip', () => myClip(1), { backends: [cpu] })
 * ```
 */
export const checkTransformLaws = (name: string, make: () => AnyTransformation, options: TransformLawOptions): void => {
  const { backends, numRuns = 20, tolerance = float32Tolerance, inputs = sequenceArb() } = options
  describe(`laws of ${name}`, () => {
    for (const [, title, body] of lawTable(make, options)) {
      for (const backend of backends) it(`${title} [${backend.name}]`, () => assertLaw(inputs, body(backend), numRuns, backend.name), 120_000)
    }
    if (options.except?.parity === undefined) {
      for (const b of backends.slice(1)) {
        it(`backend parity ${backends[0]!.name} = ${b.name}`, () => assertLaw(inputs, (x) => laws.backendParity(make(), x, backends[0]!, b, tolerance), numRuns, b.name), 120_000)
      }
    }
  })
}

/**
 * Registers a vitest suite checking a schedule: finite values, its closed form at random steps
 * (fast-check), monotonicity, continuity at joins and its value before step 0 where stated.
 *
 * @example
 * ```ts
 * checkScheduleLaws('linear', linear({ init: 1, end: 0, transitionSteps: 100 }), { monotone: 'decreasing' })
 * ```
 */
export const checkScheduleLaws = (name: string, schedule: Schedule, options: ScheduleLawOptions = {}): void => {
  const steps = options.steps ?? 2000
  const all = Array.from({ length: steps + 1 }, (_, k) => k)
  const assertOk = (r: laws.LawResult) => {
    if (!r.ok) throw new Error(r.message)
  }
  describe(`laws of schedule ${name}`, () => {
    it('values are finite', () => assertOk(laws.finiteValues(schedule, all)))
    if (options.closedForm) {
      const f = options.closedForm
      it('equals its closed form at random steps', () =>
        fc.assert(
          fc.property(fc.integer({ min: 0, max: 10 * steps }), (k) => {
            assertOk(laws.matchesClosedForm(schedule, f, [k]))
            return true
          }),
          propertyParameters(200),
        ))
    }
    if (options.monotone) it(`is ${options.monotone === 'increasing' ? 'non-decreasing' : 'non-increasing'}`, () => assertOk(laws.monotone(schedule, options.monotone === 'increasing' ? 1 : -1, 0, steps)))
    for (const j of options.continuousAt ?? []) it(`is continuous at ${j.step}`, () => assertOk(laws.continuousAt(schedule, j.step, j.maxStep)))
    if (options.holdsBeforeStart) it('holds its step-0 value before step 0', () => assertOk(laws.holdsBeforeStart(schedule)))
  })
}

/**
 * Registers a vitest suite checking a layer on every backend: its backward pass against finite
 * differences (params and input, random inputs kept away from activation kinks) and, where stated,
 * the identity at evaluation.
 *
 * @example
 * ```ts
 * checkLayerLaws('dense', dense(3), { backends: [cpu], inputShape: [4] })
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const checkLayerLaws = (name: string, layer: Layer<any, any>, options: LayerLawOptions): void => {
  const size = options.inputShape.reduce((a, b) => a * b, 1)
  const values = (n: number) => fc.array(fc.double({ min: 0.1, max: 2, noNaN: true }).chain((v) => fc.constantFrom(v, -v)).map(Math.fround), { minLength: n, maxLength: n })
  // |x| grows with the row, so inputs stay away from activation kinks and every feature varies
  // across the batch (batch norm is smooth there)
  const inputs = values(3 * size).map((xs) => xs.map((v, i) => Math.fround(Math.sign(v) * (Math.abs(v) + 0.7 * Math.floor(i / size)))))
  describe(`laws of layer ${name}`, () => {
    for (const b of options.backends) {
      it(`backward equals finite differences [${b.name}]`, () =>
        assertLaw(fc.tuple(inputs, values(3 * 64)), ([x, r]) => laws.gradientsMatch(layer, options.inputShape, x, r, options.training ?? false, b), options.numRuns ?? 3, b.name))
      if (options.identityAtEvaluation) it(`is the identity at evaluation [${b.name}]`, () => assertLaw(values(2 * size), (x) => laws.identityAtEvaluation(layer, options.inputShape, x, b), options.numRuns ?? 5, b.name))
    }
  })
}
