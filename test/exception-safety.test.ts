/**
 * Exception safety: every transformation, wrapper and optimizer refuses bad update inputs with a
 * typed error before computing, and whatever path an `update`, `init` or `fit` throws on (missing
 * params, a wrong state, mismatched trees, a schedule or callback that throws), every tensor it
 * allocated is released: the count of live cpu tensors is the same before and after. Errors of the
 * user's own code (a throwing schedule, callback or loss) pass through unchanged.
 */
import { describe, expect, it } from 'vitest'
import * as f from '../src/index.js'
import { type AnyTransformation, FluxionError, MissingParamsError, StructureError, cpu, dispose, fromArray, liveTensors } from '../src/index.js'
import { catalog } from '../laws/catalog.js'

const params = () => ({ w: fromArray([0.5, -1, 2], [3]), b: { c: fromArray([0.25], [1]) } })
const grads = () => ({ w: fromArray([1, -2, 3], [3]), b: { c: fromArray([-0.5], [1]) } })

const catalogued = (): Record<string, () => AnyTransformation> => {
  const values: Record<string, number> = { learningRate: 0.1, maxNorm: 1, threshold: 1, weightDecay: 0.01 }
  return Object.fromEntries(
    catalog.map((e) => [e.name, () => e.make(Object.fromEntries(Object.entries(values).filter(([k]) => k in e.hyperparameters)))]),
  )
}

const primitives: Record<string, () => AnyTransformation> = {
  identity: () => f.identity(), setToZero: () => f.setToZero(), scale: () => f.scale(0.5),
  scaleBySchedule: () => f.scaleBySchedule((k) => 1 / (1 + k)), scaleByLearningRate: () => f.scaleByLearningRate(0.1),
  trace: () => f.trace(), ema: () => f.ema(), scaleByAdam: () => f.scaleByAdam(), scaleByAmsgrad: () => f.scaleByAmsgrad(),
  scaleByAdamax: () => f.scaleByAdamax(), scaleByRms: () => f.scaleByRms(), scaleByStddev: () => f.scaleByStddev(),
  scaleByRss: () => f.scaleByRss(), scaleByAdadelta: () => f.scaleByAdadelta(), scaleByLion: () => f.scaleByLion(),
  scaleByRadam: () => f.scaleByRadam(), clip: () => f.clip(1), clipByNorm: () => f.clipByNorm(1), clipByGlobalNorm: () => f.clipByGlobalNorm(1),
  clipByBlockRms: () => f.clipByBlockRms(1), adaptiveGradClip: () => f.adaptiveGradClip(), addDecayedWeights: () => f.addDecayedWeights({ weightDecay: 0.1 }),
  addL1Penalty: () => f.addL1Penalty({ l1: 0.1 }), addElasticNet: () => f.addElasticNet({ l1: 0.1, l2: 0.1 }), addNoise: () => f.addNoise(),
  centralize: () => f.centralize(), keepParamsNonnegative: () => f.keepParamsNonnegative(), zeroNans: () => f.zeroNans(),
  scaleBySign: () => f.scaleBySign(), scaleByTrustRatio: () => f.scaleByTrustRatio(), scaleByLbfgs: () => f.scaleByLbfgs(),
}

// each around adamw (stateful, and needing the params) or another working inner transformation
const adamw = () => f.adamw({ learningRate: 0.1, weightDecay: 0.01 })
const wrappers: Record<string, () => AnyTransformation> = {
  'chain(adam, emaParams)': () => f.chain(f.adam({ learningRate: 0.1 }), f.emaParams()),
  'masked(adamw)': () => f.masked(adamw(), { w: true, b: { c: false } }),
  freeze: () => f.freeze({ w: true, b: { c: false } }),
  multiTransform: () => f.multiTransform({ a: adamw(), s: f.sgd({ learningRate: 0.1 }) }, { w: 'a', b: { c: 's' } }),
  injectHyperparams: () => f.injectHyperparams(f.adamw)({ learningRate: (k: number) => 0.1 / (1 + k), weightDecay: 0.01 }),
  applyIfFinite: () => f.applyIfFinite(adamw()),
  multiSteps: () => f.multiSteps(adamw(), { everyK: 1 }),
  applyEvery: () => f.applyEvery(2),
  lookahead: () => f.lookahead(f.adam({ learningRate: 0.1 }), { syncPeriod: 1 }),
  emaParams: () => f.emaParams(),
  reduceOnPlateau: () => f.chain(f.adam({ learningRate: 0.1 }), f.reduceOnPlateau()),
}

const everything: Record<string, () => AnyTransformation> = { ...catalogued(), ...primitives, ...wrappers }

