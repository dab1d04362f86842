import fc from 'fast-check'
import { describe, expect, expectTypeOf, it } from 'vitest'
import {
  type AnyTransformation,
  BackendError,
  type EmptyState,
  type GradientTransformation,
  HyperparameterError,
  type ScaleByAdamState,
  type ScaleByScheduleState,
  ShapeError,
  StructureError,
  type TraceState,
  adam,
  applyUpdates,
  chain,
  dispose,
  fromArray,
  identity,
  readTree,
  scale,
  scaleByAdam,
  scaleByLearningRate,
  scaleBySchedule,
  setToZero,
  sgd,
  stateless,
  trace,
  tree,
  cpu,
  saveState,
  loadState,
  StateDecodeError,
  UnsupportedError,
  StoredTensor,
  tensorCodec,
  zerosLikeTree,
} from '../src/index.js'
import { sequenceArb } from '../laws/arbitraries.js'
import * as laws from '../laws/predicates/transform.js'
import { assertLaw } from '../laws/runners.js'
import { checkTransformLaws } from '../laws/vitest.js'
import { backends, otherThan } from './backends.js'
import { caught } from './helpers.js'

const transforms: [string, () => AnyTransformation][] = [
  ['sgd', () => sgd({ learningRate: 0.1 })],
  ['sgd with momentum', () => sgd({ learningRate: 0.1, momentum: 0.9 })],
  ['sgd with Nesterov momentum', () => sgd({ learningRate: 0.1, momentum: 0.5, nesterov: true })],
  ['sgd with a schedule', () => sgd({ learningRate: (k) => 0.1 / (1 + k) })],
  ['adam', () => adam({ learningRate: 0.01 })],
  ['trace', () => trace({ decay: 0.8 })],
  ['scaleByAdam', () => scaleByAdam({ epsRoot: 1e-8 })],
  ['scale', () => scale(-0.5)],
  ['scaleBySchedule', () => scaleBySchedule((k) => 1 / (k + 1))],
  ['scaleByLearningRate', () => scaleByLearningRate(0.3)],
  ['identity', () => identity()],
]

for (const [name, make] of transforms) checkTransformLaws(name, make, { backends, numRuns: 8 })

describe.each(backends)('core laws on $name', (backend) => {
  it.each(transforms)('setToZero zeroes every update after %s', (_n, make) =>
    assertLaw(sequenceArb({ grads: { min: -1e30, max: 1e30 } }), (x) => laws.setToZeroZeroes(make(), x, backend), 8, backend.name))

  it('setToZero zeroes NaN and infinite updates too', async () => {
    const g = { a: fromArray([NaN, Infinity, -Infinity, 1], [4], backend) }
    const [u] = setToZero().update(g, {})
    expect(await readTree(u)).toEqual({ a: new Float32Array(4) })
    dispose([g, u])
  })

  it('applyUpdates adds updates to params and leaves both unchanged', async () => {
    const p = { w: fromArray([1, 2], [2], backend), b: fromArray([3], [1], backend) }
    const u = { w: fromArray([0.5, -1], [2], backend), b: fromArray([-3], [1], backend) }
    const q = applyUpdates(p, u)
    expect(await readTree(q)).toEqual({ b: Float32Array.of(0), w: Float32Array.of(1.5, 1) })
    expect(await readTree(p)).toEqual({ b: Float32Array.of(3), w: Float32Array.of(1, 2) })
    dispose([p, u, q])
  })

  it('states are frozen data: a transform cannot be tricked into mutating them', () => {
    const p = { w: fromArray([1, 2], [2], backend) }
    for (const [, make] of transforms) {
      const t = make()
      const s = t.init(p)
      const [u, s2] = t.update(p, s, p)
      expect(Object.isFrozen(s2)).toBe(true)
      dispose([u, s, s2], p)
    }
    dispose(p)
  })

  it('a gradient tree whose structure differs from the state names the path', () => {
    const params = { layer: { kernel: fromArray([1, 2], [2], backend), bias: fromArray([0], [1], backend) } }
    const opt = adam({ learningRate: 0.1 })
    const state = opt.init(params)
    const e = caught(() => opt.update({ layer: { kernel: params.layer.kernel } }, state, params))
    expect(e).toBeInstanceOf(StructureError)
    expect((e as StructureError).path).toBe('layer.bias')
    expect(e.message).toMatch(/updates vs state\.mu/)
    const e2 = caught(() => opt.update({ layer: { kernel: fromArray([1, 2, 3], [3], backend), bias: params.layer.bias } }, state, params))
    expect(e2).toBeInstanceOf(ShapeError)
    expect(e2.message).toContain('layer.kernel')
    dispose([params, state])
  })

  it('a tensor from another backend names the path and the two backends', () => {
    const other = otherThan(backend)
    const params = { w: fromArray([1, 2], [2], backend), b: fromArray([1], [1], backend) }
    const opt = sgd({ learningRate: 0.1, momentum: 0.9 })
    const state = opt.init(params)
    const grads = { w: fromArray([1, 2], [2], backend), b: fromArray([1], [1], other) }
    const e = caught(() => opt.update(grads, state, params))
    expect(e).toBeInstanceOf(BackendError)
    expect((e as BackendError).path).toBe('b')
    expect(e.message).toContain(other.name)
    expect(e.message).toContain(backend.name)
    expect(caught(() => applyUpdates(params, grads))).toBeInstanceOf(BackendError)
    dispose([params, state, grads])
  })
})

