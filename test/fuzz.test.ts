/**
 * A fuzz suite over every exported builder (transformations, optimizers, schedules, wrappers,
 * initializers, layers): fast-check draws hostile arguments (wrong types, non-finite and huge
 * numbers, option objects with misspelt, inherited or prototype-polluting keys, explicit
 * `undefined`s) and hostile update inputs. Every outcome must be a typed `FluxionError` or a
 * working result: a transformation whose first step on finite inputs is finite, a schedule whose
 * values are finite, an initializer or layer that produces finite tensors of the right shape. Any
 * other exception (a TypeError, a RangeError), a silent NaN or a tensor left behind on an error
 * path is a failure. The counts are printed.
 */
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import * as f from '../src/index.js'
import { FluxionError, type Key, cpu, dispose, fromArray, key, liveTensors, readTree, tree } from '../src/index.js'
import { propertyParameters } from '../laws/runners.js'

type Outcome = 'typed error' | 'working' | 'crash' | 'silent non-finite' | 'leak'
const counts: Record<string, Record<Outcome, number>> = {}
const failures: string[] = []
const count = (group: string, outcome: Outcome, what: () => string) => {
  const c = (counts[group] ??= { 'typed error': 0, working: 0, crash: 0, 'silent non-finite': 0, leak: 0 })
  c[outcome]++
  if (outcome !== 'typed error' && outcome !== 'working' && failures.length < 2000) failures.push(what())
}

const failuresOf = (group: string) => failures.filter((m) => m.startsWith(`${group}(`) || m.startsWith(`${group}.update`) || m.startsWith(`${group} `))
/** The group's inputs all ended in a typed error or a working result. */
const expectClean = (group: string) => {
  const c = counts[group]
  expect(c, `${group}: no input was classified`).toBeDefined()
  expect({ crash: c!.crash, 'silent non-finite': c!['silent non-finite'], leak: c!.leak }, failuresOf(group).join('\n')).toEqual({ crash: 0, 'silent non-finite': 0, leak: 0 })
}

const describeArgs = (args: readonly unknown[]): string =>
  args
    .map((a) => {
      if (typeof a === 'function') return `[function ${a.name || 'anonymous'}]`
      try {
        return JSON.stringify(a, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v === undefined ? '<undefined>' : v)) ?? String(a)
      } catch {
        return String(a)
      }
    })
    .join(', ')

// ---- hostile arguments ---------------------------------------------------------------------------

const optionNames = [
  'learningRate', 'momentum', 'nesterov', 'b1', 'b2', 'eps', 'epsRoot', 'decay', 'debias', 'weightDecay', 'mask', 'convention',
  'initialAccumulatorValue', 'centered', 'rho', 'threshold', 'trustCoefficient', 'memorySize', 'eta', 'gamma', 'maxNorm', 'min', 'max',
  'flipSign', 'l1', 'l2', 'init', 'end', 'peak', 'warmupSteps', 'decaySteps', 'transitionSteps', 'power', 'rate', 'steps', 'boundaries',
  'values', 'alpha', 'scale', 'mode', 'distribution', 'stddev', 'units', 'kernelInitializer', 'biasInitializer', 'kernelRegularizer',
  'every', 'patience', 'factor', 'cooldown', 'epsInSqrt', 'biasCorrection', 'initialScale', 'clipping', 'period', 'syncPeriod',
]
const hostileKeys = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', 'prototype', 'learningrate', 'learning_rate', 'lr']
const plausibleNumber = fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 100 }), fc.constantFrom(0.9, 0.999, 1e-8, 1e-3))
const hostileNumber = fc.oneof(fc.constantFrom(NaN, Infinity, -Infinity, -1, -0, 1e308, 2 ** 53, 1.5, 0), fc.double(), fc.integer())
const leafValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: plausibleNumber },
  { weight: 2, arbitrary: hostileNumber },
  { weight: 1, arbitrary: fc.constantFrom(undefined, null, true, false, '', 'x', 'optax', 'pytorch', 'fanIn', 'normal', [], {}, [1, 2]) },
  { weight: 1, arbitrary: fc.constantFrom((k: number) => 0.01 / (1 + k), (): number => NaN, () => 'x', (p: unknown) => p) },
)
const optionsObject = fc.oneof(
  fc.dictionary(fc.constantFrom(...optionNames), leafValue, { maxKeys: 4 }),
  fc.tuple(fc.dictionary(fc.constantFrom(...optionNames), leafValue, { maxKeys: 3 }), fc.constantFrom(...hostileKeys), leafValue).map(([o, k, v]) => ({ ...o, [k]: v })),
  fc.dictionary(fc.constantFrom(...optionNames), leafValue, { maxKeys: 3 }).map((o) => JSON.parse(`{"__proto__": {"learningRate": 1}, ${JSON.stringify(o).slice(1, -1) || '"x": 1'}}`) as unknown),
)
const argument: fc.Arbitrary<unknown> = fc.oneof({ weight: 3, arbitrary: optionsObject }, { weight: 3, arbitrary: leafValue })
const argumentsArb = fc.array(argument, { minLength: 0, maxLength: 2 })

