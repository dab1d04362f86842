/**
 * The primitives behind Optax's memory-light and step-size-free optimizers: Adafactor's factored
 * second moment (`scaleByFactoredRms`) and relative step (`scaleByParamBlockRms`), SM3's
 * cover-based accumulators (`scaleBySm3`), Polyak's step size from the loss value
 * (`scaleByPolyak`) and the parameter rescaling of Fromage (`addScaledParams`).
 *
 * A leaf of rank N is reduced along one axis by viewing it as [A, B, C] (the axes before, the
 * axis, the axes after): a leading or trailing axis is a `sumTo` / `maxTo`, a middle one a
 * product with the 0/1 selection matrix Iₐ ⊗ 1ᵦᵀ (`matmul`), so every backend runs it.
 *
 * References: Shazeer & Stern 2018, "Adafactor: Adaptive Learning Rates with Sublinear Memory
 * Cost"; Anil et al. 2019, "Memory-Efficient Adaptive Optimization" (SM3); Loizou et al. 2021,
 * "Stochastic Polyak Step-size for SGD"; Bernstein et al. 2020, "On the distance between two
 * neural networks and the stability of learning" (Fromage); Optax 0.2.8
 * `optax/_src/factorized.py` (`scale_by_factored_rms`), `transform.py` (`scale_by_param_block_rms`,
 * `scale_by_sm3`, `scale_by_polyak`), `alias.py` (`fromage`).
 */
import * as t from 'io-ts'
import { checkCount, frozen, leafRows, mapLeaves, requireParams, statelessTransformation, transformation } from '../core/internal.js'
import { countCodec, nonNegativeParamsCodec, paramsCodec } from '../core/state.js'
import type { EmptyState, GradientTransformation, Params, ScalarOrSchedule, UpdateExtras } from '../core/types.js'
import { evaluate, ranges, refinement, validate } from '../core/validate.js'
import { BackendError, DisposedTensorError, HyperparameterError, ShapeError, StructureError } from '../errors.js'
import { add, elementwise, matmul, maxTo, reshape, scope, sumOfSquares, sumTo } from '../tensor/ops.js'
import { type Backend, type ElementwiseOp, Tensor, backendMismatch, defineElementwise } from '../tensor/tensor.js'
import * as tree from '../tree/index.js'
import { emptyLeaf, nanUnlessFinite, zeroWhereNoGradient } from './accumulator.js'

const f32 = Math.fround

// ---- reductions and broadcasts along one axis ----------------------------------------------------

const product = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1)
const without = (shape: readonly number[], axis: number): number[] => shape.filter((_, i) => i !== axis)
/** The [A, B, C] view of `shape` around `axis`: the product of the axes before it, its size, the product after. */
const around = (shape: readonly number[], axis: number): [number, number, number] => [product(shape.slice(0, axis)), shape[axis]!, product(shape.slice(axis + 1))]
const view = (x: Tensor, shape: readonly number[], path: string): Tensor =>
  x.shape.length === shape.length && x.shape.every((d, i) => d === shape[i]) ? x : reshape(x, shape, path)

/** Iₐ ⊗ 1ᵦᵀ, shape [A, A·B]: row a sums (or, transposed, repeats) the B rows of block a. */
const selection = (backend: Backend, a: number, b: number): Tensor => {
  const data = new Float32Array(a * a * b)
  for (let i = 0; i < a; i++) data.fill(1, i * a * b + i * b, i * a * b + (i + 1) * b)
  return backend.fromData(data, [a, a * b])
}

/** Σ over `axis` of x: a tensor of x's shape without that axis. */
const sumAxis = (x: Tensor, axis: number, path: string): Tensor => {
  const [a, b, c] = around(x.shape, axis)
  const out = without(x.shape, axis)
  if (a === 1) return view(sumTo(view(x, [b, c], path), [c], path), out, path)
  if (c === 1) return view(sumTo(view(x, [a, b], path), [a, 1], path), out, path)
  return view(matmul(selection(x.backend, a, b), view(x, [a * b, c], path), {}, path), out, path)
}

