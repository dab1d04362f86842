/**
 * compileStep on every backend: a set of chains through the compiled-step laws (every optimizer
 * goes through them in the catalogue: test/optimizer-table.test.ts), donation, typed errors before
 * any work, nothing leaked or half-applied on an error path, plans per tree structure.
 */
import { describe, expect, it } from 'vitest'
import {
  type AnyTransformation,
  type Params,
  BackendError,
  DisposedTensorError,
  HyperparameterError,
  MissingParamsError,
  ShapeError,
  StructureError,
  Tensor,
  adam,
  adamw,
  addDecayedWeights,
  applyIfFinite,
  applyUpdates,
  chain,
  clip,
  clipByGlobalNorm,
  clipByNorm,
  compileStep,
  createCpuBackend,
  defineElementwise,
  dispose,
  elementwise,
  ema,
  fromArray,
  fusedTransformations,
  identity,
  lbfgs,
  lookahead,
  read,
  readTree,
  scale,
  scaleByAdam,
  scaleByLearningRate,
  scaleBySchedule,
  scaleByRss,
  sgd,
  stateless,
  sum,
  trace,
  tree,
  warmupCosineDecay,
  zeros,
} from '../src/index.js'
import { checkTransformLaws } from '../laws/vitest.js'
import { allClose } from '../laws/allclose.js'
import { backends, otherThan } from './backends.js'

// chains the catalogue's single optimizers do not cover: norm clips before and after a moment
// rescaling, masks, schedules, an unfused member between fused runs, and a chain ending unfused
const chains: readonly (readonly [string, () => AnyTransformation])[] = [
  ['clipByGlobalNorm → scaleByAdam → addDecayedWeights → lr', () => chain(clipByGlobalNorm(1), scaleByAdam(), addDecayedWeights({ weightDecay: 1e-2 }), scaleByLearningRate(1e-3))],
  ['scaleByAdam → clipByGlobalNorm → lr (the norm of a fused expression)', () => chain(scaleByAdam(), clipByGlobalNorm(0.5), scaleByLearningRate(0.1))],
  ['clipByNorm → trace(nesterov) → clip → schedule', () => chain(clipByNorm(0.3), trace({ decay: 0.8, nesterov: true }), clip(0.05), scaleByLearningRate(warmupCosineDecay({ init: 0, peak: 0.1, warmupSteps: 2, decaySteps: 10 })))],
  ['adamw with a mask (decay only 2-D leaves)', () => adamw({ learningRate: 0.05, weightDecay: 0.1, mask: (p: Params) => tree.map((x: Tensor) => x.shape.length > 1)(p) })],
  ['ema → scaleByRss → scale', () => chain(ema({ decay: 0.5 }), scaleByRss(), scale(-0.01))],
  ['scaleByAdam → applyIfFinite(trace) → lr (unfused in the middle)', () => chain(scaleByAdam(), applyIfFinite(trace({ decay: 0.5 })), scaleByLearningRate(0.1))],
  ['lookahead(sgd) (unfused at the end)', () => lookahead(sgd({ learningRate: 0.1, momentum: 0.9 }), { syncPeriod: 2, slowStepSize: 0.5 })],
  ['identity and a user stateless transform', () => chain(identity(), stateless((u) => u), scaleByLearningRate(0.1))],
]
for (const [name, make] of chains) {
  checkTransformLaws(`compiled ${name}`, make, {
    backends,
    numRuns: 6,
    except: { leftIdentity: 'covered in core', rightIdentity: 'covered in core', associativity: 'covered in core', determinism: 'covered in core', stateRoundTrip: 'covered in core', parity: 'covered in core' },
  })
}

const twoLeaves = (b: (typeof backends)[number]) => ({ a: fromArray([1, -2, 3], [3], b), b: { k: fromArray([0.5, 0.25, -1, 2], [2, 2], b) } })
const gradsOf = (b: (typeof backends)[number]) => ({ a: fromArray([0.1, 0.2, -0.3], [3], b), b: { k: fromArray([1, -1, 0.5, 0], [2, 2], b) } })
const host = (x: unknown) => readTree(x as Params)

