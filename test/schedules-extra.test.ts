/**
 * The warmup and interpolation schedules (src/schedules/warmup.ts): Optax 0.2.8's own values at a
 * range of steps (test/fixtures/goldens/schedules-optax.json, written by
 * scripts/goldens/optax_schedules_goldens.py); the float64 references of laws/reference/schedules.ts
 * under random options; the schedule laws (closed form, monotonicity, continuity at the joins, the
 * step-0 value before step 0); option validation.
 */
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as f from '../src/index.js'
import { HyperparameterError, type Schedule, linearOnecycle, piecewiseInterpolate, warmupConstant, warmupExponentialDecay } from '../src/index.js'
import { allClose } from '../laws/allclose.js'
import * as R from '../laws/reference/schedules.js'
import { propertyParameters } from '../laws/runners.js'
import { checkScheduleLaws } from '../laws/vitest.js'
import { caught } from './helpers.js'

// ---- Optax's values -----------------------------------------------------------------------------

interface ScheduleGolden {
  readonly id: string
  readonly schedule: string
  readonly options: Readonly<Record<string, unknown>>
  readonly call: string
  readonly values: string
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/goldens/schedules-optax.json', import.meta.url), 'utf8')) as {
  readonly versions: Readonly<Record<string, string>>
  readonly steps: readonly number[]
  readonly schedules: readonly ScheduleGolden[]
}

/** A float32 per 8-hex-digit word (IEEE-754 bits, big-endian), as the generators write them. */
const unhex = (text: string): number[] => {
  const view = new DataView(new ArrayBuffer(4))
  return text.split(' ').map((w) => {
    view.setUint32(0, parseInt(w, 16))
    return view.getFloat32(0)
  })
}

describe(`Optax ${fixture.versions.optax}'s schedule values`, () => {
  it('cover the four schedules', () => expect(new Set(fixture.schedules.map((s) => s.schedule))).toEqual(new Set(['warmupConstant', 'warmupExponentialDecay', 'linearOnecycle', 'piecewiseInterpolate'])))

  it.each(fixture.schedules.map((s) => [s.id, s] as const))('%s', (_id, s) => {
    const make = (f as unknown as Record<string, (o: unknown) => Schedule>)[s.schedule]!
    const schedule = make(s.options)
    const expected = unhex(s.values)
    const actual = fixture.steps.map(schedule)
    // Optax computes in float32: each rounding is relative to the largest value the schedule
    // interpolates between, so the absolute bound scales with the schedule's magnitude
    const scale = Math.max(...expected.map(Math.abs))
    const c = allClose(actual, expected, { rtol: 1e-6, atol: 1e-6 * scale })
    expect(c.ok, c.ok ? '' : `${s.call} at step ${fixture.steps[c.index]}: fluxion ${actual[c.index]}, Optax ${expected[c.index]}`).toBe(true)
  })
})

// ---- the float64 references ---------------------------------------------------------------------

const prop = <T,>(arb: fc.Arbitrary<T>, check: (x: T) => boolean) => fc.assert(fc.property(arb, check), propertyParameters(200))
const near = (a: number, b: number) => allClose([a], [b], { rtol: 1e-9, atol: 1e-12 }).ok
const agree = (s: Schedule, r: Schedule, ks: readonly number[]) => ks.every((k) => near(s(k), r(k)))

const v = fc.double({ min: -10, max: 10, noNaN: true })
const pos = fc.double({ min: 1e-3, max: 10, noNaN: true })
const n = fc.integer({ min: 1, max: 300 })
const steps = fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 20 })