/** max over every axis but `axis` of x: a vector of x.shape[axis] elements. */
const maxKeeping = (x: Tensor, axis: number, path: string): Tensor => {
  const [a, b, c] = around(x.shape, axis)
  const inner = c === 1 ? view(x, [a, b], path) : view(maxTo(view(x, [a * b, c], path), [a * b, 1], path), [a, b], path)
  return a === 1 ? view(inner, [b], path) : maxTo(inner, [b], path)
}

/**
 * v (of `shape` without `axis`) repeated along `axis`, as a tensor an elementwise op over `shape`
 * reads by broadcasting: reshaped only for a trailing or leading axis, materialised through the
 * selection matrix for a middle one.
 */
const repeatAlong = (v: Tensor, shape: readonly number[], axis: number, path: string): Tensor => {
  const [a, b, c] = around(shape, axis)
  if (c === 1) return view(v, shape.map((d, i) => (i === axis ? 1 : d)), path)
  if (a === 1) return view(v, shape.slice(axis + 1), path)
  return view(matmul(selection(v.backend, a, b), view(v, [a, c], path), { transposeA: true }, path), shape, path)
}

const copyOp = defineElementwise({ name: 'factoredBroadcast', inputs: ['carrier', 'v'], outputs: ['v'] })

/** The vector v (x.shape[axis] elements) repeated along every other axis, readable against `shape`. */
const spreadAcross = (v: Tensor, shape: readonly number[], axis: number, path: string): Tensor => {
  const [a, , c] = around(shape, axis)
  const alone = shape.map((d, i) => (i === axis ? d : 1))
  if (a === 1 || c === 1) return view(v, alone, path)
  // a middle axis: [b, 1, …] → [b, …rest] (a leading-axis broadcast), which `shape` reads as a suffix
  return elementwise(copyOp, [v.backend.fill(shape.slice(axis), 0), view(v, alone.slice(axis), path)], [], path)[0]!
}

// ---- Adafactor's factored second moment ----------------------------------------------------------

/**
 * The axes a factored second moment reduces over, [d₁, d₀] (the second largest and the largest;
 * of equal sizes the later axis counts as the larger, as NumPy's `argsort` orders them), or
 * undefined when the leaf is not factored: `factored` off, rank < 2, or d₁'s size below
 * `minDimSizeToFactor` (Optax `_factored_dims`).
 */
const factoredDims = (shape: readonly number[], factored: boolean, minDimSizeToFactor: number): readonly [number, number] | undefined => {
  if (!factored || shape.length < 2) return undefined
  const order = shape.map((_, i) => i).sort((i, j) => shape[i]! - shape[j]! || i - j)
  const [d1, d0] = [order[order.length - 2]!, order[order.length - 1]!]
  return shape[d1]! < minDimSizeToFactor ? undefined : [d1, d0]
}

/**
 * State of `scaleByFactoredRms` (Optax's `FactoredState`): the step count and, per leaf, either the
 * row and column statistics `vRow` (the leaf's shape without d₀) and `vCol` (without d₁), with `v`
 * an empty tensor of shape [0], or, for a leaf that is not factored, the full second moment `v`
 * with `vRow` and `vCol` empty.
 */
export interface ScaleByFactoredRmsState {
  readonly count: number
  readonly vRow: Params
  readonly vCol: Params
  readonly v: Params
}

/** Options of `scaleByFactoredRms` (Optax's names in camel case). */
export interface ScaleByFactoredRmsOptions {
  /** Factor the second moment of leaves of rank ≥ 2. Default true. */
  readonly factored?: boolean
  /** The exponent c of the decay schedule ρ_t = 1 − t^(−c), a number ≥ 0. Default 0.8. */
  readonly decayRate?: number
  /** s, the step the decay schedule starts from (t = count − s + 1; for fine-tuning), an integer ≥ 0. Default 0. */
  readonly stepOffset?: number
  /** Factor only where the second largest axis has at least this many elements, an integer ≥ 1. Default 128. */
  readonly minDimSizeToFactor?: number
  /** ε₁ > 0, added to g² (so no second moment is ever 0). Default 1e-30. */
  readonly epsilon?: number
}