describe.each(backends.map((b) => [b.name, b] as const))('compileStep [%s]', (_, b) => {
  it('names what fuses and what does not', () => {
    expect(fusedTransformations(chain(clipByGlobalNorm(1), adam({ learningRate: 1e-3 }), lbfgs()))).toEqual({ fused: ['clipByGlobalNorm', 'scaleByAdam', 'scaleByLearningRate', 'scaleByLearningRate'], unfused: ['scaleByLbfgs', 'scaleByZoomLinesearch'] })
  })

  it('donated params and state become disposed handles; the results equal the unfused step', async () => {
    const opt = chain(clipByGlobalNorm(1), scaleByAdam(), addDecayedWeights({ weightDecay: 1e-2 }), scaleByLearningRate(1e-3))
    const params = twoLeaves(b)
    const g = gradsOf(b)
    const state = opt.init(params)
    const [u, expectedState] = opt.update(g, state, params)
    const expected = applyUpdates(params, u)
    const want = { p: await host(expected), s: await host(expectedState) }
    const before = b.liveCount()
    const [p2, s2] = compileStep(opt, { donate: true })(params, g, state)
    expect(allClose(await host(p2), want.p, b.fusesExactly ? { rtol: 0, atol: 0 } : {}).ok).toBe(true)
    expect(allClose(await host(s2), want.s, b.fusesExactly ? { rtol: 0, atol: 0 } : {}).ok).toBe(true)
    await expect(read(params.a)).rejects.toThrow(DisposedTensorError)
    expect(() => opt.update(g, state, params)).toThrow(DisposedTensorError)
    // the donated tensors are gone and the new ones took their place: no more live tensors than before
    expect(b.liveCount()).toBe(before)
    dispose([p2, s2, g, u, expected, expectedState])
  })

  it('without donation the inputs stay live and unchanged, and a step leaks nothing', async () => {
    const opt = adam({ learningRate: 0.1 })
    const params = twoLeaves(b)
    const g = gradsOf(b)
    const state = opt.init(params)
    const snapshot = await host([params, g, state])
    const step = compileStep(opt)
    const before = b.liveCount()
    const [p2, s2] = step(params, g, state)
    expect(b.liveCount() - before).toBe(tree.leaves(p2).length + 2 * tree.leaves(p2).length)
    expect(allClose(await host([params, g, state]), snapshot, { rtol: 0, atol: 0, nanEqual: true }).ok).toBe(true)
    dispose([p2, s2, params, g, state])
  })

  it('refuses bad input with the unfused typed errors, before any work, leaving donated inputs whole', async () => {
    const opt = chain(clipByGlobalNorm(1), adam({ learningRate: 0.1 }))
    const step = compileStep(opt, { donate: true })
    const params = twoLeaves(b)
    const state = opt.init(params)
    const snapshot = await host([params, state])
    const before = b.liveCount()
    const g = gradsOf(b)
    const wrongKey = { a: g.a, c: g.b }
    expect(() => step(params, wrongKey, state)).toThrow(StructureError)
    const wrongShape = { a: fromArray([1, 2], [2], b), b: g.b }
    expect(() => step(params, wrongShape, state)).toThrow(/a: \[3\] vs \[2\]|\ba\b/)
    expect(() => step(params, wrongShape, state)).toThrow(ShapeError)
    const elsewhere = { a: fromArray([1, 2, 3], [3], otherThan(b)), b: g.b }
    expect(() => step(params, elsewhere, state)).toThrow(BackendError)
    const dead = { a: fromArray([1, 2, 3], [3], b), b: g.b }
    dispose(dead.a)
    expect(() => step(params, dead, state)).toThrow(DisposedTensorError)
    expect(() => step(params, g, [state[0]] as unknown as typeof state)).toThrow(StructureError)
    expect(() => step(params, g, [state[0], { ...(state[1] as object), 0: undefined }] as unknown as typeof state)).toThrow()
    dispose([wrongShape.a, elsewhere.a])
    // nothing was allocated (the two live tensors more are g's), nothing donated was touched
    expect(b.liveCount()).toBe(before + 2)
    expect(allClose(await host([params, state]), snapshot, { rtol: 0, atol: 0, nanEqual: true }).ok).toBe(true)
    dispose([params, state, g])
  })

  it('a schedule that returns NaN throws before anything is computed', async () => {
    const opt = chain(scaleByAdam(), scaleBySchedule((k) => (k < 1 ? 0.1 : NaN)))
    const step = compileStep(opt, { donate: true })
    let params: Params = twoLeaves(b)
    let state = opt.init(params)
    const g = gradsOf(b)
    ;[params, state] = step(params, g, state)
    const snapshot = await host([params, state])
    const before = b.liveCount()
    expect(() => step(params, g, state)).toThrow(HyperparameterError)
    expect(b.liveCount()).toBe(before)
    expect(allClose(await host([params, state]), snapshot, { rtol: 0, atol: 0, nanEqual: true }).ok).toBe(true)
    dispose([params, state, g])
  })

  it('an unfused member that throws leaves donated inputs whole and releases what was computed', async () => {
    let calls = 0
    const failing = stateless((u) => {
      if (++calls === 2) throw new Error('boom')
      return u
    })
    const opt = chain(scaleByAdam(), failing, scaleByLearningRate(0.1))
    const step = compileStep(opt, { donate: true })
    let params: Params = twoLeaves(b)
    let state = opt.init(params)
    const g = gradsOf(b)
    ;[params, state] = step(params, g, state)
    const snapshot = await host([params, state])
    const before = b.liveCount()
    expect(() => step(params, g, state)).toThrow('boom')
    expect(b.liveCount()).toBe(before)
    expect(allClose(await host([params, state]), snapshot, { rtol: 0, atol: 0, nanEqual: true }).ok).toBe(true)
    dispose([params, state, g])
  })

  it('params passed as their own gradient (½‖θ‖²) with donation: correct, and released once', async () => {
    const opt = adam({ learningRate: 0.1 })
    const p1 = twoLeaves(b)
    const p2 = twoLeaves(b)
    const s1 = opt.init(p1)
    const s2 = opt.init(p2)
    const [u, n1] = opt.update(p1, s1, p1)
    const expected = await host(applyUpdates(p1, u))
    const [q, n2] = compileStep(opt, { donate: true })(p2, p2, s2)
    expect(allClose(await host(q), expected, b.fusesExactly ? { rtol: 0, atol: 0 } : {}).ok).toBe(true)
    expect(tree.leaves(p2).every((x) => !b.isLive(x as Tensor))).toBe(true)
    dispose([q, n2, p1, s1, u, n1])
  })

  it('with donation, a tensor an unfused member keeps in its state is not overwritten', async () => {
    // a user-written transformation that remembers the params it saw (the same tensor objects)
    const remember: AnyTransformation = {
      init: () => ({ seen: null }),
      update: (u: Params, _s: unknown, p?: Params) => [u, { seen: p }] as const,
    }
    const opt = chain(scaleByAdam(), remember, scaleByLearningRate(0.1))
    const params = twoLeaves(b)
    const before = await host(params)
    const state = opt.init(params)
    const [q, s2] = compileStep(opt, { donate: true })(params, gradsOf(b), state)
    const seen = (s2 as unknown as readonly [unknown, { seen: Params }, unknown])[1].seen
    expect(tree.leaves(seen).every((x) => b.isLive(x as Tensor))).toBe(true)
    expect(allClose(await host(seen), before, { rtol: 0, atol: 0 }).ok).toBe(true)
    dispose([q, s2])
  })

  it('keeps one plan per tree structure: alternating structures stay correct', async () => {
    const opt = sgd({ learningRate: 0.5 })
    const step = compileStep(opt)
    const small = { w: fromArray([2], [1], b) }
    const big = twoLeaves(b)
    for (let i = 0; i < 3; i++) {
      for (const p of [small, big]) {
        const s = opt.init(p)
        const [q, s2] = step(p, p, s)
        const want = (await host(p)) as unknown
        const got = (await host(q)) as unknown
        // sgd: θ − 0.5 θ = 0.5 θ
        expect(allClose(got as object, tree.map((x: Float32Array) => x.map((v) => Math.fround(v * 0.5)))(want as never) as object, {}).ok).toBe(true)
        dispose([q, s2, s])
      }
    }
    dispose([small, big])
  })

  it('reduceElementwise sums what elementwise would store, broadcast inputs included', async () => {
    const op = defineElementwise({ name: 'sqPlus', inputs: ['x', 'c'], scalars: ['a'], lets: [['y', 'x * a + c']], outputs: ['y * y', 'x'] })
    const x = fromArray(Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 3), [10, 100], b)
    const c = fromArray([0.25], [], b)
    const layout = { shape: x.shape, size: x.size, reads: [{ kind: 'same' as const }, { kind: 'mod' as const, size: 1 }] }
    const sums = b.reduceElementwise!(op, [x, c], [1.5], layout)
    const [yy, xx] = elementwise(op, [x, c], [1.5])
    const expected = [await read(sum(yy!)), await read(sum(xx!))]
    for (let k = 0; k < 2; k++) {
      expect(sums[k]!.shape).toEqual([])
      const [got] = await read(sums[k]!)
      expect(Math.abs(got! - expected[k]![0]!)).toBeLessThanOrEqual(b.fusesExactly ? 0 : 1e-4 * Math.abs(expected[k]![0]!))
    }
    dispose([x, c, sums, yy, xx])
  })

  it('zero-size leaves pass through every fused stage', async () => {
    const opt = chain(clipByGlobalNorm(1), adam({ learningRate: 0.1 }))
    const params = { e: zeros([0, 3], b), w: fromArray([3, 4], [2], b) }
    const state = opt.init(params)
    const [q, s2] = compileStep(opt)(params, params, state)
    expect((q.e as Tensor).shape).toEqual([0, 3])
    expect(Array.from(await read(q.w as Tensor)).every(Number.isFinite)).toBe(true)
    dispose([q, s2, params, state])
  })
})

