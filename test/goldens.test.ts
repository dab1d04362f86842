/**
 * Golden trajectories from the frameworks themselves: Optax, PyTorch, Keras 3 (on JAX) and
 * TensorFlow.js, float32, written by scripts/goldens/ into test/fixtures/goldens/*.json (see
 * scripts/goldens/README.md). Each trajectory is rebuilt with the fluxion optimizer of the same name,
 * convention and hyperparameters and run on the cpu backend, twice: through `update` and through
 * `compileStep`; the params after every step must agree with the framework's at 1e-6 relative /
 * 1e-7 absolute. A failure names the trajectory, the first diverging step, the leaf and the index.
 */
import { readFileSync, readdirSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import * as f from '../src/index.js'
import { type Optimizer, type Params, type Tensor, applyUpdates, compileStep, cpu, dispose, fromArray, scope } from '../src/index.js'

const dir = new URL('./fixtures/goldens/', import.meta.url)
const frameworks = ['optax', 'pytorch', 'keras', 'tfjs'] as const
type Framework = (typeof frameworks)[number]

interface LeafSpec {
  readonly name: string
  readonly shape: readonly number[]
  readonly init: string
}
interface ProblemJson {
  readonly leaves: readonly LeafSpec[]
  readonly grads?: readonly (readonly string[])[]
  readonly quadratic?: { readonly h: string; readonly c: string }
  readonly lrMultipliers?: string
}
interface TrajectoryJson {
  readonly id: string
  readonly optimizer: string
  readonly convention: string
  readonly config: string
  readonly problem: string
  readonly learningRate: number
  readonly options: Readonly<Record<string, unknown>>
  readonly call: string
  readonly params: readonly (readonly string[])[]
}
interface FixtureJson {
  readonly framework: Framework
  readonly versions: Readonly<Record<string, string>>
  readonly trajectories: readonly TrajectoryJson[]
}

const read = <T,>(name: string): T => JSON.parse(readFileSync(new URL(name, dir), 'utf8')) as T

/** A leaf's float32 values from the fixture's hex words (IEEE-754 bits, big-endian). */
const unhex = (text: string): Float32Array => {
  const words = text === '' ? [] : text.split(' ')
  const view = new DataView(new ArrayBuffer(4 * words.length))
  words.forEach((w, i) => view.setUint32(4 * i, parseInt(w, 16)))
  return Float32Array.from({ length: words.length }, (_, i) => view.getFloat32(4 * i))
}

const { steps, problems } = read<{ steps: number; problems: Readonly<Record<string, ProblemJson>> }>('problems.json')
/**
 * Every trajectory fixture: `<framework>.json` and `<framework>-<family>.json` (optax-modern.json,
 * …). optax-linesearch.json records iteration counts, not trajectories (test/linesearch.test.ts);
 * fixtures whose optimizers need an objective through `update`'s extras are named `objective-*.json`
 * and checked by their own tests.
 */
const fixtureNames = readdirSync(dir)
  .filter((n) => new RegExp(`^(${frameworks.join('|')})(-[a-z0-9-]+)?\\.json$`).test(n) && n !== 'optax-linesearch.json')
  .sort()
const fixtures = fixtureNames.map((n) => read<FixtureJson>(n))

const tolerance = { rtol: 1e-6, atol: 1e-7 }

/**
 * Trajectories where float32 cannot meet the bound over every step, each with its reason: the
 * bound holds for the first `steps` steps. Keys are trajectory ids, `optimizer/convention/config/problem`.
 */
const ownExceptions: Readonly<Record<string, { readonly steps: number; readonly why: string }>> = {
  'lbfgs/optax/tuned/quadratic': {
    steps: 10,
    why:
      'L-BFGS with 3 pairs on a quadratic of condition 10⁴: the slow directions of H⁻¹ come from small differences inside sᵀy and yᵀy, which the stiff coordinate dominates, so a one-ulp difference in those sums (fluxion adds in float64, XLA in float32 and in another order) grows step by step once the stiff coordinates have converged (2e-6 relative at step 11, 5e-5 at step 21, 6e-3 at step 25: both trajectories are then driven by rounding)',
  },
}

/**
 * The exceptions of a fixture family, beside its fixture: `<fixture>.exceptions.json`, of the same
 * form as `ownExceptions` (a reason and a step count per trajectory id).
 */
const sidecarExceptions = Object.assign(
  {},
  ...fixtureNames.map((n) => n.replace(/\.json$/, '.exceptions.json')).filter((n) => readdirSync(dir).includes(n)).map((n) => read<Record<string, { steps: number; why: string }>>(n)),
) as Readonly<Record<string, { readonly steps: number; readonly why: string }>>
const exceptions = { ...ownExceptions, ...sidecarExceptions }

/**
 * Trajectories that differ by algorithm, not by rounding (none today; Optax's first L-BFGS step,
 * min(1, 1/‖g‖)·g, was the last). Each listed case must still diverge, so that a fix moves it back
 * into the checked set.
 */
const knownDifferences: Readonly<Record<string, string>> = {}

const builders: Readonly<Record<string, (options: never) => Optimizer>> = {
  adabelief: f.adabelief, yogi: f.yogi, adan: f.adan, adamaxw: f.adamaxw, nadamw: f.nadamw, novograd: f.novograd, rprop: f.rprop, signSgd: f.signSgd, signum: f.signum, optimisticGradientDescent: f.optimisticGradientDescent, optimisticAdam: f.optimisticAdam,
  sgd: f.sgd,
  momentum: f.momentum,
  adagrad: f.adagrad,
  rmsprop: f.rmsprop,
  adadelta: f.adadelta,
  adam: f.adam,
  adamw: f.adamw,
  nadam: f.nadam,
  amsgrad: f.amsgrad,
  adamax: f.adamax,
  radam: f.radam,
  lion: f.lion,
  lamb: f.lamb,
  lars: f.lars,
  lbfgs: f.lbfgs,
}

/** The optimizer a trajectory names: a builder above, or the public export of that name. */
const builderOf = (name: string): ((options: never) => Optimizer) | undefined => {
  const own = builders[name]
  if (own !== undefined) return own
  const exported = (f as Readonly<Record<string, unknown>>)[name]
  return typeof exported === 'function' ? (exported as (options: never) => Optimizer) : undefined
}

const build = (t: TrajectoryJson, problem: ProblemJson): Optimizer => {
  const make = builderOf(t.optimizer)
  if (make === undefined) throw new Error(`${t.id}: no fluxion optimizer named ${t.optimizer}`)
  const m = problem.lrMultipliers === undefined ? undefined : unhex(problem.lrMultipliers)
  // the schedule's values are float32(α·m_k), the product taken in float64 as the generators do
  const learningRate = m === undefined ? t.learningRate : (k: number) => Math.fround(t.learningRate * m[k]!)
  // the L-BFGS fixtures are Optax's lbfgs(linesearch=None), a fixed step (the line searches' goldens: test/linesearch.test.ts)
  return make({ ...t.options, learningRate, ...(t.optimizer === 'lbfgs' ? { linesearch: null } : {}) } as never)
}

/** The gradients at step k: the stored sequence, or the quadratic's h ⊙ (x − c) in float32. */
const gradientsOf = (problem: ProblemJson) => {
  const stored = problem.grads?.map((step) => step.map(unhex))
  const q = problem.quadratic && { h: unhex(problem.quadratic.h), c: unhex(problem.quadratic.c) }
  return (values: readonly Float32Array[], k: number): Float32Array[] =>
    stored !== undefined ? stored[k]! : [values[0]!.map((x, i) => Math.fround(q!.h[i]! * Math.fround(x - q!.c[i]!)))]
}

const toTree = (problem: ProblemJson, values: readonly Float32Array[]): Params =>
  Object.fromEntries(problem.leaves.map((l, i) => [l.name, fromArray(values[i]!, l.shape, cpu)]))

const valuesOf = (problem: ProblemJson, params: Params): Float32Array[] =>
  problem.leaves.map((l) => Float32Array.from(cpu.readSync!((params as Record<string, Tensor>)[l.name]!)!))

/** The params after each step, through `update` (`compiled` false) or `compileStep`. */
const runFluxion = (t: TrajectoryJson, problem: ProblemJson, compiled: boolean): Float32Array[][] => {
  const opt = build(t, problem)
  const gradient = gradientsOf(problem)
  const step = compiled ? compileStep(opt) : undefined
  let params = toTree(problem, problem.leaves.map((l) => unhex(l.init)))
  let state = opt.init(params)
  const out: Float32Array[][] = []
  try {
    for (let k = 0; k < t.params.length; k++) {
      const grads = toTree(problem, gradient(valuesOf(problem, params), k))
      const [p2, s2] = step
        ? step(params, grads, state)
        : scope(() => {
            const [u, s] = opt.update(grads, state, params)
            return [applyUpdates(params, u), s] as const
          })
      dispose([grads, params, state], [p2, s2])
      params = p2
      state = s2
      out.push(valuesOf(problem, params))
    }
  } finally {
    dispose([params, state])
  }
  return out
}

const fmt = (x: number) => x.toPrecision(9)

/** The first step, leaf and index where `actual` leaves the tolerance around `expected`, if any. */
const firstDivergence = (t: TrajectoryJson, problem: ProblemJson, actual: Float32Array[][], steps: number): string | undefined => {
  const tol = tolerance
  for (let k = 0; k < steps; k++) {
    for (let j = 0; j < problem.leaves.length; j++) {
      const e = unhex(t.params[k]![j]!)
      const a = actual[k]![j]!
      for (let i = 0; i < e.length; i++) {
        const ok = Object.is(a[i], e[i]) || Math.abs(a[i]! - e[i]!) <= tol.atol + tol.rtol * Math.abs(e[i]!)
        if (!ok) {
          const rel = Math.abs(a[i]! - e[i]!) / Math.abs(e[i]!)
          return `step ${k + 1} of ${t.params.length}, leaf ${problem.leaves[j]!.name}[${i}]: fluxion ${fmt(a[i]!)}, ${t.call} ${fmt(e[i]!)} (relative ${rel.toExponential(2)})`
        }
      }
    }
  }
  return undefined
}

const counts = new Map<Framework, number>()

for (const fixture of fixtures) {
  const groups = new Map<string, TrajectoryJson[]>()
  for (const t of fixture.trajectories) {
    const key = `${t.optimizer} (${t.convention})`
    groups.set(key, [...(groups.get(key) ?? []), t])
  }
  counts.set(fixture.framework, (counts.get(fixture.framework) ?? 0) + fixture.trajectories.length)
  describe(`goldens from ${fixture.framework} ${Object.entries(fixture.versions).map(([k, v]) => `${k} ${v}`).join(', ')}`, () => {
    it('cover every problem and run the fixtures’ step count', () => {
      expect(fixture.trajectories.length).toBeGreaterThan(0)
      for (const t of fixture.trajectories) {
        expect(problems[t.problem], t.id).toBeDefined()
        expect(t.params.length, t.id).toBe(steps)
      }
    })
    for (const [key, ts] of groups) {
      it(`${key}: ${ts.length} trajectories`, () => {
        const failures: string[] = []
        for (const t of ts) {
          const problem = problems[t.problem]!
          const steps = exceptions[t.id]?.steps ?? t.params.length
          for (const compiled of [false, true]) {
            const where = firstDivergence(t, problem, runFluxion(t, problem, compiled), steps)
            const name = `${t.id}${compiled ? ' (compileStep)' : ''}`
            if (knownDifferences[t.id] !== undefined) {
              if (where === undefined) failures.push(`${name}: listed as a known difference (${knownDifferences[t.id]}) but now agrees: check it normally`)
            } else if (where !== undefined) failures.push(`${name}: ${where}`)
          }
        }
        expect(failures.length, `${failures.length} diverging:\n${failures.join('\n')}`).toBe(0)
      })
    }
  })
}

describe("a framework's options are refused in the conventions that do not have them", () => {
  const lr = { learningRate: 0.1 }
  const refused: readonly (readonly [string, () => unknown, string])[] = [
    ['sgd dampening (optax)', () => f.sgd({ ...lr, momentum: 0.9, dampening: 0.1 }), 'dampening'],
    ['sgd dampening with nesterov (pytorch)', () => f.sgd({ ...lr, momentum: 0.9, nesterov: true, dampening: 0.1, convention: 'pytorch' }), 'dampening'],
    ['sgd weightDecay (keras)', () => f.sgd({ ...lr, weightDecay: 0.1, convention: 'keras' }), 'weightDecay'],
    ['adagrad lrDecay (optax)', () => f.adagrad({ ...lr, lrDecay: 0.1 }), 'lrDecay'],
    ['rmsprop epsInSqrt (pytorch)', () => f.rmsprop({ ...lr, epsInSqrt: false, convention: 'pytorch' }), 'epsInSqrt'],
    ['rmsprop biasCorrection (keras)', () => f.rmsprop({ ...lr, biasCorrection: true, convention: 'keras' }), 'biasCorrection'],
    ['adadelta weightDecay (tfjs)', () => f.adadelta({ ...lr, weightDecay: 0.1, convention: 'tfjs' }), 'weightDecay'],
    ['adam weightDecay (optax: use adamw)', () => f.adam({ ...lr, weightDecay: 0.1 }), 'weightDecay'],
    ['adam maximize (keras)', () => f.adam({ ...lr, maximize: true, convention: 'keras' }), 'maximize'],
    ['adam nesterov (pytorch)', () => f.adam({ ...lr, nesterov: true, convention: 'pytorch' }), 'nesterov'],
    ['adamw nesterov (keras)', () => f.adamw({ ...lr, nesterov: true, convention: 'keras' }), 'nesterov'],
    ['nadam momentumDecay (keras)', () => f.nadam({ ...lr, momentumDecay: 0.1, convention: 'keras' }), 'momentumDecay'],
    ['nadam epsRoot (pytorch)', () => f.nadam({ ...lr, epsRoot: 1e-8, convention: 'pytorch' }), 'epsRoot'],
    ['amsgrad biasCorrectionMu (pytorch)', () => f.amsgrad({ ...lr, biasCorrectionMu: false, convention: 'pytorch' }), 'biasCorrectionMu'],
    ['adamax maximize (tfjs)', () => f.adamax({ ...lr, maximize: true, convention: 'tfjs' }), 'maximize'],
    ['radam threshold (pytorch: ρₜ > 5, fixed)', () => f.radam({ ...lr, threshold: 6, convention: 'pytorch' }), 'threshold'],
    ['radam decoupledWeightDecay (optax)', () => f.radam({ ...lr, decoupledWeightDecay: true }), 'decoupledWeightDecay'],
  ]
  it.each(refused)('%s', (_name, build, field) => {
    let error: unknown
    try {
      build()
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(f.HyperparameterError)
    expect((error as f.HyperparameterError).field).toBe(field)
  })

  it('and left at their defaults, they add nothing to the chain', () => {
    const p = { w: fromArray([1, 2], [2], cpu) }
    const same = (a: Optimizer, b: Optimizer) => expect(a.init(p).length).toBe(b.init(p).length)
    same(f.adam({ learningRate: 0.1, weightDecay: 0, maximize: false, nesterov: false }), f.adam({ learningRate: 0.1 }))
    same(f.sgd({ learningRate: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0, convention: 'pytorch' }), f.sgd({ learningRate: 0.1, momentum: 0.9, convention: 'pytorch' }))
  })
})

it('lists exceptions and known differences only for trajectories that exist', () => {
  const ids = new Set(fixtures.flatMap((x) => x.trajectories.map((t) => t.id)))
  expect([...Object.keys(exceptions), ...Object.keys(knownDifferences)].filter((id) => !ids.has(id))).toEqual([])
})

afterAll(() => {
  const total = [...counts.values()].reduce((a, b) => a + b, 0)
  const checked = total - Object.keys(knownDifferences).length
  console.log(
    `[goldens] ${total} trajectories: ${frameworks.map((fw) => `${fw} ${counts.get(fw) ?? 0}`).join(', ')}; ` +
      `${checked} agree at ${tolerance.rtol} relative / ${tolerance.atol} absolute (${Object.keys(exceptions).length} over fewer steps, documented), ` +
      `${Object.keys(knownDifferences).length} known algorithmic differences (L-BFGS)`,
  )
})