// ---- what a result must do -------------------------------------------------------------------------

const isFinite32 = (x: unknown): boolean => !(x instanceof Float32Array) || x.every(Number.isFinite)
const allFinite = (t: unknown): boolean => tree.leaves(t).every((x) => (typeof x === 'number' ? Number.isFinite(x) : isFinite32(x)))

// hyperparameters beyond this can legitimately overflow float32 in a first step (|g| ≤ 3)
const moderate = (args: readonly unknown[]): boolean => {
  const ok = (v: unknown): boolean =>
    typeof v === 'number' ? Math.abs(v) <= 1e6 : typeof v === 'function' ? true : typeof v === 'object' && v !== null ? Object.values(v).every(ok) : true
  return args.every(ok)
}

const classify = async (group: string, args: readonly unknown[], run: () => unknown, use: (result: unknown) => Promise<'finite' | 'non-finite'>) => {
  const before = liveTensors(cpu)
  let result: unknown
  try {
    result = run()
  } catch (e) {
    count(group, e instanceof FluxionError ? 'typed error' : 'crash', () => `${group}(${describeArgs(args)}) threw ${(e as Error).name}: ${(e as Error).message}`)
    if (liveTensors(cpu) !== before) count(group, 'leak', () => `${group}(${describeArgs(args)}) left ${liveTensors(cpu) - before} tensors behind when it threw`)
    return
  }
  try {
    const used = await use(result)
    if (used === 'non-finite' && moderate(args)) count(group, 'silent non-finite', () => `${group}(${describeArgs(args)}) gave non-finite values on finite inputs`)
    else count(group, 'working', () => '')
  } catch (e) {
    count(group, e instanceof FluxionError ? 'typed error' : 'crash', () => `${group}(${describeArgs(args)}) then threw ${(e as Error).name}: ${(e as Error).message}`)
  }
}

const params = () => ({ w: fromArray([0.5, -1, 2], [3]), b: { c: fromArray([0.25], [1]) } })
const grads = () => ({ w: fromArray([1, -2, 3], [3]), b: { c: fromArray([-0.5], [1]) } })

const stepTransform = async (t: unknown): Promise<'finite' | 'non-finite'> => {
  const tr = t as f.AnyTransformation
  if (typeof tr?.init !== 'function' || typeof tr?.update !== 'function') throw new Error('the builder returned no transformation')
  const p = params()
  const g = grads()
  let state: unknown
  try {
    state = tr.init(p)
    const [u, s] = tr.update(g, state, p, { value: 1 })
    const [u2, s2] = tr.update(g, s, p, { value: 0.5 })
    const finite = allFinite(await readTree(u)) && allFinite(await readTree(u2))
    dispose([u, s, u2, s2], [p, g, state])
    return finite ? 'finite' : 'non-finite'
  } finally {
    dispose([p, g, state])
  }
}

