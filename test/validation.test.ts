/**
 * Every public builder validates its hyperparameters when it is built: a bad value of any field is
 * a HyperparameterError naming the builder, the field, the value and the allowed range; an unknown
 * field is rejected with the list of known ones; a convention an optimizer lacks lists the ones it
 * has. One table covers the transforms, wrappers, optimizers and schedules, field by field, so no
 * builder can validate under the wrong name or skip a field.
 */
import { describe, expect, it } from 'vitest'
import * as f from '../src/index.js'
import { HyperparameterError, ranges } from '../src/index.js'
import { radamThreshold } from '../src/core/validate.js'
import { caught } from './helpers.js'

// The allowed-range texts as the error messages state them.
const FINITE = 'a finite number'
const NON_NEG = 'a finite number ≥ 0'
const NON_NEG_INF = 'a number ≥ 0 (Infinity allowed)'
const POS = 'a finite number > 0'
const UNIT = 'a number in [0, 1)'
const UNIT_CLOSED = 'a number in [0, 1]'
const OPEN_UNIT = 'a number in (0, 1)'
const AT_LEAST_ONE = 'a finite number ≥ 1'
const POS_INT = 'an integer ≥ 1'
const NON_NEG_INT = 'an integer ≥ 0'
const SEED = 'an integer in [0, 2^53)'
const RADAM_THRESHOLD = 'a finite number > 4 (RAdam rectifies only where ρₜ > 4)'
const BOOL = 'boolean'
const LR = 'a finite number ≥ 0 or a schedule (step) => number'
/** A mask option: a boolean, a tree or a function; a number, a string or null is rejected when built. */
const MASK = 'a tree of booleans shaped like the params, a function params => such a tree, or undefined'
/** The convention field of an optimizer, checked with its own case below. */
const CONVENTION = 'convention'

