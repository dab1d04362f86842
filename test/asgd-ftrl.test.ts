/**
 * PyTorch's averaged SGD and Keras' FTRL-Proximal (src/optimizers/asgd-ftrl.ts) and their
 * primitives: each against its float64 reference (laws/reference/asgd-ftrl.ts) on every backend,
 * the average `asgdEvalParams` included; the law catalogue over laws/catalog-asgd-ftrl.ts; the
 * non-finite policy; option validation; state round trips through the codecs; and, beyond the
 * trajectories test/goldens.test.ts checks (pytorch-asgd.json, keras-ftrl.json), PyTorch's own
 * `state['ax']` after every step and Keras' exact zeros of L1-sparse coordinates.
 */
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as f from '../src/index.js'
import { type Optimizer, type Params, type Schedule, type Tensor, applyUpdates, cpu, dispose, fromArray, scope, tree } from '../src/index.js'
import { catalogAsgdFtrl } from '../laws/catalog-asgd-ftrl.js'
import { allClose, float32Tolerance } from '../laws/allclose.js'
import { type SequenceInput, hyperparametersArb, sequenceArb } from '../laws/arbitraries.js'
import { HostTensor, type HostTree, toDevice, toHost } from '../laws/host.js'
import * as ref from '../laws/reference/asgd-ftrl.js'
import { runTransform } from '../laws/run.js'
import { assertLaw, propertySeed, verifyTransformLaws } from '../laws/runners.js'
import { backends } from './backends.js'
import { caught } from './helpers.js'

type Leaves = Float64Array[]
const leaves = (t: HostTree): Leaves => tree.leaves(t).map((x) => Float64Array.from(x.data))

// ---- against the float64 references, on every backend -------------------------------------------

const lr = fc.double({ min: 1e-3, max: 0.3, noNaN: true })
const rate = fc.oneof(
  lr.map((a): Schedule => () => a),
  fc.tuple(lr, fc.integer({ min: 1, max: 4 })).map(([a, tau]): Schedule => (k) => (k <= tau ? a * (1 - k / (2 * tau)) : a / 2)),
)
const small = fc.oneof(fc.constant(0), fc.double({ min: 1e-4, max: 0.5, noNaN: true }))

interface Case<H> {
  readonly name: string
  readonly hyper: fc.Arbitrary<H>
  readonly make: (h: H) => Optimizer
  /** The params after the last step, and what the run's final state must give for them. */
  readonly reference: (theta0: Leaves, grads: Leaves[], h: H) => { readonly theta: Leaves; readonly evaluated?: Leaves }
  readonly evaluate?: (state: unknown, params: Params) => Params
}
const c = <H,>(x: Case<H>): Case<unknown> => x as Case<unknown>

const cases: Case<unknown>[] = [
  c({
    name: 'asgd, with the average asgdEvalParams returns',
    hyper: fc.record({
      gamma: rate,
      lambd: small,
      alpha: fc.double({ min: 0, max: 2, noNaN: true }),
      // t₀ below the step count, so that the average is exercised (PyTorch's 1e6 means no averaging)
      t0: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 4, noNaN: true }), fc.constant(1e6)),
      weightDecay: small,
      maximize: fc.boolean(),
    }),
    make: (h) => f.asgd({ learningRate: h.gamma, lambd: h.lambd, alpha: h.alpha, t0: h.t0, weightDecay: h.weightDecay, maximize: h.maximize }),
    reference: (t, g, h) => {
      const r = ref.asgdReference(t, g, h.gamma, h)
      return { theta: r.theta, evaluated: r.ax }
    },
    evaluate: f.asgdEvalParams,
  }),
  c({
    name: 'ftrl',
    hyper: fc.record({
      alpha: rate,
      learningRatePower: fc.oneof(fc.constant(-0.5), fc.constant(0), fc.double({ min: -1, max: 0, noNaN: true })),
      initialAccumulatorValue: fc.oneof(fc.constant(0.1), fc.double({ min: 1e-3, max: 1, noNaN: true })),
      l1RegularizationStrength: small,
      l2RegularizationStrength: small,
      l2ShrinkageRegularizationStrength: small,
      beta: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 1, noNaN: true })),
      weightDecay: small,
    }),
    make: ({ alpha, ...h }) => f.ftrl({ learningRate: alpha, ...h }),
    reference: (t, g, h) => ({ theta: ref.ftrlReference(t, g, h.alpha, h) }),
  }),
]