const transformBuilders: Record<string, (...a: never[]) => unknown> = {
  scale: f.scale, scaleBySchedule: f.scaleBySchedule, scaleByLearningRate: f.scaleByLearningRate, trace: f.trace, ema: f.ema,
  scaleByAdam: f.scaleByAdam, scaleByAmsgrad: f.scaleByAmsgrad, scaleByAdamax: f.scaleByAdamax, scaleByRms: f.scaleByRms,
  scaleByStddev: f.scaleByStddev, scaleByRss: f.scaleByRss, scaleByAdadelta: f.scaleByAdadelta, scaleByLion: f.scaleByLion,
  scaleByRadam: f.scaleByRadam, clip: f.clip, clipByNorm: f.clipByNorm, clipByGlobalNorm: f.clipByGlobalNorm, clipByBlockRms: f.clipByBlockRms,
  adaptiveGradClip: f.adaptiveGradClip, addDecayedWeights: f.addDecayedWeights, addL1Penalty: f.addL1Penalty, addElasticNet: f.addElasticNet,
  addNoise: f.addNoise, centralize: f.centralize, keepParamsNonnegative: f.keepParamsNonnegative, zeroNans: f.zeroNans, scaleBySign: f.scaleBySign,
  scaleByTrustRatio: f.scaleByTrustRatio, scaleByLbfgs: f.scaleByLbfgs, sgd: f.sgd, momentum: f.momentum, noisySgd: f.noisySgd,
  adagrad: f.adagrad, rmsprop: f.rmsprop, adadelta: f.adadelta, adam: f.adam, adamw: f.adamw, nadam: f.nadam, amsgrad: f.amsgrad,
  adamax: f.adamax, radam: f.radam, lion: f.lion, lamb: f.lamb, lars: f.lars, lbfgs: f.lbfgs,
}
// wrappers: the first argument a working transformation, the rest hostile
const wrapperBuilders: Record<string, (...a: never[]) => unknown> = {
  masked: f.masked, applyIfFinite: f.applyIfFinite, multiSteps: f.multiSteps, applyEvery: f.applyEvery, lookahead: f.lookahead,
  emaParams: f.emaParams, reduceOnPlateau: f.reduceOnPlateau,
}
const scheduleBuilders: Record<string, (...a: never[]) => unknown> = {
  constant: f.constant, linear: f.linear, polynomial: f.polynomial, exponentialDecay: f.exponentialDecay, inverseTimeDecay: f.inverseTimeDecay,
  naturalExpDecay: f.naturalExpDecay, stepDecay: f.stepDecay, piecewiseConstant: f.piecewiseConstant, momentumAnnealing: f.momentumAnnealing,
  cosineDecay: f.cosineDecay, warmupCosineDecay: f.warmupCosineDecay, sgdr: f.sgdr, onecycle: f.onecycle,
}
const initializerBuilders: Record<string, (...a: never[]) => unknown> = {
  zerosInit: f.zerosInit, constantInit: f.constantInit, uniformInit: f.uniformInit, normalInit: f.normalInit, truncatedNormalInit: f.truncatedNormalInit,
  varianceScaling: f.varianceScaling, glorotNormal: f.glorotNormal, glorotUniform: f.glorotUniform, heNormal: f.heNormal, heUniform: f.heUniform,
  lecunNormal: f.lecunNormal, lecunUniform: f.lecunUniform, orthogonal: f.orthogonal,
}
const layerBuilders: Record<string, (...a: never[]) => unknown> = {
  dense: f.dense, noisyDense: f.noisyDense, dropout: f.dropout, gaussianNoise: f.gaussianNoise, batchNorm: f.batchNorm, leakyRelu: f.leakyRelu,
  elu: f.elu, sequential: f.sequential,
}

const runs = 60
const call = (builder: (...a: never[]) => unknown, args: readonly unknown[]) => () => builder(...(args as never[]))

