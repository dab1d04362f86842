/**
 * Microbatching: evaluate a function (typically a user's value-and-gradient function) on a batch
 * one slice of rows at a time and combine the slices' outputs (sum, mean, running mean,
 * concatenation, or an accumulator of one's own), so that the working memory of one evaluation is
 * that of a microbatch instead of the whole batch.
 *
 * Reference: Optax `microbatching` (`optax.microbatch`, `Accumulator`, `AccumulationType`).
 */
import { type Named, checkUpdates } from '../core/internal.js'
import { ranges } from '../core/validate.js'
import { ownOptions } from '../core/validate.js'
import { HyperparameterError, ShapeError, StructureError } from '../errors.js'
import { elementwise, reshape, scope, sumTo } from '../tensor/ops.js'
import { type Backend, Tensor, adoptIntoParentScope, defineElementwise, releaseAll, runInScope } from '../tensor/tensor.js'
import * as tree from '../tree/index.js'
import type { Tree } from '../tree/index.js'

/**
 * How the microbatches' outputs are combined, leaf by leaf (Optax's `AccumulationType`):
 * `'sum'` Σᵢ yᵢ; `'mean'` (Σᵢ yᵢ)/n over all n microbatches; `'runningMean'` the mean over the
 * microbatches actually run (mᵢ = mᵢ₋₁·i/(i+1) + yᵢ/(i+1)); `'concat'` the outputs stacked along
 * their leading axis, in batch order (tensor leaves only).
 */
export type AccumulationType = 'sum' | 'mean' | 'runningMean' | 'concat'

/**
 * An accumulator of one's own, applied to the subtree of the output at its place in the
 * accumulator tree: `init` gets the first microbatch's output (for its shapes; it is then passed to
 * `update` with index 0), `update` folds in microbatch `index`'s output, `finalize` gives the result.
 *
 * Reference: Optax `microbatching.Accumulator` (whose `init` gets the output's shape).
 */
export interface MicrobatchAccumulator<C = unknown> {
  readonly init: (first: unknown) => C
  readonly update: (carry: C, value: unknown, index: number) => C
  readonly finalize: (carry: C) => unknown
}

/**
 * How to combine the outputs: one accumulator for the whole output, or a tree (arrays, records) of
 * accumulators shaped like a prefix of the output tree, each applying to the subtree at its place.
 */
export type AccumulatorSpec = AccumulationType | MicrobatchAccumulator<any> | readonly AccumulatorSpec[] | { readonly [key: string]: AccumulatorSpec }

/** Options of `microbatch`. */
export interface MicrobatchOptions {
  /** Which arguments carry the batch (trees of tensors whose leading axis is the batch axis, all of one size). */
  readonly argnums: number | readonly number[]
  /** Rows per microbatch: a divisor of the batch size. */
  readonly microbatchSize: number
  /** How the outputs are combined. Default `'sum'`. */
  readonly accumulator?: AccumulatorSpec
  /** Run only the first k microbatches (1 ≤ k ≤ n), e.g. for a padded batch. Default: all n. */
  readonly numRealMicrobatches?: number
}

const types: readonly AccumulationType[] = ['sum', 'mean', 'runningMean', 'concat']

const isCustom = (u: unknown): u is MicrobatchAccumulator =>
  typeof u === 'object' && u !== null && ['init', 'update', 'finalize'].every((k) => typeof (u as Record<string, unknown>)[k] === 'function')

const checkSpec = (spec: unknown, path: string, depth = 0): void => {
  if (typeof spec === 'string' && (types as readonly string[]).includes(spec)) return
  if (isCustom(spec)) return
  if (depth < tree.maxDepth && tree.isNode(spec) && Object.keys(spec).length > 0) {
    for (const [k, v] of Object.entries(spec)) checkSpec(v, tree.childPath(path, Array.isArray(spec) ? Number(k) : k), depth + 1)
    return
  }
  throw new HyperparameterError('microbatch', path, spec, `${types.map((x) => `'${x}'`).join(', ')}, an accumulator { init, update, finalize }, or a non-empty tree of them`)
}