/**
 * Runs `call` on a fresh transformation, params, grads and state: a throw must be typed (or
 * `allowed`) and leave the live count as it was, and the inputs live. (A result is released, but
 * not counted: a chain's intermediate updates are the caller's to release, e.g. with `scope`.)
 */
const leakLaw = (
  make: () => AnyTransformation,
  call: (t: AnyTransformation, inputs: { g: f.Params; s: unknown; p: f.Params }) => readonly [f.Params, unknown],
  expectation: { mustThrow?: new (...a: never[]) => Error; allowed?: (e: unknown) => boolean; keep?: unknown } = {},
): { threw: unknown } => {
  const t = make()
  const p = params()
  const g = grads()
  const s = t.init(p)
  const inputs = { g, s, p }
  const before = liveTensors(cpu)
  let threw: unknown
  try {
    const [u, s2] = call(t, inputs)
    dispose([u, s2], [g, s, p, expectation.keep])
  } catch (e) {
    threw = e
  }
  try {
    if (threw !== undefined) expect(liveTensors(cpu), 'tensors left behind').toBe(before)
    if (expectation.mustThrow) expect(threw).toBeInstanceOf(expectation.mustThrow)
    if (threw !== undefined && !expectation.allowed?.(threw)) expect(threw, String(threw)).toBeInstanceOf(FluxionError)
    for (const x of f.tree.leaves([g, p, s] as never) as unknown[]) if (x instanceof f.Tensor) expect(cpu.isLive(x)).toBe(true)
  } finally {
    dispose([g, s, p])
  }
  return { threw }
}

describe('leak law: every error path of every transformation releases what it allocated', () => {
  const names = Object.keys(everything)

  it.each(names)('%s without params: MissingParamsError or a result, before computing, nothing leaked', (name) => {
    leakLaw(everything[name]!, (t, { g, s }) => t.update(g, s), { allowed: (e) => e instanceof MissingParamsError })
  })

  it.each(names)('%s with a state that is no state: a StructureError naming state', (name) => {
    for (const bad of [undefined, null, 5, 'x']) {
      const { threw } = leakLaw(everything[name]!, (t, { g, p }) => t.update(g, bad as never, p), { mustThrow: StructureError })
      expect((threw as StructureError).path === 'state' || (threw as StructureError).path === '').toBe(true)
    }
  })

  it.each(names)('%s with a state missing its fields or of another transform: typed error or a result, nothing leaked', (name) => {
    for (const bad of [{}, [], { count: 0 }, { count: -1 }, { count: 0, mu: {}, nu: {} }]) {
      leakLaw(everything[name]!, (t, { g, p }) => t.update(g, bad as never, p))
    }
  })

  it.each(names)('%s with updates that are no tree of tensors: typed error, nothing leaked', (name) => {
    for (const bad of [undefined, null, 5, 'x', { w: [1, 2, 3], b: { c: 1 } }, { w: fromArray([1, 2, 3], [3]), b: { c: 1 } }]) {
      leakLaw(everything[name]!, (t, { s, p }) => t.update(bad as never, s, p), { mustThrow: FluxionError })
      dispose(bad)
    }
  })

  it.each(names)('%s with mismatched trees (a missing leaf, a wrong shape, an extra leaf): typed error or a result', (name) => {
    const variants = [
      () => ({ w: fromArray([1, 2, 3], [3]) }),
      () => ({ w: fromArray([1, 2], [2]), b: { c: fromArray([1], [1]) } }),
      () => ({ w: fromArray([1, 2, 3], [3]), b: { c: fromArray([1], [1]), d: fromArray([1], [1]) } }),
    ]
    for (const v of variants) {
      const bad = v()
      leakLaw(everything[name]!, (t, { s, p }) => t.update(bad, s, p), { keep: bad })
      leakLaw(everything[name]!, (t, { g, s }) => t.update(g, s, bad), { keep: bad })
      dispose(bad)
    }
  })

  it.each(names)('%s with a disposed update tensor: typed error or a result', (name) => {
    leakLaw(everything[name]!, (t, { g, s, p }) => {
      const dead = fromArray([1], [1])
      dispose(dead)
      return t.update({ ...(g as object), b: { c: dead } } as never, s, p)
    })
  })
})

