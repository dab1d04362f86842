/**
 * fluxion/tfjs against TensorFlow.js 4.22 itself, on tfjs-backend-cpu and tfjs-backend-wasm:
 * conversions that keep names and bits; the adapter bit-exact against `update` + `applyUpdates`
 * on the same gradients (fast-check sequences, seed printed); the 'tfjs' conventions through the
 * adapter against `tf.train.*`; no tensor left behind by 1,000 steps of `model.fit` and of custom
 * loops; `model.save` with the optimizer, `tf.loadLayersModel`, and a continued run equal to an
 * uninterrupted one; refusals of weights that are not a fluxion state.
 */
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import '@tensorflow/tfjs-backend-wasm'
import * as tfl from '@tensorflow/tfjs-layers'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as esbuild from 'esbuild'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type AnyTransformation,
  CheckpointError,
  FluxionError,
  type Params,
  ShapeError,
  StructureError,
  type Tensor,
  UnsupportedError,
  adadelta,
  adagrad,
  adam,
  adamax,
  adamw,
  applyIfFinite,
  applyUpdates,
  chain,
  clipByGlobalNorm,
  compileStep,
  dispose,
  fromArray,
  liveTensors,
  lion,
  lookahead,
  multiSteps,
  reduceOnPlateau,
  rmsprop,
  scope,
  sgd,
  warmupCosineDecay,
} from '../src/index.js'
import { runAsync } from './helpers.js'
import { FluxionOptimizer, assignVariables, fromTfjs, labelsByName, leafNames, lossAndGrads, maskByName, paramKeys, registerTransformation, tfjsOptimizer, toTfjs, variablesByName } from '../src/tfjs.js'
import { allClose } from '../laws/allclose.js'
import { float32Arb } from '../laws/arbitraries.js'
import { assertLaw, propertyParameters } from '../laws/runners.js'

const exact = { rtol: 0, atol: 0 }

/** Bit patterns, so that −0, NaN payloads and every last bit count. */
const bits = (xs: readonly Float32Array[]): number[][] => xs.map((x) => Array.from(new Uint32Array(Float32Array.from(x).buffer)))

const sameBits = (actual: readonly Float32Array[], expected: readonly Float32Array[]) => allClose(bits(actual), bits(expected), exact)

const hostOf = (t: Tensor): Float32Array => t.backend.readSync!(t)!

const verdict = (c: ReturnType<typeof allClose>): string => (c.ok ? 'ok' : c.message)

// ---- the main entry stays free of tfjs ----------------------------------------------------------

describe('fluxion/tfjs is its own entry', () => {
  it('nothing the main entry imports is @tensorflow/*; fluxion/tfjs imports only tfjs-core of it', async () => {
    const importsOf = async (entry: string) => {
      const r = await esbuild.build({ entryPoints: [entry], bundle: true, write: false, metafile: true, packages: 'external', platform: 'neutral', logLevel: 'silent' })
      return Object.values(r.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path))
    }
    const main = await importsOf('src/index.ts')
    expect(main.length).toBeGreaterThan(0)
    expect(main.filter((p) => p.startsWith('@tensorflow/'))).toEqual([])
    const adapter = await importsOf('src/tfjs.ts')
    expect([...new Set(adapter.filter((p) => p.startsWith('@tensorflow/')))]).toEqual(['@tensorflow/tfjs-core'])
  })

  it('is registered with tf.serialization as FluxionOptimizer', () => {
    const entry = tf.serialization.SerializationMap.getMap().classNameMap.FluxionOptimizer
    expect(entry?.[0]).toBe(FluxionOptimizer)
    expect(tfjsOptimizer(adam({ learningRate: 0.1 })).getClassName()).toBe('FluxionOptimizer')
    expect(tfjsOptimizer(adam({ learningRate: 0.1 })) instanceof tf.Optimizer).toBe(true)
  })
})

// ---- one suite per tfjs backend ------------------------------------------------------------------

const tfjsBackends = ['cpu', 'wasm'] as const

// shapes of one or two variables, and a gradient sequence for them
const shapeArb = fc.oneof(fc.constant([] as number[]), fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 2 }))
const size = (s: readonly number[]) => s.reduce((a, d) => a * d, 1)
const problemArb = fc
  .array(shapeArb, { minLength: 1, maxLength: 2 })
  .chain((shapes) =>
    fc.record({
      shapes: fc.constant(shapes),
      theta: fc.tuple(...shapes.map((s) => fc.array(float32Arb({ min: -3, max: 3 }), { minLength: size(s), maxLength: size(s) }))),
      grads: fc.array(fc.tuple(...shapes.map((s) => fc.array(float32Arb({ min: -3, max: 3 }), { minLength: size(s), maxLength: size(s) }))), { minLength: 1, maxLength: 6 }),
    }),
  )