const sqPlusEpsOp = defineElementwise({ name: 'factoredSquare', inputs: ['g'], scalars: ['eps'], outputs: ['g * g + eps'] })
const meanEmaOp = defineElementwise({ name: 'factoredMeanEma', inputs: ['v', 's'], scalars: ['decay', 'omd', 'n'], outputs: ['decay * v + omd * (s / n)'] })
// an overflowed (∞) or NaN statistic gives NaN, not the g/√∞ = 0 that would freeze the coordinate
const rowFactorOp = defineElementwise({ name: 'factoredRowFactor', inputs: ['v', 's'], scalars: ['n'], outputs: [nanUnlessFinite('s', '1 / Math.sqrt(v / (s / n))')] })
const colFactorOp = defineElementwise({ name: 'factoredColFactor', inputs: ['v'], outputs: [nanUnlessFinite('v', '1 / Math.sqrt(v)')] })
const factoredUpdateOp = defineElementwise({ name: 'factoredUpdate', inputs: ['g', 'r', 'c'], outputs: ['g * r * c'] })
const unfactoredOp = defineElementwise({
  name: 'unfactoredRms',
  inputs: ['g', 'v'],
  scalars: ['decay', 'omd', 'eps'],
  lets: [['v1', 'decay * v + omd * (g * g + eps)']],
  outputs: ['v1', nanUnlessFinite('v1', 'g / Math.sqrt(v1)')],
})

const placeholder = (x: Tensor): Tensor => x.backend.fill([0], 0)
const placeholderLike = (x: Tensor): Tensor => x.backend.fill(x.shape, 0)

/** A state tensor `x` read beside the update `g`: a live tensor of g's backend with shape `shape`, or the typed error naming `where`. */
const checkStat = (transform: string, x: unknown, g: Tensor, shape: readonly number[], where: string): Tensor => {
  if (!(x instanceof Tensor)) throw new StructureError(where, `${transform}: state leaves must be tensors, got ${String(x)}`)
  if (x.backend !== g.backend) throw new BackendError(where, backendMismatch(x.backend, g.backend))
  if (!x.backend.isLive(x)) throw new DisposedTensorError(where, x.id)
  if (x.shape.length !== shape.length || x.shape.some((d, k) => d !== shape[k])) {
    throw new ShapeError(where, `${transform}: expected shape [${shape.join(', ')}] beside an update of shape [${g.shape.join(', ')}], got [${x.shape.join(', ')}]`)
  }
  return x
}

/** The shapes of a leaf's three statistics: [vRow, vCol, v]. */
const statShapes = (shape: readonly number[], dims: readonly [number, number] | undefined): [number[], number[], number[]] =>
  dims === undefined ? [[0], [0], [...shape]] : [without(shape, dims[1]), without(shape, dims[0]), [0]]

const factoredCodec = t.strict({ count: countCodec, vRow: nonNegativeParamsCodec, vCol: nonNegativeParamsCodec, v: nonNegativeParamsCodec }, '{ count, vRow, vCol, v }')

/**
 * Adafactor's rescaling by a factored estimate of the gradient's root mean square. With
 * ρ_t = 1 − t^(−c) (t = count − s + 1, so ρ₁ = 0) and G = g² + ε₁, a leaf whose two largest axes
 * d₁ (rows) and d₀ (columns) have ≥ `minDimSizeToFactor` elements keeps only their means:
 *
 *   R ← ρ_t R + (1 − ρ_t) mean_{d₀}(G),  C ← ρ_t C + (1 − ρ_t) mean_{d₁}(G),
 *   u = g · (R / mean_{d₁}(R))^(−½) · C^(−½)   (R repeated along d₀, C along d₁),
 *
 * so V̂ = R Cᵀ / mean(R), the rank-1 estimate of the second moment; any other leaf keeps the full
 * V ← ρ_t V + (1 − ρ_t) G and u = g / √V. Memory: n + m numbers for an n × m matrix instead of nm.
 * No momentum and no learning rate: `adafactor` adds them.
 *
 * Defaults: factored = true, decayRate = 0.8, stepOffset = 0, minDimSizeToFactor = 128,
 * epsilon = 1e-30 (Optax's; ε₁ must be > 0 here, where Optax would give 0·∞ = NaN for a zero
 * gradient at ε₁ = 0). ρ_t is computed in float32, as Optax does. State:
 * `{ count, vRow, vCol, v }`, zeros at init. An update at a count below `stepOffset` (t < 1, where
 * ρ_t is not defined) throws a HyperparameterError.
 * Reference: Shazeer & Stern 2018, "Adafactor", Algorithms 4 and 5 (β̂₂ₜ = 1 − t^(−0.8)); Optax
 * `scale_by_factored_rms`.
 *
 * @example
 * ```ts
 * const opt = chain(scaleByFactoredRms({ minDimSizeToFactor: 32 }), clipByBlockRms(1), scaleByLearningRate(1e-2))
 * ```
 */