describe.each(backends)('asgd and ftrl against their float64 references on $name', (backend) => {
  it.each(cases.map((x) => [x.name, x] as const))('%s', (_n, x) =>
    assertLaw(
      fc.tuple(sequenceArb({ minSteps: 2, maxSteps: 6, grads: { zeroWeight: 0 } }), x.hyper),
      async ([input, h]: [SequenceInput, unknown]) => {
        const tol = float32Tolerance
        const expected = x.reference(leaves(input.params), input.grads.map(leaves), h)
        // draws where a float32 rounding of the inputs (±2⁻²³ relative) moves the float64 result
        // beyond the tolerance (FTRL's |z| ≤ λ₁ decided by rounding) are skipped, as in
        // test/modern-optimizers.test.ts
        const nudge = (l: Leaves, d: number): Leaves => l.map((a) => a.map((v) => v * (1 + d * 2 ** -23)))
        for (const d of [1, -1]) {
          for (const [p0, gs] of [[nudge(leaves(input.params), d), input.grads.map(leaves)], [leaves(input.params), input.grads.map((g) => nudge(leaves(g), d))]] as const) {
            const nudged = x.reference(p0, gs, h)
            fc.pre(allClose(nudged.theta, expected.theta, tol).ok && (nudged.evaluated === undefined || allClose(nudged.evaluated, expected.evaluated!, tol).ok))
          }
        }
        const opt = x.make(h)
        let params: Params = toDevice(input.params, backend)
        let state = opt.init(params)
        try {
          for (const g of input.grads) {
            const gd = toDevice(g, backend)
            const [p2, s2] = scope(() => {
              const [u, s] = opt.update(gd, state, params)
              return [applyUpdates(params, u), s] as const
            })
            dispose([gd, params, state], [p2, s2])
            params = p2
            state = s2
          }
          const theta = allClose(leaves(await toHost(params)), expected.theta, tol)
          if (!theta.ok || x.evaluate === undefined) return theta
          const evaluated = x.evaluate(state, params)
          const averaged = leaves(await toHost(evaluated))
          dispose(evaluated)
          return allClose(averaged, expected.evaluated!, tol)
        } finally {
          dispose([params, state])
        }
      },
      8, backend.name,
    ),
  )
})

// ---- the law catalogue over the new entries ------------------------------------------------------

// test/laws.test.ts runs the same entries on every backend, the software WebGPU adapter included;
// here they run on the others, where a law run costs well under a second
const lawBackends = backends.filter((b) => b.name !== 'gpu:webgpu')

describe('laws of the catalogued asgd, ftrl and their primitives, hyperparameters drawn from their codecs', () => {
  it.each(catalogAsgdFtrl.map((e) => [e.name, e] as const))('%s', async (_n, entry) => {
    const draws = fc.sample(hyperparametersArb(entry.hyperparameters), { numRuns: 2, seed: propertySeed() })
    for (const hp of draws) {
      const reports = await verifyTransformLaws(() => entry.make(hp), { backends: lawBackends, numRuns: 2, except: { associativity: 'covered by the chain laws of test/laws.test.ts', ...(entry.parityException ? { parity: entry.parityException } : {}) } })
      expect(reports.filter((r) => !r.ok).map((r) => `${r.law} ${r.backend}: ${r.message}`), JSON.stringify(hp)).toEqual([])
    }
  }, 120_000)
})

// ---- the non-finite policy (docs/nonfinite.md) ---------------------------------------------------

