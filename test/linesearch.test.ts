/**
 * The line searches (src/transforms/linesearch.ts) on every backend: against their float64
 * references (laws/reference/linesearch.ts, after Nocedal & Wright Algorithms 3.1, 3.5, 3.6 and
 * Optax); the Armijo and strong Wolfe conditions at the accepted step on random convex quadratics
 * and quartics; what a failed search does; the extras `update` needs; `valueAndGradFromState` and
 * `minimize`; L-BFGS with its zoom search against Optax's own runs
 * (test/fixtures/goldens/optax-linesearch.json, scripts/goldens/optax_linesearch_goldens.py);
 * option validation; and the docs example. The transform laws run through the catalogue
 * (laws/catalog.ts, test/laws.test.ts).
 */
import { readFileSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type Backend,
  type GradientTransformation,
  HyperparameterError,
  scaleTensor,
  sumOfSquares,
  UnsupportedError,
  type Params,
  StructureError,
  type Tensor,
  adam,
  add,
  applyUpdates,
  chain,
  cpu,
  defineElementwise,
  dispose,
  elementwise,
  fromArray,
  lbfgs,
  liveTensors,
  readTree,
  scaleByLbfgs,
  scaleByLearningRate,
  scope,
  sgd,
  sum,
  tree,
} from '../src/index.js'
import {
  type ScaleByBacktrackingLinesearchState,
  type ScaleByZoomLinesearchState,
  type ValueAndGradFn,
  minimize,
  scaleByBacktrackingLinesearch,
  scaleByZoomLinesearch,
  valueAndGradFromState,
} from '../src/transforms/linesearch.js'
import { backtrackingLinesearchReference, zoomLinesearchReference } from '../laws/reference/linesearch.js'
import { propertyParameters } from '../laws/runners.js'
import { backends as allBackends } from './backends.js'
import { caught, runAsync } from './helpers.js'

const f32 = Math.fround

// the searches decide on the host and need synchronous reads: every backend but gpu:webgpu, where
// they refuse with UnsupportedError (tested at the end of this file)
const backends = allBackends.filter((b) => b.name !== 'gpu:webgpu')
const asyncOnly = allBackends.filter((b) => b.name === 'gpu:webgpu')

// ---- problems: f(θ) = Σ ½aᵢ(θᵢ − cᵢ)² + ¼bᵢ(θᵢ − cᵢ)⁴ over a tree { u, w } --------------------------------

const quarticOp = defineElementwise({
  name: 'lsTestQuartic',
  inputs: ['t', 'a', 'b', 'c'],
  lets: [['d', 't - c']],
  outputs: ['0.5 * a * d * d + 0.25 * b * d * d * d * d', 'a * d + b * d * d * d'],
})

/** A separable convex problem (float32 data), its start θ and a descent direction u = −D∇f(θ). */
interface Problem {
  readonly a: readonly number[]
  readonly b: readonly number[]
  readonly c: readonly number[]
  readonly theta: readonly number[]
  readonly scale: readonly number[]
  /** Where the vector splits into the leaves u and w. */
  readonly cut: number
}

/** k/d for an integer k in [lo, hi]: exact in float32, and no denormal or vanishing gradient. */
const grid = (lo: number, hi: number, d: number) => fc.integer({ min: lo, max: hi }).map((k) => k / d)

const problemArb = (quartic: 'none' | 'some' | 'all'): fc.Arbitrary<Problem> =>
  fc.integer({ min: 2, max: 6 }).chain((n) => {
    const vec = (a: fc.Arbitrary<number>) => fc.array(a, { minLength: n, maxLength: n })
    const b = quartic === 'none' ? fc.constant(0) : quartic === 'all' ? grid(8, 32, 16) : fc.oneof(fc.constant(0), grid(2, 32, 16))
    return fc
      .record({
        a: vec(grid(2, 160, 16)),
        b: vec(b),
        c: vec(grid(-128, 128, 64)),
        // θ − c, away from 0: every coordinate has a gradient
        offset: vec(fc.tuple(grid(4, 192, 64), fc.boolean()).map(([x, neg]) => (neg ? -x : x))),
        scale: vec(grid(1, 48, 16)),
        cut: fc.integer({ min: 1, max: n - 1 }),
      })
      .map(({ offset, ...r }) => ({ ...r, theta: r.c.map((c, i) => c + offset[i]!) }))
  })

/** f and ∇f in float64. */
const hostObjective = (p: Problem) => (x: ArrayLike<number>): readonly [number, Float64Array] => {
  let v = 0
  const g = new Float64Array(x.length)
  for (let i = 0; i < x.length; i++) {
    const d = x[i]! - p.c[i]!
    v += 0.5 * p.a[i]! * d * d + 0.25 * p.b[i]! * d ** 4
    g[i] = p.a[i]! * d + p.b[i]! * d ** 3
  }
  return [v, g]
}

/** The direction −D∇f(θ), rounded to float32. */
const directionOf = (p: Problem): number[] => Array.from(hostObjective(p)(p.theta)[1], (g, i) => f32(-p.scale[i]! * g))

const split = (p: Problem, v: readonly number[], b: Backend): Params => ({ u: fromArray(v.slice(0, p.cut), [p.cut], b), w: fromArray(v.slice(p.cut), [v.length - p.cut], b) })
const joined = async (t: Params): Promise<number[]> => {
  const h = (await readTree(t)) as { u: Float32Array; w: Float32Array }
  return [...h.u, ...h.w]
}

/** The problem on a backend: params, direction and θ ↦ [f, ∇f] computed there (float32). */
const onDevice = (p: Problem, b: Backend) => {
  const coeff = { a: split(p, p.a as number[], b), b: split(p, p.b as number[], b), c: split(p, p.c as number[], b) }
  const valueAndGradFn: ValueAndGradFn = (q) => {
    const parts = (['u', 'w'] as const).map((k) =>
      elementwise(quarticOp, [(q as Record<string, Tensor>)[k]!, ...(['a', 'b', 'c'] as const).map((c) => (coeff[c] as Record<string, Tensor>)[k]!)]),
    )
    return [add(sum(parts[0]![0]!), sum(parts[1]![0]!)), { u: parts[0]![1]!, w: parts[1]![1]! }] as const
  }
  const params = split(p, p.theta as number[], b)
  const direction = split(p, directionOf(p), b)
  const [v, grad] = valueAndGradFn(params)
  const value = b.readSync!(v as Tensor)![0]!
  dispose(v)
  return { params, direction, grad, value, valueAndGradFn, valueFn: (q: Params) => valueAndGradFn(q)[0], release: () => dispose([coeff, params, direction, grad]) }
}