export const scaleByFactoredRms = (options: ScaleByFactoredRmsOptions = {}): GradientTransformation<ScaleByFactoredRmsState> => {
  const name = 'scaleByFactoredRms'
  const o = validate(
    name,
    { factored: ranges.boolean, decayRate: ranges.nonNegative, stepOffset: ranges.nonNegativeInteger, minDimSizeToFactor: ranges.positiveInteger, epsilon: ranges.positive },
    options,
    { factored: true, decayRate: 0.8, stepOffset: 0, minDimSizeToFactor: 128, epsilon: 1e-30 },
  )
  const dimsOf = (shape: readonly number[]) => factoredDims(shape, o.factored, o.minDimSizeToFactor)
  const eps = f32(o.epsilon)
  return transformation(name, {
    init: (params: Params) => {
      const [vRow, vCol, v] = mapLeaves([['params', params]], 3, ([p]) => statShapes(p!.shape, dimsOf(p!.shape)).map((s) => p!.backend.fill(s, 0)))
      return frozen({ count: 0, vRow: vRow!, vCol: vCol!, v: v! })
    },
    update: (updates: Params, state: ScaleByFactoredRmsState) => {
      const count = checkCount(name, state.count)
      const step = count - o.stepOffset + 1
      if (step < 1) throw new HyperparameterError(name, 'stepOffset', o.stepOffset, `an integer ≤ the state's count (${count}): the decay 1 − t^(−c) needs t = count − stepOffset + 1 ≥ 1`)
      // as Optax: t in float32, t^(−c) and 1 − it in float32
      const decay = f32(1 - f32(Math.pow(f32(step), -f32(o.decayRate))))
      const omd = f32(1 - decay)
      tree.assertSameStructure(updates, state.vRow, 'updates vs state.vRow')
      tree.assertSameStructure(updates, state.vCol, 'updates vs state.vCol')
      tree.assertSameStructure(updates, state.v, 'updates vs state.v')
      const { rows, paths, structure } = leafRows([['updates', updates]])
      const stats = [state.vRow, state.vCol, state.v].map((x) => tree.leaves(x))
      const names = ['state.vRow', 'state.vCol', 'state.v']
      const checked = rows.map(([g], j) => {
        const dims = dimsOf(g!.shape)
        const want = statShapes(g!.shape, dims)
        const have = stats.map((s, i) => checkStat(name, s[j], g!, want[i]!, `${names[i]}${paths[j] ? `.${paths[j]}` : ''}`))
        return { g: g!, dims, have }
      })
      const results = scope(() =>
        checked.map(({ g, dims, have: [vRow, vCol, v] }, j) => {
          const path = paths[j]!
          if (g.size === 0) return [emptyLeaf(g), placeholderLike(vRow!), placeholderLike(vCol!), placeholderLike(v!)]
          if (dims === undefined) {
            const [v1, u] = elementwise(unfactoredOp, [g, v!], [decay, omd, eps], path)
            return [u!, placeholder(g), placeholder(g), v1!]
          }
          const [d1, d0] = dims
          return scope(() => {
            const gs = elementwise(sqPlusEpsOp, [g], [eps], path)[0]!
            const row = elementwise(meanEmaOp, [vRow!, sumAxis(gs, d0, path)], [decay, omd, g.shape[d0]!], path)[0]!
            const col = elementwise(meanEmaOp, [vCol!, sumAxis(gs, d1, path)], [decay, omd, g.shape[d1]!], path)[0]!
            const r = d1 > d0 ? d1 - 1 : d1
            const rowShape = without(g.shape, d0)
            const rowFactor = elementwise(rowFactorOp, [row, repeatAlong(sumAxis(row, r, path), rowShape, r, path)], [rowShape[r]!], path)[0]!
            const colFactor = elementwise(colFactorOp, [col], [], path)[0]!
            const u = elementwise(factoredUpdateOp, [g, repeatAlong(rowFactor, g.shape, d0, path), repeatAlong(colFactor, g.shape, d1, path)], [], path)[0]!
            return [u, row, col, placeholder(g)]
          })
        }),
      )
      const [u, vRow, vCol, v] = [0, 1, 2, 3].map((k) => tree.unflatten(structure, results.map((r) => r[k]!)))
      return [u!, frozen({ count: count + 1, vRow: vRow!, vCol: vCol!, v: v! })] as const
    },
    stateCodec: factoredCodec,
  })
}