describe('bad hyperparameters throw a HyperparameterError naming field, value and range', () => {
  const cases: [string, () => unknown, string, unknown, RegExp][] = [
    ['negative learning rate', () => sgd({ learningRate: -1 }), 'learningRate', -1, /finite number ≥ 0 or a schedule/],
    ['NaN learning rate', () => adam({ learningRate: NaN }), 'learningRate', NaN, /finite number ≥ 0/],
    ['infinite learning rate', () => scaleByLearningRate(Infinity), 'learningRate', Infinity, /finite/],
    ['b1 = 1', () => adam({ learningRate: 0.1, b1: 1 }), 'b1', 1, /\[0, 1\)/],
    ['b2 > 1', () => scaleByAdam({ b2: 1.5 }), 'b2', 1.5, /\[0, 1\)/],
    ['negative eps', () => adam({ learningRate: 0.1, eps: -1e-8 }), 'eps', -1e-8, /≥ 0/],
    ['momentum = 1', () => sgd({ learningRate: 0.1, momentum: 1 }), 'momentum', 1, /\[0, 1\)/],
    ['nesterov not boolean', () => trace({ nesterov: 'yes' as never }), 'nesterov', 'yes', /boolean/],
    ['unknown option', () => sgd({ learningRate: 0.1, learning_rate: 1 } as never), 'learning_rate', 1, /no such option/],
    ['non-finite scale', () => scale(NaN), 'step', NaN, /finite/],
  ]
  it.each(cases)('%s', (_name, build, field, value, range) => {
    const e = caught(build)
    expect(e).toBeInstanceOf(HyperparameterError)
    expect((e as HyperparameterError).field).toBe(field)
    expect(Object.is((e as HyperparameterError).value, value)).toBe(true)
    expect(e.message).toMatch(range)
    expect(e.message).toContain(field)
  })

  it('a schedule that returns a bad value throws at the step where it does', () => {
    const p = { w: fromArray([1], [1]) }
    const opt = sgd({ learningRate: (k) => (k < 2 ? 0.1 : -0.1) })
    let s = opt.init(p)
    for (let k = 0; k < 2; k++) {
      const [u, s2] = opt.update(p, s, p)
      dispose(u)
      s = s2
    }
    const e = caught(() => opt.update(p, s, p))
    expect(e).toBeInstanceOf(HyperparameterError)
    expect(e.message).toContain('learningRate(step 2) = -0.1')
  })
})