/** f(θ + ηu) and ∇f(θ + ηu)ᵀu in float64 at the float32 trial point the device evaluates. */
const atStep = (p: Problem, eta: number) => {
  const d = directionOf(p)
  const x = p.theta.map((t, i) => f32(t + f32(eta) * d[i]!))
  const [v, g] = hostObjective(p)(x)
  const slope = g.reduce((s, gi, i) => s + gi * d[i]!, 0)
  const scaleOfSlope = g.reduce((s, gi, i) => s + Math.abs(gi * d[i]!), 0)
  return { value: v, slope, scaleOfSlope }
}

const slope0Of = (p: Problem) => {
  const d = directionOf(p)
  const g = hostObjective(p)(p.theta)[1]
  return { slope: g.reduce((s, gi, i) => s + gi * d[i]!, 0), scale: g.reduce((s, gi, i) => s + Math.abs(gi * d[i]!), 0) }
}

const close = (actual: number, expected: number, rtol: number, atol = 0) => Math.abs(actual - expected) <= atol + rtol * Math.abs(expected)

// ---- the float64 references --------------------------------------------------------------------------

describe.each(backends)('line searches against their float64 references, on $name', (backend) => {
  it('scaleByBacktrackingLinesearch takes the step and makes the evaluations of Nocedal & Wright Algorithm 3.1 with Optax’s condition', () =>
    fc.assert(
      fc.asyncProperty(
        problemArb('some'),
        fc.record({
          maxBacktrackingSteps: fc.integer({ min: 0, max: 20 }),
          slopeRtol: fc.constantFrom(1e-4, 0.1, 0.4),
          decreaseFactor: fc.constantFrom(0.3, 0.5, 0.8),
          increaseFactor: fc.constantFrom(1, 1.5, 4),
          maxLearningRate: fc.constantFrom(1, 8),
          rtol: fc.constantFrom(0, 1e-3),
        }),
        fc.constantFrom(1, 0.25, 0.02),
        async (p, o, previous) => {
          const d = onDevice(p, backend)
          const t = scaleByBacktrackingLinesearch(o)
          const state = { ...t.init(d.params), learningRate: previous }
          const [u, next] = t.update(d.direction, state, d.params, { value: d.value, grad: d.grad, valueFn: d.valueFn })
          const [v0, g0] = hostObjective(p)(p.theta)
          const r = backtrackingLinesearchReference((x) => hostObjective(p)(x)[0], p.theta, directionOf(p), v0, g0, previous, o)
          expect(next.info.numLinesearchSteps).toBe(r.steps)
          expect(close(next.learningRate, r.learningRate, 1e-5), `${next.learningRate} vs ${r.learningRate}`).toBe(true)
          expect(next.info.decreaseError === 0).toBe(r.decreaseError === 0)
          const expected = directionOf(p).map((x) => f32(next.learningRate) * x)
          ;(await joined(u)).forEach((x, i) => expect(close(x, expected[i]!, 1e-6, 1e-30)).toBe(true))
          dispose([u, next])
          d.release()
        },
      ),
      propertyParameters(25, {}, backend.name),
    ))

  it('scaleByZoomLinesearch takes the step and makes the evaluations of Nocedal & Wright Algorithms 3.5–3.6 with Optax’s choices (quartics: the cubic interpolation is not degenerate)', () =>
    fc.assert(
      fc.asyncProperty(
        problemArb('all'),
        fc.record({
          maxLinesearchSteps: fc.integer({ min: 2, max: 20 }),
          curvRtol: fc.constantFrom(0.9, 0.5, 0.1),
          approxDecRtol: fc.constantFrom(1e-6, null),
          maxLearningRate: fc.constantFrom(Infinity, 3),
        }),
        fc.constantFrom(1, 0.05, 8),
        async (p, o, guess) => {
          const d = onDevice(p, backend)
          const t = scaleByZoomLinesearch({ ...o, initialGuessStrategy: 'keep' })
          const state = { ...t.init(d.params), learningRate: guess }
          const [u, next] = t.update(d.direction, state, d.params, { value: d.value, grad: d.grad, valueAndGradFn: d.valueAndGradFn })
          const [v0, g0] = hostObjective(p)(p.theta)
          const r = zoomLinesearchReference(hostObjective(p), p.theta, directionOf(p), v0, g0, guess, o)
          const at = `steps ${next.info.numLinesearchSteps} vs ${r.steps}, η ${next.learningRate} vs ${r.point.stepsize}`
          expect(next.info.numLinesearchSteps, at).toBe(r.steps)
          // interpolation from float32 values of f loses digits in the differences it takes
          expect(close(next.learningRate, r.point.stepsize, 1e-3), at).toBe(true)
          expect(close(next.value, r.point.value, 1e-4, 1e-6), `${next.value} vs ${r.point.value}`).toBe(true)
          expect(close((await joined(next.grad))[0]!, r.point.gradient[0]!, 1e-3, 1e-5)).toBe(true)
          dispose([u, next])
          d.release()
        },
      ),
      propertyParameters(25, {}, backend.name),
    ))
})

// ---- the conditions at the accepted step -------------------------------------------------------------