const selectRowsOp = defineElementwise({ name: 'microbatchRows', inputs: ['on', 'x'], outputs: ['on > 0 ? x : 0'] })
const addOp = defineElementwise({ name: 'microbatchSum', inputs: ['c', 'y'], outputs: ['c + y'] })
const divideOp = defineElementwise({ name: 'microbatchMean', inputs: ['c'], scalars: ['n'], outputs: ['c / n'] })
const runningMeanOp = defineElementwise({ name: 'microbatchRunningMean', inputs: ['c', 'y'], scalars: ['p', 'q'], outputs: ['c * p + y * q'] })
const placeOp = defineElementwise({ name: 'microbatchConcat', inputs: ['on', 'y', 'c'], outputs: ['on > 0 ? y : c'] })

/** A one-hot column [n, 1, …, 1] (rank `rank`) selecting row `i`, on `backend`. */
const oneHot = (backend: Backend, n: number, i: number, rank: number): Tensor => {
  const data = new Float32Array(n)
  data[i] = 1
  return backend.fromData(data, [n, ...Array.from({ length: Math.max(rank - 1, 0) }, () => 1)])
}

// ---- accumulators lifted to the leaves of a subtree ----------------------------------------------------

interface Acc {
  readonly init: (value: unknown, path: string) => unknown
  readonly update: (carry: unknown, value: unknown, index: number, path: string) => unknown
  readonly finalize: (carry: unknown) => unknown
}

type Leaf = Tensor | number

const leafAcc = (type: AccumulationType, n: number) => {
  const check = (x: unknown, path: string): Leaf => {
    if (x instanceof Tensor) return x
    if (typeof x === 'number' && type !== 'concat') return x
    throw new StructureError(path, `microbatch: '${type}' accumulates ${type === 'concat' ? 'tensors (return a tensor of shape [] to stack scalars)' : 'tensors and numbers'}, got ${x === null ? 'null' : typeof x}`)
  }
  const init = (x: unknown, path: string): Leaf => {
    const v = check(x, path)
    if (typeof v === 'number') return 0
    return type === 'concat' ? v.backend.fill([n, ...v.shape], 0) : v.backend.fill(v.shape, 0)
  }
  const update = (c: Leaf, x: unknown, i: number, path: string): Leaf => {
    const v = check(x, path)
    if (typeof c === 'number' || typeof v === 'number') {
      if (typeof c !== 'number' || typeof v !== 'number') throw new StructureError(path, `microbatch: a tensor in one microbatch's output and a number in another's`)
      return type === 'runningMean' ? c * (i / (i + 1)) + v * (1 - i / (i + 1)) : c + v
    }
    if (type === 'concat') {
      if (c.shape.length !== v.shape.length + 1 || v.shape.some((d, k) => d !== c.shape[k + 1])) {
        throw new ShapeError(path, `microbatch: output [${v.shape.join(', ')}] differs from the first microbatch's [${c.shape.slice(1).join(', ')}]`)
      }
      return v.size === 0 ? c : elementwise(placeOp, [oneHot(c.backend, n, i, c.shape.length), v, c], [], path)[0]!
    }
    if (type === 'runningMean') {
      // p = i/(i + 1) and 1 − p, rounded to float32 as Optax computes them
      const p = Math.fround(i / (i + 1))
      return elementwise(runningMeanOp, [c, v], [p, Math.fround(1 - p)], path)[0]!
    }
    return elementwise(addOp, [c, v], [], path)[0]!
  }
  const finalize = (c: Leaf): Leaf => {
    if (type === 'mean') return typeof c === 'number' ? c / n : elementwise(divideOp, [c], [n])[0]!
    if (type === 'concat' && typeof c !== 'number' && c.shape.length > 1) return reshape(c, [c.shape[0]! * c.shape[1]!, ...c.shape.slice(2)])
    return c
  }
  return { init, update, finalize }
}

interface LiftedCarry {
  readonly structure: tree.Structure
  readonly leaves: readonly Leaf[]
}