describe('purity and determinism of the optimizers', () => {
  it.each(transforms)('%s never mutates updates, state or params, and init is deterministic', async (_n, make) => {
    for (const backend of backends) {
      await assertLaw(sequenceArb({ maxSteps: 3 }), (x) => laws.inputsUnchanged(make(), x, backend), 5, backend.name)
      await assertLaw(sequenceArb({ maxSteps: 1 }), (x) => laws.deterministic(make(), x, backend), 5, backend.name)
    }
  })

  it('the purity law catches a transform that writes into its input', async () => {
    // A planted bug: writes into the cpu storage of every update it is given.
    const mutating = stateless((u) => {
      for (const leaf of tree.leaves(u)) (leaf.storage as Float32Array).fill(42)
      return u
    })
    const x = fc.sample(sequenceArb({ grads: { min: 1, max: 2 } }), { numRuns: 1, seed: 1 })[0]!
    const r = await laws.inputsUnchanged(mutating, x, cpu)
    expect(r.ok).toBe(false)
    expect(r.ok ? '' : r.message).toMatch(/42/)
  })
})

describe('types', () => {
  it('chain infers the tuple of states', () => {
    const opt = chain(trace({ decay: 0.9 }), scaleByAdam(), scaleByLearningRate(0.1))
    expectTypeOf(opt).toEqualTypeOf<GradientTransformation<readonly [TraceState, ScaleByAdamState, ScaleByScheduleState]>>()
    expectTypeOf(chain()).toEqualTypeOf<GradientTransformation<readonly []>>()
    expectTypeOf(chain(identity())).toEqualTypeOf<GradientTransformation<readonly [EmptyState]>>()
    const p = { w: fromArray([1], [1]) }
    const s = opt.init(p)
    expectTypeOf(s[1].count).toEqualTypeOf<number>()
    expect(s).toHaveLength(3)
    expect(s[1].count).toBe(0)
    dispose([p, s])
  })
})

describe('saving and loading state', () => {
  it('a chain\'s state survives JSON, moves between backends, and keeps NaN and ±∞ exactly', async () => {
    const opt = chain(trace({ decay: 0.9 }), scaleByAdam(), scaleByLearningRate(0.1))
    const p = { layer: { kernel: fromArray([1, NaN, Infinity, -0], [2, 2]), bias: fromArray([-Infinity], [1]) } }
    const [, state] = opt.update(p, opt.init(p), p)
    const json = JSON.parse(JSON.stringify(await saveState(opt, state)))
    expect(json.state[1].count).toBe(1)
    for (const backend of backends) {
      const loaded = loadState(opt, json, backend)
      expect(await readTree(loaded)).toEqual(await readTree(state))
      dispose(loaded)
    }
  })

  it('the tensor codec is exact, −0 and NaN included', () => {
    const x = new StoredTensor([2, 2], Float32Array.of(-0, NaN, -Infinity, 1e-45))
    const back = tensorCodec.decode(JSON.parse(JSON.stringify(tensorCodec.encode(x))))
    expect(back._tag).toBe('Right')
    const y = (back as { right: StoredTensor }).right
    expect(y.shape).toEqual([2, 2])
    expect(Object.is(y.data[0], -0)).toBe(true)
    expect(Number.isNaN(y.data[1])).toBe(true)
    expect(Array.from(y.data.slice(2))).toEqual([-Infinity, 1e-45].map(Math.fround))
  })

  it('a malformed state throws a StateDecodeError naming the path', async () => {
    const opt = adam({ learningRate: 0.1 })
    const p = { w: fromArray([1, 2], [2]) }
    const json = JSON.parse(JSON.stringify(await saveState(opt, opt.init(p))))
    const bad1 = structuredClone(json)
    bad1.state[0].count = -1
    const e1 = caught(() => loadState(opt, bad1))
    expect(e1).toBeInstanceOf(StateDecodeError)
    expect((e1 as StateDecodeError).path).toBe('0.count')
    const bad2 = structuredClone(json)
    bad2.state[0].mu.w.shape = [3]
    const e2 = caught(() => loadState(opt, bad2))
    expect((e2 as StateDecodeError).path).toBe('0.mu.w')
    expect((e2 as StateDecodeError).expected).toBe(tensorCodec.name)
    expect(e2.message).toBe(`invalid state at 0.mu.w: expected ${tensorCodec.name}, got ${JSON.stringify(bad2.state[0].mu.w).slice(0, 120)}`)
    const bad3 = structuredClone(json)
    bad3.state[0].mu = { w: 'x' }
    expect(caught(() => loadState(opt, bad3))).toMatchObject({ path: '0.mu.w', value: 'x', expected: 'a tree of tensors' })
    const bad4 = structuredClone(json)
    bad4.state[0].mu.w.dtype = 'float64'
    expect(caught(() => loadState(opt, bad4))).toMatchObject({ path: '0.mu.w', expected: tensorCodec.name })
    const bad5 = structuredClone(json)
    bad5.state[0].nu.w.data = 'AAAA*'
    expect(caught(() => loadState(opt, bad5))).toMatchObject({ path: '0.nu.w' })
    const bad6 = structuredClone(json)
    bad6.state[0].nu.w.data = 'AAA='
    expect(caught(() => loadState(opt, bad6))).toMatchObject({ path: '0.nu.w' })
    expect(caught(() => loadState(opt, { ...json, state: null }))).toMatchObject({ path: '', message: 'invalid state at <root>: expected [{ count, mu, nu }, { count }], got null' })
    const handWritten: GradientTransformation<EmptyState> = { init: () => ({}), update: (u, s) => [u, s] }
    await expect(saveState(handWritten, {})).rejects.toBeInstanceOf(UnsupportedError)
  })
})