describe.each(backends)('the accepted step meets the conditions, on $name', (backend) => {
  const c1 = 1e-4
  /** f(θ + ηu) ≤ f(θ) + c₁η∇f(θ)ᵀu, in float64, up to float32 rounding of the values compared. */
  const armijo = (p: Problem, eta: number, c: number) => {
    const v0 = hostObjective(p)(p.theta)[0]
    const { value } = atStep(p, eta)
    return value <= v0 + c * eta * slope0Of(p).slope + 1e-6 * (Math.abs(v0) + Math.abs(value))
  }
  /** |∇f(θ + ηu)ᵀu| ≤ c₂|∇f(θ)ᵀu|, up to float32 rounding of the slopes' terms. */
  const curvature = (p: Problem, eta: number, c2: number) => {
    const s0 = slope0Of(p)
    const s = atStep(p, eta)
    return Math.abs(s.slope) <= c2 * Math.abs(s0.slope) + 1e-5 * (s.scaleOfSlope + s0.scale)
  }
  /** Hager and Zhang's approximate condition: ∇f(θ + ηu)ᵀu ≤ (2c₁ − 1)∇f(θ)ᵀu and f(θ + ηu) ≤ f(θ) + c₃|f(θ)|. */
  const approximate = (p: Problem, eta: number) => {
    const v0 = hostObjective(p)(p.theta)[0]
    const s0 = slope0Of(p)
    const s = atStep(p, eta)
    return s.slope <= (2 * c1 - 1) * s0.slope + 1e-5 * (s.scaleOfSlope + s0.scale) && s.value <= v0 + 1e-6 * Math.abs(v0) + 1e-6 * (Math.abs(v0) + Math.abs(s.value))
  }

  it.each([
    ['quadratics', 'none'],
    ['quartics', 'some'],
  ] as const)('zoom on random convex %s: a strong Wolfe step (or, near the minimizer, an approximate Wolfe one), and the check rejects a step three times too long', (_n, quartic) =>
    fc.assert(
      fc.asyncProperty(problemArb(quartic), fc.constantFrom(0.9, 0.5, 0.1), fc.constantFrom(1e-6, null), fc.constantFrom<'one' | 'keep'>('one', 'keep'), async (p, c2, approxDecRtol, initialGuessStrategy) => {
        const d = onDevice(p, backend)
        const t = scaleByZoomLinesearch({ maxLinesearchSteps: 30, curvRtol: c2, approxDecRtol, initialGuessStrategy })
        const [u, next] = t.update(d.direction, t.init(d.params), d.params, { value: d.value, grad: d.grad, valueAndGradFn: d.valueAndGradFn })
        const eta = next.learningRate
        // the search succeeded, by its own float32 measure, with a positive step
        expect([next.info.decreaseError, next.info.curvatureError]).toEqual([0, 0])
        expect(eta).toBeGreaterThan(0)
        const decrease = armijo(p, eta, c1) || (approxDecRtol !== null && approximate(p, eta))
        expect(decrease, `decrease at η = ${eta}`).toBe(true)
        expect(curvature(p, eta, c2), `curvature at η = ${eta}`).toBe(true)
        // on a quadratic the line minimizer η* has φ(3η*) > φ(0): the decrease check can fail
        if (quartic === 'none' && slope0Of(p).slope < -1e-3) {
          const s0 = slope0Of(p).slope
          const q = atStep(p, 1).value - hostObjective(p)(p.theta)[0] - s0
          expect(armijo(p, 3 * (-s0 / (2 * q)), c1)).toBe(false)
        }
        dispose([u, next])
        d.release()
      }),
      propertyParameters(30, {}, backend.name),
    ))

  it('backtracking on random convex quadratics and quartics: the first of η₀, βη₀, β²η₀, … with sufficient decrease (its predecessor has none)', () =>
    fc.assert(
      fc.asyncProperty(problemArb('some'), fc.constantFrom(1e-4, 0.3), fc.constantFrom(0.5, 0.8), async (p, c, beta) => {
        const d = onDevice(p, backend)
        const t = scaleByBacktrackingLinesearch({ maxBacktrackingSteps: 60, slopeRtol: c, decreaseFactor: beta, maxLearningRate: 4 })
        const [u, next] = t.update(d.direction, t.init(d.params), d.params, { value: d.value, grad: d.grad, valueFn: d.valueFn })
        const eta = next.learningRate
        expect(next.info.decreaseError).toBe(0)
        expect(armijo(p, eta, c), `Armijo at η = ${eta}`).toBe(true)
        if (next.info.numLinesearchSteps > 1) {
          const before = eta / beta
          const v0 = hostObjective(p)(p.theta)[0]
          const { value } = atStep(p, before)
          expect(value > v0 + c * before * slope0Of(p).slope - 1e-6 * (Math.abs(v0) + Math.abs(value)), `η/β = ${before} has sufficient decrease`).toBe(true)
        } else expect(eta).toBe(f32(Math.min(1.5, 4)))
        dispose([u, next])
        d.release()
      }),
      propertyParameters(30, {}, backend.name),
    ))
})

// ---- failure behaviour -----------------------------------------------------------------------------

/** f(θ) = ½‖θ‖² on one leaf w (with `infiniteAway`: +∞ anywhere but at `start`), and a call counter. */
const halfSquare = (b: Backend, options: { readonly infiniteAway?: readonly number[] } = {}) => {
  let calls = 0
  const op = defineElementwise({ name: 'lsTestHalfSquare', inputs: ['t'], outputs: ['0.5 * t * t', 't'] })
  const valueAndGradFn: ValueAndGradFn = (p) => {
    calls++
    const w = (p as { w: Tensor }).w
    const [v, g] = elementwise(op, [w])
    const start = options.infiniteAway
    if (start !== undefined && b.readSync!(w)!.some((x, i) => x !== start[i])) return [Infinity, { w: g! }] as const
    return [sum(v!), { w: g! }] as const
  }
  return { valueAndGradFn, valueFn: (p: Params) => valueAndGradFn(p)[0], calls: () => calls }
}