describe.each(backends)('a NaN, ±∞ or overflowing gradient is never a finite or silent-0 step, on $name', (backend) => {
  it.each(catalogAsgdFtrl.map((e) => [e.name, e] as const))('%s', async (_n, entry) => {
    const params = new HostTensor([2], [0.5, -1])
    const grads = (v: number) => [[1, -2], [v, 1], [0.5, 1], [1, 1]].map((g) => new HostTensor([2], g))
    const make = () => entry.make(Object.fromEntries(Object.entries({ learningRate: 0.1, t0: 1 }).filter(([k]) => k in entry.hyperparameters)))
    for (const v of [NaN, Infinity, -Infinity]) {
      const run = await runTransform(make(), params, grads(v), backend)
      expect(Number.isFinite((run.updates[1] as HostTensor).data[0]), `${v}: update ${(run.updates[1] as HostTensor).data[0]}`).toBe(false)
      for (const p of run.params.slice(1)) expect(Number.isFinite((p as HostTensor).data[0])).toBe(false)
    }
    // 1e30 overflows FTRL's n + g²: never an exact 0 step there (ASGD steps by η·1e30)
    const run = await runTransform(make(), params, grads(1e30), backend)
    run.updates.slice(1).forEach((u, k) => expect((u as HostTensor).data[0] === 0, `step ${k + 1}`).toBe(false))
  })

  it('ftrl: a coordinate that never saw a gradient, with n₀ = λ₂ = β = 0, stays exactly where it is (not 0/0)', async () => {
    const opt = f.ftrl({ learningRate: 0.1, initialAccumulatorValue: 0 })
    const run = await runTransform(opt, new HostTensor([2], [1, 2]), Array.from({ length: 4 }, () => new HostTensor([2], [0, 0.5])), backend)
    for (const u of run.updates) {
      const [never, seen] = (u as HostTensor).data
      expect(never === 0).toBe(true)
      expect(Number.isFinite(seen) && seen !== 0).toBe(true)
    }
  })

  it('ftrl with L1: a coordinate whose |z| stays within λ₁ is exactly 0', async () => {
    const opt = f.ftrl({ learningRate: 0.5, l1RegularizationStrength: 1 })
    const run = await runTransform(opt, new HostTensor([2], [0.3, -2]), Array.from({ length: 3 }, () => new HostTensor([2], [0.2, -3])), backend)
    const last = (run.params[2] as HostTensor).data
    expect(last[0]).toBe(0)
    expect(last[1]! < 0).toBe(true) // −0.486 by hand: z = 6.06 > λ₁
  })
})

// ---- the frameworks' own values beyond the trajectories -------------------------------------------

interface Golden {
  readonly id: string
  readonly problem: string
  readonly learningRate: number
  readonly options: Readonly<Record<string, unknown>>
  readonly params: readonly (readonly string[])[]
  readonly averaged?: readonly (readonly string[])[]
}
const goldens = (name: string) => JSON.parse(readFileSync(new URL(`./fixtures/goldens/${name}`, import.meta.url), 'utf8')) as { readonly trajectories: readonly Golden[] }
const problems = (JSON.parse(readFileSync(new URL('./fixtures/goldens/problems.json', import.meta.url), 'utf8')) as {
  readonly problems: Readonly<Record<string, { readonly leaves: readonly { readonly name: string; readonly shape: number[]; readonly init: string }[]; readonly grads?: readonly (readonly string[])[]; readonly quadratic?: { readonly h: string; readonly c: string }; readonly lrMultipliers?: string }>>
}).problems

const unhex = (text: string): Float32Array => {
  const words = text === '' ? [] : text.split(' ')
  const view = new DataView(new ArrayBuffer(4 * words.length))
  words.forEach((w, i) => view.setUint32(4 * i, parseInt(w, 16)))
  return Float32Array.from({ length: words.length }, (_, i) => view.getFloat32(4 * i))
}