// ---- relative step size --------------------------------------------------------------------------

/** Options of `scaleByParamBlockRms`. */
export interface ScaleByParamBlockRmsOptions {
  /** The smallest scale, ≥ 0: a leaf whose RMS is at most this is scaled by it. Default 1e-3. */
  readonly minScale?: number
}

const paramRmsOp = defineElementwise({
  name: 'scaleByParamBlockRms',
  inputs: ['u', 'ss'],
  scalars: ['n', 'minScale'],
  lets: [['rms', 'Math.sqrt(ss / n)']],
  // a NaN RMS fails the test and scales by NaN, as it should
  outputs: ['u * (rms <= minScale ? minScale : rms)'],
})

/**
 * Scales each leaf by the root mean square of its parameters, u ← u · max(rms(θ), s) with
 * rms(θ) = √(mean(θ²)): Adafactor's relative step size, the update proportional to the scale of
 * the parameters it changes (a leaf of RMS ≤ s is scaled by s, so parameters starting at 0 still
 * move). Needs the params.
 *
 * Defaults: minScale = 1e-3 (Adafactor's ε₂).
 * Reference: Shazeer & Stern 2018, "Adafactor", Section 8 (relative step size); Optax
 * `scale_by_param_block_rms`.
 *
 * @example
 * ```ts
 * const relative = chain(scaleByFactoredRms(), scaleByLearningRate(1e-2, { flipSign: false }), scaleByParamBlockRms(), scale(-1))
 * ```
 */
export const scaleByParamBlockRms = (options: ScaleByParamBlockRmsOptions = {}): GradientTransformation<EmptyState> => {
  const { minScale } = validate('scaleByParamBlockRms', { minScale: ranges.nonNegative }, options, { minScale: 1e-3 })
  return statelessTransformation('scaleByParamBlockRms', (updates, params) => {
    const p = requireParams('scaleByParamBlockRms', params)
    return mapLeaves([['updates', updates], ['params', p]], 1, ([u, w], path) =>
      u!.size === 0 ? [emptyLeaf(u!)] : scope(() => elementwise(paramRmsOp, [u!, sumOfSquares(w!)], [u!.size, f32(minScale)], path)),
    )[0]!
  }, { needsParams: true })
}

// ---- SM3 -----------------------------------------------------------------------------------------

/**
 * State of `scaleBySm3` (Optax's `ScaleBySM3State`): per leaf of rank N ≥ 2, `mu` holds N vectors,
 * the accumulator of each slice along each axis (the cover); a leaf of rank 0 or 1 keeps one
 * accumulator per element (`mu` is `[v]`, v of the leaf's shape). `nu` is the momentum, shaped like
 * the params.
 */
export interface ScaleBySm3State {
  readonly mu: Params
  readonly nu: Params
}

/** Options of `scaleBySm3`. */
export interface ScaleBySm3Options {
  /** β₁, the momentum, in [0, 1). Default 0.9. */
  readonly b1?: number
  /** β₂ in [0, 1]: 1 sums the squared gradients (SM3 proper), < 1 averages them with weight 1 − β₂. Default 1. */
  readonly b2?: number
  /** ε ≥ 0, added to the accumulator inside the root. Default 1e-8. */
  readonly eps?: number
}