describe.each(backends)('what a failed search does (Optax’s choices), on $name', (backend) => {
  const w = (v: number[]) => ({ w: fromArray(v, [v.length], backend) })
  const host = async (t: Params) => Array.from((await readTree(t as { w: Tensor })).w)

  it('backtracking along an ascent direction: every trial fails, the last (smallest) step is taken anyway', async () => {
    const o = halfSquare(backend)
    const p = w([1, -2])
    const t = scaleByBacktrackingLinesearch({ maxBacktrackingSteps: 4 })
    // u = +∇f: ∇fᵀu = ‖θ‖² > 0
    const [u, s] = t.update(w([1, -2]), t.init(p), p, { value: 2.5, grad: w([1, -2]), valueFn: o.valueFn })
    let eta = f32(Math.min(1.5 * 1, 1))
    for (let k = 0; k < 4; k++) eta = f32(0.8 * eta)
    expect([s.info.numLinesearchSteps, s.learningRate]).toEqual([5, eta])
    expect(s.info.decreaseError).toBeGreaterThan(0)
    expect(Number.isFinite(s.info.decreaseError)).toBe(true)
    expect(await host(u)).toEqual([f32(eta * 1), f32(eta * -2)])
    expect(o.calls()).toBe(5)
    dispose([p, u, s])
  })

  it('backtracking where every trial value is +∞: no step, and the next search starts (and stops) at η = 0, as Optax', async () => {
    const o = halfSquare(backend, { infiniteAway: [1, -2] })
    const p = w([1, -2])
    const t = scaleByBacktrackingLinesearch({ maxBacktrackingSteps: 3 })
    const extras = { value: 2.5, grad: w([1, -2]), valueFn: o.valueFn }
    const [u, s] = t.update(w([-1, 2]), t.init(p), p, extras)
    expect([s.learningRate, s.value, s.info.decreaseError, s.info.numLinesearchSteps]).toEqual([0, Infinity, Infinity, 4])
    expect(await host(u)).toEqual([-0, 0])
    const [u2, s2] = t.update(w([-1, 2]), s, p, extras)
    expect([s2.learningRate, s2.info.numLinesearchSteps]).toEqual([0, 1])
    dispose([p, u, s, u2, s2, extras.grad])
  })

  it('zoom along an ascent direction: after maxLinesearchSteps, no step has sufficient decrease, the last trial is taken (unsafe)', async () => {
    const o = halfSquare(backend)
    const p = w([1, -2])
    const t = scaleByZoomLinesearch({ maxLinesearchSteps: 6 })
    const [u, s] = t.update(w([1, -2]), t.init(p), p, { value: 2.5, grad: w([1, -2]), valueAndGradFn: o.valueAndGradFn })
    expect(s.info.numLinesearchSteps).toBe(6)
    expect(s.info.decreaseError).toBeGreaterThan(0)
    expect(s.learningRate).toBeGreaterThan(0)
    expect(await host(u)).toEqual([f32(s.learningRate), f32(-2 * s.learningRate)])
    expect(o.calls()).toBe(6)
    dispose([p, u, s])
  })

  it('zoom where every trial value is +∞: no step; the state keeps f(θ) and a copy of ∇f(θ)', async () => {
    const o = halfSquare(backend, { infiniteAway: [1, -2] })
    const p = w([1, -2])
    const grad = w([1, -2])
    const t = scaleByZoomLinesearch({ maxLinesearchSteps: 5 })
    const [u, s] = t.update(w([-1, 2]), t.init(p), p, { value: 2.5, grad, valueAndGradFn: o.valueAndGradFn })
    expect([s.learningRate, s.value, s.info.decreaseError]).toEqual([0, 2.5, Infinity])
    expect(await host(u)).toEqual([-0, 0])
    expect((s.grad as { w: Tensor }).w).not.toBe(grad.w)
    expect(await host(s.grad)).toEqual([1, -2])
    dispose([p, u, s, grad])
  })

  it('zoom capped by maxLearningRate before a bracket: that step, with sufficient decrease and the curvature condition unmet', async () => {
    const o = halfSquare(backend)
    const p = w([1, -2])
    const t = scaleByZoomLinesearch({ maxLinesearchSteps: 10, maxLearningRate: 2, initialGuessStrategy: 'one' })
    // u = −0.01θ: the line minimizer is η = 100
    const [u, s] = t.update(w([-0.01, 0.02]), t.init(p), p, { value: 2.5, grad: w([1, -2]), valueAndGradFn: o.valueAndGradFn })
    expect([s.learningRate, s.info.numLinesearchSteps, s.info.decreaseError]).toEqual([2, 2, 0])
    expect(s.info.curvatureError).toBeGreaterThan(0)
    dispose([p, u, s])
  })

  it('zoom out of evaluations with a step of sufficient decrease only: that (safe) step', async () => {
    const o = halfSquare(backend)
    const p = w([1, -2])
    const t = scaleByZoomLinesearch({ maxLinesearchSteps: 1 })
    // 'keep' with a previous step of 0.01 along u = −θ: decrease, but φ'(0.01) = −0.99‖θ‖²
    const [u, s] = t.update(w([-1, 2]), { ...t.init(p), learningRate: 0.01 }, p, { value: 2.5, grad: w([1, -2]), valueAndGradFn: o.valueAndGradFn })
    expect([s.learningRate, s.info.numLinesearchSteps, s.info.decreaseError]).toEqual([f32(0.01), 1, 0])
    expect(s.info.curvatureError).toBeGreaterThan(0)
    dispose([p, u, s])
  })

  it.each([
    ['a NaN gradient', [NaN, 1], 2.5],
    ['an infinite gradient', [Infinity, 1], 2.5],
    ['a NaN value', [1, -2], NaN],
  ] as const)('%s: no search and a NaN step, so the non-finite value reaches the params (docs/nonfinite.md; Optax makes a 0 step)', async (_n, g, value) => {
    for (const t of [scaleByZoomLinesearch({ maxLinesearchSteps: 5 }), scaleByBacktrackingLinesearch({ maxBacktrackingSteps: 5 })] as GradientTransformation<ScaleByZoomLinesearchState | ScaleByBacktrackingLinesearchState>[]) {
      const o = halfSquare(backend)
      const p = w([1, -2])
      const grad = w([...g])
      const [u, s] = t.update(w([-1, 2]), t.init(p), p, { value, grad, valueFn: o.valueFn, valueAndGradFn: o.valueAndGradFn })
      expect((await host(u)).every(Number.isNaN)).toBe(true)
      expect([s.learningRate, s.info.numLinesearchSteps, o.calls()]).toEqual([NaN, 0, 0])
      dispose([p, u, s, grad])
    }
  })
})

// ---- the extras, checked before any work ------------------------------------------------------------