type Problem = { shapes: number[][]; theta: number[][]; grads: number[][][] }

let unique = 0
const names = (p: Problem) => p.shapes.map((_, i) => `t${unique}/layer${i}/${i === 0 ? 'kernel' : 'bias'}`)

/** The transformations the adapter is checked with: aliases, chains with schedules and masks, wrappers. */
const table: readonly { readonly name: string; readonly make: () => AnyTransformation }[] = [
  { name: 'adam', make: () => adam({ learningRate: 0.05 }) },
  { name: 'sgd with Nesterov momentum', make: () => sgd({ learningRate: 0.1, momentum: 0.9, nesterov: true }) },
  { name: 'chain(clipByGlobalNorm, adamw(warmupCosineDecay, mask by name))', make: () => chain(clipByGlobalNorm(1), adamw({ learningRate: warmupCosineDecay({ peak: 0.1, warmupSteps: 2, decaySteps: 8 }), weightDecay: 0.1, mask: maskByName((n) => !n.endsWith('/bias')) })) },
  { name: 'lion', make: () => lion({ learningRate: 0.01, weightDecay: 0.01 }) },
  { name: 'multiSteps(adam, everyK 2)', make: () => multiSteps(adam({ learningRate: 0.05 }), { everyK: 2 }) },
  { name: 'lookahead(sgd)', make: () => lookahead(sgd({ learningRate: 0.1 }), { syncPeriod: 2 }) },
  { name: 'applyIfFinite(rmsprop)', make: () => applyIfFinite(rmsprop({ learningRate: 0.01 })) },
]

/** `update` + `applyUpdates` on fluxion's cpu backend: the reference the adapter must match bit for bit. */
const direct = (t: AnyTransformation, p: Problem, keys: readonly string[], losses?: readonly number[]): Float32Array[] => {
  const record = (xs: readonly number[][]) => Object.fromEntries(keys.map((k, i) => [k, fromArray(xs[i]!, p.shapes[i]!)]))
  let params: Params = record(p.theta)
  let state = t.init(params)
  p.grads.forEach((g, k) => {
    const grads = record(g)
    const [next, s] = scope(() => {
      const [u, s] = t.update(grads, state, params, losses ? { value: losses[k]! } : undefined)
      return [applyUpdates(params, u), s] as const
    })
    dispose([grads, params, state], [next, s])
    params = next
    state = s
  })
  const out = keys.map((k) => hostOf((params as Record<string, Tensor>)[k]!))
  dispose([params, state])
  return out
}

