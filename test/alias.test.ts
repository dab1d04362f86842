/**
 * The optimizer table, in the manner of Optax's alias_test: every optimizer on a parabola, the
 * ill-conditioned quadratic of seed 003_3f666a11de5b95b1.txt (κ = 100) and Rosenbrock's function
 * must end within 3e-2 of the minimiser, on every backend. Learning rates follow the lectures'
 * linear decay α_k = α₀ − (k/τ)(α₀ − α_τ), α_τ = 0.01 α₀, τ = the step budget (seed
 * 000_33f4fbf331723dec.txt, "SGD: Learning rate").
 */
import { describe, expect, it } from 'vitest'
import {
  type AnyTransformation,
  type Backend,
  type Params,
  type Schedule,
  adadelta,
  adagrad,
  adam,
  adamax,
  adamw,
  amsgrad,
  applyUpdates,
  compileStep,
  dispose,
  lamb,
  lars,
  lbfgs,
  lion,
  momentum,
  nadam,
  noisySgd,
  radam,
  readTree,
  rmsprop,
  scope,
  sgd,
} from '../src/index.js'
import { type Objective, illConditionedQuadratic, parabola, rosenbrock } from '../laws/problems.js'
import { backends } from './backends.js'

const linearDecay = (a0: number, tau: number): Schedule => (k) => (k <= tau ? a0 - (k / tau) * (a0 - 0.01 * a0) : 0.01 * a0)

/** One problem's setting: α₀, the step budget τ, and whether α decays linearly (else constant). */
type Setting = readonly [a0: number, steps: number, decay?: boolean]

/** [name, optimizer from a learning rate, settings for the parabola, the quadratic, Rosenbrock]. */
type Row = readonly [string, (lr: Schedule | number) => AnyTransformation, readonly [Setting, Setting, Setting]]

const table: readonly Row[] = [
  ['sgd', (lr) => sgd({ learningRate: lr }), [[0.1, 200], [0.01, 1000], [0.002, 5000, false]]],
  ['momentum', (lr) => momentum({ learningRate: lr, momentum: 0.9 }), [[0.05, 300], [0.009, 1000], [0.002, 2000]]],
  ['sgd nesterov', (lr) => sgd({ learningRate: lr, momentum: 0.9, nesterov: true }), [[0.05, 300], [0.003, 1000], [0.002, 2000]]],
  ['adagrad', (lr) => adagrad({ learningRate: lr }), [[1, 300], [1, 500], [0.5, 5000, false]]],
  ['rmsprop', (lr) => rmsprop({ learningRate: lr }), [[0.1, 300], [0.05, 500], [0.01, 5000]]],
  ['rmsprop centered nesterov', (lr) => rmsprop({ learningRate: lr, centered: true, momentum: 0.9, nesterov: true }), [[0.05, 300], [0.01, 500], [0.005, 1000]]],
  ['adadelta', (lr) => adadelta({ learningRate: lr, rho: 0.95, eps: 1e-3 }), [[1, 300], [1, 500], [0.02, 5000]]],
  ['adam', (lr) => adam({ learningRate: lr }), [[0.1, 300], [0.1, 500], [0.05, 1000]]],
  ['adamw', (lr) => adamw({ learningRate: lr, weightDecay: 1e-4 }), [[0.1, 300], [0.1, 500], [0.05, 1000]]],
  ['nadam', (lr) => nadam({ learningRate: lr }), [[0.1, 300], [0.1, 500], [0.05, 1000]]],
  ['amsgrad', (lr) => amsgrad({ learningRate: lr }), [[0.1, 300], [0.1, 500], [0.1, 1000]]],
  ['adamax', (lr) => adamax({ learningRate: lr }), [[0.1, 300], [0.1, 500], [0.1, 1000]]],
  ['radam', (lr) => radam({ learningRate: lr }), [[0.1, 300], [0.01, 2500], [0.02, 1000]]],
  ['lion', (lr) => lion({ learningRate: lr, weightDecay: 0 }), [[0.03, 300], [0.05, 500], [0.02, 1000]]],
  ['lamb', (lr) => lamb({ learningRate: lr }), [[0.1, 300], [0.1, 500], [0.02, 2000]]],
  ['lars', (lr) => lars({ learningRate: lr, trustCoefficient: 1 }), [[0.05, 300], [0.05, 500], [0.01, 1000]]],
  ['noisySgd', (lr) => noisySgd({ learningRate: lr, eta: 1e-4, seed: 3 }), [[0.1, 200], [0.01, 1000], [0.002, 5000, false]]],
  ['lbfgs', (lr) => lbfgs({ learningRate: lr, memorySize: 5, linesearch: null }), [[1, 20, false], [1, 20, false], [0.05, 1000, false]]],
]

const problems: readonly (readonly [Objective, Record<string, number[]>])[] = [
  [parabola(3, 1), { theta: [1, 1, 1] }],
  [illConditionedQuadratic(2, 100), { theta: [0, 0] }],
  // Optax's alias_test starts Rosenbrock at the origin
  [rosenbrock(1, [0, 0]), { x: [1], y: [1] }],
]

/** Runs `steps` steps, through `update` + `applyUpdates` or through `compileStep(opt, { donate: true })`. */
const minimise = async (objective: Objective, opt: AnyTransformation, steps: number, backend: Backend, compiled: boolean) => {
  let params: Params = objective.init(backend)
  let state = opt.init(params)
  const step = compileStep(opt, { donate: true })
  for (let k = 0; k < steps; k++) {
    if (compiled) {
      const g = scope(() => objective.gradient(params))
      ;[params, state] = step(params, g, state)
      dispose(g)
      continue
    }
    const [p2, s2] = scope(() => {
      const [u, s] = opt.update(objective.gradient(params), state, params)
      return [applyUpdates(params, u), s] as const
    })
    dispose([params, state], [p2, s2])
    params = p2
    state = s2
  }
  const host = await readTree(params)
  dispose([params, state])
  return host
}

// the cpu runs both paths; the gpu backends run the compiled step (fewer launches: the laws in
// test/optimizer-table.test.ts check that it equals update + applyUpdates there)
const runs = backends.flatMap((backend) => (backend === backends[0] ? [false, true] : [true]).map((compiled) => ({ backend, compiled, name: `${backend.name}${compiled ? ', compiled' : ''}` })))

describe.each(runs)('every optimizer minimises the test problems on $name', ({ backend, compiled }) => {
  it.each(table.map((r) => [r[0], r] as const))('%s', async (_name, [, make, settings]) => {
    for (let i = 0; i < problems.length; i++) {
      const [objective, minimiser] = problems[i]!
      const [a0, steps, decay = true] = settings[i]!
      const found = await minimise(objective, make(decay ? linearDecay(a0, steps) : a0), steps, backend, compiled)
      for (const k of Object.keys(minimiser)) {
        const got = Array.from((found as Record<string, Float32Array>)[k]!)
        got.forEach((x, j) => expect(Math.abs(x - minimiser[k]![j]!), `${objective.name}: ${k}[${j}] = ${x}`).toBeLessThan(3e-2))
      }
    }
  })
})