describe('update refuses missing or malformed extras before evaluating anything, leaking nothing', () => {
  const p = () => ({ w: fromArray([1, -2], [2]) })
  const cases: [string, () => GradientTransformation<unknown>, (o: ReturnType<typeof halfSquare>, grad: Params) => object, string, typeof HyperparameterError | typeof StructureError][] = [
    ['zoom without extras', () => scaleByZoomLinesearch({ maxLinesearchSteps: 3 }) as never, () => ({}), 'value', HyperparameterError],
    ['zoom with a string value', () => scaleByZoomLinesearch({ maxLinesearchSteps: 3 }) as never, (o, grad) => ({ value: '1', grad, valueAndGradFn: o.valueAndGradFn }), 'value', HyperparameterError],
    ['zoom without grad', () => scaleByZoomLinesearch({ maxLinesearchSteps: 3 }) as never, (o) => ({ value: 1, valueAndGradFn: o.valueAndGradFn }), 'grad', HyperparameterError],
    ['zoom with only valueFn', () => scaleByZoomLinesearch({ maxLinesearchSteps: 3 }) as never, (o, grad) => ({ value: 1, grad, valueFn: o.valueFn }), 'valueAndGradFn', HyperparameterError],
    ['backtracking without a value function', () => scaleByBacktrackingLinesearch({ maxBacktrackingSteps: 3 }) as never, (_o, grad) => ({ value: 1, grad }), 'valueFn', HyperparameterError],
    ['backtracking with storeGrad and only valueFn', () => scaleByBacktrackingLinesearch({ maxBacktrackingSteps: 3, storeGrad: true }) as never, (o, grad) => ({ value: 1, grad, valueFn: o.valueFn }), 'valueAndGradFn', HyperparameterError],
    ['a grad of another structure', () => scaleByZoomLinesearch({ maxLinesearchSteps: 3 }) as never, (o) => ({ value: 1, grad: { v: fromArray([1, 2], [2]) }, valueAndGradFn: o.valueAndGradFn }), 'updates vs grad', StructureError],
  ]
  it.each(cases)('%s: %s', (_n, make, extras, field, type) => {
    const o = halfSquare(cpu)
    const params = p()
    const grad = p()
    const t = make()
    const state = t.init(params)
    const e = extras(o, grad)
    const before = liveTensors(cpu)
    const error = caught(() => t.update(p(), state, params, e as never))
    expect(error).toBeInstanceOf(type)
    if (error instanceof HyperparameterError) expect(error.field).toBe(field)
    else expect(error.message).toContain(field.split(' ')[0])
    expect(o.calls()).toBe(0)
    expect(liveTensors(cpu)).toBe(before + 1) // the updates p() made for the call, and nothing else
    dispose([params, grad, state, e])
  })

  it('a value function returning something else than [value, grad], or a value of several elements, is refused by name', () => {
    const params = { w: fromArray([1, -2], [2]) }
    const t = scaleByZoomLinesearch({ maxLinesearchSteps: 3 })
    const before = liveTensors(cpu)
    const notPair = caught(() => t.update(params, t.init(params), params, { value: 1, grad: params, valueAndGradFn: (() => 5) as never }))
    expect([notPair instanceof HyperparameterError, (notPair as HyperparameterError).field]).toEqual([true, 'valueAndGradFn'])
    const wide = caught(() => t.update(params, t.init(params), params, { value: 1, grad: params, valueAndGradFn: (q: Params) => [q as Tensor, q] as never }))
    expect(wide).toBeInstanceOf(HyperparameterError)
    expect(wide.message).toMatch(/a number or a tensor with one element/)
    expect(liveTensors(cpu)).toBe(before + 2) // the two init states' zero gradients
  })
})

// ---- valueAndGradFromState and minimize ------------------------------------------------------------

describe('valueAndGradFromState and minimize', () => {
  it('reuses the value and gradient of the accepted step, computing them only before the first search', async () => {
    const o = halfSquare(cpu)
    const opt = chain(sgd({ learningRate: 1 }), scaleByZoomLinesearch({ maxLinesearchSteps: 10 }))
    const vg = valueAndGradFromState(o.valueAndGradFn)
    let p: Params = { w: fromArray([1, -2], [2]) }
    let s = opt.init(p)
    const [v0, g0] = vg(p, s)
    expect([v0, o.calls()]).toEqual([2.5, 1])
    const [u, s1] = opt.update(g0, s, p, { value: v0, grad: g0, valueAndGradFn: o.valueAndGradFn })
    const p1 = applyUpdates(p, u)
    const calls = o.calls()
    const [v1, g1] = vg(p1, s1)
    expect(o.calls()).toBe(calls)
    expect([v1, g1]).toEqual([s1[1].value, s1[1].grad])
    // ½‖θ‖² along −θ: the zoom lands on the minimizer
    expect(await readTree(p1)).toEqual({ w: Float32Array.of(0, 0) })
    dispose([p, s, g0, u, p1, s1])
  })

  it('refuses a state without exactly one line search, or one that keeps no gradient', () => {
    const o = halfSquare(cpu)
    const p = { w: fromArray([1], [1]) }
    const vg = valueAndGradFromState(o.valueAndGradFn)
    const cases: [GradientTransformation<unknown>, RegExp][] = [
      [adam({ learningRate: 0.1 }) as never, /found none/],
      [chain(scaleByZoomLinesearch({ maxLinesearchSteps: 2 }), scaleByZoomLinesearch({ maxLinesearchSteps: 2 })) as never, /found \[0\], \[1\]/],
      [scaleByBacktrackingLinesearch({ maxBacktrackingSteps: 2 }) as never, /storeGrad: true/],
    ]
    for (const [t, message] of cases) {
      const s = t.init(p)
      const e = caught(() => vg(p, s))
      expect(e).toBeInstanceOf(StructureError)
      expect(e.message).toMatch(message)
      dispose(s)
    }
    expect(caught(() => valueAndGradFromState(5 as never))).toBeInstanceOf(HyperparameterError)
    dispose(p)
  })

  it.each(backends)('minimize leaves the caller’s params as they were and releases everything but its result, on $name', async (backend) => {
    const o = halfSquare(backend)
    const params = { w: fromArray([3, -4], [2], backend) }
    const before = liveTensors(backend)
    const withSearch = (storeGrad: boolean) => chain(sgd({ learningRate: 1 }), scaleByBacktrackingLinesearch({ maxBacktrackingSteps: 10, storeGrad }))
    for (const opt of [lbfgs(), sgd({ learningRate: 0.5 }), withSearch(true), withSearch(false)]) {
      const r = minimize(o.valueAndGradFn, params, opt as GradientTransformation<unknown>, { maxIterations: 50, tolerance: 1e-5 })
      expect(r.converged).toBe(true)
      expect(r.gradientNorm).toBeLessThan(1e-5)
      expect(r.values[0]).toBe(12.5)
      dispose([r.params, r.state], params)
      expect(liveTensors(backend)).toBe(before)
    }
    const none = minimize(o.valueAndGradFn, params, lbfgs(), { maxIterations: 0 })
    expect([none.params === params, none.iterations, none.converged]).toEqual([true, 0, false])
    dispose(none.state)
    expect(liveTensors(backend)).toBe(before)
    expect(await readTree(params)).toEqual({ w: Float32Array.of(3, -4) })
    dispose(params)
  })

  it('minimize validates its options like the builders', () => {
    const o = halfSquare(cpu)
    const p = { w: fromArray([1], [1]) }
    for (const [options, field] of [[{ maxIterations: -1 }, 'maxIterations'], [{ maxIterations: 1.5 }, 'maxIterations'], [{ tolerance: NaN }, 'tolerance'], [{ tol: 1 }, 'tol']] as const) {
      const e = caught(() => minimize(o.valueAndGradFn, p, lbfgs(), options as never))
      expect([e instanceof HyperparameterError, (e as HyperparameterError).field]).toEqual([true, field])
    }
    expect((caught(() => minimize(o.valueAndGradFn, p, {} as never)) as HyperparameterError).field).toBe('optimizer')
    dispose(p)
  })
})

