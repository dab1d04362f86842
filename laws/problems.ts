/**
 * Test problems whose loss and gradient are computed on the device with fluxion's elementwise ops:
 * a parabola, the ill-conditioned quadratic of seed 003, and Rosenbrock's function. Used by the
 * optimizer table test (in the manner of Optax's `alias_test`) and the demo.
 */
import {
  type Backend,
  type Params,
  type Tensor,
  defineElementwise,
  elementwise,
  fromArray,
  keep,
  read,
  scope,
  sum,
} from '../src/index.js'

/** A differentiable objective over a parameter tree. */
export interface Objective {
  readonly name: string
  /** Initial parameters on a backend. */
  readonly init: (backend: Backend) => Params
  /** Loss value (read back to the host). */
  readonly loss: (params: Params) => Promise<number>
  /** Gradient tree, same structure as the params. */
  readonly gradient: (params: Params) => Params
  /** The minimum loss value. */
  readonly minimum: number
}

const quadLossOp = defineElementwise({ name: 'quadLoss', inputs: ['a', 't'], outputs: ['a * t * t'] })
const quadGradOp = defineElementwise({ name: 'quadGrad', inputs: ['a', 't'], outputs: ['2 * a * t'] })

/**
 * The ill-conditioned quadratic of seed 003_3f666a11de5b95b1.txt ("2nd order methods"):
 * L(θ) = θ·Aθ with A = diag(a₁ … a_d), a₁ ≪ a_d; ∇L = 2Aθ. Curvatures are spaced geometrically
 * from 1 to `condition`.
 */
export const illConditionedQuadratic = (d = 2, condition = 100): Objective => {
  const a = Array.from({ length: d }, (_, i) => condition ** (d === 1 ? 0 : i / (d - 1)))
  const coefficients = new Map<Backend, Tensor>()
  const coeff = (b: Backend) => {
    let t = coefficients.get(b)
    if (!t) coefficients.set(b, (t = keep(fromArray(a, [d], b))))
    return t
  }
  const theta = (p: Params) => (p as { theta: Tensor }).theta
  return {
    name: `quadratic θ·Aθ (d=${d}, κ=${condition})`,
    init: (b) => ({ theta: fromArray(Array.from({ length: d }, (_, i) => (i % 2 === 0 ? 1 : -1)), [d], b) }),
    loss: async (p) => (await read(scope(() => sum(elementwise(quadLossOp, [coeff(theta(p).backend), theta(p)])[0]!))))[0]!,
    gradient: (p) => ({ theta: elementwise(quadGradOp, [coeff(theta(p).backend), theta(p)])[0]! }),
    minimum: 0,
  }
}

const rosenLossOp = defineElementwise({ name: 'rosenLoss', inputs: ['x', 'y'], outputs: ['(1 - x) * (1 - x) + 100 * (y - x * x) * (y - x * x)'] })
const rosenGradOp = defineElementwise({
  name: 'rosenGrad',
  inputs: ['x', 'y'],
  lets: [['r', 'y - x * x']],
  outputs: ['-2 * (1 - x) - 400 * x * r', '200 * r'],
})

/**
 * `n` independent copies of Rosenbrock's function f(x, y) = (1 − x)² + 100 (y − x²)², started at
 * `start` (default the classic (−1.2, 1); Optax's alias test uses (0, 0)); the minimum 0 is at
 * (1, 1). Params `{ x, y }`.
 */
export const rosenbrock = (n = 1, start: readonly [number, number] = [-1.2, 1]): Objective => ({
  name: `Rosenbrock (${n} copies, from (${start[0]}, ${start[1]}))`,
  init: (b) => ({ x: fromArray(new Array(n).fill(start[0]), [n], b), y: fromArray(new Array(n).fill(start[1]), [n], b) }),
  loss: async (p) => {
    const { x, y } = p as { x: Tensor; y: Tensor }
    return (await read(scope(() => sum(elementwise(rosenLossOp, [x, y])[0]!))))[0]! / n
  },
  gradient: (p) => {
    const { x, y } = p as { x: Tensor; y: Tensor }
    const [gx, gy] = elementwise(rosenGradOp, [x, y])
    return { x: gx!, y: gy! }
  },
  minimum: 0,
})

const parabolaLossOp = defineElementwise({ name: 'parabolaLoss', inputs: ['t'], scalars: ['c'], outputs: ['(t - c) * (t - c)'] })
const parabolaGradOp = defineElementwise({ name: 'parabolaGrad', inputs: ['t'], scalars: ['c'], outputs: ['2 * (t - c)'] })

/** f(θ) = Σ (θᵢ − c)², minimum 0 at θ = c, started at 0. Params `{ theta }`. */
export const parabola = (d = 3, c = 1): Objective => {
  const theta = (p: Params) => (p as { theta: Tensor }).theta
  return {
    name: `parabola (d=${d})`,
    init: (b) => ({ theta: fromArray(new Array(d).fill(0), [d], b) }),
    loss: async (p) => (await read(scope(() => sum(elementwise(parabolaLossOp, [theta(p)], [c])[0]!))))[0]!,
    gradient: (p) => ({ theta: elementwise(parabolaGradOp, [theta(p)], [c])[0]! }),
    minimum: 0,
  }
}
