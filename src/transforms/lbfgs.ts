/**
 * L-BFGS: the lectures' second-order discussion (Newton's θ ← θ − ηH⁻¹∇L, impractical because H⁻¹
 * is too expensive) made practical by approximating H⁻¹∇L from the last m parameter and gradient
 * differences with the two-loop recursion.
 *
 * References: seed 001_6e8604431cc2cba1.txt and seed 003_3f666a11de5b95b1.txt (second-order
 * methods, Newton-Raphson); Nocedal & Wright 2006, Algorithm 7.4; Optax `scale_by_lbfgs`.
 */
import { checkCount, frozen, leafRows, mapLeaves, requireParams, transformation } from '../core/internal.js'
import type { GradientTransformation, Params } from '../core/types.js'
import { ranges, validate } from '../core/validate.js'
import { countCodec, paramsCodec, tensorCodec } from '../core/state.js'
import * as t from 'io-ts'
import { StructureError } from '../errors.js'
import { add, clone, elementwise, mul, scope, sum } from '../tensor/ops.js'
import { type Tensor, defineElementwise } from '../tensor/tensor.js'
import * as tree from '../tree/index.js'
import { emptyLeaf } from './accumulator.js'

/** State of `scaleByLbfgs`. */
export interface ScaleByLbfgsState {
  readonly count: number
  /** θ and g of the previous step (copies). */
  readonly params: Params
  readonly updates: Params
  /** sᵢ = θᵢ₊₁ − θᵢ and yᵢ = gᵢ₊₁ − gᵢ, oldest first, at most `memorySize`. */
  readonly s: readonly Params[]
  readonly y: readonly Params[]
  /** ρᵢ = 1 / yᵢᵀsᵢ (0 when yᵢᵀsᵢ = 0), tensors of shape []. */
  readonly rho: readonly Tensor[]
}

/** Options of `scaleByLbfgs`. */
export interface ScaleByLbfgsOptions {
  /** m, the number of (s, y) pairs kept, ≥ 1. Default 10. */
  readonly memorySize?: number
  /** Scale the initial inverse Hessian by γ = sᵀy / yᵀy of the newest pair. Default true. */
  readonly scaleInitPrecond?: boolean
}

const diffOp = defineElementwise({ name: 'lbfgsDiff', inputs: ['a', 'b'], outputs: ['a - b'] })
const axpyOp = defineElementwise({ name: 'lbfgsAxpy', inputs: ['x', 'a', 'y'], outputs: ['x + a * y'] })
const scaleOp = defineElementwise({ name: 'lbfgsScale', inputs: ['x', 'a'], outputs: ['x * a'] })
// ρ = 1/sᵀy only for pairs meeting the curvature condition sᵀy > 1e-10‖s‖‖y‖ (and sᵀy > 1e-30,
// so 1/sᵀy stays finite in float32); other pairs get ρ = 0 and drop out of the recursion. The
// tests are written as "fails", so a NaN sᵀy is not dropped but gives ρ = NaN (docs/nonfinite.md).
const rhoOp = defineElementwise({
  name: 'lbfgsRho',
  inputs: ['sy', 'ss', 'yy'],
  outputs: ['sy <= 1e-30 || sy <= 1e-10 * Math.sqrt(ss) * Math.sqrt(yy) ? 0 : 1 / sy'],
})
const gammaOp = defineElementwise({ name: 'lbfgsGamma', inputs: ['sy', 'yy', 'rho'], outputs: ['rho <= 0 ? 1 : sy / yy'] })
const ab = defineElementwise({ name: 'lbfgsCoef', inputs: ['r', 'd'], outputs: ['r * d'] })
const subOp = defineElementwise({ name: 'lbfgsSub', inputs: ['a', 'b'], outputs: ['a - b'] })
const negOp = defineElementwise({ name: 'lbfgsNeg', inputs: ['a'], outputs: ['-a'] })
// Optax's (and SciPy's) first step: g scaled by min(1, 1/‖g‖); a zero g stays 0 (1/0 = ∞, min 1)
const firstScaleOp = defineElementwise({ name: 'lbfgsFirstScale', inputs: ['gg'], outputs: ['Math.min(1, 1 / Math.sqrt(gg))'] })

const copyTree = (t: Params): Params => mapLeaves([['tree', t]], 1, ([x], path) => [clone(x!, path)])[0]!
const diffTree = (a: Params, b: Params): Params => mapLeaves([['a', a], ['b', b]], 1, ([x, y], path) => elementwise(diffOp, [x!, y!], [], path))[0]!

/** Σ over leaves of aᵢ·bᵢ, a tensor of shape []. */
const dot = (a: Params, b: Params): Tensor =>
  scope(() => {
    const parts = leafRows([['a', a], ['b', b]]).rows.map(([x, y]) => sum(mul(x!, y!)))
    return parts.slice(1).reduce((acc, p) => add(acc, p), parts[0]!)
  })

/** x + a·y for trees x, y and a scalar tensor a. */
const axpy = (x: Params, a: Tensor, y: Params): Params =>
  mapLeaves([['x', x], ['y', y]], 1, ([xi, yi], path) => (xi!.size === 0 ? [emptyLeaf(xi!)] : elementwise(axpyOp, [xi!, a, yi!], [], path)))[0]!