describe.each(tfjsBackends)('on tfjs-backend-%s', (backendName) => {
  beforeAll(async () => {
    expect(await tf.setBackend(backendName)).toBe(true)
    await tf.ready()
  })

  it('fromTfjs and toTfjs keep names as keys and every bit (NaN, ±∞, −0 included), each making its own copy', () => {
    const special = fc.oneof(float32Arb({ min: -1e30, max: 1e30 }), fc.constantFrom(Number.NaN, Infinity, -Infinity, -0))
    fc.assert(
      fc.property(fc.array(special, { minLength: 1, maxLength: 12 }), (xs) => {
        const values = Float32Array.from(xs)
        const v = tf.variable(tf.tensor(values.slice(), [values.length]), true, `c${unique++}/kernel`)
        const b = tf.tensor(values.slice().reverse())
        const before = liveTensors()
        const fromRecord = fromTfjs({ v, nested: [b] })
        const fromList = fromTfjs([{ name: v.name, tensor: v }])
        const fromMap = fromTfjs({ [v.name]: v } as tf.NamedTensorMap)
        expect(Object.keys(fromList)).toEqual([v.name])
        expect(Object.keys(fromMap)).toEqual([v.name])
        expect(sameBits([hostOf(fromRecord.v), hostOf(fromRecord.nested[0]!), hostOf(fromList[v.name]!), hostOf(fromMap[v.name]!)], [values, values.slice().reverse(), values, values]).ok).toBe(true)
        // fluxion's copy does not follow the variable, and tfjs's copy does not follow a donated step
        v.assign(tf.zerosLike(v))
        expect(sameBits([hostOf(fromRecord.v)], [values]).ok).toBe(true)
        const back = toTfjs({ w: fromRecord.v })
        const opt = sgd({ learningRate: 1 })
        const ones = fromArray(new Float32Array(values.length).fill(1))
        const [moved, state] = compileStep(opt, { donate: true })({ w: fromRecord.v }, { w: ones }, opt.init({ w: fromRecord.v }))
        expect(fromRecord.v.backend.isLive(fromRecord.v)).toBe(false) // written over in place
        expect(sameBits([back.w.dataSync() as Float32Array], [values]).ok).toBe(true)
        dispose([moved, state, ones, fromRecord.nested, fromList, fromMap])
        expect(liveTensors()).toBe(before)
        tf.dispose([v, b, back.w])
      }),
      propertyParameters(25, {}, `tfjs-${backendName}`),
    )
  })

  it('conversions refuse what they cannot convert, with typed errors and nothing left allocated', () => {
    const before = liveTensors()
    const ints = tf.tensor([1, 2], [2], 'int32')
    expect(() => fromTfjs({ a: tf.tensor([1]), b: ints })).toThrow(UnsupportedError)
    expect(() => fromTfjs({ a: 1 as unknown as tf.Tensor })).toThrow(StructureError)
    const gone = tf.tensor([1])
    gone.dispose()
    expect(() => fromTfjs([gone])).toThrow(/already disposed/)
    expect(liveTensors()).toBe(before)
    const v = tf.variable(tf.tensor([1, 2]), true, `r${unique++}/w`)
    const w = tf.variable(tf.tensor([3]), true, `r${unique++}/w`)
    const p = { v: fromArray([5, 6]), w: fromArray([7, 8]) }
    expect(() => assignVariables({ v, w }, p)).toThrow(ShapeError)
    expect(Array.from(v.dataSync())).toEqual([1, 2]) // nothing assigned: every check comes first
    expect(() => assignVariables({ v }, p)).toThrow(StructureError)
    assignVariables({ v, w }, { v: p.v, w: fromArray([9]) })
    expect([Array.from(v.dataSync()), Array.from(w.dataSync())]).toEqual([[5, 6], [9]])
    dispose(p)
    tf.dispose([ints, v, w])
  })

  it.each(table.map((c) => [c.name, c] as const))('through applyGradients, %s writes the variables of update + applyUpdates, bit for bit', (_name, c) =>
    assertLaw(
      problemArb,
      async (p) => {
        const keys = names(p)
        unique++
        const variables = keys.map((k, i) => tf.variable(tf.tensor(p.theta[i]!, p.shapes[i]!, 'float32'), true, k))
        const opt = tfjsOptimizer(c.make())
        for (const g of p.grads) {
          const gs = g.map((x, i) => tf.tensor(x, p.shapes[i]!, 'float32'))
          // a NamedTensorMap one step, a NamedTensor[] the next
          opt.applyGradients(opt.iterations % 2 === 0 ? Object.fromEntries(keys.map((k, i) => [k, gs[i]!])) : keys.map((k, i) => ({ name: k, tensor: gs[i]! })))
          tf.dispose(gs)
        }
        const actual = variables.map((v) => Float32Array.from(v.dataSync() as Float32Array))
        opt.dispose()
        tf.dispose(variables)
        return sameBits(actual, direct(c.make(), p, keys))
      },
      8,
      `tfjs-${backendName}`,
    ),
  )

  it("masks by name see tfjs-layers' names without the _1 it gives a name already taken", () => {
    expect(paramKeys(['hidden/kernel_1', 'hidden/bias_1', 'w_1', 'w_2', 'x'])).toEqual(['hidden/kernel', 'hidden/bias', 'w_1', 'w_2', 'x'])
    const id = unique++
    const kernel = tf.variable(tf.tensor1d([1, 1]), true, `m${id}/kernel_1`)
    const bias = tf.variable(tf.tensor1d([1, 1]), true, `m${id}/bias_1`)
    const opt = tfjsOptimizer(adamw({ learningRate: 0.5, weightDecay: 0.5, mask: maskByName((n) => !n.endsWith('/bias')) }))
    const zero = tf.zeros([2])
    opt.applyGradients({ [kernel.name]: zero, [bias.name]: zero })
    expect([Array.from(kernel.dataSync()), Array.from(bias.dataSync())]).toEqual([[0.75, 0.75], [1, 1]]) // θ − η·λ·θ on the kernel only
    opt.dispose()
    tf.dispose([kernel, bias, zero])
  })

  it('a variable assigned by someone else between steps (model.setWeights, loadWeights) is read again', () => {
    const v = tf.variable(tf.tensor1d([1, 2]), true, `ext${unique++}/kernel`)
    const opt = tfjsOptimizer(sgd({ learningRate: 0.5, momentum: 0.5 }))
    const g = tf.tensor1d([1, -1])
    opt.applyGradients([{ name: v.name, tensor: g }]) // θ = [0.5, 2.5], trace [1, -1]
    v.assign(tf.tensor1d([10, 20]))
    opt.applyGradients([{ name: v.name, tensor: g }]) // trace [1.5, -1.5]: θ = [10 − 0.75, 20 + 0.75]
    expect(Array.from(v.dataSync())).toEqual([9.25, 20.75])
    opt.dispose()
    tf.dispose([v, g])
  })

  it('through minimize, the loss reaches reduceOnPlateau as { value }, bit for bit with update given the same values', () =>
    assertLaw(
      problemArb,
      async (p) => {
        const make = () => chain(sgd({ learningRate: 0.1 }), reduceOnPlateau({ patience: 1, factor: 0.5 }))
        const keys = names(p)
        unique++
        const variables = keys.map((k, i) => tf.variable(tf.tensor(p.theta[i]!, p.shapes[i]!, 'float32'), true, k))
        const opt = tfjsOptimizer(make())
        const losses: number[] = []
        for (const g of p.grads) {
          // f(θ) = Σ gᵢ·θᵢ has the gradient g exactly
          const cost = opt.minimize(() => tf.tidy(() => tf.addN(variables.map((v, i) => tf.sum(tf.mul(tf.tensor(g[i]!, p.shapes[i]!), v)))) as tf.Scalar), true, variables)!
          losses.push(cost.dataSync()[0]!)
          cost.dispose()
        }
        const actual = variables.map((v) => Float32Array.from(v.dataSync() as Float32Array))
        opt.dispose()
        tf.dispose(variables)
        return sameBits(actual, direct(make(), p, keys, losses))
      },
      8,
      `tfjs-${backendName}`,
    ),
  )

  const conventions: readonly { readonly name: string; readonly fluxion: () => AnyTransformation; readonly tfjs: () => tf.Optimizer }[] = [
    { name: 'adam', fluxion: () => adam({ learningRate: 0.05, b1: 0.8, b2: 0.95, convention: 'tfjs' }), tfjs: () => tf.train.adam(0.05, 0.8, 0.95) },
    { name: 'momentum (Nesterov)', fluxion: () => sgd({ learningRate: 0.05, momentum: 0.8, nesterov: true, convention: 'tfjs' }), tfjs: () => tf.train.momentum(0.05, 0.8, true) },
    { name: 'rmsprop (momentum)', fluxion: () => rmsprop({ learningRate: 0.01, decay: 0.8, momentum: 0.5, convention: 'tfjs' }), tfjs: () => tf.train.rmsprop(0.01, 0.8, 0.5) },
    { name: 'adagrad', fluxion: () => adagrad({ learningRate: 0.1, convention: 'tfjs' }), tfjs: () => tf.train.adagrad(0.1) },
    { name: 'adadelta', fluxion: () => adadelta({ learningRate: 1, convention: 'tfjs' }), tfjs: () => tf.train.adadelta(1) },
    { name: 'adamax', fluxion: () => adamax({ learningRate: 0.05, convention: 'tfjs' }), tfjs: () => tf.train.adamax(0.05) },
  ]

  it.each(conventions.map((c) => [c.name, c] as const))("the 'tfjs' convention of %s through the adapter reproduces tf.train's (float32 tolerance)", (_name, c) =>
    assertLaw(
      problemArb,
      async (p) => {
        const run = (opt: tf.Optimizer) => {
          const keys = names(p)
          unique++
          const variables = keys.map((k, i) => tf.variable(tf.tensor(p.theta[i]!, p.shapes[i]!, 'float32'), true, k))
          for (const g of p.grads) {
            const gs = g.map((x, i) => tf.tensor(x, p.shapes[i]!, 'float32'))
            opt.applyGradients(keys.map((k, i) => ({ name: k, tensor: gs[i]! })))
            tf.dispose(gs)
          }
          const out = variables.map((v) => Float32Array.from(v.dataSync() as Float32Array))
          opt.dispose()
          tf.dispose(variables)
          return out
        }
        const expected = run(c.tfjs())
        return allClose(run(tfjsOptimizer(c.fluxion())), expected, { rtol: 2e-4, atol: 1e-5 })
      },
      8,
      `tfjs-${backendName}`,
    ),
  )

  /** A small regression: x ∈ R³ → dense(8, relu) → dense(1), weights from a seed (later models' variables get tfjs's `_1`, `_2`, …). */
  const makeModel = (seed: number) =>
    tfl.sequential({
      layers: [
        tfl.layers.dense({ name: 'hidden', units: 8, inputShape: [3], activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed }) }),
        tfl.layers.dense({ name: 'out', units: 1, kernelInitializer: tfl.initializers.glorotUniform({ seed: seed + 1 }) }),
      ],
    })
  const data = () => {
    const x = tf.tidy(() => tf.randomUniform([40, 3], -1, 1, 'float32', 7))
    const y = tf.tidy(() => tf.add(tf.sum(tf.mul(x, tf.tensor1d([1, -2, 0.5])), 1, true), 0.3))
    return { x, y }
  }

  it("model.fit with the 'tfjs' convention of adam follows tf.train.adam (30 steps, float32 tolerance)", async () => {
    const { x, y } = data()
    const train = async (optimizer: tf.Optimizer) => {
      const model = makeModel(11)
      model.compile({ optimizer, loss: 'meanSquaredError' })
      const h = await model.fit(x, y, { epochs: 6, batchSize: 8, shuffle: false, verbose: 0 })
      const weights = model.getWeights().map((w) => Float32Array.from(w.dataSync() as Float32Array))
      model.dispose()
      optimizer.dispose()
      return { weights, losses: h.history.loss as number[] }
    }
    const theirs = await train(tf.train.adam(0.01))
    const ours = await train(tfjsOptimizer(adam({ learningRate: 0.01, convention: 'tfjs' })))
    expect(verdict(allClose(ours.weights, theirs.weights, { rtol: 1e-3, atol: 1e-5 }))).toBe('ok')
    expect(verdict(allClose(ours.losses, theirs.losses, { rtol: 1e-3, atol: 1e-6 }))).toBe('ok')
    expect(theirs.losses[5]!).toBeLessThan(theirs.losses[0]!)
    tf.dispose([x, y])
  })

  it('in model.fit, reduceOnPlateau watches the loss fit logs: one evaluation per epoch, the best of them kept', async () => {
    const { x, y } = data()
    const model = makeModel(9)
    const optimizer = tfjsOptimizer(chain(sgd({ learningRate: 0.05 }), reduceOnPlateau({ accumulationSize: 5, patience: 1 })))
    model.compile({ optimizer, loss: 'meanSquaredError' })
    const losses = (await model.fit(x, y, { epochs: 3, batchSize: 8, shuffle: false, verbose: 0 })).history.loss as number[]
    const weights = await optimizer.getWeights()
    const json = JSON.parse((await weights[1]!.tensor.data())[0] as unknown as string) as { envelope: { state: unknown } }
    const find = (u: unknown): { bestValue: number; count: number } | undefined =>
      typeof u !== 'object' || u === null ? undefined : 'bestValue' in u ? (u as { bestValue: number; count: number }) : Object.values(u).map(find).find((s) => s !== undefined)
    const plateau = find(json.envelope.state)!
    expect(plateau.count).toBe(0) // 15 batches: three full evaluations
    expect(plateau.bestValue).toBeCloseTo(Math.min(...losses), 6)
    optimizer.dispose()
    model.dispose()
    tf.dispose([x, y])
  })

  it('1,000 steps of model.fit leave tf.memory().numTensors and fluxion\'s live tensors as they were; dispose releases the rest', async () => {
    const { x, y } = data()
    const model = makeModel(3)
    const fluxionBefore = liveTensors()
    const optimizer = tfjsOptimizer(chain(clipByGlobalNorm(1), adamw({ learningRate: 1e-3, weightDecay: 1e-4, mask: maskByName((n) => !n.endsWith('/bias')) })))
    model.compile({ optimizer, loss: 'meanSquaredError' })
    await model.fit(x, y, { epochs: 1, batchSize: 40, verbose: 0 }) // first step: fluxion's copy and state
    const tensorsBefore = tf.memory().numTensors
    const fluxionHeld = liveTensors()
    expect(fluxionHeld - fluxionBefore).toBe(4 * 3) // params, μ and ν for 4 variables
    await model.fit(x, y, { epochs: 100, batchSize: 4, verbose: 0 }) // 10 batches × 100 epochs
    expect(optimizer.iterations).toBe(1001)
    expect(tf.memory().numTensors).toBe(tensorsBefore)
    expect(liveTensors()).toBe(fluxionHeld)
    const weights = await optimizer.getWeights()
    expect(weights.map((w) => w.name)).toEqual(['iter', 'fluxion/state', ...Array.from({ length: 8 }, (_, i) => `fluxion/state/${i}`)])
    optimizer.dispose()
    expect(weights.every((w) => w.tensor.isDisposed)).toBe(true)
    expect(liveTensors()).toBe(fluxionBefore)
    expect(() => optimizer.applyGradients({})).toThrow(/disposed/)
    model.dispose()
    tf.dispose([x, y])
  })

  it('1,000 steps of custom loops (lossAndGrads + compileStep, and minimize) leave tf.memory().numTensors as it was', () => {
    const w = tf.variable(tf.tensor2d([[1, -2], [0.5, 3]]), true, `loop${unique++}/w`)
    const b = tf.variable(tf.tensor1d([0.1, -0.1]), true, `loop${unique++}/b`)
    const x = tf.tensor2d([[1, 2], [3, 4], [-1, 0]])
    const loss = () => tf.tidy(() => tf.mean(tf.square(tf.add(tf.matMul(x, w), b))) as tf.Scalar)
    const tensorsBefore = tf.memory().numTensors
    const fluxionBefore = liveTensors()
    const opt = adam({ learningRate: 1e-2 })
    const step = compileStep(opt, { donate: true })
    let params = fromTfjs({ w, b })
    let state = opt.init(params)
    const losses: number[] = []
    for (let i = 0; i < 1000; i++) {
      const r = lossAndGrads(loss, { w, b })
      ;[params, state] = step(params, r.grads, state)
      dispose(r.grads)
      assignVariables({ w, b }, params)
      losses.push(r.loss)
    }
    expect(losses[999]!).toBeLessThan(losses[0]! / 10)
    dispose([params, state])
    expect(liveTensors()).toBe(fluxionBefore)
    expect(tf.memory().numTensors).toBe(tensorsBefore)
    // the same through the optimizer's minimize, and lossAndGrads without a variable list
    const optimizer = tfjsOptimizer(adam({ learningRate: 1e-2 }))
    for (let i = 0; i < 1000; i++) optimizer.minimize(loss, false, [w, b])
    const named = lossAndGrads(loss)
    expect(Object.keys(named.grads).sort()).toEqual([b.name, w.name].sort())
    dispose(named.grads)
    optimizer.dispose()
    expect(liveTensors()).toBe(fluxionBefore)
    expect(tf.memory().numTensors).toBe(tensorsBefore)
    tf.dispose([w, b, x])
  })

  it('model.save with the optimizer, tf.loadLayersModel, and fit again: the trajectory of an uninterrupted run, bit for bit', async () => {
    const { x, y } = data()
    const name = `resume-${backendName}`
    const make = () =>
      chain(
        clipByGlobalNorm(1),
        adamw({ learningRate: warmupCosineDecay({ peak: 1e-2, warmupSteps: 5, decaySteps: 40 }), weightDecay: 1e-2, mask: maskByName((n) => !n.endsWith('/bias')) }),
        reduceOnPlateau({ patience: 2, factor: 0.5, accumulationSize: 5 }),
      )
    const fit = (model: tfl.LayersModel, epochs: number) => model.fit(x, y, { epochs, batchSize: 8, shuffle: false, verbose: 0 })
    const weightsOf = (model: tfl.LayersModel) => model.getWeights().map((w) => Float32Array.from(w.dataSync() as Float32Array))

    const straight = makeModel(5)
    straight.compile({ optimizer: tfjsOptimizer(make(), { name }), loss: 'meanSquaredError' })
    const straightLosses = [...((await fit(straight, 4)).history.loss as number[]), ...((await fit(straight, 4)).history.loss as number[])]

    const first = makeModel(5)
    first.compile({ optimizer: tfjsOptimizer(make(), { name }), loss: 'meanSquaredError' })
    const firstLosses = (await fit(first, 4)).history.loss as number[]
    let artifacts: tf.io.ModelArtifacts | undefined
    await first.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }
      }),
      { includeOptimizer: true },
    )
    expect(artifacts!.trainingConfig!.optimizer_config).toEqual({ class_name: 'FluxionOptimizer', config: { name } })
    // what a file would hold: the JSON and the weight bytes, copied
    const stored = { ...JSON.parse(JSON.stringify({ ...artifacts!, weightData: undefined })), weightData: (artifacts!.weightData as ArrayBuffer).slice(0) }
    const resumed = await tfl.loadLayersModel(tf.io.fromMemory(stored))
    expect(resumed.optimizer).toBeInstanceOf(FluxionOptimizer)
    expect(resumed.optimizer.iterations).toBe(20)
    // in this process the loaded variables are renamed (hidden/kernel_2): their keys are the saved ones
    expect(resumed.trainableWeights.map((w) => (w.read() as tf.Variable).name).every((n) => /_\d+$/.test(n))).toBe(true)
    const resumedLosses = (await fit(resumed, 4)).history.loss as number[]

    expect(verdict(sameBits(weightsOf(resumed), weightsOf(straight)))).toBe('ok')
    expect([...firstLosses, ...resumedLosses]).toEqual(straightLosses)
    for (const m of [straight, first, resumed]) {
      m.optimizer.dispose()
      m.dispose()
    }
    tf.dispose([x, y])
  })

  it('setWeights refuses a damaged state, another transformation\'s, and tfjs\'s own optimizer weights, before allocating', async () => {
    const v = tf.variable(tf.tensor1d([1, 2, 3]), true, `sw${unique++}/kernel`)
    const g = tf.tensor1d([0.5, -1, 2])
    const source = tfjsOptimizer(adam({ learningRate: 0.1 }))
    source.applyGradients({ [v.name]: g })
    const weights = await source.getWeights()
    const before = liveTensors()
    const damaged = weights.map((w) => (w.name === 'fluxion/state/1' ? { name: w.name, tensor: tf.tidy(() => tf.add(w.tensor, tf.scalar(1e-3))) } : w))
    await expect(tfjsOptimizer(adam({ learningRate: 0.1 })).setWeights(damaged)).rejects.toThrow(CheckpointError)
    await expect(tfjsOptimizer(adam({ learningRate: 0.1 })).setWeights(damaged)).rejects.toThrow(/checksum/)
    await expect(tfjsOptimizer(sgd({ learningRate: 0.1, momentum: 0.9 })).setWeights(weights)).rejects.toThrow(/adam/)
    const theirs = tf.train.adam(0.1)
    theirs.applyGradients([{ name: v.name, tensor: g }])
    await expect(tfjsOptimizer(adam({ learningRate: 0.1 })).setWeights(await theirs.getWeights())).rejects.toThrow(/not the weights of a fluxion optimizer/)
    expect(liveTensors()).toBe(before)
    // a state saved for other names binds by position: the step continues the saved trajectory
    const renamed = tfjsOptimizer(adam({ learningRate: 0.1 }))
    await renamed.setWeights(weights)
    const u = tf.variable(tf.tensor1d(Array.from(v.dataSync())), true, `sw${unique++}/other`)
    renamed.applyGradients([{ name: u.name, tensor: g }])
    source.applyGradients([{ name: v.name, tensor: g }])
    expect(Array.from(u.dataSync())).toEqual(Array.from(v.dataSync()))
    expect(renamed.iterations).toBe(2)
    renamed.dispose()
    // a state for other variables is refused at the step that would use it
    const other = tfjsOptimizer(adam({ learningRate: 0.1 }))
    await other.setWeights(weights)
    const w2 = tf.variable(tf.tensor1d([1, 2]), true, `sw${unique++}/kernel`)
    expect(() => other.applyGradients({ [w2.name]: tf.tensor1d([1, 1]) })).toThrow(ShapeError)
    other.dispose()
    source.dispose()
    theirs.dispose()
    tf.dispose([v, u, w2, g, damaged[2]!.tensor])
  })

  it('a saved model whose transformation is not registered does not load, and says what to do', async () => {
    const model = makeModel(1)
    model.compile({ optimizer: tfjsOptimizer(adam({ learningRate: 0.1 }), { name: 'never-registered-elsewhere' }), loss: 'meanSquaredError' })
    let artifacts: tf.io.ModelArtifacts | undefined
    await model.save(tf.io.withSaveHandler(async (a) => ((artifacts = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })), { includeOptimizer: true })
    const unknown = `unknown-${backendName}`
    const renamed = { ...artifacts!, trainingConfig: { ...artifacts!.trainingConfig!, optimizer_config: { class_name: 'FluxionOptimizer', config: { name: unknown } } } }
    await expect(tfl.loadLayersModel(tf.io.fromMemory(renamed))).rejects.toThrow(`registerTransformation("${unknown}"`)
    registerTransformation(unknown, adam({ learningRate: 0.1 }))
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(renamed))
    expect((loaded.optimizer as FluxionOptimizer).name).toBe(unknown)
    model.optimizer.dispose()
    model.dispose()
    loaded.optimizer.dispose()
    loaded.dispose()
  })
})