const lift = (type: AccumulationType, n: number): Acc => {
  const a = leafAcc(type, n)
  return {
    init: (value, path) => {
      const { leaves, structure } = tree.flatten(value as Tree<unknown>)
      const paths = tree.paths(value as Tree<unknown>).map((p) => (p === '' ? path : path === '' ? p : `${path}.${p}`))
      return { structure, leaves: leaves.map((x, k) => a.init(x, paths[k]!)) } satisfies LiftedCarry
    },
    update: (carry, value, i, path) => {
      const c = carry as LiftedCarry
      const d = tree.firstDifference(tree.unflatten(c.structure, c.leaves.map(() => 0)), tree.map(() => 0)(value as Tree<unknown>))
      if (d) throw new StructureError(path === '' ? d.path : `${path}.${d.path}`, `microbatch: microbatch ${i}'s output differs from the first one's (${d.detail})`)
      const vs = tree.leaves(value as Tree<unknown>)
      const paths = tree.paths(value as Tree<unknown>)
      return { structure: c.structure, leaves: c.leaves.map((x, k) => a.update(x, vs[k], i, paths[k] === '' ? path : path === '' ? paths[k]! : `${path}.${paths[k]}`)) } satisfies LiftedCarry
    },
    finalize: (carry) => tree.unflatten((carry as LiftedCarry).structure, (carry as LiftedCarry).leaves.map((x) => a.finalize(x))),
  }
}

const custom = (acc: MicrobatchAccumulator): Acc => ({
  init: (value) => acc.init(value),
  update: (carry, value, i) => acc.update(carry, value, i),
  finalize: (carry) => acc.finalize(carry),
})

/** The accumulator of a whole output, from a prefix tree of accumulators. */
const compose = (spec: AccumulatorSpec, n: number): Acc => {
  if (typeof spec === 'string') return lift(spec, n)
  if (isCustom(spec)) return custom(spec)
  const node = spec as Readonly<Record<string, AccumulatorSpec>>
  const keys = Object.keys(node)
  const parts = keys.map((k) => compose(node[k]!, n))
  const isArray = Array.isArray(spec)
  const childPath = (path: string, k: string) => tree.childPath(path, isArray ? Number(k) : k)
  const children = (value: unknown, path: string): unknown[] => {
    const ok = isArray ? Array.isArray(value) && value.length === keys.length : tree.isNode(value) && !Array.isArray(value) && Object.keys(value).length === keys.length && keys.every((k) => Object.hasOwn(value, k))
    if (!ok) {
      throw new StructureError(path, `microbatch: the output ${isArray ? `must be an array of ${keys.length}` : `must be a record with keys ${keys.join(', ')}`} here, as the accumulator tree is`)
    }
    return keys.map((k) => (value as Record<string, unknown>)[k])
  }
  return {
    init: (value, path) => children(value, path).map((v, j) => parts[j]!.init(v, childPath(path, keys[j]!))),
    update: (carry, value, i, path) => children(value, path).map((v, j) => parts[j]!.update((carry as unknown[])[j], v, i, childPath(path, keys[j]!))),
    finalize: (carry) => {
      const out = keys.map((k, j) => [k, parts[j]!.finalize((carry as unknown[])[j])] as const)
      return isArray ? out.map(([, v]) => v) : Object.fromEntries(out)
    },
  }
}

// ---- splitting the batch ------------------------------------------------------------------------------

interface BatchLeaf {
  readonly x: Tensor
  /** x viewed as [n, rows per microbatch × row size], when n > 1. */
  readonly rows?: Tensor
}

/**
 * Microbatch `i` of a batch leaf: rows [i·m, (i + 1)·m), copied exactly (every other row is
 * selected away, not multiplied by 0, so a NaN or ±∞ elsewhere in the batch cannot leak in).
 */
const sliceRows = (leaf: BatchLeaf, n: number, i: number, path: string): Tensor => {
  const { x, rows } = leaf
  if (rows === undefined) return x
  const shape = [x.shape[0]! / n, ...x.shape.slice(1)]
  if (x.size === 0) return x.backend.fill(shape, 0)
  const picked = elementwise(selectRowsOp, [oneHot(x.backend, n, i, 2), rows], [], path)[0]!
  return reshape(sumTo(picked, [rows.shape[1]!], path), shape, path)
}