// ---- L-BFGS with its line search, against Optax ---------------------------------------------------

interface GoldenStep {
  readonly params: readonly string[]
  readonly learningRate: string
  readonly linesearchSteps: number
  readonly value: string
}
interface GoldenRun {
  readonly id: string
  readonly problem: 'rosenbrock' | 'quadratic003'
  readonly call: string
  readonly leaves: readonly string[]
  readonly start: readonly string[]
  readonly converged: boolean
  readonly iterations: number
  readonly iterationsFloat64?: number
  readonly steps: readonly GoldenStep[]
}
const golden = JSON.parse(readFileSync(new URL('./fixtures/goldens/optax-linesearch.json', import.meta.url), 'utf8')) as { readonly versions: Record<string, string>; readonly gradientTolerance: number; readonly runs: readonly GoldenRun[] }

const unhex = (text: string): Float32Array => {
  const words = text.split(' ')
  const view = new DataView(new ArrayBuffer(4 * words.length))
  words.forEach((x, i) => view.setUint32(4 * i, parseInt(x, 16)))
  return Float32Array.from({ length: words.length }, (_, i) => view.getFloat32(4 * i))
}

const rosenbrockOp = defineElementwise({ name: 'lsTestRosenbrock', inputs: ['x', 'y'], lets: [['r', 'y - x * x']], outputs: ['(1 - x) * (1 - x) + 100 * r * r', '-2 * (1 - x) - 400 * x * r', '200 * r'] })
const quadraticOp = defineElementwise({ name: 'lsTestSeed003', inputs: ['a', 't'], outputs: ['a * t * t', '2 * a * t'] })

/** The objectives of the golden runs (laws/problems.ts `rosenbrock(1)` and `illConditionedQuadratic(2, 100)`). */
const goldenObjective = (problem: GoldenRun['problem'], b: Backend): { readonly fn: ValueAndGradFn; readonly release: () => void } => {
  if (problem === 'rosenbrock') {
    return {
      fn: (p) => {
        const { x, y } = p as { x: Tensor; y: Tensor }
        const [f, gx, gy] = elementwise(rosenbrockOp, [x, y])
        return [sum(f!), { x: gx!, y: gy! }] as const
      },
      release: () => undefined,
    }
  }
  const a = fromArray([1, 100], [2], b)
  return {
    fn: (p) => {
      const [f, g] = elementwise(quadraticOp, [a, (p as { theta: Tensor }).theta])
      return [sum(f!), { theta: g! }] as const
    },
    release: () => dispose(a),
  }
}

/**
 * How far each run is reproduced step by step, with the reason: beyond it the trajectories are
 * driven by float32 rounding (XLA and fluxion round the same sums differently), not by the algorithm.
 */
const reproducedSteps: Readonly<Record<string, { readonly steps: number; readonly why: string }>> = {
  'lbfgs/rosenbrock': { steps: 12, why: 'along the curved valley the L-BFGS pairs amplify one-ulp differences (5e-6 relative at step 8, 7e-4 at 13); the line-search decisions agree to step 25' },
  'sgd-zoom/quadratic003': { steps: 3, why: 'the accepted steps (0.08) exceed 2/200, so the stiff coordinate grows 15-fold per step, ulps included; Optax itself takes a different step 4 under jit than eagerly' },
}

const optimizers: Readonly<Record<string, () => GradientTransformation<unknown>>> = {
  'optax.lbfgs()': () => lbfgs() as never,
  "optax.chain(optax.sgd(learning_rate=1.0), optax.scale_by_zoom_linesearch(max_linesearch_steps=15))": () => chain(sgd({ learningRate: 1 }), scaleByZoomLinesearch({ maxLinesearchSteps: 15 })) as never,
  "optax.chain(optax.sgd(learning_rate=1.0), optax.scale_by_zoom_linesearch(max_linesearch_steps=15, initial_guess_strategy='one'))": () =>
    chain(sgd({ learningRate: 1 }), scaleByZoomLinesearch({ maxLinesearchSteps: 15, initialGuessStrategy: 'one' })) as never,
  'optax.chain(optax.sgd(learning_rate=1.0), optax.scale_by_backtracking_linesearch(max_backtracking_steps=15, store_grad=True))': () =>
    chain(sgd({ learningRate: 1 }), scaleByBacktrackingLinesearch({ maxBacktrackingSteps: 15, storeGrad: true })) as never,
}