describe('names as tree paths', () => {
  it('leafNames joins keys with "/", maskByName and labelsByName evaluate predicates on them', () => {
    const params = { 'dense_Dense1/kernel': fromArray([1]), 'dense_Dense1/bias': fromArray([1]), nested: { conv: [fromArray([1])] } }
    expect(leafNames(params)).toEqual({ 'dense_Dense1/kernel': 'dense_Dense1/kernel', 'dense_Dense1/bias': 'dense_Dense1/bias', nested: { conv: ['nested/conv/0'] } })
    expect(maskByName((n) => !n.endsWith('/bias'))(params)).toEqual({ 'dense_Dense1/kernel': true, 'dense_Dense1/bias': false, nested: { conv: [true] } })
    expect(labelsByName((n) => (n.startsWith('nested') ? 'b' : 'a'))(params)).toEqual({ 'dense_Dense1/kernel': 'a', 'dense_Dense1/bias': 'a', nested: { conv: ['b'] } })
    dispose(params)
  })

  it('variablesByName keys a list of variables as tfjsOptimizer does, for fromTfjs, lossAndGrads and assignVariables', () => {
    const id = unique++
    const k = tf.variable(tf.tensor1d([1, 2]), true, `vb${id}/kernel_1`)
    const b = tf.variable(tf.tensor1d([3]), true, `vb${id}/bias_1`)
    const variables = variablesByName([k, b])
    expect(Object.keys(variables)).toEqual([`vb${id}/kernel`, `vb${id}/bias`])
    expect(variables[`vb${id}/kernel`]).toBe(k)
    const { grads } = lossAndGrads(() => tf.tidy(() => tf.add(tf.sum(tf.square(k)), tf.sum(b)) as tf.Scalar))
    expect(Object.keys(grads).sort()).toEqual([`vb${id}/bias`, `vb${id}/kernel`])
    expect(Array.from(hostOf(grads[`vb${id}/kernel`]!))).toEqual([2, 4])
    assignVariables(variables, grads)
    expect([Array.from(k.dataSync()), Array.from(b.dataSync())]).toEqual([[2, 4], [1]])
    expect(() => variablesByName([k, k])).toThrow(StructureError)
    dispose(grads)
    tf.dispose([k, b])
  })

  it('tfjsOptimizer refuses bad options with the known ones listed', () => {
    expect(() => tfjsOptimizer(adam({ learningRate: 0.1 }), { nmae: 'x' } as never)).toThrow(/known options are name, backend, feedLoss, loadOptions/)
    expect(() => tfjsOptimizer({} as never)).toThrow(/GradientTransformation/)
    expect(() => new FluxionOptimizer(adam({ learningRate: 0.1 }), { name: '' })).toThrow(FluxionError)
  })
})

describe('npm run demo:tfjs', () => {
  it('--quick trains the conv net with both optimizers, prints both test accuracies and times, and writes the plot', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fluxion-tfjs-demo-'))
    const png = join(dir, 'curves.png')
    try {
      const r = await runAsync('examples/tfjs-mnist.ts', '--quick', `--out=${png}`)
      expect(r.status, r.stderr.slice(-2000)).toBe(0)
      const accuracies = [...r.stdout.matchAll(/test accuracy (\d+\.\d+)%, training (\d+\.\d+) s/g)].map((m) => Number(m[1]))
      expect(accuracies).toHaveLength(2)
      // one epoch on 1,000 digits: far above chance (10%) for both
      for (const a of accuracies) expect(a).toBeGreaterThan(30)
      expect(r.stdout).toContain('fluxion chain(clipByGlobalNorm(1), adamw(')
      expect(existsSync(png)).toBe(true)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

afterAll(async () => {
  await tf.setBackend('cpu')
})