/** Runs a golden trajectory on cpu; `each(k, params, state)` sees the params and state after step k. */
const replay = (t: Golden, make: (o: never) => Optimizer, each: (k: number, params: Params, state: unknown) => void) => {
  const p = problems[t.problem]!
  const m = p.lrMultipliers === undefined ? undefined : unhex(p.lrMultipliers)
  const opt = make({ ...t.options, learningRate: m === undefined ? t.learningRate : (k: number) => Math.fround(t.learningRate * m[k]!) } as never)
  const toTree = (values: readonly Float32Array[]) => Object.fromEntries(p.leaves.map((l, i) => [l.name, fromArray(values[i]!, l.shape, cpu)]))
  const q = p.quadratic && { h: unhex(p.quadratic.h), c: unhex(p.quadratic.c) }
  let params: Params = toTree(p.leaves.map((l) => unhex(l.init)))
  let state = opt.init(params)
  try {
    for (let k = 0; k < t.params.length; k++) {
      const x = p.leaves.map((l) => Float32Array.from(cpu.readSync!((params as Record<string, Tensor>)[l.name]!)!))
      const grads = toTree(p.grads ? p.grads[k]!.map(unhex) : [x[0]!.map((v, i) => Math.fround(q!.h[i]! * Math.fround(v - q!.c[i]!)))])
      const [p2, s2] = scope(() => {
        const [u, s] = opt.update(grads, state, params)
        return [applyUpdates(params, u), s] as const
      })
      dispose([grads, params, state], [p2, s2])
      params = p2
      state = s2
      each(k, params, state)
    }
  } finally {
    dispose([params, state])
  }
}

describe('PyTorch ASGD\'s state[\'ax\'] after every step (pytorch-asgd.json)', () => {
  const fixture = goldens('pytorch-asgd.json')
  it('asgdEvalParams equals it at 1e-6 relative / 1e-7 absolute, on every trajectory', () => {
    const failures: string[] = []
    let worst = 0
    for (const t of fixture.trajectories) {
      replay(t, f.asgd as never, (k, params, state) => {
        const ax = f.asgdEvalParams(state, params)
        problems[t.problem]!.leaves.forEach((l, j) => {
          const actual = cpu.readSync!((ax as Record<string, Tensor>)[l.name]!)!
          const expected = unhex(t.averaged![k]![j]!)
          expected.forEach((e, i) => {
            const d = Math.abs(actual[i]! - e)
            if (e !== 0) worst = Math.max(worst, d / Math.abs(e))
            if (!(d <= 1e-7 + 1e-6 * Math.abs(e))) failures.push(`${t.id} step ${k + 1} ${l.name}[${i}]: ${actual[i]} vs ${e}`)
          })
        })
        dispose(ax)
      })
    }
    expect(failures.slice(0, 5), `${failures.length} diverging`).toEqual([])
    expect(worst).toBeLessThan(1e-6)
  })
})

describe('Keras Ftrl\'s exact zeros (keras-ftrl.json)', () => {
  it('where Keras holds a coordinate at 0 (L1 sparsity), fluxion holds it at exactly 0; the fixture has such zeros', () => {
    let zeros = 0
    const failures: string[] = []
    for (const t of goldens('keras-ftrl.json').trajectories) {
      replay(t, f.ftrl as never, (k, params) => {
        problems[t.problem]!.leaves.forEach((l, j) => {
          const actual = cpu.readSync!((params as Record<string, Tensor>)[l.name]!)!
          unhex(t.params[k]![j]!).forEach((e, i) => {
            if (e !== 0) return
            zeros++
            if (actual[i] !== 0) failures.push(`${t.id} step ${k + 1} ${l.name}[${i}]: ${actual[i]}`)
          })
        })
      })
    }
    expect(failures).toEqual([])
    expect(zeros).toBeGreaterThan(50)
  })
})

// ---- validation ----------------------------------------------------------------------------------