describe('chain and stateless details (from surviving mutants)', () => {
  it('chain rejects a state that is not its tuple, naming the lengths', () => {
    const opt = chain(trace({ decay: 0.5 }), scaleByLearningRate(0.1))
    const p = { w: fromArray([1], [1]) }
    const s = opt.init(p)
    const e1 = caught(() => opt.update(p, [s[0]] as never, p))
    expect(e1).toBeInstanceOf(StructureError)
    expect(e1.message).toContain('chain of 2 transformations got a state of length 1')
    const e2 = caught(() => opt.update(p, { 0: s[0], 1: s[1] } as never, p))
    expect(e2.message).toContain('got a state of object')
    expect(chain().update(p, [] as never)[0]).toBe(p)
    dispose([p, s])
  })

  it('a chain has a stateCodec only when every member has one', () => {
    const handWritten: GradientTransformation<EmptyState> = { init: () => ({}), update: (u, s) => [u, s] }
    expect(chain(identity(), scale(2)).stateCodec).toBeDefined()
    expect(chain(identity(), handWritten).stateCodec).toBeUndefined()
    expect(chain(handWritten, identity()).stateCodec).toBeUndefined()
  })

  it('zerosLikeTree names a leaf that is not a tensor', () => {
    const e = caught(() => zerosLikeTree({ layer: { w: 5 } } as never))
    expect(e).toBeInstanceOf(BackendError)
    expect((e as BackendError).path).toBe('layer.w')
    expect(e.message).toContain('leaf is not a Tensor: 5')
  })

  it('stateless starts from {} and passes its params to f', () => {
    const p = { w: fromArray([3], [1]) }
    let seen: unknown
    const t = stateless((u, params) => ((seen = params), u))
    expect(t.init(p)).toEqual({})
    expect(Object.isFrozen(t.init(p))).toBe(true)
    expect(identity().init(p)).toEqual({})
    expect(setToZero().init(p)).toEqual({})
    t.update(p, t.init(p), p)
    expect(seen).toBe(p)
    dispose(p)
  })
})