const sm3Ops = new Map<number, ElementwiseOp>()
/** The SM3 step for a leaf read through `k` per-axis accumulators (k = 1 for rank ≤ 1). */
const sm3Op = (k: number): ElementwiseOp => {
  let op = sm3Ops.get(k)
  if (op === undefined) {
    const vs = Array.from({ length: k }, (_, i) => `v${i}`)
    const min = vs.slice(1).reduce((acc, v) => `Math.min(${acc}, ${v})`, vs[0]!)
    op = defineElementwise({
      name: `scaleBySm3Rank${k}`,
      inputs: ['g', 'nu', ...vs],
      scalars: ['c0', 'c1', 'b1', 'omb1', 'eps'],
      lets: [
        ['acc', `c0 * (g * g) + c1 * ${min}`],
        // 0 only where the accumulator is exactly 0 (no gradient yet); NaN and an overflowed ∞ give NaN
        ['inv', zeroWhereNoGradient('acc', nanUnlessFinite('acc', '1 / Math.sqrt(acc + eps)'))],
        ['nu1', 'omb1 * (g * inv) + b1 * nu'],
      ],
      outputs: ['acc', 'nu1', 'nu1'],
    })
    sm3Ops.set(k, op)
  }
  return op
}

const sm3Codec = t.strict({ mu: nonNegativeParamsCodec, nu: paramsCodec }, '{ mu, nu }')

/** The shapes of a leaf's cover accumulators. */
const coverShapes = (shape: readonly number[]): number[][] => (shape.length < 2 ? [[...shape]] : shape.map((d) => [d]))

/**
 * SM3's rescaling (Square-root of Minima of Sums of Maxima). A leaf of rank N ≥ 2 is covered by its
 * slices along each axis: one accumulator μᵢ per index of each axis i, so n + m numbers for an
 * n × m matrix. With (c₀, c₁) = (1, 1) for β₂ = 1 and (1 − β₂, β₂) otherwise,
 *
 *   ν = c₀ g² + c₁ minᵢ μᵢ   (elementwise, each μᵢ repeated along the other axes),
 *   μᵢ ← max of ν over every axis but i,
 *   m ← β₁m + (1 − β₁) g / √(ν + ε)   (0 where ν = 0);  u = m.
 *
 * A leaf of rank ≤ 1 keeps ν itself (AdaGrad's sum of squares). Optax's `scale_by_sm3` fails on
 * scalar leaves; here a scalar is a cover of one element.
 *
 * Defaults: b1 = 0.9, b2 = 1, eps = 1e-8. State: `{ mu, nu }` (see `ScaleBySm3State`), zeros at
 * init.
 * Reference: Anil et al. 2019, "Memory-Efficient Adaptive Optimization", Algorithm SM3-II; Optax
 * `scale_by_sm3`.
 *
 * @example
 * ```ts
 * const opt = chain(scaleBySm3({ b1: 0.9 }), scaleByLearningRate(0.1))
 * ```
 */
export const scaleBySm3 = (options: ScaleBySm3Options = {}): GradientTransformation<ScaleBySm3State> => {
  const name = 'scaleBySm3'
  const o = validate(name, { b1: ranges.unitInterval, b2: ranges.unitIntervalClosed, eps: ranges.nonNegative }, options, { b1: 0.9, b2: 1, eps: 1e-8 })
  const [c0, c1] = o.b2 === 1 ? [1, 1] : [f32(1 - o.b2), f32(o.b2)]
  const scalars = [c0, c1, f32(o.b1), f32(1 - o.b1), f32(o.eps)]
  return transformation(name, {
    init: (params: Params) => {
      const { rows, structure } = leafRows([['params', params]])
      const mu = scope(() => tree.unflatten(structure, rows.map(([p]) => coverShapes(p!.shape).map((s) => p!.backend.fill(s, 0)))))
      return frozen({ mu: mu as Params, nu: mapLeaves([['params', params]], 1, ([p]) => [p!.backend.fill(p!.shape, 0)])[0]! })
    },
    update: (updates: Params, state: ScaleBySm3State) => {
      const { rows, paths, structure } = leafRows([['updates', updates], ['state.nu', state.nu]])
      // state.mu: the updates' structure with each leaf a list of its cover's accumulators
      const skeleton = tree.unflatten(structure, rows.map(([g]) => coverShapes(g!.shape).map(() => 0)))
      tree.assertSameStructure(skeleton, state.mu, 'updates (covers) vs state.mu')
      const muLeaves = tree.leaves(state.mu)
      let offset = 0
      const covers = rows.map(([g], j) => {
        const have = coverShapes(g!.shape).map((shape, i) => checkStat(name, muLeaves[offset + i], g!, shape, `state.mu${paths[j] ? `.${paths[j]}` : ''}.${i}`))
        offset += have.length
        return have
      })
      const results = scope(() =>
        rows.map(([g, nu], j) => {
          const path = paths[j]!
          const mus = covers[j]!
          if (g!.size === 0) return { u: emptyLeaf(g!), nu: emptyLeaf(g!), mu: mus.map((m) => m.backend.fill(m.shape, 0)) }
          if (g!.shape.length < 2) {
            const [acc, nu1, u] = elementwise(sm3Op(1), [g!, nu!, mus[0]!], scalars, path)
            return { u: u!, nu: nu1!, mu: [acc!] }
          }
          return scope(() => {
            const spread = mus.map((m, i) => spreadAcross(m, g!.shape, i, path))
            const [acc, nu1, u] = elementwise(sm3Op(mus.length), [g!, nu!, ...spread], scalars, path)
            return { u: u!, nu: nu1!, mu: g!.shape.map((_, i) => maxKeeping(acc!, i, path)) }
          })
        }),
      )
      const u = tree.unflatten(structure, results.map((r) => r.u)) as Params
      const nu = tree.unflatten(structure, results.map((r) => r.nu)) as Params
      const mu = tree.unflatten(structure, results.map((r) => r.mu)) as Params
      return [u, frozen({ mu, nu })] as const
    },
    stateCodec: sm3Codec,
  })
}