describe('options are validated, naming the field and the range', () => {
  const rejected: readonly (readonly [string, () => unknown, string, string])[] = [
    ['asgd learningRate < 0', () => f.asgd({ learningRate: -1 }), 'learningRate', 'a finite number ≥ 0 or a schedule'],
    ['asgd lambd NaN', () => f.asgd({ learningRate: 0.1, lambd: NaN }), 'lambd', 'a finite number ≥ 0'],
    ['asgd alpha < 0', () => f.asgd({ learningRate: 0.1, alpha: -0.5 }), 'alpha', 'a finite number ≥ 0'],
    ['asgd t0 infinite', () => f.asgd({ learningRate: 0.1, t0: Infinity }), 't0', 'a finite number ≥ 0'],
    ['asgd weightDecay schedule', () => f.asgd({ learningRate: 0.1, weightDecay: (() => 0.1) as never }), 'weightDecay', 'a finite number ≥ 0'],
    ['asgd maximize not a boolean', () => f.asgd({ learningRate: 0.1, maximize: 1 as never }), 'maximize', 'boolean'],
    ['asgd misspelt option', () => f.asgd({ learningRate: 0.1, lambda: 0.1 } as never), 'lambda', 'no such option'],
    ['scaleByAsgd t0 < 0', () => f.scaleByAsgd({ learningRate: 0.1, t0: -1 }), 't0', 'a finite number ≥ 0'],
    ['ftrl learningRate 0', () => f.ftrl({ learningRate: 0 }), 'learningRate', 'a finite number > 0 or a schedule'],
    ['ftrl learningRatePower > 0', () => f.ftrl({ learningRate: 0.1, learningRatePower: 0.5 }), 'learningRatePower', 'a finite number ≤ 0'],
    ['ftrl initialAccumulatorValue < 0', () => f.ftrl({ learningRate: 0.1, initialAccumulatorValue: -0.1 }), 'initialAccumulatorValue', 'a finite number ≥ 0'],
    ['ftrl l1 < 0', () => f.ftrl({ learningRate: 0.1, l1RegularizationStrength: -1 }), 'l1RegularizationStrength', 'a finite number ≥ 0'],
    ['ftrl beta < 0', () => f.ftrl({ learningRate: 0.1, beta: -1 }), 'beta', 'a finite number ≥ 0'],
    ['ftrl Keras name', () => f.ftrl({ learningRate: 0.1, l1_regularization_strength: 0.1 } as never), 'l1_regularization_strength', 'no such option'],
    ['scaleByFtrl l2Shrinkage NaN', () => f.scaleByFtrl({ learningRate: 0.1, l2ShrinkageRegularizationStrength: NaN }), 'l2ShrinkageRegularizationStrength', 'a finite number ≥ 0'],
  ]
  it.each(rejected)('%s', (_n, build, field, expected) => {
    const e = caught(build)
    expect(e).toBeInstanceOf(f.HyperparameterError)
    expect((e as f.HyperparameterError).field).toBe(field)
    expect((e as f.HyperparameterError).expected).toContain(expected)
  })

  it('a schedule value out of range is refused at the step it is evaluated, naming the step', () => {
    const p = { w: fromArray([1, 2]) }
    const g = { w: fromArray([1, 1]) }
    const opt = f.ftrl({ learningRate: (k) => (k === 0 ? 0.1 : 0) })
    const [u, s] = opt.update(g, opt.init(p), p)
    const e = caught(() => opt.update(g, s, p))
    expect(e).toBeInstanceOf(f.HyperparameterError)
    expect((e as f.HyperparameterError).field).toBe('learningRate(step 1)')
    dispose([p, g, u, s])
  })

  it('both need the params; a state with a missing field is refused before any work', () => {
    const p = { w: fromArray([1, 2]) }
    const g = { w: fromArray([1, 1]) }
    for (const opt of [f.asgd({ learningRate: 0.1 }), f.ftrl({ learningRate: 0.1 })]) {
      const s = opt.init(p)
      expect(() => opt.update(g, s)).toThrow(f.MissingParamsError)
      dispose(s)
    }
    const a = f.scaleByAsgd({ learningRate: 0.1 })
    const fr = f.scaleByFtrl({ learningRate: 0.1 })
    expect(() => a.update(g, { count: 0 } as never, p)).toThrow(f.StructureError)
    expect(() => fr.update(g, { count: 0, accumulator: p } as never, p)).toThrow(f.StructureError)
    expect(() => a.update(g, { count: -1, ax: p }, p)).toThrow(f.StructureError)
    expect(() => f.asgdEvalParams([fr.init(p)], p)).toThrow(f.StructureError)
    dispose([p, g])
  })

  it('asgdEvalParams gives the params before the first step, then the average, as fresh tensors', async () => {
    const p = { w: fromArray([1, -2]) }
    const opt = f.asgd({ learningRate: 0.1, t0: 0 })
    const s0 = opt.init(p)
    const e0 = f.asgdEvalParams(s0, p)
    expect(await f.readTree(e0)).toEqual(await f.readTree(p))
    expect((e0 as { w: Tensor }).w).not.toBe(p.w)
    const [u, s1] = opt.update({ w: fromArray([1, 1]) }, s0, p)
    const p1 = applyUpdates(p, u)
    const e1 = f.asgdEvalParams(s1, p1)
    expect(await f.readTree(e1)).toEqual(await f.readTree(p1))
    dispose([p, s0, e0, u, s1, p1, e1])
  })
})