describe(`against Optax ${golden.versions.optax} (float32; ‖∇f‖ < ${golden.gradientTolerance})`, () => {
  const startOf = (run: GoldenRun, b: Backend): Params => Object.fromEntries(run.leaves.map((n, i) => [n, fromArray(unhex(run.start[i]!), [unhex(run.start[i]!).length], b)]))

  it.each(backends)('lbfgs() reaches ‖∇f‖ < 1e-6 on Rosenbrock from (−1.2, 1) and on seed 003’s quadratic in at most Optax’s iterations, on $name', (backend) => {
    for (const run of golden.runs.filter((r) => r.id.startsWith('lbfgs/'))) {
      const o = goldenObjective(run.problem, backend)
      const start = startOf(run, backend)
      const r = minimize(o.fn, start, lbfgs(), { maxIterations: 100, tolerance: golden.gradientTolerance })
      expect(run.converged).toBe(true)
      expect(r.converged, run.id).toBe(true)
      expect(r.gradientNorm).toBeLessThan(1e-6)
      expect(r.iterations, `${run.id}: fluxion ${r.iterations}, Optax ${run.iterations} (${run.iterationsFloat64} in float64)`).toBeLessThanOrEqual(run.iterations)
      dispose([r.params, r.state, start])
      o.release()
    }
  })

  it('a fixed step of 0.1 (linesearch: null) does not reach the tolerance on Rosenbrock in 100 iterations', () => {
    const run = golden.runs.find((r) => r.id === 'lbfgs/rosenbrock')!
    const o = goldenObjective('rosenbrock', cpu)
    const start = startOf(run, cpu)
    const r = minimize(o.fn, start, lbfgs({ learningRate: 0.1, linesearch: null }), { maxIterations: 100 })
    expect(r.converged).toBe(false)
    dispose([r.params, r.state, start])
  })

  it.each(golden.runs.map((r) => [r.id, r] as const))('%s: the trajectory, steps and line-search counts of Optax’s run (cpu)', async (_id, run) => {
    const make = optimizers[run.call]
    expect(make, run.call).toBeDefined()
    const opt = make!()
    const o = goldenObjective(run.problem, cpu)
    const vg = valueAndGradFromState(o.fn)
    let p = startOf(run, cpu)
    let s = opt.init(p)
    const compared = reproducedSteps[run.id]?.steps ?? run.steps.length
    const failures: string[] = []
    for (let k = 0; k < compared; k++) {
      const [value, grad] = vg(p, s)
      const [p2, s2] = scope(() => {
        const [u, next] = opt.update(grad, s, p, { value, grad, valueAndGradFn: o.fn })
        return [applyUpdates(p, u), next] as const
      })
      const ls = (s2 as readonly unknown[]).at(-1) as ScaleByZoomLinesearchState
      const e = run.steps[k]!
      const actual = tree.leaves(await readTree(p2)) as Float32Array[]
      run.leaves.forEach((_n, j) => {
        const want = unhex(e.params[j]!)
        actual[j]!.forEach((x, i) => {
          if (!close(x, want[i]!, 1e-4, 1e-6)) failures.push(`step ${k + 1} ${run.leaves[j]}[${i}]: fluxion ${x}, Optax ${want[i]}`)
        })
      })
      if (!close(ls.learningRate, unhex(e.learningRate)[0]!, 1e-3)) failures.push(`step ${k + 1}: η ${ls.learningRate}, Optax ${unhex(e.learningRate)[0]}`)
      if (ls.info.numLinesearchSteps !== e.linesearchSteps) failures.push(`step ${k + 1}: ${ls.info.numLinesearchSteps} line-search steps, Optax ${e.linesearchSteps}`)
      dispose([grad, s, p], s2, p2)
      ;[p, s] = [p2, s2]
    }
    dispose([p, s])
    o.release()
    expect(failures, `${run.id} (${run.call})`).toEqual([])
  })
})

// ---- options ---------------------------------------------------------------------------------------