describe('fuzz: hostile arguments to every builder end in a typed error or a working result', () => {
  it.each(Object.keys(transformBuilders))('%s', async (name) => {
    await fc.assert(
      fc.asyncProperty(argumentsArb, async (args) => {
        await classify(name, args, call(transformBuilders[name]!, args), stepTransform)
      }),
      propertyParameters(runs),
    )
    expectClean(name)
  })

  it.each(Object.keys(wrapperBuilders))('%s', async (name) => {
    await fc.assert(
      fc.asyncProperty(argumentsArb, async (args) => {
        const full = [f.sgd({ learningRate: 0.1 }), ...args]
        await classify(name, full, call(wrapperBuilders[name]!, full), stepTransform)
      }),
      propertyParameters(runs),
    )
    expectClean(name)
  })

  it('injectHyperparams', async () => {
    await fc.assert(
      fc.asyncProperty(argument, async (options) => {
        await classify('injectHyperparams', [options], () => f.injectHyperparams(f.adam)(options as never), stepTransform)
      }),
      propertyParameters(runs),
    )
    expectClean('injectHyperparams')
  })

  it.each(Object.keys(scheduleBuilders))('%s', async (name) => {
    await fc.assert(
      fc.asyncProperty(argumentsArb, async (args) => {
        await classify(name, args, call(scheduleBuilders[name]!, args), async (s) => {
          if (typeof s !== 'function') throw new Error('the builder returned no schedule')
          const values = [0, 1, 10, 1000, 1e6].map((k) => (s as (k: number) => unknown)(k))
          if (!values.every((v) => typeof v === 'number')) throw new Error('a schedule value is not a number')
          return values.every((v) => Number.isFinite(v)) ? 'finite' : 'non-finite'
        })
      }),
      propertyParameters(runs),
    )
    expectClean(name)
  })

  it.each(Object.keys(initializerBuilders))('%s', async (name) => {
    await fc.assert(
      fc.asyncProperty(argumentsArb, async (args) => {
        await classify(name, args, call(initializerBuilders[name]!, args), async (init) => {
          if (typeof init !== 'function') throw new Error('the builder returned no initializer')
          const t = (init as (k: Key, shape: readonly number[]) => f.Tensor)(key(1), [3, 2])
          try {
            expect(t.shape).toEqual([3, 2])
            return isFinite32(await f.read(t)) ? 'finite' : 'non-finite'
          } finally {
            dispose(t)
          }
        })
      }),
      propertyParameters(runs),
    )
    expectClean(name)
  })

  it.each(Object.keys(layerBuilders))('%s', async (name) => {
    await fc.assert(
      fc.asyncProperty(argumentsArb, async (args) => {
        await classify(name, args, call(layerBuilders[name]!, args), async (l) => {
          const layer = l as f.AnyLayer
          if (typeof layer?.init !== 'function') throw new Error('the builder returned no layer')
          const { params: p, state } = layer.init(key(2), [3])
          const x = fromArray([1, -1, 0.5, 2, 0, -0.25], [2, 3])
          try {
            const { y, state: s2 } = layer.apply(p, state, x, { training: true, key: key(3) })
            const finite = isFinite32(await f.read(y))
            dispose([y, s2], [p, state, x])
            return finite ? 'finite' : 'non-finite'
          } finally {
            dispose([p, state, x])
          }
        })
      }),
      propertyParameters(runs),
    )
    expectClean(name)
  })
})

// a working instance of each builder: the first of these argument lists it accepts
const workingArguments: readonly unknown[][] = [[], [{ learningRate: 0.1 }], [{ l1: 0.01 }], [{ l1: 0.01, l2: 0.01 }], [1]]
const working = (name: string): f.AnyTransformation => {
  for (const args of workingArguments) {
    try {
      return (transformBuilders[name] as (...a: unknown[]) => f.AnyTransformation)(...args)
    } catch {
      // try the next argument list
    }
  }
  throw new Error(`no working instance of ${name}`)
}
const notATree = (v: unknown) => v === undefined || v === null || typeof v === 'number' || typeof v === 'string'