// ---- Polyak step size ----------------------------------------------------------------------------

/** Options of `scaleByPolyak` (Optax's names in camel case). */
export interface ScaleByPolyakOptions {
  /** f*, a lower bound of the objective (0 for a model that interpolates its data). Default 0. */
  readonly fMin?: number
  /** γ_max > 0, the largest step. Default 1. */
  readonly maxLearningRate?: number
  /** ε ≥ 0, added to ‖g‖². Default 0. */
  readonly eps?: number
  /** `'sps'` (Loizou et al.) or `'sps+'` (the gap f − f* clipped at 0, Garrigos et al.). Default 'sps'. */
  readonly variant?: 'sps' | 'sps+'
}

const variantCodec = refinement("'sps' or 'sps+'", (u): u is 'sps' | 'sps+' => u === 'sps' || u === 'sps+')

// Optax's threshold: jnp.finfo(float).eps, float64's machine epsilon
const float64Eps = 2.220446049250313e-16

const polyakStepOp = defineElementwise({
  name: 'scaleByPolyakStep',
  inputs: ['ss'],
  scalars: ['gap', 'maxLr', 'eps', 'tiny'],
  // a NaN or ∞ ‖g‖² (a non-finite or overflowing gradient) or loss gives a NaN step, never maxLr or 0
  outputs: [nanUnlessFinite('gap', nanUnlessFinite('ss', 'ss + eps <= tiny ? 0 : Math.min(gap / (ss + eps), maxLr)'))],
})
const polyakScaleOp = defineElementwise({ name: 'scaleByPolyak', inputs: ['u', 'step'], outputs: ['u * step'] })

/** f(θ) from `update`'s extras, or the HyperparameterError that says how to pass it. */
const lossValue = (transform: string, extra: UpdateExtras | undefined): number => {
  const v = (extra as { readonly value?: unknown } | undefined)?.value
  if (typeof v !== 'number') throw new HyperparameterError(transform, 'value', v, 'a number: the loss f(θ) at the params, passed as update(updates, state, params, { value })')
  return v
}

/**
 * Polyak's step size: the updates (the gradient, or a direction scaled before it) are multiplied by
 *
 *   η = min((f(θ) − f*) / (‖u‖² + ε), γ_max)   (0 where ‖u‖² + ε ≤ 2⁻⁵²),
 *
 * ‖u‖² the squared norm over the whole tree; with `variant: 'sps+'` the gap is max(f(θ) − f*, 0).
 * The loss f(θ) comes through `update`'s extras: `update(u, state, params, { value })`; without it
 * the update throws a HyperparameterError naming `value`. A NaN or ±∞ loss or ‖u‖² gives a NaN
 * step (docs/nonfinite.md).
 *
 * Defaults: fMin = 0, maxLearningRate = 1, eps = 0, variant = 'sps'. Stateless.
 * Reference: Polyak 1987, "Introduction to Optimization", §5.3; Loizou et al. 2021, "Stochastic
 * Polyak Step-size for SGD" (SPS_max); Garrigos et al. 2023 (SPS+); Optax `scale_by_polyak`.
 *
 * @example
 * ```ts
 * const w = fromArray([1, 2, 3])
 * const opt = chain(scaleByPolyak({ maxLearningRate: 0.5 }), scale(-1))
 * // f(w) = Σw² = 14, ∇f = 2w
 * const [updates] = opt.update(scaleTensor(w, 2), opt.init(w), w, { value: 14 })
 * ```
 */