// the optimizers and primitives whose step size or penalty may be a schedule, the schedule last
const scheduled: Record<string, (s: (k: number) => number) => AnyTransformation> = {
  ...Object.fromEntries(catalog.filter((e) => 'learningRate' in e.hyperparameters).map((e) => [e.name, (s: (k: number) => number) => e.make({ learningRate: s })])),
  'chain(scaleByAdam, scaleBySchedule)': (s) => f.chain(f.scaleByAdam(), f.scaleBySchedule(s)),
  'chain(trace, addDecayedWeights)': (s) => f.chain(f.trace(), f.addDecayedWeights({ weightDecay: s })),
  'chain(scaleByAdam, addElasticNet)': (s) => f.chain(f.scaleByAdam(), f.addElasticNet({ l1: 0.1, l2: s })),
  'injectHyperparams(adam)': (s) => f.injectHyperparams(f.adam)({ learningRate: (k: number) => (k === 0 ? 0.1 : s(k)) }),
  'masked(adam)': (s) => f.masked(f.adam({ learningRate: s }), { w: true, b: { c: true } }),
}

describe('a schedule that throws, or gives NaN, after the first members computed', () => {
  // up to four updates: the schedule throws from count 1 on, so a construction that evaluates it
  // at step 0 still builds. Most transformations evaluate it at their second update; some later:
  // ASGD at its third (PyTorch's η uses the previous step's rate), SAM and the conditional wrappers
  // at the next update that runs their optimizer. One that never reaches count 1 fails the test
  const twoSteps = (t: AnyTransformation, { g, s, p }: { g: f.Params; s: unknown; p: f.Params }) => {
    let state = s
    try {
      for (let k = 0; k < 3; k++) {
        const [u, next] = f.scope(() => t.update(g, state, p)) // these steps work; release their intermediates
        dispose(u, g, p, s)
        if (state !== s) dispose(state, next, s)
        state = next
      }
      return t.update(g, state, p)
    } finally {
      if (state !== s) dispose(state, s)
    }
  }

  it.each(Object.keys(scheduled))('%s: the schedule’s own Error passes through, nothing leaked', (name) => {
    const mine = new Error('my schedule broke')
    const schedule = (k: number) => {
      if (k >= 1) throw mine
      return 0.1
    }
    const { threw } = leakLaw(() => scheduled[name]!(schedule), twoSteps, { allowed: (e) => e === mine })
    expect(threw).toBe(mine)
  })

  it.each(Object.keys(scheduled))('%s: a NaN value is a HyperparameterError, nothing leaked', (name) => {
    const { threw } = leakLaw(() => scheduled[name]!((k) => (k >= 1 ? NaN : 0.1)), twoSteps)
    expect(threw).toBeInstanceOf(f.HyperparameterError)
  })

  it('a schedule that throws at its first call: the Error passes through, nothing leaked', () => {
    const mine = new Error('at once')
    let threw: unknown
    try {
      f.adam({ learningRate: (_k: number): number => { throw mine } })
    } catch (e) {
      threw = e // a factory that evaluates the schedule when it is built
    }
    if (threw === undefined) {
      ;({ threw } = leakLaw(() => f.adam({ learningRate: (_k: number): number => { throw mine } }), (t, { g, s, p }) => t.update(g, s, p), { allowed: (e) => e === mine }))
    }
    expect(threw).toBe(mine)
  })
})

describe('init releases what it allocated when it throws', () => {
  it.each(['trace', 'scaleByAdam', 'zeroNans', 'scaleByLbfgs'])('%s.init on a tree with a non-tensor leaf after a tensor', (name) => {
    const p = { a: fromArray([1, 2], [2]), b: 5 } as unknown as f.Params
    const before = liveTensors(cpu)
    expect(() => everything[name]!().init(p)).toThrow(FluxionError)
    expect(liveTensors(cpu)).toBe(before)
    dispose(p)
  })

  it('a chain whose second member refuses the params releases the first member’s state', () => {
    const p = { a: fromArray([1, 2], [2]) }
    const before = liveTensors(cpu)
    const refuse = { init: () => { throw new Error('no') }, update: (u: f.Params, s: unknown) => [u, s] as const }
    expect(() => f.chain(f.scaleByAdam(), refuse).init(p)).toThrow('no')
    expect(liveTensors(cpu)).toBe(before)
    dispose(p)
  })
})