describe('options are validated when a line search is built (HyperparameterError naming field, value, range)', () => {
  const cases: [string, () => unknown, string, RegExp][] = [
    ['no maxBacktrackingSteps', () => scaleByBacktrackingLinesearch({} as never), 'maxBacktrackingSteps', /integer ≥ 0/],
    ['fractional maxBacktrackingSteps', () => scaleByBacktrackingLinesearch({ maxBacktrackingSteps: 2.5 }), 'maxBacktrackingSteps', /integer ≥ 0/],
    ['decreaseFactor 1', () => scaleByBacktrackingLinesearch({ maxBacktrackingSteps: 5, decreaseFactor: 1 }), 'decreaseFactor', /\(0, 1\)/],
    ['increaseFactor 0.5', () => scaleByBacktrackingLinesearch({ maxBacktrackingSteps: 5, increaseFactor: 0.5 }), 'increaseFactor', /≥ 1/],
    ['slopeRtol 1 (backtracking)', () => scaleByBacktrackingLinesearch({ maxBacktrackingSteps: 5, slopeRtol: 1 }), 'slopeRtol', /\[0, 1\)/],
    ['maxLearningRate ∞ (backtracking)', () => scaleByBacktrackingLinesearch({ maxBacktrackingSteps: 5, maxLearningRate: Infinity }), 'maxLearningRate', /finite number > 0/],
    ['negative atol', () => scaleByBacktrackingLinesearch({ maxBacktrackingSteps: 5, atol: -1 }), 'atol', /≥ 0/],
    ['maxLinesearchSteps 0', () => scaleByZoomLinesearch({ maxLinesearchSteps: 0 }), 'maxLinesearchSteps', /integer ≥ 1/],
    ['curvRtol below slopeRtol', () => scaleByZoomLinesearch({ maxLinesearchSteps: 5, slopeRtol: 0.5, curvRtol: 0.4 }), 'curvRtol', /> slopeRtol = 0.5/],
    ['slopeRtol 0 (zoom)', () => scaleByZoomLinesearch({ maxLinesearchSteps: 5, slopeRtol: 0 }), 'slopeRtol', /\(0, 1\)/],
    ['increaseFactor 1 (zoom)', () => scaleByZoomLinesearch({ maxLinesearchSteps: 5, increaseFactor: 1 }), 'increaseFactor', /> 1/],
    ['approxDecRtol −1', () => scaleByZoomLinesearch({ maxLinesearchSteps: 5, approxDecRtol: -1 }), 'approxDecRtol', /≥ 0, or null/],
    ['initialGuessStrategy', () => scaleByZoomLinesearch({ maxLinesearchSteps: 5, initialGuessStrategy: 'two' as never }), 'initialGuessStrategy', /'one' or 'keep'/],
    ['a misspelled option', () => scaleByZoomLinesearch({ maxLinesearchSteps: 5, max_linesearch_steps: 5 } as never), 'max_linesearch_steps', /known options are/],
    ['lbfgs linesearch 5', () => lbfgs({ linesearch: 5 as never }), 'linesearch', /null \(a fixed step\) or a line-search transformation/],
  ]
  it.each(cases)('%s', (_n, build, field, range) => {
    const e = caught(build)
    expect(e).toBeInstanceOf(HyperparameterError)
    expect((e as HyperparameterError).field).toBe(field)
    expect(e.message).toMatch(range)
  })

  it('defaults are Optax’s, and recorded with the transformation', () => {
    expect(scaleByBacktrackingLinesearch({ maxBacktrackingSteps: 15 }).identity?.hyperparameters).toEqual({
      maxBacktrackingSteps: 15, slopeRtol: 1e-4, decreaseFactor: 0.8, increaseFactor: 1.5, maxLearningRate: 1, atol: 0, rtol: 0, storeGrad: false,
    })
    expect(scaleByZoomLinesearch({ maxLinesearchSteps: 15 }).identity?.hyperparameters).toEqual({
      maxLinesearchSteps: 15, maxLearningRate: 'Infinity', tol: 0, increaseFactor: 2, slopeRtol: 1e-4, curvRtol: 0.9, approxDecRtol: 1e-6, stepsizePrecision: 1e-5, initialGuessStrategy: 'keep',
    })
    expect(lbfgs().identity?.hyperparameters.linesearch).toEqual({ name: 'scaleByZoomLinesearch', hyperparameters: expect.objectContaining({ maxLinesearchSteps: 20, initialGuessStrategy: 'one' }) })
  })

  it('lbfgs({ linesearch: null }) is the fixed-step chain scaleByLbfgs, scaleByLearningRate; the default adds the zoom search, which needs the objective', () => {
    const p = { w: fromArray([1, -2], [2]) }
    const g = { w: fromArray([0.5, 1], [2]) }
    const fixed = lbfgs({ learningRate: 0.5, linesearch: null })
    const plain = chain(scaleByLbfgs(), scaleByLearningRate(0.5))
    const [u1, s1] = fixed.update(g, fixed.init(p), p)
    const [u2, s2] = plain.update(g, plain.init(p), p)
    expect(s1).toHaveLength(2)
    expect(cpu.readSync!((u1 as { w: Tensor }).w)).toEqual(cpu.readSync!((u2 as { w: Tensor }).w))
    const withSearch = lbfgs()
    const s = withSearch.init(p)
    expect(s).toHaveLength(3)
    expect((caught(() => withSearch.update(g, s, p)) as HyperparameterError).field).toBe('value')
    dispose([p, g, u1, s1, u2, s2, s])
  })
})

// ---- the docs example --------------------------------------------------------------------------------

describe('docs/optimizers.md', () => {
  const doc = readFileSync('docs/optimizers.md', 'utf8')
  const section = doc.slice(doc.indexOf('## Line searches'))
  const block = /```ts\n([\s\S]*?)\n```/.exec(section)?.[1]

  it('the line-search section’s example is the @example of minimize (which test/doc-examples.test.ts type-checks), quoted in full', () => {
    expect(block).toBeDefined()
    const source = readFileSync('src/transforms/linesearch.ts', 'utf8')
    const example = /export interface MinimizeResult[\s\S]*?@example\n \* ```ts\n([\s\S]*?)\n \* ```/.exec(source)?.[1]?.replace(/^ \* ?/gm, '')
    expect(block).toBe(example)
  })

  it('the example runs and prints what its comment says', async () => {
    const names = Object.keys({ ...(await import('../src/index.js')), ...(await import('../src/transforms/linesearch.js')) })
    const used = names.filter((n) => new RegExp(`\\b${n}\\b`).test(block!))
    const dir = mkdtempSync(join(tmpdir(), 'fluxion-doc-'))
    const file = join(dir, 'example.mts')
    const root = new URL('..', import.meta.url).pathname
    // the public names it uses, from the sources (type annotations are erased when it runs)
    const header = `import * as fluxion from '${root}src/index.js'\nimport * as linesearch from '${root}src/transforms/linesearch.js'\nconst { ${used.join(', ')} } = { ...fluxion, ...linesearch }\n`
    writeFileSync(file, `${header}${block!}\n`)
    try {
      const r = await runAsync(file)
      expect(r.status, r.stderr).toBe(0)
      const [converged, iterations] = r.stdout.trim().split(' ')
      expect(converged).toBe('true')
      expect(Number(iterations)).toBeLessThanOrEqual(golden.runs.find((x) => x.id === 'lbfgs/rosenbrock')!.iterations)
      expect(block).toContain(`// true ${iterations} (Optax's lbfgs: ${golden.runs.find((x) => x.id === 'lbfgs/rosenbrock')!.iterations})`)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe.each(asyncOnly)('on $name, whose reads are asynchronous', (backend) => {
  it('both searches refuse with UnsupportedError naming the backend, and nothing leaks', () => {
    const w = fromArray([1, 2], [2], backend)
    const valueAndGradFn = (p: Params) => [sumOfSquares((p as { w: Tensor }).w), { w: scaleTensor((p as { w: Tensor }).w, 2) }] as const
    for (const opt of [scaleByZoomLinesearch({ maxLinesearchSteps: 5 }), scaleByBacktrackingLinesearch({ maxBacktrackingSteps: 5 })] as unknown as GradientTransformation<unknown>[]) {
      const params = { w }
      const state = opt.init(params)
      const before = backend.liveCount()
      const g = { w: scaleTensor(w, 2) }
      const e = caught(() => opt.update(g, state, params, { value: 5, grad: g, valueAndGradFn, valueFn: (p: Params) => valueAndGradFn(p)[0] }))
      expect(e).toBeInstanceOf(UnsupportedError)
      expect(e.message).toContain('gpu:webgpu')
      dispose([g, state])
      expect(backend.liveCount()).toBeLessThanOrEqual(before)
    }
    dispose(w)
  })
})