describe('the warmup and interpolation schedules against their float64 references, all options random', () => {
  it('warmupConstant', () =>
    prop(fc.tuple(v, v, fc.integer({ min: 0, max: 300 }), steps), ([init, peak, W, ks]) =>
      agree(warmupConstant({ init, peak, warmupSteps: W }), R.warmupConstantReference(init, peak, W), [...ks, W - 1, W, W + 1].filter((k) => k >= 0))))

  it('warmupExponentialDecay: growth or decay, transitionBegin, staircase, end bound', () =>
    prop(
      fc.tuple(v, pos, fc.integer({ min: 0, max: 300 }), n, fc.oneof(fc.double({ min: 0.05, max: 0.99, noNaN: true }), fc.double({ min: 1.01, max: 1.5, noNaN: true })), fc.integer({ min: 0, max: 300 }), fc.boolean(), fc.option(pos), steps),
      ([init, peak, W, T, r, begin, stair, end, ks]) =>
        agree(
          warmupExponentialDecay({ init, peak, warmupSteps: W, transitionSteps: T, decayRate: r, transitionBegin: begin, staircase: stair, end: end ?? undefined }),
          R.warmupExponentialDecayReference(init, peak, W, T, r, begin, stair, end ?? undefined),
          [...ks, W, W + begin],
        ),
    ))

  it('piecewiseInterpolate, linear and cosine, boundaries in any order (one may be 0)', () =>
    prop(
      fc.tuple(fc.constantFrom('linear' as const, 'cosine' as const), v, fc.uniqueArray(fc.integer({ min: 0, max: 2000 }), { maxLength: 5 }), fc.array(fc.double({ min: 0, max: 3, noNaN: true }), { minLength: 5, maxLength: 5 }), steps),
      ([type, init, bs, scales, ks]) => {
        const boundariesAndScales = Object.fromEntries(bs.map((b, i) => [b, scales[i]!]))
        const probes = [...ks, ...bs, ...bs.map((b) => b + 1), ...bs.map((b) => Math.max(b - 1, 0))]
        return agree(piecewiseInterpolate({ interpolateType: type, init, boundariesAndScales }), R.piecewiseInterpolateReference(type, init, bs, scales.slice(0, bs.length)), probes)
      },
    ))

  it('linearOnecycle with any fractions and division factors', () =>
    prop(
      fc.tuple(fc.integer({ min: 2, max: 2000 }), pos, fc.double({ min: 0, max: 0.45, noNaN: true }), fc.double({ min: 0.55, max: 0.99, noNaN: true }), fc.double({ min: 1, max: 100, noNaN: true }), fc.double({ min: 1, max: 1e4, noNaN: true }), steps),
      ([T, peak, a, b, d, fd, ks]) => {
        fc.pre(Math.floor(a * T) < Math.floor(b * T))
        const s = linearOnecycle({ transitionSteps: T, peak, pctStart: a, pctFinal: b, divFactor: d, finalDivFactor: fd })
        return agree(s, R.linearOnecycleReference(T, peak, a, b, d, fd), [...ks, Math.floor(a * T), Math.floor(b * T), T])
      },
    ))

  it('piecewiseInterpolate reproduces Optax\'s docstring example (linear, {4: 0.1, 8: 0.01})', () => {
    const s = piecewiseInterpolate({ interpolateType: 'linear', init: 1, boundariesAndScales: { 4: 0.1, 8: 0.01 } })
    const expected = [1, 0.55, 0.1, 0.0505, 0.001, 0.001]
    expect(allClose([0, 2, 4, 6, 8, 10].map(s), expected, { rtol: 1e-12, atol: 1e-15 }).ok).toBe(true)
  })

  it('warmupConstant with no warmup is the constant peak', () => expect([0, 1, 100].map(warmupConstant({ init: 0.5, peak: 2, warmupSteps: 0 }))).toEqual([2, 2, 2]))
})

// ---- the schedule laws --------------------------------------------------------------------------

checkScheduleLaws('warmupConstant', warmupConstant({ peak: 0.1, warmupSteps: 100 }), {
  closedForm: R.warmupConstantReference(0, 0.1, 100),
  monotone: 'increasing',
  continuousAt: [{ step: 100, maxStep: 0.1 / 100 }],
  holdsBeforeStart: true,
})
checkScheduleLaws('warmupExponentialDecay', warmupExponentialDecay({ init: 0.01, peak: 0.1, warmupSteps: 50, transitionSteps: 100, decayRate: 0.5, transitionBegin: 20, end: 0.005 }), {
  closedForm: R.warmupExponentialDecayReference(0.01, 0.1, 50, 100, 0.5, 20, false, 0.005),
  continuousAt: [{ step: 50, maxStep: 0.09 / 50 }],
  holdsBeforeStart: true,
})
checkScheduleLaws('warmupExponentialDecay (no warmup, staircase)', warmupExponentialDecay({ peak: 0.1, warmupSteps: 0, transitionSteps: 100, decayRate: 0.5, staircase: true }), {
  closedForm: R.warmupExponentialDecayReference(0, 0.1, 0, 100, 0.5, 0, true, undefined),
  monotone: 'decreasing',
  holdsBeforeStart: true,
})
checkScheduleLaws('linearOnecycle', linearOnecycle({ transitionSteps: 1000, peak: 0.1 }), {
  closedForm: R.linearOnecycleReference(1000, 0.1, 0.3, 0.85, 25, 1e4),
  continuousAt: [300, 850, 1000].map((step) => ({ step, maxStep: 0.1 / 300 })),
  holdsBeforeStart: true,
})
checkScheduleLaws('piecewiseInterpolate (cosine)', piecewiseInterpolate({ interpolateType: 'cosine', init: 0.1, boundariesAndScales: { 500: 0.1, 1500: 0.5 } }), {
  closedForm: R.piecewiseInterpolateReference('cosine', 0.1, [500, 1500], [0.1, 0.5]),
  monotone: 'decreasing',
  continuousAt: [500, 1500].map((step) => ({ step, maxStep: (0.1 * Math.PI) / 1000 })),
  holdsBeforeStart: true,
})
checkScheduleLaws('piecewiseInterpolate (linear, boundary at 0)', piecewiseInterpolate({ interpolateType: 'linear', init: 1, boundariesAndScales: { 0: 0.5, 1000: 0.01 } }), {
  closedForm: R.piecewiseInterpolateReference('linear', 1, [0, 1000], [0.5, 0.01]),
  monotone: 'decreasing',
  holdsBeforeStart: true,
})

