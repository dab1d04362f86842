/**
 * Laws of schedules, as pure predicates over a schedule and a range of steps.
 */
import type { Schedule } from '../../src/index.js'
import { allClose } from '../allclose.js'
import type { LawResult } from './transform.js'

/** Closed form: s(k) equals `formula(k)` (float64, rtol 1e-12) at every given step. */
export const matchesClosedForm = (s: Schedule, formula: (k: number) => number, steps: readonly number[]): LawResult => {
  for (const k of steps) {
    const c = allClose([s(k)], [formula(k)], { rtol: 1e-12, atol: 1e-15 })
    if (!c.ok) return { ...c, index: k, message: `at step ${k}: ${s(k)} vs closed form ${formula(k)}` }
  }
  return { ok: true }
}

/** Monotonicity: s(k + 1) ≤ s(k) (`direction` −1) or ≥ (+1) for k in [from, to). */
export const monotone = (s: Schedule, direction: 1 | -1, from: number, to: number): LawResult => {
  for (let k = from; k < to; k++) {
    if (direction * (s(k + 1) - s(k)) < -1e-15) return { ok: false, path: '', index: k, actual: s(k + 1), expected: s(k), message: `not ${direction < 0 ? 'non-increasing' : 'non-decreasing'} at step ${k}: ${s(k)} → ${s(k + 1)}` }
  }
  return { ok: true }
}

/**
 * Continuity of a join at step b: the jump |s(b) − s(b − 1)| is no larger than `maxStep` (the
 * largest step-to-step change of either side), i.e. the join adds no discontinuity.
 */
export const continuousAt = (s: Schedule, b: number, maxStep: number): LawResult => {
  const jump = Math.abs(s(b) - s(b - 1))
  return jump <= maxStep + 1e-12 ? { ok: true } : { ok: false, path: '', index: b, actual: jump, expected: maxStep, message: `jump ${jump} at boundary ${b} exceeds ${maxStep}` }
}

/** Finite values: s(k) is a finite number at every given step. */
export const finiteValues = (s: Schedule, steps: readonly number[]): LawResult => {
  const bad = steps.find((k) => !Number.isFinite(s(k)))
  return bad === undefined ? { ok: true } : { ok: false, path: '', index: bad, actual: s(bad), expected: 0, message: `s(${bad}) = ${s(bad)} is not finite` }
}

/**
 * Holds before the start: s(k) = s(0) exactly for every given k < 0 (default −0.5, −1, −7, −10⁶), so
 * a step counter that has not started yet, or a shifted join, never extrapolates the formula
 * backwards (where inverse-time decay, for one, divides by zero).
 */
export const holdsBeforeStart = (s: Schedule, steps: readonly number[] = [-0.5, -1, -7, -1e6]): LawResult => {
  const bad = steps.find((k) => !Object.is(s(k), s(0)))
  return bad === undefined ? { ok: true } : { ok: false, path: '', index: bad, actual: s(bad), expected: s(0), message: `s(${bad}) = ${s(bad)}, but s(0) = ${s(0)}` }
}