/**
 * Wraps `fn` so that it runs on a batch one microbatch at a time: the arguments named by
 * `argnums` (trees of tensors whose leading axis is the batch, all of one size B) are cut into
 * n = B / microbatchSize microbatches, `fn` is called on each in turn (the other arguments are
 * passed unchanged), and the outputs are combined by `accumulator`:
 *
 *   'sum':         Σᵢ fn(batchᵢ)
 *   'mean':        (1/n) Σᵢ fn(batchᵢ)               (over all n, also with numRealMicrobatches)
 *   'runningMean': mᵢ = mᵢ₋₁ · i/(i+1) + fn(batchᵢ) · (1 − i/(i+1)), the mean of those run
 *   'concat':      the outputs stacked along their leading axis, in batch order
 *
 * Microbatch i holds the consecutive rows [i·m, (i + 1)·m), copied exactly on the batch's
 * backend; each call's intermediate tensors are released as soon as its output is accumulated, so
 * the peak memory is the batch, the accumulated outputs and one microbatch's working set. For a
 * gradient of a mean loss, `'mean'` equals the gradient over the whole batch (up to float32
 * summation order). The output leaves are tensors (or, except for `'concat'`, host numbers such as
 * a loss value); the accumulator is one for the whole output, or a tree shaped like a prefix of it.
 * Nothing is computed before the batch sizes are checked; when `fn` throws, every tensor made so
 * far is released.
 *
 * The one difference from Optax: Optax's microbatch i is the rows i, i + n, i + 2n, … (a
 * column-major reshape, which keeps a sharded batch axis sharded). Outputs that reduce over the
 * rows (a loss, the gradients of the params) and concatenated outputs are the same either way (up to
 * float32 summation order); per-row outputs that are summed, a function that mixes the rows of its
 * batch (batch statistics), and `numRealMicrobatches` see consecutive rows here, which is what
 * padding a batch at its end needs. fluxion has no automatic differentiation, so Optax's
 * `micro_grad` and `micro_vmap` are this wrapper over a function that returns its own gradients.
 *
 * Defaults: accumulator = 'sum', numRealMicrobatches = n.
 * Reference: Optax `microbatching.microbatch`.
 *
 * @example
 * ```ts
 * // mean squared error of a linear model and its gradient, on [batch, features] inputs
 * const lossAndGrad = (w: Tensor, x: Tensor, y: Tensor) => {
 *   const r = sub(matmul(x, w), y)                               // [b, 1]
 *   const b = x.shape[0]!
 *   return { loss: scaleTensor(sum(mul(r, r)), 1 / b), grad: scaleTensor(matmul(x, r, { transposeA: true }), 2 / b) }
 * }
 * const chunked = microbatch(lossAndGrad, { argnums: [1, 2], microbatchSize: 2, accumulator: 'mean' })
 * const w = fromArray([0.5, -1], [2, 1])
 * const x = fromArray([1, 2, 3, 4, 5, 6, 7, 8], [4, 2])
 * const y = fromArray([1, 0, 1, 0], [4, 1])
 * const { loss, grad } = chunked(w, x, y) // equal to lossAndGrad(w, x, y)
 * ```
 */