type Expected = string
interface Case {
  readonly name: string
  /** Builds with these options (merged over `valid`). */
  readonly build: (options: Record<string, unknown>) => unknown
  readonly valid: Record<string, unknown>
  /** Every field the builder knows, with the range text its error states. */
  readonly fields: Record<string, Expected>
  /** The conventions an optimizer supports, in the order its error lists them. */
  readonly conventions?: readonly string[]
  /** Positional builders take one value, not an options object: no unknown-field check. */
  readonly positional?: boolean
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any
const inner = f.sgd({ learningRate: 0.1 })
const four = ['optax', 'pytorch', 'keras', 'tfjs']
const adamFields = { learningRate: LR, b1: UNIT, b2: UNIT, eps: NON_NEG, epsRoot: NON_NEG, convention: CONVENTION }
const lr = { learningRate: 0.1 }
const positional = (name: string, field: string, value: unknown, build: (x: Any) => unknown, range: string): Case => ({
  name,
  build: (o) => build(o[field]),
  valid: { [field]: value },
  fields: { [field]: range },
  positional: true,
})

const cases: readonly Case[] = [
  // transforms
  positional('scale', 'step', 0.5, f.scale, FINITE),
  positional('clipByNorm', 'maxNorm', 1, f.clipByNorm, NON_NEG),
  positional('clipByGlobalNorm', 'maxNorm', 1, f.clipByGlobalNorm, NON_NEG),
  positional('clipByBlockRms', 'threshold', 1, f.clipByBlockRms, POS),
  positional('applyEvery', 'k', 2, f.applyEvery, POS_INT),
  positional('scaleBySchedule', 'schedule', () => 1, f.scaleBySchedule, 'Function'),
  { name: 'scaleByLearningRate', build: (o) => f.scaleByLearningRate(o.learningRate as number, { flipSign: o.flipSign as boolean }), valid: { learningRate: 0.1, flipSign: true }, fields: { learningRate: LR, flipSign: BOOL }, positional: true },
  { name: 'clip', build: (o) => f.clip(o as Any), valid: { min: -1, max: 1 }, fields: { min: FINITE, max: FINITE } },
  { name: 'clip', build: (o) => f.clip(o.maxDelta as number), valid: { maxDelta: 1 }, fields: { maxDelta: NON_NEG }, positional: true },
  { name: 'adaptiveGradClip', build: (o) => f.adaptiveGradClip(o), valid: {}, fields: { clipping: NON_NEG, eps: NON_NEG } },
  { name: 'trace', build: (o) => f.trace(o), valid: {}, fields: { decay: UNIT, nesterov: BOOL } },
  { name: 'ema', build: (o) => f.ema(o), valid: {}, fields: { decay: UNIT, debias: BOOL } },
  { name: 'scaleByAdam', build: (o) => f.scaleByAdam(o), valid: {}, fields: { b1: UNIT, b2: UNIT, eps: NON_NEG, epsRoot: NON_NEG, nesterov: BOOL } },
  { name: 'scaleByAmsgrad', build: (o) => f.scaleByAmsgrad(o), valid: {}, fields: { b1: UNIT, b2: UNIT, eps: NON_NEG, epsRoot: NON_NEG } },
  { name: 'scaleByAdamax', build: (o) => f.scaleByAdamax(o), valid: {}, fields: { b1: UNIT, b2: UNIT, eps: NON_NEG } },
  { name: 'scaleByRms', build: (o) => f.scaleByRms(o), valid: {}, fields: { decay: UNIT, eps: NON_NEG, epsInSqrt: BOOL, initialScale: NON_NEG, biasCorrection: BOOL } },
  { name: 'scaleByStddev', build: (o) => f.scaleByStddev(o), valid: {}, fields: { decay: UNIT, eps: POS, epsInSqrt: BOOL, initialScale: NON_NEG, biasCorrection: BOOL } },
  { name: 'scaleByRss', build: (o) => f.scaleByRss(o), valid: {}, fields: { initialAccumulatorValue: NON_NEG, eps: NON_NEG, epsInSqrt: BOOL } },
  { name: 'scaleByAdadelta', build: (o) => f.scaleByAdadelta(o), valid: {}, fields: { rho: UNIT, eps: POS } },
  { name: 'scaleByLion', build: (o) => f.scaleByLion(o), valid: {}, fields: { b1: UNIT, b2: UNIT } },
  { name: 'scaleByRadam', build: (o) => f.scaleByRadam(o), valid: {}, fields: { b1: UNIT, b2: UNIT, eps: NON_NEG, epsRoot: NON_NEG, threshold: RADAM_THRESHOLD } },
  { name: 'scaleByTrustRatio', build: (o) => f.scaleByTrustRatio(o), valid: {}, fields: { minNorm: NON_NEG, trustCoefficient: NON_NEG, eps: NON_NEG, mask: MASK } },
  { name: 'scaleByLbfgs', build: (o) => f.scaleByLbfgs(o), valid: {}, fields: { memorySize: POS_INT, scaleInitPrecond: BOOL } },
  { name: 'addNoise', build: (o) => f.addNoise(o), valid: {}, fields: { eta: NON_NEG, gamma: NON_NEG, seed: SEED } },
  { name: 'addDecayedWeights', build: (o) => f.addDecayedWeights(o), valid: {}, fields: { weightDecay: LR, mask: MASK } },
  { name: 'addL1Penalty', build: (o) => f.addL1Penalty(o as Any), valid: { l1: 0.1 }, fields: { l1: LR, mask: MASK } },
  { name: 'addElasticNet', build: (o) => f.addElasticNet(o as Any), valid: { l1: 0.1, l2: 0.1 }, fields: { l1: LR, l2: LR, mask: MASK } },
  // wrappers
  { name: 'applyIfFinite', build: (o) => f.applyIfFinite(inner, o), valid: {}, fields: { maxConsecutiveErrors: NON_NEG_INF } },
  { name: 'multiSteps', build: (o) => f.multiSteps(inner, o as Any), valid: { everyK: 2 }, fields: { everyK: POS_INT } },
  { name: 'lookahead', build: (o) => f.lookahead(inner, o), valid: {}, fields: { syncPeriod: POS_INT, slowStepSize: UNIT_CLOSED } },
  { name: 'emaParams', build: (o) => f.emaParams(o), valid: {}, fields: { decay: UNIT_CLOSED } },
  {
    name: 'reduceOnPlateau',
    build: (o) => f.reduceOnPlateau(o),
    valid: {},
    fields: { factor: OPEN_UNIT, patience: POS_INT, cooldown: NON_NEG_INT, minScale: UNIT_CLOSED, rtol: NON_NEG, atol: NON_NEG, accumulationSize: POS_INT },
  },
  // optimizers
  {
    name: 'sgd',
    build: (o) => f.sgd(o as Any),
    valid: lr,
    fields: { learningRate: LR, momentum: UNIT, nesterov: BOOL, dampening: UNIT_CLOSED, weightDecay: NON_NEG, maximize: BOOL, convention: CONVENTION },
    conventions: four,
  },
  { name: 'momentum', build: (o) => f.momentum(o as Any), valid: lr, fields: { learningRate: LR, momentum: UNIT, nesterov: BOOL } },
  { name: 'noisySgd', build: (o) => f.noisySgd(o as Any), valid: lr, fields: { learningRate: LR, eta: NON_NEG, gamma: NON_NEG, seed: SEED } },
  {
    name: 'adagrad',
    build: (o) => f.adagrad(o as Any),
    valid: lr,
    fields: { learningRate: LR, initialAccumulatorValue: NON_NEG, eps: NON_NEG, lrDecay: NON_NEG, weightDecay: NON_NEG, maximize: BOOL, convention: CONVENTION },
    conventions: four,
  },
  {
    name: 'rmsprop',
    build: (o) => f.rmsprop(o as Any),
    valid: lr,
    fields: {
      learningRate: LR,
      decay: UNIT,
      eps: NON_NEG,
      centered: BOOL,
      momentum: UNIT,
      nesterov: BOOL,
      initialScale: NON_NEG,
      epsInSqrt: BOOL,
      biasCorrection: BOOL,
      weightDecay: NON_NEG,
      maximize: BOOL,
      convention: CONVENTION,
    },
    conventions: four,
  },
  { name: 'adadelta', build: (o) => f.adadelta(o as Any), valid: lr, fields: { learningRate: LR, rho: UNIT, eps: POS, weightDecay: NON_NEG, maximize: BOOL, convention: CONVENTION }, conventions: four },
  { name: 'adam', build: (o) => f.adam(o as Any), valid: lr, fields: { ...adamFields, nesterov: BOOL, weightDecay: NON_NEG, maximize: BOOL }, conventions: four },
  { name: 'adamw', build: (o) => f.adamw(o as Any), valid: lr, fields: { ...adamFields, weightDecay: LR, mask: MASK, nesterov: BOOL, maximize: BOOL }, conventions: ['optax', 'pytorch', 'keras'] },
  {
    name: 'nadam',
    build: (o) => f.nadam(o as Any),
    valid: lr,
    fields: { ...adamFields, weightDecay: NON_NEG, maximize: BOOL, momentumDecay: NON_NEG, decoupledWeightDecay: BOOL },
    conventions: ['optax', 'pytorch', 'keras'],
  },
  {
    name: 'amsgrad',
    build: (o) => f.amsgrad(o as Any),
    valid: lr,
    fields: { ...adamFields, weightDecay: NON_NEG, maximize: BOOL, biasCorrectionMu: BOOL, biasCorrectionNu: BOOL },
    conventions: ['optax', 'pytorch', 'keras'],
  },
  { name: 'adamax', build: (o) => f.adamax(o as Any), valid: lr, fields: { learningRate: LR, b1: UNIT, b2: UNIT, eps: NON_NEG, convention: CONVENTION, weightDecay: NON_NEG, maximize: BOOL }, conventions: four },
  {
    name: 'radam',
    build: (o) => f.radam(o as Any),
    valid: lr,
    fields: { ...adamFields, threshold: RADAM_THRESHOLD, nesterov: BOOL, weightDecay: NON_NEG, maximize: BOOL, decoupledWeightDecay: BOOL },
    conventions: ['optax', 'pytorch'],
  },
  { name: 'lion', build: (o) => f.lion(o as Any), valid: lr, fields: { learningRate: LR, b1: UNIT, b2: UNIT, weightDecay: LR, mask: MASK, convention: CONVENTION }, conventions: ['optax', 'keras'] },
  { name: 'lamb', build: (o) => f.lamb(o as Any), valid: lr, fields: { learningRate: LR, b1: UNIT, b2: UNIT, eps: NON_NEG, epsRoot: NON_NEG, weightDecay: LR, mask: MASK } },
  {
    name: 'lars',
    build: (o) => f.lars(o as Any),
    valid: lr,
    fields: { learningRate: LR, weightDecay: LR, weightDecayMask: MASK, trustCoefficient: NON_NEG, eps: NON_NEG, trustRatioMask: MASK, momentum: UNIT, nesterov: BOOL },
  },
  { name: 'lbfgs', build: (o) => f.lbfgs(o as Any), valid: {}, fields: { learningRate: LR, memorySize: POS_INT, scaleInitPrecond: BOOL, linesearch: 'null (a fixed step) or a line-search transformation { init, update }, e.g. scaleByZoomLinesearch({ maxLinesearchSteps: 20 })' } },
  // schedules
  positional('constant', 'value', 1, f.constant, FINITE),
  { name: 'linear', build: (o) => f.linear(o as Any), valid: { init: 1, end: 0, transitionSteps: 10 }, fields: { init: FINITE, end: FINITE, transitionSteps: POS_INT, transitionBegin: NON_NEG_INT } },
  {
    name: 'polynomial',
    build: (o) => f.polynomial(o as Any),
    valid: { init: 1, end: 0, power: 2, transitionSteps: 10 },
    fields: { init: FINITE, end: FINITE, power: POS, transitionSteps: POS_INT, transitionBegin: NON_NEG_INT },
  },
  {
    name: 'exponentialDecay',
    build: (o) => f.exponentialDecay(o as Any),
    valid: { init: 1, transitionSteps: 10, decayRate: 0.5 },
    fields: { init: FINITE, transitionSteps: POS_INT, decayRate: POS, transitionBegin: NON_NEG_INT, staircase: BOOL, end: `${FINITE} or undefined` },
  },
  { name: 'inverseTimeDecay', build: (o) => f.inverseTimeDecay(o as Any), valid: { init: 1, decayRate: 0.5 }, fields: { init: FINITE, decayRate: NON_NEG, decaySteps: POS_INT, staircase: BOOL } },
  { name: 'naturalExpDecay', build: (o) => f.naturalExpDecay(o as Any), valid: { init: 1, decayRate: 0.5 }, fields: { init: FINITE, decayRate: NON_NEG, decaySteps: POS_INT, staircase: BOOL } },
  { name: 'stepDecay', build: (o) => f.stepDecay(o as Any), valid: { init: 1, factor: 0.5, stepSize: 10 }, fields: { init: FINITE, factor: POS, stepSize: POS_INT } },
  { name: 'momentumAnnealing', build: (o) => f.momentumAnnealing(o as Any), valid: { transitionSteps: 10 }, fields: { init: UNIT, end: UNIT, transitionSteps: POS_INT } },
  { name: 'cosineDecay', build: (o) => f.cosineDecay(o as Any), valid: { init: 1, decaySteps: 10 }, fields: { init: FINITE, decaySteps: POS_INT, alpha: UNIT_CLOSED, exponent: POS } },
  {
    name: 'warmupCosineDecay',
    build: (o) => f.warmupCosineDecay(o as Any),
    valid: { peak: 1, warmupSteps: 5, decaySteps: 20 },
    fields: { init: FINITE, peak: FINITE, warmupSteps: NON_NEG_INT, decaySteps: POS_INT, end: FINITE, exponent: POS },
  },
  { name: 'sgdr', build: (o) => f.sgdr(o as Any), valid: { max: 1, period: 10 }, fields: { max: FINITE, min: FINITE, period: POS_INT, mult: AT_LEAST_ONE } },
  {
    name: 'onecycle',
    build: (o) => f.onecycle(o as Any),
    valid: { transitionSteps: 100, peak: 1 },
    fields: { transitionSteps: POS_INT, peak: FINITE, pctStart: OPEN_UNIT, divFactor: POS, finalDivFactor: POS },
  },
]

const hyperparameterError = (thunk: () => unknown): HyperparameterError => {
  const e = caught(thunk)
  expect(e).toBeInstanceOf(HyperparameterError)
  return e as HyperparameterError
}

describe('every builder validates every field when it is built', () => {
  it.each(cases.map((c) => [`${c.name}(${Object.keys(c.fields).join(', ')})`, c] as const))('%s', (_n, c) => {
    expect(() => c.build(c.valid)).not.toThrow()
    for (const [field, expected] of Object.entries(c.fields)) {
      if (expected === CONVENTION) continue
      if (expected === MASK) {
        for (const ok of [undefined, true, { w: false }, [true], () => true]) expect(() => c.build({ ...c.valid, [field]: ok })).not.toThrow()
        for (const bad of [0, 'w', null]) {
          const e = hyperparameterError(() => c.build({ ...c.valid, [field]: bad }))
          expect([e.transform, e.field, e.value, e.expected]).toEqual([c.name, field, bad, MASK])
        }
        continue
      }
      const e = hyperparameterError(() => c.build({ ...c.valid, [field]: Number.NaN }))
      expect([e.transform, e.field, e.expected]).toEqual([c.name, field, expected])
      expect(e.message).toBe(`${c.name}: ${field} = NaN is invalid; expected ${expected}`)
    }
    if (!c.positional) {
      const e = hyperparameterError(() => c.build({ ...c.valid, learning_rate: 0.1 }))
      expect([e.transform, e.field, e.value]).toEqual([c.name, 'learning_rate', 0.1])
      expect(e.expected).toBe(`no such option; known options are ${Object.keys(c.fields).join(', ')}`)
    }
    if (c.conventions !== undefined) {
      expect(c.fields.convention).toBe(CONVENTION)
      const e = hyperparameterError(() => c.build({ ...c.valid, convention: 'torch' }))
      expect([e.transform, e.field, e.value]).toEqual([c.name, 'convention', 'torch'])
      expect(e.expected).toBe(`one of ${c.conventions.map((x) => `'${x}'`).join(', ')} (the conventions ${c.name} supports)`)
      for (const x of c.conventions) expect(() => c.build({ ...c.valid, convention: x })).not.toThrow()
    }
  })

  it('options that are not an object, and bad array elements, are named', () => {
    const clipBounds = 'a number ≥ 0 (clip to [−δ, δ]) or a plain object { min, max }'
    const e = hyperparameterError(() => f.clip('1' as Any))
    expect([e.transform, e.field, e.value, e.expected]).toEqual(['clip', 'bounds', '1', clipBounds])
    const n = hyperparameterError(() => f.clip(null as Any))
    expect([n.transform, n.field, n.value, n.expected]).toEqual(['clip', 'bounds', null, clipBounds])
    const o = hyperparameterError(() => f.trace(5 as Any))
    expect([o.transform, o.field, o.value, o.expected]).toEqual(['trace', 'options', 5, 'a plain options object (or undefined for the defaults)'])
    const l = hyperparameterError(() => f.sgd({ learningRate: '0.1' } as Any))
    expect([l.transform, l.field, l.value, l.expected]).toEqual(['sgd', 'learningRate', '0.1', LR])
    const b = hyperparameterError(() => f.piecewiseConstant({ boundaries: [1, Number.NaN], values: [1, 2, 3] }))
    expect([b.transform, b.field, b.expected]).toEqual(['piecewiseConstant', 'boundaries.1', FINITE])
    const s = hyperparameterError(() => f.joinSchedules([f.constant(1), 2 as Any], [3]))
    expect([s.transform, s.field, s.value, s.expected]).toEqual(['joinSchedules', 'schedules.1', 2, 'Function'])
  })
})

describe('the range codecs accept exactly their stated range', () => {
  const cases: readonly [keyof typeof ranges, readonly unknown[], readonly unknown[]][] = [
    ['finite', [0, -1e300, 1e300], [Infinity, -Infinity, Number.NaN, '1']],
    ['nonNegative', [0, 1e300], [-1e-300, Infinity, Number.NaN]],
    ['nonNegativeOrInfinity', [0, 1, Infinity], [-1e-300, -Infinity, Number.NaN]],
    ['positive', [1e-300, 1e300], [0, Infinity, Number.NaN, -1]],
    ['unitInterval', [0, 0.999999], [1, -1e-300, Number.NaN]],
    ['unitIntervalClosed', [0, 1], [1 + 1e-15, -1e-300, Number.NaN]],
    ['openUnitInterval', [1e-300, 0.999999], [0, 1, Number.NaN]],
    ['atLeastOne', [1, 1e300], [0.999999, Infinity, Number.NaN]],
    ['positiveInteger', [1, 2 ** 40], [0, 1.5, Infinity, Number.NaN]],
    ['nonNegativeInteger', [0, 7], [-1, 0.5, Infinity, Number.NaN]],
    ['positiveIntegerOrInfinity', [1, Infinity], [0, 1.5, -Infinity, Number.NaN]],
    ['seed', [0, 2 ** 53 - 1], [-1, 2 ** 53, 0.5, Number.NaN]],
    ['boolean', [true, false], [0, 'true']],
  ]
  it.each([...cases, ['radamThreshold', [4 + 2 ** -50, 5, 1e300], [4, 4 - 2 ** -50, 3, -5, Infinity, Number.NaN]] as const])('%s', (name, accepted, rejected) => {
    const codec = name === 'radamThreshold' ? radamThreshold : ranges[name]
    for (const x of accepted) expect([x, codec.is(x), codec.decode(x)._tag]).toEqual([x, true, 'Right'])
    // not numbers at all: '1' >= 0 and null >= 0 are true in JavaScript
    for (const x of [...rejected, ...(name === 'boolean' ? [] : ['1', null, true]), undefined]) expect([x, codec.is(x), codec.decode(x)._tag]).toEqual([x, false, 'Left'])
  })
})

describe('update checks its state and params before any device work', () => {
  const p = { w: f.fromArray([1, -2], [2]) }
  const g = { w: f.fromArray([0.5, 0.25], [2]) }
  const countField = (s: Any) => ('miniStep' in s ? 'miniStep' : 'count')
  // [the name errors use, the transform, does update need params]
  const cases: readonly [string, f.AnyTransformation, boolean][] = [
    ['ema', f.ema(), false],
    ['scaleBySchedule', f.scaleBySchedule(f.constant(0.5)), false],
    ['scaleByLearningRate', f.scaleByLearningRate(0.1), false],
    ['scaleByAdam', f.scaleByAdam(), false],
    ['scaleByAmsgrad', f.scaleByAmsgrad(), false],
    ['scaleByAdamax', f.scaleByAdamax(), false],
    ['scaleByRms', f.scaleByRms(), false],
    ['scaleByStddev', f.scaleByStddev(), false],
    ['scaleByRss', f.scaleByRss(), false],
    ['scaleByAdadelta', f.scaleByAdadelta(), false],
    ['scaleByLion', f.scaleByLion(), false],
    ['scaleByRadam', f.scaleByRadam(), false],
    ['addNoise', f.addNoise(), false],
    ['scaleByLbfgs', f.scaleByLbfgs(), true],
    ['addDecayedWeights', f.addDecayedWeights({ weightDecay: 0.1 }), true],
    ['addL1Penalty', f.addL1Penalty({ l1: 0.1 }), true],
    ['addElasticNet', f.addElasticNet({ l1: 0.1, l2: 0.1 }), true],
    ['applyEvery', f.applyEvery(2), false],
    ['multiSteps', f.multiSteps(inner, { everyK: 2 }), false],
    ['lookahead', f.lookahead(inner), true],
    ['emaParams', f.emaParams(), true],
    ['injectHyperparams', f.injectHyperparams((o: { learningRate: number }) => f.sgd(o))({ learningRate: 0.1 }), false],
  ]
  it.each(cases)('%s: a bad step counter is a StructureError naming it', (name, tr, needsParams) => {
    const s = tr.init(p) as Any
    const field = countField(s)
    for (const bad of [-1, 1.5, '3']) {
      const e = caught(() => tr.update(g, { ...s, [field]: bad }, p))
      expect(e).toBeInstanceOf(f.StructureError)
      expect(e.message).toBe(`tree structures differ at ${field}: ${name}: state.${field} must be ${f.countCodec.name}, got ${bad}`)
    }
    if (needsParams) expect(() => tr.update(g, s)).toThrow(new f.MissingParamsError(name).message)
    else tr.update(g, s)
    f.dispose(s)
  })

  it.each([
    ['keepParamsNonnegative', f.keepParamsNonnegative()],
    ['adaptiveGradClip', f.adaptiveGradClip()],
    ['scaleByTrustRatio', f.scaleByTrustRatio()],
  ] as const)('%s needs params', (name, tr) => {
    const e = caught(() => tr.update(g, tr.init(p) as never))
    expect(e).toBeInstanceOf(f.MissingParamsError)
    expect(e).toMatchObject({ transform: name, message: `${name}: update needs the current params; call update(updates, state, params)` })
  })

  it('mismatched trees name both trees and the path; non-tensor leaves name the tree', () => {
    const adam = f.scaleByAdam()
    const s = adam.init(p)
    expect(() => adam.update({ v: g.w }, s)).toThrow(f.StructureError)
    expect(() => adam.update({ v: g.w }, s)).toThrow(/updates vs state\.mu/)
    expect(() => adam.update({ w: 3 } as Any, s)).toThrow(new f.BackendError('w', 'updates leaf is not a Tensor: 3').message)
    expect(() => adam.update({ w: f.fromArray([1], [1]) }, s)).toThrow(f.ShapeError)
    const tr = f.addDecayedWeights({ weightDecay: 0.1 })
    expect(() => tr.update(g, tr.init(p), { w: 'x' } as Any)).toThrow(new f.BackendError('w', 'params leaf is not a Tensor: x').message)
    f.dispose(s)
  })
})

describe('a tree that does not match the state or the params is named in the error', () => {
  const p = { w: f.fromArray([1, 2], [2]), b: f.fromArray([1], [1]) }
  const g = { w: f.fromArray([1, 2], [2]) }
  // [transform, error when the updates lack a leaf of the state, error when the params lack one]
  const cases: readonly [string, f.AnyTransformation, string, string | undefined][] = [
    ['trace', f.trace(), 'updates vs state.trace: missing in the first tree', undefined],
    ['ema', f.ema(), 'updates vs state.ema: missing in the first tree', undefined],
    ['scaleByAdam', f.scaleByAdam(), 'updates vs state.mu: missing in the first tree', undefined],
    ['scaleByAmsgrad', f.scaleByAmsgrad(), 'updates vs state.mu: missing in the first tree', undefined],
    ['scaleByAdamax', f.scaleByAdamax(), 'updates vs state.mu: missing in the first tree', undefined],
    ['scaleByRms', f.scaleByRms(), 'updates vs state.nu: missing in the first tree', undefined],
    ['scaleByStddev', f.scaleByStddev(), 'updates vs state.mu: missing in the first tree', undefined],
    ['scaleByRss', f.scaleByRss(), 'updates vs state.sumOfSquares: missing in the first tree', undefined],
    ['scaleByAdadelta', f.scaleByAdadelta(), 'updates vs state.eG: missing in the first tree', undefined],
    ['scaleByLion', f.scaleByLion(), 'updates vs state.mu: missing in the first tree', undefined],
    ['scaleByRadam', f.scaleByRadam(), 'updates vs state.mu: missing in the first tree', undefined],
    ['addDecayedWeights', f.addDecayedWeights({ weightDecay: 0.1 }), 'updates vs params: missing in the first tree', 'updates vs params: missing in the second tree'],
    ['addL1Penalty', f.addL1Penalty({ l1: 0.1 }), 'updates vs params: missing in the first tree', 'updates vs params: missing in the second tree'],
    ['scaleByTrustRatio', f.scaleByTrustRatio(), 'updates vs params: missing in the first tree', 'updates vs params: missing in the second tree'],
    ['adaptiveGradClip', f.adaptiveGradClip(), 'updates vs params: missing in the first tree', 'updates vs params: missing in the second tree'],
    ['keepParamsNonnegative', f.keepParamsNonnegative(), 'updates vs params: missing in the first tree', 'updates vs params: missing in the second tree'],
    ['scaleByLbfgs', f.scaleByLbfgs(), 'updates vs params: missing in the first tree', 'updates vs params: missing in the second tree'],
    ['multiSteps', f.multiSteps(f.sgd({ learningRate: 0.1 }), { everyK: 2 }), 'state.acc vs updates: missing in the second tree', undefined],
    ['applyEvery', f.applyEvery(2), 'updates vs state.gradAcc: missing in the first tree', undefined],
    ['lookahead', f.lookahead(f.sgd({ learningRate: 0.1 })), 'updates vs params: missing in the first tree', 'updates vs params: missing in the second tree'],
    ['emaParams', f.emaParams(), 'state.ema vs updates: missing in the second tree', 'state.ema vs params: missing in the second tree'],
  ]
  it.each(cases)('%s', (_n, t, updatesError, paramsError) => {
    const s = t.init(p)
    const e = caught(() => t.update(g, s, p))
    expect(e).toBeInstanceOf(f.StructureError)
    expect(e.message).toBe(`tree structures differ at b: ${updatesError}`)
    if (paramsError !== undefined) expect(caught(() => t.update(p, s, g)).message).toBe(`tree structures differ at b: ${paramsError}`)
    f.dispose(s)
  })
})

describe('constraints between fields are checked when a schedule is built', () => {
  const cases: readonly [string, () => unknown, readonly [string, string, unknown, string]][] = [
    ['piecewiseConstant: one value too few', () => f.piecewiseConstant({ boundaries: [1, 2], values: [1, 2] }), ['piecewiseConstant', 'values', [1, 2], 'an array of 3 numbers (one more than boundaries)']],
    ['piecewiseConstant: one value too many', () => f.piecewiseConstant({ boundaries: [1], values: [1, 2, 3] }), ['piecewiseConstant', 'values', [1, 2, 3], 'an array of 2 numbers (one more than boundaries)']],
    ['piecewiseConstant: equal boundaries', () => f.piecewiseConstant({ boundaries: [1, 5, 5], values: [1, 2, 3, 4] }), ['piecewiseConstant', 'boundaries.2', 5, 'a number > 5 (strictly increasing)']],
    ['piecewiseConstant: decreasing boundaries', () => f.piecewiseConstant({ boundaries: [3, 2], values: [1, 2, 3] }), ['piecewiseConstant', 'boundaries.1', 2, 'a number > 3 (strictly increasing)']],
    ['joinSchedules: one boundary too many', () => f.joinSchedules([f.constant(1), f.constant(2)], [1, 2]), ['joinSchedules', 'boundaries', [1, 2], 'an array of 1 boundaries (one fewer than schedules)']],
    ['joinSchedules: equal boundaries', () => f.joinSchedules([f.constant(1), f.constant(2), f.constant(3), f.constant(4)], [1, 4, 4]), ['joinSchedules', 'boundaries.2', 4, 'an integer > 4 (strictly increasing)']],
    ['joinSchedules: decreasing boundaries', () => f.joinSchedules([f.constant(1), f.constant(2), f.constant(3)], [5, 2]), ['joinSchedules', 'boundaries.1', 2, 'an integer > 5 (strictly increasing)']],
    ['warmupCosineDecay: decaySteps = warmupSteps', () => f.warmupCosineDecay({ peak: 1, warmupSteps: 5, decaySteps: 5 }), ['warmupCosineDecay', 'decaySteps', 5, 'an integer > warmupSteps (5)']],
    ['warmupCosineDecay: end above peak', () => f.warmupCosineDecay({ peak: 1, warmupSteps: 1, decaySteps: 5, end: 1.5 }), ['warmupCosineDecay', 'end', 1.5, 'a value between 0 and peak (1)']],
    ['warmupCosineDecay: end of the other sign', () => f.warmupCosineDecay({ peak: 1, warmupSteps: 1, decaySteps: 5, end: -0.5 }), ['warmupCosineDecay', 'end', -0.5, 'a value between 0 and peak (1)']],
    ['warmupCosineDecay: peak 0, end not', () => f.warmupCosineDecay({ peak: 0, warmupSteps: 1, decaySteps: 5, end: 0.5 }), ['warmupCosineDecay', 'end', 0.5, 'a value between 0 and peak (0)']],
    ['sgdr: min above max', () => f.sgdr({ max: 1, min: 1.5, period: 10 }), ['sgdr', 'min', 1.5, 'a number ≤ max (1)']],
  ]
  it.each(cases)('%s', (_n, build, [transform, field, value, expected]) => {
    const e = hyperparameterError(build)
    expect([e.transform, e.field, e.value, e.expected]).toEqual([transform, field, value, expected])
  })

  it('the values at the edge of each constraint are accepted and evaluate as documented', () => {
    expect(f.piecewiseConstant({ boundaries: [], values: [3] })(7)).toBe(3)
    // Keras' convention: values[i] for boundaries[i-1] < step ≤ boundaries[i]
    expect([0, 1, 2, 3].map(f.piecewiseConstant({ boundaries: [1, 2], values: [1, 2, 3] }))).toEqual([1, 1, 2, 3])
    expect([0, 1, 2, 3].map(f.joinSchedules([f.constant(1), (k: number) => 10 + k, (k: number) => 20 + k], [1, 2]))).toEqual([1, 10, 20, 21])
    expect(f.joinSchedules([(k: number) => k], [])(5)).toBe(5)
    const w = f.warmupCosineDecay({ peak: 2, warmupSteps: 5, decaySteps: 6, end: 2 })
    expect([w(0), w(5), w(6), w(100)]).toEqual([0, 2, 2, 2])
    const z = f.warmupCosineDecay({ peak: 2, warmupSteps: 0, decaySteps: 4 })
    expect([z(0), z(2), z(4)].map((x) => Number(x.toFixed(12)))).toEqual([2, 1, 0])
    expect(f.warmupCosineDecay({ peak: 0, warmupSteps: 2, decaySteps: 4 })(3)).toBe(0)
    expect(f.warmupCosineDecay({ peak: -1, warmupSteps: 1, decaySteps: 3, end: -0.5 })(3)).toBeCloseTo(-0.5, 12)
    const s = f.sgdr({ max: 1, min: 1, period: 4 })
    expect([0, 2, 5].map(s)).toEqual([1, 1, 1])
    // Optax: `end` bounds a decay (rate < 1) from below, anything else from above, a constant rate 1 included
    expect([0, 5].map(f.exponentialDecay({ init: 1, transitionSteps: 1, decayRate: 1, end: 0.5 }))).toEqual([0.5, 0.5])
    expect([0, 1, 5].map(f.exponentialDecay({ init: 1, transitionSteps: 1, decayRate: 2, end: 3 }))).toEqual([1, 2, 3])
    expect([0, 1, 5].map(f.exponentialDecay({ init: 1, transitionSteps: 1, decayRate: 0.5, end: 0.3 }))).toEqual([1, 0.5, 0.3])
    // rise = floor(0.1 · 3) = 0: the cycle starts at its peak
    expect(f.onecycle({ transitionSteps: 3, peak: 2, pctStart: 0.1 })(0)).toBe(2)
  })
})

describe('a leaf that is not a tensor is named with its tree and path', () => {
  const p = { w: f.fromArray([1, 2], [2]) }
  const g = { w: f.fromArray([0.5, -1], [2]) }
  // [transform, whether it reads the params]
  const cases: readonly [string, f.AnyTransformation, boolean][] = [
    ['clip', f.clip(1), false],
    ['clipByNorm', f.clipByNorm(1), false],
    ['clipByGlobalNorm', f.clipByGlobalNorm(1), false],
    ['clipByBlockRms', f.clipByBlockRms(1), false],
    ['adaptiveGradClip', f.adaptiveGradClip(), true],
    ['centralize', f.centralize(), false],
    ['zeroNans', f.zeroNans(), false],
    ['scaleBySign', f.scaleBySign(), false],
    ['addNoise', f.addNoise(), false],
    ['scale', f.scale(2), false],
    ['scaleBySchedule', f.scaleBySchedule(f.constant(0.5)), false],
    ['scaleByLearningRate', f.scaleByLearningRate(0.1), false],
    ['keepParamsNonnegative', f.keepParamsNonnegative(), true],
    ['scaleByTrustRatio', f.scaleByTrustRatio(), true],
    ['addDecayedWeights', f.addDecayedWeights({ weightDecay: 0.1 }), true],
  ]
  it.each(cases)('%s', (_n, t, readsParams) => {
    const s = t.init(p)
    expect(caught(() => t.update({ w: 3 } as Any, s, p))).toEqual(new f.BackendError('w', 'updates leaf is not a Tensor: 3'))
    if (readsParams) expect(caught(() => t.update(g, s, { w: 'x' } as Any))).toEqual(new f.BackendError('w', 'params leaf is not a Tensor: x'))
    f.dispose(s)
  })
})

describe('a schedule whose value leaves its range is named with the step', () => {
  const p = { w: f.fromArray([1, 2], [2]) }
  const cases: readonly [string, f.AnyTransformation, string, number, string][] = [
    ['scaleBySchedule', f.scaleBySchedule((k) => (k === 2 ? Number.NaN : 1)), 'schedule(step 2)', Number.NaN, FINITE],
    ['scaleByLearningRate', f.scaleByLearningRate((k) => (k === 2 ? -1 : 0.1)), 'learningRate(step 2)', -1, NON_NEG],
    ['addDecayedWeights', f.addDecayedWeights({ weightDecay: (k) => (k === 2 ? Infinity : 0.1) }), 'weightDecay(step 2)', Infinity, NON_NEG],
    ['addL1Penalty', f.addL1Penalty({ l1: (k) => (k === 2 ? -3 : 0.1) }), 'l1(step 2)', -3, NON_NEG],
    ['addElasticNet', f.addElasticNet({ l1: 0.1, l2: (k) => (k === 2 ? -3 : 0.1) }), 'l2(step 2)', -3, NON_NEG],
  ]
  it.each(cases)('%s', (name, t, field, value, expected) => {
    let s = t.init(p)
    for (let k = 0; k < 2; k++) {
      const [u, s2] = t.update(p, s, p)
      f.dispose([u, s])
      s = s2
    }
    const e = hyperparameterError(() => t.update(p, s, p))
    expect([e.transform, e.field, e.value, e.expected]).toEqual([name, field, value, expected])
    f.dispose(s)
  })
})

describe('structure errors name the tree and the path', () => {
  it('a chain given a state of the wrong length or kind', () => {
    const c = f.chain(f.identity(), f.identity())
    const g = { w: f.fromArray([1], [1]) }
    for (const [bad, got] of [[[{}], 'length 1'], [{}, 'object'], [undefined, 'undefined']] as const) {
      const e = caught(() => c.update(g, bad as Any))
      expect(e).toEqual(new f.StructureError('', `chain of 2 transformations got a state of ${got}`))
      expect(e.message).toBe(`tree structures differ at <root>: chain of 2 transformations got a state of ${got}`)
    }
    f.dispose(g)
  })

  it('a mask that does not match the updates', () => {
    const p = { w: f.fromArray([1], [1]), b: f.fromArray([2], [1]) }
    const t = f.addDecayedWeights({ weightDecay: 0.1, mask: { w: true } as Any })
    expect(caught(() => t.update(p, t.init(p), p)).message).toBe('tree structures differ at b: addDecayedWeights: updates vs mask: missing in the second tree')
    f.dispose(p)
  })
})

describe('a state tree that does not match the updates is named', () => {
  it.each([
    ['scaleByLbfgs state.params', () => f.scaleByLbfgs(), 'params', 'updates vs state.params: missing in the second tree'],
    ['scaleByLbfgs state.updates', () => f.scaleByLbfgs(), 'updates', 'updates vs state.updates: missing in the second tree'],
    ['lookahead state.slow', () => f.lookahead(f.sgd({ learningRate: 0.1 })), 'slow', 'updates vs state.slow: missing in the second tree'],
    ['multiSteps state.acc', () => f.multiSteps(f.sgd({ learningRate: 0.1 }), { everyK: 2 }), 'acc', 'state.acc vs updates: missing in the first tree'],
    ['applyEvery state.gradAcc', () => f.applyEvery(2), 'gradAcc', 'updates vs state.gradAcc: missing in the second tree'],
    ['emaParams state.ema', () => f.emaParams(), 'ema', 'state.ema vs params: missing in the first tree'],
  ] as const)('%s', (_n, make, key, message) => {
    const p = { w: f.fromArray([1, 2], [2]), b: f.fromArray([1], [1]) }
    const t = make() as f.AnyTransformation
    const s = t.init(p) as Record<string, Any>
    const e = caught(() => t.update(p, { ...s, [key]: { w: s[key].w } }, p))
    expect(e).toBeInstanceOf(f.StructureError)
    expect(e.message).toBe(`tree structures differ at b: ${message}`)
    f.dispose([p, s])
  })
})