/**
 * L-BFGS preconditioning: with the last m pairs (sᵢ, yᵢ), sᵢ = θᵢ₊₁ − θᵢ, yᵢ = gᵢ₊₁ − gᵢ,
 * ρᵢ = 1/yᵢᵀsᵢ, the two-loop recursion computes u ≈ H⁻¹g:
 *
 *   q ← g;  for i newest→oldest: αᵢ = ρᵢsᵢᵀq, q ← q − αᵢyᵢ
 *   r ← γq (γ = sᵀy / yᵀy of the newest pair, or 1);  for i oldest→newest: β = ρᵢyᵢᵀr, r ← r + (αᵢ − β)sᵢ
 *
 * The first step returns g, scaled by min(1, 1/‖g‖) when `scaleInitPrecond` (as Optax and SciPy
 * do: a first step no longer than the learning rate). A pair enters with ρᵢ = 0 (contributing nothing) unless it meets the
 * curvature condition sᵀy > 1e-10‖s‖‖y‖ (Nocedal & Wright's safeguard, which also keeps ρ finite
 * once the iterates have converged); γ = 1 when the newest pair is skipped. Everything stays on the device;
 * the inner products are tensors of shape []. Needs the params. It takes no step size itself: `lbfgs`
 * chains it with a learning rate and, by default, `scaleByZoomLinesearch` (which needs the objective
 * in `update`'s extras); alone, chain it with a learning rate (1 on well-scaled problems).
 *
 * Defaults: memorySize = 10, scaleInitPrecond = true. State: `{ count, params, updates, s, y, rho }`.
 * Reference: Nocedal & Wright 2006, Algorithm 7.4; Optax `scale_by_lbfgs`.
 *
 * @example
 * ```ts
 * const opt = chain(scaleByLbfgs({ memorySize: 5 }), scaleByLearningRate(1))
 * ```
 */
export const scaleByLbfgs = (options: ScaleByLbfgsOptions = {}): GradientTransformation<ScaleByLbfgsState> => {
  const { memorySize, scaleInitPrecond } = validate(
    'scaleByLbfgs',
    { memorySize: ranges.positiveInteger, scaleInitPrecond: ranges.boolean },
    options,
    { memorySize: 10, scaleInitPrecond: true },
  )
  return transformation('scaleByLbfgs', {
    init: (params: Params) =>
      frozen({ count: 0, params: copyTree(params), updates: mapLeaves([['params', params]], 1, ([p]) => [p!.backend.fill(p!.shape, 0)])[0]!, s: [], y: [], rho: [] }),
    update: (updates: Params, state: ScaleByLbfgsState, params?: Params) => {
      const count = checkCount('scaleByLbfgs', state.count)
      const p = requireParams('scaleByLbfgs', params)
      leafRows([['updates', updates], ['params', p], ['state.params', state.params], ['state.updates', state.updates]])
      if (state.s.length !== state.y.length || state.s.length !== state.rho.length || state.s.length > memorySize) {
        throw new StructureError('s', `scaleByLbfgs: memory of ${state.s.length} s, ${state.y.length} y, ${state.rho.length} rho (memorySize ${memorySize})`)
      }
      if (tree.leaves(updates).length === 0) {
        // nothing to precondition; the memory stays empty
        return [updates, frozen({ ...state, count: count + 1 })] as const
      }
      return scope(() => {
        let s = state.s
        let y = state.y
        let rho = state.rho
        if (count > 0) {
          const sNew = diffTree(p, state.params)
          const yNew = diffTree(updates, state.updates)
          const rNew = elementwise(rhoOp, [dot(yNew, sNew), dot(sNew, sNew), dot(yNew, yNew)])[0]!
          const drop = s.length === memorySize ? 1 : 0
          s = [...s.slice(drop), sNew]
          y = [...y.slice(drop), yNew]
          rho = [...rho.slice(drop), rNew]
        }
        const k = s.length
        let q = updates
        const alphas: Tensor[] = new Array(k)
        for (let i = k - 1; i >= 0; i--) {
          const alpha = elementwise(ab, [rho[i]!, dot(s[i]!, q)])[0]!
          alphas[i] = alpha
          q = axpy(q, elementwise(negOp, [alpha])[0]!, y[i]!)
        }
        let r = q
        if (k > 0 && scaleInitPrecond) {
          const gamma = elementwise(gammaOp, [dot(s[k - 1]!, y[k - 1]!), dot(y[k - 1]!, y[k - 1]!), rho[k - 1]!])[0]!
          r = mapLeaves([['q', q]], 1, ([qi], path) => (qi!.size === 0 ? [emptyLeaf(qi!)] : elementwise(scaleOp, [qi!, gamma], [], path)))[0]!
        }
        for (let i = 0; i < k; i++) {
          const beta = elementwise(ab, [rho[i]!, dot(y[i]!, r)])[0]!
          r = axpy(r, elementwise(subOp, [alphas[i]!, beta])[0]!, s[i]!)
        }
        const first = (): Params => {
          if (!scaleInitPrecond) return copyTree(updates)
          const c = elementwise(firstScaleOp, [dot(updates, updates)])[0]!
          return mapLeaves([['updates', updates]], 1, ([gi], path) => (gi!.size === 0 ? [emptyLeaf(gi!)] : elementwise(scaleOp, [gi!, c], [], path)))[0]!
        }
        const out = k === 0 ? first() : r
        const next: ScaleByLbfgsState = frozen({
          count: count + 1,
          params: copyTree(p),
          updates: copyTree(updates),
          s: frozen([...s]),
          y: frozen([...y]),
          rho: frozen([...rho]),
        })
        return [out, next] as const
      })
    },
    stateCodec: t.strict(
      { count: countCodec, params: paramsCodec, updates: paramsCodec, s: t.array(paramsCodec), y: t.array(paramsCodec), rho: t.array(tensorCodec) },
      '{ count, params, updates, s, y, rho }',
    ),
  }, { needsParams: true })
}