export const microbatch = <A extends unknown[], R>(fn: (...args: A) => R, options: MicrobatchOptions): ((...args: A) => R) => {
  if (typeof fn !== 'function') throw new HyperparameterError('microbatch', 'fn', fn, 'a function')
  const given = ownOptions('microbatch', options, ['argnums', 'microbatchSize', 'accumulator', 'numRealMicrobatches'])
  const argnumsGiven = given.argnums
  const argnums = typeof argnumsGiven === 'number' ? [argnumsGiven] : argnumsGiven
  if (!Array.isArray(argnums) || argnums.length === 0 || !argnums.every((i) => ranges.nonNegativeInteger.is(i)) || new Set(argnums).size !== argnums.length) {
    throw new HyperparameterError('microbatch', 'argnums', argnumsGiven, 'an argument index (an integer ≥ 0) or a non-empty array of distinct ones')
  }
  const m = given.microbatchSize
  if (!ranges.positiveInteger.is(m)) throw new HyperparameterError('microbatch', 'microbatchSize', m, ranges.positiveInteger.name)
  const real = given.numRealMicrobatches
  if (real !== undefined && !ranges.positiveInteger.is(real)) throw new HyperparameterError('microbatch', 'numRealMicrobatches', real, ranges.positiveInteger.name)
  const spec = (given.accumulator ?? 'sum') as AccumulatorSpec
  checkSpec(spec, 'accumulator')
  const batchArgs = argnums as number[]

  return (...args: A): R => {
    // every batch leaf is checked, and the sizes agree, before anything is computed
    let batch: number | undefined
    let first = ''
    const leaves = new Map<number, { leaves: Tensor[]; paths: string[]; structure: tree.Structure }>()
    for (const a of batchArgs) {
      const name = `args[${a}]`
      if (a >= args.length) throw new HyperparameterError('microbatch', 'argnums', a, `the index of an argument (this call has ${args.length})`)
      const named: Named = [name, args[a] as never]
      checkUpdates('microbatch', named[1])
      const { leaves: ls, structure } = tree.flatten(named[1] as Tree<Tensor>)
      const paths = tree.paths(named[1] as Tree<Tensor>).map((p) => (p === '' ? name : `${name}.${p}`))
      if (ls.length === 0) throw new StructureError(name, 'microbatch: a batch argument without tensors')
      ls.forEach((x, k) => {
        if (!x.backend.isLive(x)) throw new ShapeError(paths[k]!, 'microbatch: the tensor was released')
        if (x.shape.length === 0) throw new ShapeError(paths[k]!, 'microbatch: a batch leaf of shape [] has no batch axis')
        if (batch === undefined) [batch, first] = [x.shape[0]!, paths[k]!]
        else if (x.shape[0] !== batch) throw new ShapeError(paths[k]!, `microbatch: batch axis of size ${x.shape[0]}, but ${first} has ${batch}`)
      })
      leaves.set(a, { leaves: ls, paths, structure })
    }
    const b = batch!
    if (b === 0 || b % m !== 0) throw new HyperparameterError('microbatch', 'microbatchSize', m, `a divisor of the batch size ${b}${b === 0 ? ' (an empty batch has no microbatch)' : ''}`)
    const n = b / m
    const runs = real ?? n
    if (runs > n) throw new HyperparameterError('microbatch', 'numRealMicrobatches', real, `an integer in [1, ${n}] (the batch of ${b} has ${n} microbatches of ${m})`)
    const acc = compose(spec, n)

    return scope(() => {
      const split = new Map<number, BatchLeaf[]>()
      for (const [a, { leaves: ls }] of leaves) split.set(a, ls.map((x) => (n === 1 ? { x } : { x, rows: reshape(x, [n, x.size / n]) })))
      let carry: unknown
      // tensors this wrapper made and still holds in the carry (the others belong to the caller)
      let ours = new Set<Tensor>()
      for (let i = 0; i < runs; i++) {
        const { result, created } = runInScope(() => {
          const callArgs = [...args] as unknown[]
          for (const [a, parts] of split) {
            const { paths, structure } = leaves.get(a)!
            callArgs[a] = tree.unflatten(structure, parts.map((p, k) => sliceRows(p, n, i, paths[k]!)))
          }
          const out: unknown = fn(...(callArgs as A))
          if (typeof (out as { then?: unknown } | null)?.then === 'function') {
            ;(out as Promise<unknown>).then(undefined, () => undefined)
            throw new HyperparameterError('microbatch', 'fn', fn, 'a synchronous function (it returned a Promise)')
          }
          return i === 0 ? acc.update(acc.init(out, ''), out, 0, '') : acc.update(carry, out, i, '')
        })
        const kept = new Set(tree.leaves(result as Tree<unknown>).filter((x): x is Tensor => x instanceof Tensor))
        releaseAll([...created].filter((x) => !kept.has(x)))
        // the previous carry's tensors that this one no longer holds
        releaseAll([...ours].filter((x) => !kept.has(x)))
        ours = new Set([...kept].filter((x) => created.has(x) || ours.has(x)))
        adoptIntoParentScope(ours)
        carry = result
      }
      return acc.finalize(carry) as R
    })
  }
}
