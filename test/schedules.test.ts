/**
 * Schedules against their closed forms at random steps; monotonicity; continuity of joins; the
 * lectures' linear decay exactly at k = 0, k = τ and beyond (seed 000_33f4fbf331723dec.txt).
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  HyperparameterError,
  type Schedule,
  constant,
  cosineDecay,
  exponentialDecay,
  inverseTimeDecay,
  joinSchedules,
  linear,
  momentumAnnealing,
  naturalExpDecay,
  onecycle,
  piecewiseConstant,
  polynomial,
  sgdr,
  stepDecay,
  warmupCosineDecay,
} from '../src/index.js'
import { allClose } from '../laws/allclose.js'
import * as R from '../laws/reference/schedules.js'
import { propertyParameters } from '../laws/runners.js'
import { caught } from './helpers.js'

const step = fc.integer({ min: 0, max: 5000 })
const value = fc.double({ min: 1e-4, max: 10, noNaN: true })
const close = (a: number, b: number) => {
  const c = allClose([a], [b], { rtol: 1e-12, atol: 1e-15 })
  if (!c.ok) throw new Error(c.message)
  return true
}
const prop = <T,>(arb: fc.Arbitrary<T>, f: (x: T) => boolean) => fc.assert(fc.property(arb, f), propertyParameters(200))

/** f is non-increasing (or non-decreasing) over consecutive steps. */
const monotone = (f: Schedule, dir: 1 | -1, upTo: number) => {
  for (let k = 0; k < upTo; k++) if (dir * (f(k + 1) - f(k)) < -1e-15) throw new Error(`not monotone at ${k}: ${f(k)} → ${f(k + 1)}`)
  return true
}