// ---- validation ---------------------------------------------------------------------------------

describe('options are validated, naming the field and the range', () => {
  const rejected: readonly (readonly [string, () => unknown, string, string])[] = [
    ['warmupConstant warmupSteps fractional', () => warmupConstant({ peak: 1, warmupSteps: 2.5 }), 'warmupSteps', 'an integer ≥ 0'],
    ['warmupConstant peak missing', () => warmupConstant({ warmupSteps: 2 } as never), 'peak', 'a finite number'],
    ['warmupConstant misspelt option', () => warmupConstant({ peak: 1, warmupSteps: 2, peak_value: 1 } as never), 'peak_value', 'no such option'],
    ['warmupExponentialDecay decayRate 0', () => warmupExponentialDecay({ peak: 1, warmupSteps: 2, transitionSteps: 5, decayRate: 0 }), 'decayRate', 'a finite number > 0'],
    ['warmupExponentialDecay transitionSteps 0', () => warmupExponentialDecay({ peak: 1, warmupSteps: 2, transitionSteps: 0, decayRate: 0.5 }), 'transitionSteps', 'an integer ≥ 1'],
    ['warmupExponentialDecay end NaN', () => warmupExponentialDecay({ peak: 1, warmupSteps: 2, transitionSteps: 5, decayRate: 0.5, end: NaN }), 'end', 'a finite number or undefined'],
    ['linearOnecycle pctFinal 1', () => linearOnecycle({ transitionSteps: 100, peak: 1, pctFinal: 1 }), 'pctFinal', 'a number in (0, 1)'],
    ['linearOnecycle pctStart 1', () => linearOnecycle({ transitionSteps: 100, peak: 1, pctStart: 1 }), 'pctStart', 'a number in [0, 1)'],
    ['linearOnecycle boundaries that merge', () => linearOnecycle({ transitionSteps: 3, peak: 1, pctStart: 0.4, pctFinal: 0.5 }), 'pctFinal', '⌊pctFinal·T⌋ > ⌊pctStart·T⌋ = 1'],
    ['linearOnecycle divFactor 0', () => linearOnecycle({ transitionSteps: 100, peak: 1, divFactor: 0 }), 'divFactor', 'a finite number > 0'],
    ['piecewiseInterpolate type', () => piecewiseInterpolate({ interpolateType: 'quadratic' as never, init: 1 }), 'interpolateType', "'linear' or 'cosine'"],
    ['piecewiseInterpolate negative scale', () => piecewiseInterpolate({ interpolateType: 'linear', init: 1, boundariesAndScales: { 5: -0.1 } }), 'boundariesAndScales.5', 'a finite number ≥ 0'],
    ['piecewiseInterpolate fractional boundary', () => piecewiseInterpolate({ interpolateType: 'linear', init: 1, boundariesAndScales: { 2.5: 0.1 } }), 'boundariesAndScales.2.5', 'an integer step ≥ 0'],
    ['piecewiseInterpolate negative boundary', () => piecewiseInterpolate({ interpolateType: 'linear', init: 1, boundariesAndScales: { [-3]: 0.1 } }), 'boundariesAndScales.-3', 'an integer step ≥ 0'],
    ['piecewiseInterpolate boundaries an array', () => piecewiseInterpolate({ interpolateType: 'linear', init: 1, boundariesAndScales: [0.1, 0.2] as never }), 'boundariesAndScales', '{ step: scale }'],
  ]
  it.each(rejected)('%s', (_n, build, field, expected) => {
    const e = caught(build)
    expect(e).toBeInstanceOf(HyperparameterError)
    expect((e as HyperparameterError).field).toBe(field)
    expect((e as HyperparameterError).expected).toContain(expected)
  })
})