describe('compileStep refuses what update refuses (review findings)', () => {
  it('a cached plan does not take a hidden own key for a missing one', () => {
    const opt = chain(scaleByLearningRate(0.1))
    const step = compileStep(opt)
    const p = { a: fromArray([1], [1]), b: fromArray([2], [1]) }
    const s = opt.init(p)
    const [q] = step(p, { a: fromArray([1], [1]), b: fromArray([1], [1]) }, s)
    const g: Record<string, unknown> = { a: fromArray([1], [1]), c: fromArray([100], [1]) }
    Object.defineProperty(g, 'b', { value: fromArray([5], [1]), enumerable: false })
    expect(() => step(p, g as Params, s)).toThrow(StructureError)
    dispose([q, p, g])
  })

  it('a global norm over leaves on two backends throws even when one side is empty', () => {
    const other = createCpuBackend('cpu:other')
    const opt = chain(clipByGlobalNorm(1), scaleByLearningRate(0.1))
    const p = { a: fromArray([1, 2], [2]), b: zeros([0], other) }
    const g = { a: fromArray([3, 4], [2]), b: zeros([0], other) }
    expect(() => opt.update(g, opt.init(p), p)).toThrow(BackendError)
    expect(() => compileStep(opt)(p, g, opt.init(p))).toThrow(BackendError)
    dispose([p, g])
  })

  it('no params: MissingParamsError naming the member that needs them', () => {
    const opt = adamw({ learningRate: 0.1, weightDecay: 0.1 })
    const g = { w: fromArray([1]) }
    expect(() => opt.update(g, opt.init(g))).toThrow(MissingParamsError)
    expect(() => compileStep(opt)(undefined as unknown as Params, g, opt.init(g))).toThrow(MissingParamsError)
    dispose(g)
  })

  it('the returned state is frozen all the way down, as update returns it', () => {
    const opt = chain(identity(), clip(1), scaleByAdam(), scaleByLearningRate(0.1))
    const p = { w: fromArray([1, 2]) }
    const thawed = [{}, {}, { ...(opt.init(p)[2] as object) }, { count: 0 }] as unknown as ReturnType<typeof opt.init>
    const [q, s2] = compileStep(opt)(p, p, thawed)
    const frozenDeep = (x: unknown): boolean => x === null || typeof x !== 'object' || x instanceof Tensor || (Object.isFrozen(x) && Object.values(x).every(frozenDeep))
    expect(frozenDeep(s2)).toBe(true)
    dispose([q, s2, p, thawed])
  })
})

it('compileStep validates its arguments', () => {
  expect(() => compileStep(5 as never)).toThrow(HyperparameterError)
  expect(() => fusedTransformations(null as never)).toThrow(/fusedTransformations: transform = null/)
  expect(() => compileStep(adam({ learningRate: 1 }), { donat: true } as never)).toThrow(/donat/)
  expect(() => compileStep(adam({ learningRate: 1 }), { donate: 1 } as never)).toThrow(/donate = 1/)
})