describe('the average is the Polyak–Ruppert mean', () => {
  it('from step t₀ + 3 on, asgdEvalParams is the mean of the params of steps t₀ + 2 … t (t₀ = 1)', async () => {
    const grads = [[1, -2], [0.5, 1], [-1, 0.25], [2, 2], [0.3, -0.7], [-0.4, 1.5]].map((g) => new HostTensor([2], g))
    const opt = f.asgd({ learningRate: 0.1, t0: 1 })
    const run = await runTransform(opt, new HostTensor([2], [1, -1]), grads, cpu)
    // replay to read the final state's average
    let params: Params = { w: fromArray([1, -1]) }
    let state = opt.init(params)
    for (const g of grads) {
      const gd = { w: fromArray(g.data) }
      const [p2, s2] = scope(() => {
        const [u, s] = opt.update(gd, state, params)
        return [applyUpdates(params, u), s] as const
      })
      dispose([gd, params, state], [p2, s2])
      params = p2
      state = s2
    }
    const averaged = f.asgdEvalParams(state, params)
    const thetas = run.params.slice(2).map((p) => (p as HostTensor).data)
    const mean = [0, 1].map((i) => thetas.reduce((a, t) => a + t[i]!, 0) / thetas.length)
    expect(allClose(Array.from((await f.readTree(averaged as { w: Tensor })).w), mean, { rtol: 1e-6, atol: 1e-7 }).ok).toBe(true)
    dispose([params, state, averaged])
  })
})

// ---- state round trip through the codecs ---------------------------------------------------------

describe('saveState / loadState round trip: a resumed run continues exactly', () => {
  const makers: [string, () => Optimizer][] = [
    ['asgd', () => f.asgd({ learningRate: 0.05, t0: 1, weightDecay: 0.01 })],
    ['ftrl', () => f.ftrl({ learningRate: 0.1, l1RegularizationStrength: 0.01, l2ShrinkageRegularizationStrength: 0.01 })],
  ]
  it.each(makers)('%s', async (_n, make) => {
    const opt = make()
    const gs = [[1, -2, 0.5, 0, 3, 1], [0.5, 1, -1, 2, -3, 1], [-1, 2, 0.5, 1, 1, -2]].map((g) => ({ w: fromArray(g.slice(0, 4), [2, 2]), b: fromArray(g.slice(4)) }))
    const step = (p: Params, s: unknown, g: Params) => scope(() => {
      const [u, s2] = opt.update(g, s as never, p)
      return [applyUpdates(p, u), s2] as const
    })
    const p0 = { w: fromArray([0.5, -1, 2, 0.1], [2, 2]), b: fromArray([1, -1]) }
    const [p1, s1] = step(p0, opt.init(p0), gs[0]!)
    const saved = JSON.parse(JSON.stringify(await f.saveState(opt, s1))) as unknown
    const loaded = f.loadState(opt, saved, cpu)
    const [pa, sa] = step(p1, s1, gs[1]!)
    const [pb, sb] = step(p1, loaded, gs[1]!)
    const [pa2] = step(pa, sa, gs[2]!)
    const [pb2] = step(pb, sb, gs[2]!)
    expect(await f.readTree(pb2)).toEqual(await f.readTree(pa2))
    expect(() => f.loadState(f.adam({ learningRate: 0.01 }), saved, cpu)).toThrow()
    dispose([gs, p0, p1, s1, loaded, pa, sa, pb, sb, pa2, pb2])
  })
})