describe('regressions', () => {
  it('update(grads, undefined, params) is a StructureError naming state, not a TypeError (issue 12)', () => {
    for (const name of ['trace', 'ema', 'scaleByAdam', 'scaleByLbfgs', 'addDecayedWeights', 'addNoise']) {
      const t = everything[name]!()
      const p = params()
      const g = grads()
      const before = liveTensors(cpu)
      let e: unknown
      try {
        t.update(g, undefined as never, p)
      } catch (x) {
        e = x
      }
      expect(e, name).toBeInstanceOf(StructureError)
      expect((e as StructureError).path).toBe('state')
      expect((e as Error).message).toContain(`${name}: state must be`)
      expect(liveTensors(cpu)).toBe(before)
      dispose([p, g])
    }
  })

  it('a state missing a field names state.<field>', () => {
    const t = f.scaleByAdam()
    const p = params()
    const g = grads()
    const s = t.init(p)
    expect(() => t.update(g, { count: 0, mu: s.mu } as never, p)).toThrow(/state\.nu: scaleByAdam: state\.nu is missing/)
    dispose([p, g, s])
  })

  it('adamw.update(g, s) without params throws MissingParamsError before the Adam step: no kernel runs, nothing leaked', () => {
    let probed = 0
    const probe = f.stateless((u) => {
      probed++
      return u
    })
    const t = f.chain(probe, adamw())
    const p = params()
    const g = grads()
    const s = t.init(p)
    const before = liveTensors(cpu)
    expect(() => t.update(g, s)).toThrow(MissingParamsError)
    expect(() => t.update(g, s)).toThrow('addDecayedWeights: update needs the current params')
    expect(probed).toBe(0)
    expect(liveTensors(cpu)).toBe(before)
    expect(() => adamw().update(g, adamw().init(p))).toThrow(MissingParamsError)
    dispose([p, g, s])
  })

  it('updates that are no tree are refused by name', () => {
    const t = f.sgd({ learningRate: 0.1 })
    const s = t.init(params())
    expect(() => t.update(undefined as never, s)).toThrow(StructureError)
    expect(() => t.update(5 as never, s)).toThrow(/updates must be a tree of tensors, got 5/)
    expect(() => t.update({ w: [1, 2] } as never, s)).toThrow(/w\[0\]: updates leaf is not a Tensor/)
  })
})

describe('fit releases everything it allocated when it throws', () => {
  const data = (n: number) => {
    const x = f.hostMatrix(Array.from({ length: 2 * n }, (_, i) => ((i * 7) % 5) / 5 - 0.4), n, 2)
    const y = f.hostMatrix(Array.from({ length: n }, (_, i) => (x.data[2 * i]! > x.data[2 * i + 1]! ? [1, 0] : [0, 1])).flat(), n, 2)
    return { x, y }
  }
  const base = () => ({
    model: f.sequential([f.dense(4), f.relu(), f.dense(2)]),
    loss: f.softmaxCrossEntropy,
    optimizer: adamw(),
    train: data(16),
    epochs: 3,
    batchSize: 4,
    key: f.key(0),
  })

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const throwsAndReleases = async (options: f.FitOptions<any, any, any>, mine: Error) => {
    const before = liveTensors(cpu)
    await expect(f.fit(options)).rejects.toBe(mine)
    expect(liveTensors(cpu)).toBe(before)
  }

  it('an onBatch that throws (the reported 13 tensors)', async () => {
    const mine = new Error('stop')
    await throwsAndReleases({ ...base(), onBatch: (_e, b) => { if (b === 2) throw mine } }, mine)
  })

  it('an onEpoch that throws, with validation and early stopping', async () => {
    const mine = new Error('stop at epoch 2')
    await throwsAndReleases(
      { ...base(), validation: data(8), earlyStopping: { patience: 5 }, onEpoch: (r) => { if (r.epoch === 2) throw mine } },
      mine,
    )
  })

  it('a loss that throws mid-training, and an optimizer schedule that throws', async () => {
    const mine = new Error('loss broke')
    let calls = 0
    const loss: typeof f.softmaxCrossEntropy = (y, t) => {
      if (++calls === 5) throw mine
      return f.softmaxCrossEntropy(y, t)
    }
    await throwsAndReleases({ ...base(), loss }, mine)
    const late = new Error('schedule broke')
    await throwsAndReleases({ ...base(), optimizer: f.adam({ learningRate: (k) => { if (k === 3) throw late; return 0.01 } }) }, late)
  })

  it('the caller’s initial params and state survive a throw; the rest is released', async () => {
    const b = base()
    const initial = b.model.init(f.key(1), [2])
    const before = liveTensors(cpu)
    const mine = new Error('stop')
    await expect(f.fit({ ...b, initial: { params: initial.params, state: initial.state }, onBatch: (_e, k) => { if (k === 3) throw mine } })).rejects.toBe(mine)
    expect(liveTensors(cpu)).toBe(before)
    for (const x of f.tree.leaves(initial.params as never) as unknown[]) expect(cpu.isLive(x as f.Tensor)).toBe(true)
    dispose([initial.params, initial.state])
  })
})