describe('schedules: closed forms at random steps', () => {
  it('constant', () => prop(fc.tuple(value, step), ([v, k]) => close(constant(v)(k), v)))

  it('linear: α_k = α₀ − (k/τ)(α₀ − α_τ), exactly at 0 and τ, α_τ after', () =>
    prop(fc.tuple(value, value, fc.integer({ min: 1, max: 1000 }), step), ([a0, at, tau, k]) => {
      const f = linear({ init: a0, end: at, transitionSteps: tau })
      expect(f(0)).toBe(a0)
      expect(f(tau)).toBe(at)
      expect(f(tau + 1 + k)).toBe(at)
      return close(f(Math.min(k, tau)), a0 - (Math.min(k, tau) / tau) * (a0 - at)) && monotone(f, a0 >= at ? -1 : 1, tau + 2)
    }))

  it('polynomial', () =>
    prop(fc.tuple(value, value, fc.double({ min: 0.1, max: 4, noNaN: true }), fc.integer({ min: 1, max: 1000 }), step), ([a, b, p, tau, k]) =>
      close(polynomial({ init: a, end: b, power: p, transitionSteps: tau })(k), (a - b) * (1 - Math.min(k, tau) / tau) ** p + b)))

  it('exponentialDecay (the lectures\' Keras example, staircase, end bound)', () => {
    const keras = exponentialDecay({ init: 1e-2, transitionSteps: 10000, decayRate: 0.9 })
    close(keras(10000), 9e-3)
    close(keras(5000), 1e-2 * 0.9 ** 0.5)
    prop(fc.tuple(value, fc.integer({ min: 1, max: 500 }), fc.double({ min: 0.1, max: 0.99, noNaN: true }), fc.boolean(), step), ([a, T, r, stair, k]) => {
      const f = exponentialDecay({ init: a, transitionSteps: T, decayRate: r, staircase: stair, end: a / 100 })
      return close(f(k), Math.max(a * r ** (stair ? Math.floor(k / T) : k / T), a / 100)) && monotone(f, -1, 200)
    })
  })

  it('inverse and natural exponential decay (seed 001: η₀/(1 + εt), η₀e^(−εt))', () =>
    prop(fc.tuple(value, fc.double({ min: 0, max: 1, noNaN: true }), step), ([a, e, k]) =>
      close(inverseTimeDecay({ init: a, decayRate: e })(k), a / (1 + e * k)) &&
      close(naturalExpDecay({ init: a, decayRate: e })(k), a * Math.exp(-e * k)) &&
      monotone(inverseTimeDecay({ init: a, decayRate: e }), -1, 100) &&
      monotone(naturalExpDecay({ init: a, decayRate: e }), -1, 100)))

  it('stepDecay and piecewiseConstant', () => {
    prop(fc.tuple(value, fc.double({ min: 0.1, max: 0.9, noNaN: true }), fc.integer({ min: 1, max: 100 }), step), ([a, f, T, k]) =>
      close(stepDecay({ init: a, factor: f, stepSize: T })(k), a * f ** Math.floor(k / T)))
    const pc = piecewiseConstant({ boundaries: [100, 200], values: [1, 0.5, 0.1] })
    expect([0, 100, 101, 200, 201, 1e6].map(pc)).toEqual([1, 1, 0.5, 0.5, 0.1, 0.1])
  })

  it('cosineDecay and its monotonicity', () =>
    prop(fc.tuple(value, fc.integer({ min: 1, max: 1000 }), fc.double({ min: 0, max: 1, noNaN: true }), step), ([a, T, al, k]) => {
      const f = cosineDecay({ init: a, decaySteps: T, alpha: al })
      const c = 0.5 * (1 + Math.cos((Math.PI * Math.min(k, T)) / T))
      return close(f(k), a * ((1 - al) * c + al)) && monotone(f, -1, Math.min(T + 2, 300))
    }))

  it('warmupCosineDecay: rises to the peak, then decays to the end; continuous at the join', () =>
    prop(fc.tuple(value, fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 500 })), ([peak, W, rest]) => {
      const f = warmupCosineDecay({ init: 0, peak, warmupSteps: W, decaySteps: W + rest, end: peak / 10 })
      expect(f(0)).toBe(0)
      close(f(W), peak)
      close(f(W + rest), peak / 10)
      // continuity: the jump at the join is no larger than one step of either side
      const jump = Math.abs(f(W) - f(W - 1))
      expect(jump).toBeLessThanOrEqual(peak / W + 1e-12)
      return monotone(f, 1, W) && monotone((k) => f(W + k), -1, rest)
    }))

  it('joinSchedules restarts the count at each boundary', () =>
    prop(fc.tuple(fc.integer({ min: 1, max: 100 }), step), ([b, k]) => {
      const f = joinSchedules([(s) => s, (s) => 1000 + s], [b])
      return close(f(k), k < b ? k : 1000 + k - b)
    }))

  it('sgdr: warm restarts at T₀, T₀·m, …', () => {
    const f = sgdr({ max: 1, min: 0.1, period: 10, mult: 2 })
    expect(f(0)).toBe(1)
    close(f(5), 0.1 + 0.45 * (1 + Math.cos(Math.PI / 2)))
    expect(f(10)).toBe(1) // restart
    close(f(20), 0.1 + 0.45 * (1 + Math.cos(Math.PI / 2))) // halfway through the second period (length 20)
    expect(f(30)).toBe(1)
    monotone((k) => f(10 + k), -1, 19)
  })

  it('onecycle rises from peak/25 to the peak at 30%, then falls to peak/(25·1e4)', () => {
    const f = onecycle({ transitionSteps: 1000, peak: 0.1 })
    close(f(0), 0.1 / 25)
    close(f(300), 0.1)
    close(f(1000), 0.1 / 25 / 1e4)
    monotone(f, 1, 300)
    monotone((k) => f(300 + k), -1, 700)
  })

  it('momentum annealing from γ₀ = 0.5 to γ∞ = 0.9 (seed 001)', () => {
    const g = momentumAnnealing({ transitionSteps: 100 })
    expect([g(0), g(50), g(100), g(1000)]).toEqual([0.5, 0.7, 0.9, 0.9])
  })

  it('every schedule validates its arguments', () => {
    const bad: [() => unknown, string][] = [
      [() => linear({ init: 1, end: 0, transitionSteps: 0 }), 'transitionSteps'],
      [() => exponentialDecay({ init: 1, transitionSteps: 10, decayRate: -1 }), 'decayRate'],
      [() => cosineDecay({ init: 1, decaySteps: 10, alpha: 2 }), 'alpha'],
      [() => warmupCosineDecay({ peak: 1, warmupSteps: 10, decaySteps: 10 }), 'decaySteps'],
      [() => piecewiseConstant({ boundaries: [2, 1], values: [1, 2, 3] }), 'boundaries.1'],
      [() => piecewiseConstant({ boundaries: [1], values: [1] }), 'values'],
      [() => joinSchedules([constant(1)], [5]), 'boundaries'],
      [() => sgdr({ max: 1, period: 10, mult: 0.5 }), 'mult'],
      [() => onecycle({ transitionSteps: 10, peak: 1, pctStart: 1 }), 'pctStart'],
      [() => stepDecay({ init: 1, factor: 0, stepSize: 1 }), 'factor'],
      [() => momentumAnnealing({ transitionSteps: 10, end: 1 }), 'end'],
      [() => constant(NaN), 'value'],
    ]
    for (const [f, field] of bad) {
      const e = caught(f)
      expect(e).toBeInstanceOf(HyperparameterError)
      expect((e as HyperparameterError).field).toBe(field)
    }
  })
})