export const scaleByPolyak = (options: ScaleByPolyakOptions = {}): GradientTransformation<EmptyState> => {
  const name = 'scaleByPolyak'
  const o = validate(name, { fMin: ranges.finite, maxLearningRate: ranges.positive, eps: ranges.nonNegative, variant: variantCodec }, options, { fMin: 0, maxLearningRate: 1, eps: 0, variant: 'sps' })
  return transformation(name, {
    init: () => frozen({}),
    update: (updates: Params, state: EmptyState, _params?: Params, extra?: UpdateExtras) => {
      const value = lossValue(name, extra)
      const { rows, structure } = leafRows([['updates', updates]])
      if (rows.length === 0) return [updates, state] as const
      // as Optax: the gap in float32, the value's dtype
      const raw = f32(f32(value) - f32(o.fMin))
      const gap = o.variant === 'sps+' ? Math.max(raw, 0) : raw
      const out = scope(() => {
        const ss = rows.map(([u]) => sumOfSquares(u!)).reduce((a, b) => add(a, b))
        const step = elementwise(polyakStepOp, [ss], [gap, f32(o.maxLearningRate), f32(o.eps), float64Eps])[0]!
        return rows.map(([u]) => (u!.size === 0 ? emptyLeaf(u!) : elementwise(polyakScaleOp, [u!, step])[0]!))
      })
      return [tree.unflatten(structure, out) as Params, state] as const
    },
    stateCodec: t.strict({}, '{}'),
  })
}

// ---- adding scaled parameters (Fromage) ----------------------------------------------------------

const addScaledOp = defineElementwise({ name: 'addScaledParams', inputs: ['u', 'p'], scalars: ['c'], outputs: ['u + c * p'] })

/** State of `addScaledParams`: the step count (for a schedule). */
export interface AddScaledParamsState {
  readonly count: number
}

/**
 * u ← u + c_k·θ for any real c_k, a number or a schedule k ↦ c_k (k = 0 at the first update):
 * `addDecayedWeights` without its sign restriction. Fromage uses c = 1/√(1 + α²) − 1 < 0 after
 * the learning rate, which shrinks the params by the factor 1/√(1 + α²). Needs the params.
 *
 * Reference: Bernstein et al. 2020 (Fromage), Algorithm 1; Optax `fromage`, whose
 * `add_decayed_weights` takes the negative rate.
 *
 * @example
 * ```ts
 * const shrink = chain(scaleByLearningRate(0.1), addScaledParams(-0.01))
 * ```
 */
export const addScaledParams = (scale: ScalarOrSchedule): GradientTransformation<AddScaledParamsState> => {
  const name = 'addScaledParams'
  validate(name, { scale: refinement('a finite number or a schedule (step) => number', (u): u is ScalarOrSchedule => ranges.finite.is(u) || typeof u === 'function') }, { scale })
  return transformation(name, {
    init: () => frozen({ count: 0 }),
    update: (updates: Params, state: AddScaledParamsState, params?: Params) => {
      const count = checkCount(name, state.count)
      const p = requireParams(name, params)
      const c = evaluate(name, 'scale', scale, count, ranges.finite)
      const u = mapLeaves([['updates', updates], ['params', p]], 1, ([x, w], path) => (x!.size === 0 ? [emptyLeaf(x!)] : elementwise(addScaledOp, [x!, w!], [f32(c)], path)))[0]!
      return [u, frozen({ count: count + 1 })] as const
    },
    stateCodec: t.strict({ count: countCodec }, '{ count }'),
  }, { needsParams: true })
}