describe('fuzz: hostile update inputs to working transformations', () => {
  const hostileTree = fc.oneof(
    fc.constantFrom(undefined, null, 5, 'x', [], {}),
    fc.constantFrom(
      () => ({ w: fromArray([1, 2, 3], [3]) }), // missing leaf b
      () => ({ w: fromArray([1, 2], [2]), b: { c: fromArray([1], [1]) } }), // wrong shape
      () => ({ w: fromArray([1, 2, 3], [3]), b: { c: fromArray([1], [1]), d: fromArray([1], [1]) } }), // extra leaf
      () => ({ w: [1, 2, 3], b: { c: 1 } }), // numbers instead of tensors
    ),
  )
  it.each(Object.keys(transformBuilders).filter((n) => !['scale', 'clip', 'clipByNorm', 'clipByGlobalNorm', 'clipByBlockRms', 'scaleBySchedule', 'scaleByLearningRate'].includes(n)))('%s', async (name) => {
    await fc.assert(
      fc.asyncProperty(hostileTree, fc.integer({ min: 0, max: 1 }), async (bad, slot) => {
        const tr = working(name)
        const p = params()
        const g = grads()
        const state = tr.init(p)
        const badValue = typeof bad === 'function' ? bad() : bad
        const before = liveTensors(cpu)
        const args = [g, state, p] as unknown[]
        args[slot] = badValue
        try {
          const [u, s] = tr.update(...(args as [f.Params, unknown, f.Params]))
          // a transform may ignore a state it does not use, and an empty or partial tree is a tree;
          // but a value that is no tree at all in place of the updates must be refused
          if (slot === 0 && notATree(badValue)) count(`${name}.update`, 'crash', () => `${name}.update accepted updates that are no tree (${describeArgs([badValue])})`)
          else count(`${name}.update`, 'working', () => '')
          dispose([u, s], [g, state, p])
        } catch (e) {
          count(`${name}.update`, e instanceof FluxionError ? 'typed error' : 'crash', () => `${name}.update with a bad ${['updates', 'state', 'params'][slot]} (${describeArgs([badValue])}) threw ${(e as Error).name}: ${(e as Error).message}`)
          if (liveTensors(cpu) !== before) count(`${name}.update`, 'leak', () => `${name}.update left ${liveTensors(cpu) - before} tensors behind when it threw on a bad ${['updates', 'state'][slot]}`)
        } finally {
          dispose([p, g, state, badValue])
        }
      }),
      propertyParameters(runs / 3),
    )
    expectClean(`${name}.update`)
  })
})

afterAll(() => {
  const total = { inputs: 0, 'typed error': 0, working: 0, crash: 0, 'silent non-finite': 0, leak: 0 }
  for (const c of Object.values(counts)) {
    total.leak += c.leak
    for (const k of ['typed error', 'working', 'crash', 'silent non-finite'] as const) {
      total[k] += c[k]
      total.inputs += c[k]
    }
  }
  console.log(
    `[fluxion fuzz] ${total.inputs} inputs over ${Object.keys(counts).length} builders and updates: ${total['typed error']} typed errors, ${total.working} working, ${total.crash} crashes, ${total['silent non-finite']} silent non-finite, ${total.leak} leaks on error paths`,
  )
  for (const f of failures.slice(0, 30)) console.log(`[fluxion fuzz]   ${f}`)
})

describe('fuzz: the suite itself', () => {
  it('counts what it saw: no crash, no silent non-finite result and no leak in any group', () => {
    // runs after the describes above (vitest runs a file's tests in order)
    const bad = Object.entries(counts).filter(([, c]) => c.crash > 0 || c['silent non-finite'] > 0 || c.leak > 0)
    expect(Object.keys(counts).length).toBeGreaterThan(80)
    expect(bad.map(([g, c]) => `${g}: ${c.crash} crashes, ${c['silent non-finite']} silent non-finite, ${c.leak} leaks`), failures.slice(0, 30).join('\n')).toEqual([])
  })
})