describe('every schedule against its float64 reference (laws/reference/schedules.ts), all options random', () => {
  const v = fc.double({ min: -10, max: 10, noNaN: true })
  const pos = fc.double({ min: 1e-3, max: 10, noNaN: true })
  const steps = fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 20 })
  const agree = (f: Schedule, g: Schedule, ks: readonly number[]) => ks.every((k) => close(f(k), g(k)))
  const near = (a: number, b: number) => allClose([a], [b], { rtol: 1e-9, atol: 1e-12 }).ok
  const n = fc.integer({ min: 1, max: 300 })
  const begin = fc.integer({ min: 0, max: 300 })

  it('linear and polynomial, with transitionBegin', () =>
    prop(fc.tuple(v, v, n, begin, fc.double({ min: 0.1, max: 4, noNaN: true }), steps), ([a, b, tau, t0, p, ks]) =>
      ks.every((k) => near(linear({ init: a, end: b, transitionSteps: tau, transitionBegin: t0 })(k), R.linearReference(a, b, tau, t0)(k))) &&
      agree(polynomial({ init: a, end: b, power: p, transitionSteps: tau, transitionBegin: t0 }), R.polynomialReference(a, b, p, tau, t0), ks)))

  it('exponentialDecay: growth or decay, transitionBegin, staircase, end bound', () =>
    prop(
      fc.tuple(pos, n, fc.oneof(fc.double({ min: 0.05, max: 0.99, noNaN: true }), fc.double({ min: 1.01, max: 1.5, noNaN: true })), begin, fc.boolean(), fc.option(pos), steps),
      ([a, T, r, t0, stair, end, ks]) =>
        agree(
          exponentialDecay({ init: a, transitionSteps: T, decayRate: r, transitionBegin: t0, staircase: stair, end: end ?? undefined }),
          R.exponentialDecayReference(a, T, r, t0, stair, end ?? undefined),
          ks,
        ),
    ))

  it('inverse-time and natural-exponential decay with decaySteps and staircase (seed 001)', () =>
    prop(fc.tuple(v, fc.double({ min: 0, max: 2, noNaN: true }), n, fc.boolean(), steps), ([a, e, s, stair, ks]) =>
      agree(inverseTimeDecay({ init: a, decayRate: e, decaySteps: s, staircase: stair }), R.inverseTimeDecayReference(a, e, s, stair), ks) &&
      agree(naturalExpDecay({ init: a, decayRate: e / 100, decaySteps: s, staircase: stair }), R.naturalExpDecayReference(a, e / 100, s, stair), ks)))

  it('stepDecay and piecewiseConstant', () =>
    prop(
      fc.tuple(v, fc.double({ min: 0.1, max: 2, noNaN: true }), n, fc.uniqueArray(fc.integer({ min: 0, max: 3000 }), { maxLength: 5 }), steps),
      ([a, f, T, bs, ks]) => {
        const boundaries = [...bs].sort((x, y) => x - y)
        const values = Array.from({ length: boundaries.length + 1 }, (_, i) => a + i)
        const probes = [...ks, ...boundaries, ...boundaries.map((b) => b + 1)]
        return agree(stepDecay({ init: a, factor: f, stepSize: T }), R.stepDecayReference(a, f, T), ks) &&
          agree(piecewiseConstant({ boundaries, values }), R.piecewiseConstantReference(boundaries, values), probes)
      },
    ))

  it('cosineDecay and warmupCosineDecay with exponents', () =>
    prop(
      fc.tuple(v, n, fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0.25, max: 4, noNaN: true }), fc.integer({ min: 0, max: 100 }), steps),
      ([a, T, al, p, W, ks]) =>
        ks.every((k) => near(cosineDecay({ init: a, decaySteps: T, alpha: al, exponent: p })(k), R.cosineDecayReference(a, T, al, p)(k))) &&
        ks.every((k) =>
          near(
            warmupCosineDecay({ init: a / 3, peak: a, warmupSteps: W, decaySteps: W + T, end: a * al, exponent: p })(k),
            R.warmupCosineDecayReference(a / 3, a, W, W + T, a * al, p)(k),
          ),
        ),
    ))

  it('sgdr with integer and fractional period multipliers', () =>
    prop(fc.tuple(pos, fc.double({ min: 0, max: 1, noNaN: true }), n, fc.oneof(fc.constant(1), fc.constant(2), fc.double({ min: 1, max: 3, noNaN: true })), steps), ([max, fr, T, m, ks]) =>
      agree(sgdr({ max, min: max * fr, period: T, mult: m }), R.sgdrReference(max, max * fr, T, m), ks)))

  it('onecycle with any start fraction and division factors', () =>
    prop(
      fc.tuple(fc.integer({ min: 1, max: 2000 }), pos, fc.double({ min: 0.01, max: 0.99, noNaN: true }), fc.double({ min: 1, max: 100, noNaN: true }), fc.double({ min: 1, max: 1e4, noNaN: true }), steps),
      ([T, peak, pct, d, fd, ks]) =>
        ks.every((k) => near(onecycle({ transitionSteps: T, peak, pctStart: pct, divFactor: d, finalDivFactor: fd })(k), R.onecycleReference(T, peak, pct, d, fd)(k))),
    ))

  it('joinSchedules over several boundaries: each piece sees the steps since its boundary', () =>
    prop(fc.tuple(fc.uniqueArray(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 4 }), steps), ([bs, ks]) => {
      const boundaries = [...bs].sort((x, y) => x - y)
      const f = joinSchedules(Array.from({ length: boundaries.length + 1 }, (_, i) => (s: number) => 10_000 * i + s), boundaries)
      return [...ks, ...boundaries, ...boundaries.map((b) => b - 1)].every((k) => {
        const i = boundaries.filter((b) => k >= b).length
        return f(k) === 10_000 * i + k - (i === 0 ? 0 : boundaries[i - 1]!)
      })
    }))
})
