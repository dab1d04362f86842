/**
 * Tensor operations shared by every backend: construction, elementwise maths, reductions, reading
 * back, transfer between backends, and explicit release (`dispose`, `scope`).
 */
import { BackendError, FluxionError, ShapeError, UnsupportedError } from '../errors.js'
import * as tree from '../tree/index.js'
import type { Tree } from '../tree/index.js'
import { cpu } from './cpu.js'
import {
  type Backend,
  type ElementwiseOp,
  Tensor,
  adoptIntoParentScope,
  broadcastOperands,
  checkOperands,
  defineElementwise,
  readOf,
  releaseAll,
  runInScope,
  shapeSize,
  untrack,
} from './tensor.js'

const flatLength = (data: unknown): number =>
  Array.isArray(data) ? data.reduce((n: number, x) => n + flatLength(x), 0) : 1

const flattenNumbers = (data: unknown, out: number[]): void => {
  if (Array.isArray(data)) for (const x of data) flattenNumbers(x, out)
  else out.push(data as number)
}

/**
 * A tensor from host values. `data` is flat (then `shape` is required unless it is a vector) or
 * nested arrays; `backend` defaults to `cpu`.
 *
 * @example
 * ```ts
 * const w = fromArray([1, 2, 3, 4], [2, 2])
 * const b = fromArray([0.5, -0.5]) // shape [2]
 * ```
 */
export const fromArray = (
  data: ArrayLike<number> | readonly unknown[] | number,
  shape?: readonly number[],
  backend: Backend = cpu,
): Tensor => {
  let flat: ArrayLike<number>
  if (typeof data === 'number') flat = [data]
  else if (Array.isArray(data) && data.some(Array.isArray)) {
    const out: number[] = []
    flattenNumbers(data, out)
    flat = out
  } else flat = data as ArrayLike<number>
  const s = shape ?? (typeof data === 'number' ? [] : [flat.length])
  if (shapeSize(s) !== flat.length || (Array.isArray(data) && flatLength(data) !== flat.length)) {
    throw new ShapeError('', `${flat.length} values do not fill shape [${s.join(', ')}]`)
  }
  return backend.fromData(flat instanceof Float32Array ? flat : Float32Array.from(flat), s)
}

/** A tensor of zeros. */
export const zeros = (shape: readonly number[], backend: Backend = cpu): Tensor => backend.fill(shape, 0)

/** A tensor filled with `value`. */
export const full = (shape: readonly number[], value: number, backend: Backend = cpu): Tensor => backend.fill(shape, value)

/** A tensor of zeros with the shape and backend of `t`. */
export const zerosLike = (t: Tensor): Tensor => {
  checkOperands([t], '')
  return t.backend.fill(t.shape, 0)
}

/**
 * Runs an elementwise op on tensors of one backend, one host number per `op.scalars` entry. Inputs
 * have the output's shape, or broadcast: a trailing suffix of it (a bias `[n]` against `[m, n]`, a
 * scalar `[]` against anything) or its leading axes followed by ones (`[m, 1]` against `[m, n]`).
 * `path` names the tree leaf in errors.
 *
 * @example
 * ```ts
 * const axpy = defineElementwise({ name: 'axpy', inputs: ['x', 'y'], scalars: ['a'], outputs: ['a * x + y'] })
 * const [z] = elementwise(axpy, [fromArray([1, 2]), fromArray([3, 4])], [2]) // [5, 8]
 * ```
 */
export const elementwise = (op: ElementwiseOp, inputs: readonly Tensor[], scalars: readonly number[] = [], path = ''): Tensor[] => {
  if (inputs.length !== op.inputs.length) throw new FluxionError(`${op.name}: expected ${op.inputs.length} tensors, got ${inputs.length}`)
  if (scalars.length !== op.scalars.length) throw new FluxionError(`${op.name}: expected ${op.scalars.length} scalars, got ${scalars.length}`)
  const layout = broadcastOperands(inputs, path)
  return inputs[0]!.backend.elementwise(op, inputs, scalars, layout)
}

const addOp = defineElementwise({ name: 'add', inputs: ['a', 'b'], outputs: ['a + b'] })
const subOp = defineElementwise({ name: 'sub', inputs: ['a', 'b'], outputs: ['a - b'] })
const mulOp = defineElementwise({ name: 'mul', inputs: ['a', 'b'], outputs: ['a * b'] })
const scaleOp = defineElementwise({ name: 'scale', inputs: ['a'], scalars: ['s'], outputs: ['a * s'] })
const squareOp = defineElementwise({ name: 'square', inputs: ['a'], outputs: ['a * a'] })

/** Elementwise a + b (with broadcasting, see `elementwise`). */
export const add = (a: Tensor, b: Tensor, path = ''): Tensor => elementwise(addOp, [a, b], [], path)[0]!
/** Elementwise a − b. */
export const sub = (a: Tensor, b: Tensor): Tensor => elementwise(subOp, [a, b])[0]!
/** Elementwise a ⊙ b (with broadcasting, see `elementwise`). */
export const mul = (a: Tensor, b: Tensor, path = ''): Tensor => elementwise(mulOp, [a, b], [], path)[0]!
/** s · a for a host scalar s. */
export const scaleTensor = (a: Tensor, s: number): Tensor => elementwise(scaleOp, [a], [s])[0]!
/** Sum of all elements, a tensor of shape []. */
export const sum = (t: Tensor): Tensor => {
  checkOperands([t], '')
  return t.backend.sum(t)
}
/** Σ tᵢ², a tensor of shape []. */
export const sumOfSquares = (t: Tensor): Tensor => scope(() => sum(elementwise(squareOp, [t])[0]!))

/**
 * Sums `t` down to `shape`: over its leading axes when `shape` is a trailing suffix of t's shape
 * (e.g. `[m, n] → [n]`, the gradient of a broadcast bias), over its trailing axes when `shape` is
 * t's leading axes followed by ones (`[m, n] → [m, 1]`).
 *
 * @example
 * ```ts
 * sumTo(fromArray([1, 2, 3, 4], [2, 2]), [2])    // [4, 6]
 * sumTo(fromArray([1, 2, 3, 4], [2, 2]), [2, 1]) // [3, 7]
 * ```
 */
export const sumTo = (t: Tensor, shape: readonly number[], path = ''): Tensor => {
  checkOperands([t], path)
  const r = readOf(shape, t.shape)
  if (!r) throw new ShapeError(path, `cannot sum [${t.shape.join(', ')}] down to [${shape.join(', ')}]`)
  if (r.kind === 'same') return t.backend.elementwise(copyOp, [t], [], { shape: t.shape, size: t.size, reads: [r] })[0]!
  return t.backend.sumTo(t, shape)
}

/** Like `sumTo`, with the maximum: e.g. the row maxima `maxTo(logits, [batch, 1])`. */
export const maxTo = (t: Tensor, shape: readonly number[], path = ''): Tensor => {
  checkOperands([t], path)
  const r = readOf(shape, t.shape)
  if (!r) throw new ShapeError(path, `cannot reduce [${t.shape.join(', ')}] to [${shape.join(', ')}]`)
  if (r.kind === 'same') return t.backend.elementwise(copyOp, [t], [], { shape: t.shape, size: t.size, reads: [r] })[0]!
  return t.backend.maxTo(t, shape)
}

/**
 * Matrix product of 2-D tensors on one backend: op(a)·op(b), with op transposing when asked.
 *
 * @example
 * ```ts
 * const x = fromArray([1, 2, 3, 4], [2, 2])
 * matmul(x, fromArray([1, 0, 0, 1], [2, 2])) // [[1, 2], [3, 4]]
 * matmul(x, x, { transposeA: true })        // xᵀx = [[10, 14], [14, 20]]
 * ```
 */
export const matmul = (
  a: Tensor,
  b: Tensor,
  options: { readonly transposeA?: boolean; readonly transposeB?: boolean } = {},
  path = '',
): Tensor => {
  for (const t of [a, b]) checkOperands([t], path)
  if (a.backend !== b.backend) throw new BackendError(path, `tensor on ${b.backend.name} combined with a tensor on ${a.backend.name}`)
  const { transposeA = false, transposeB = false } = options
  if (a.shape.length !== 2 || b.shape.length !== 2) throw new ShapeError(path, `matmul needs 2-D tensors, got [${a.shape.join(', ')}] and [${b.shape.join(', ')}]`)
  const k1 = transposeA ? a.shape[0] : a.shape[1]
  const k2 = transposeB ? b.shape[1] : b.shape[0]
  if (k1 !== k2) throw new ShapeError(path, `matmul inner dimensions differ: [${a.shape.join(', ')}]${transposeA ? 'ᵀ' : ''} · [${b.shape.join(', ')}]${transposeB ? 'ᵀ' : ''}`)
  return a.backend.matmul(a, b, transposeA, transposeB)
}

const copyOp = defineElementwise({ name: 'copy', inputs: ['a'], outputs: ['a'] })

/**
 * A new tensor with the same values (tensors never share storage, so the copy is independent of
 * `t`'s release).
 *
 * @example
 * ```ts
 * const params = { w: fromArray([1, 2]) }
 * const snapshot = clone(params.w) // survives dispose(params)
 * dispose(params)
 * ```
 */
export const clone = (t: Tensor, path = ''): Tensor => elementwise(copyOp, [t], [], path)[0]!

/**
 * The same values with a new shape of the same size (a copy: tensors never share storage).
 *
 * @example
 * ```ts
 * reshape(fromArray([1, 2, 3, 4]), [2, 2])
 * ```
 */
export const reshape = (t: Tensor, shape: readonly number[], path = ''): Tensor => {
  checkOperands([t], path)
  if (shapeSize(shape) !== t.size) throw new ShapeError(path, `cannot reshape [${t.shape.join(', ')}] to [${shape.join(', ')}]`)
  return t.backend.elementwise(copyOp, [t], [], { shape, size: t.size, reads: [{ kind: 'same' }] })[0]!
}

/**
 * Reads a tensor back to the host: the one asynchronous operation.
 *
 * @example
 * ```ts
 * const values = await read(fromArray([1, 2])) // Float32Array [1, 2]
 * ```
 */
export const read = async (t: Tensor): Promise<Float32Array> => {
  checkOperands([t], '')
  return t.backend.read(t)
}

/** The host type `readTree` returns for a tree of type `T`: every Tensor becomes a Float32Array. */
export type HostOf<T> = [Tree<Tensor>] extends [T]
  ? Tree<Float32Array>
  : T extends Tensor
  ? Float32Array
  : T extends readonly unknown[]
    ? { -readonly [K in keyof T]: HostOf<T[K]> }
    : T extends object
      ? T extends (...args: never[]) => unknown
        ? T
        : { -readonly [K in keyof T]: HostOf<T[K]> }
      : T

/**
 * Reads every tensor leaf of a tree (in parallel); non-tensor leaves are kept as they are.
 *
 * @example
 * ```ts
 * const { w, b } = await readTree({ w: fromArray([1, 2]), b: fromArray([0]) })
 * ```
 */
export const readTree = async <T>(t: T): Promise<HostOf<T>> => {
  const { leaves, structure } = tree.flatten(t as Tree<unknown>)
  const paths = tree.paths(t as Tree<unknown>)
  const values = await Promise.all(
    leaves.map((x, i) => {
      if (!(x instanceof Tensor)) return x
      checkOperands([x], paths[i]!)
      return x.backend.read(x)
    }),
  )
  return tree.unflatten(structure, values) as HostOf<T>
}

/** Copies a tensor to another backend (through the host). */
export const toBackend = async (t: Tensor, backend: Backend): Promise<Tensor> =>
  t.backend === backend ? t : backend.fromData(await read(t), t.shape)

/** Copies every tensor leaf of a tree to another backend. */
export const treeToBackend = async <T extends Tree<unknown>>(t: T, backend: Backend): Promise<T> => {
  const { leaves, structure } = tree.flatten(t as Tree<unknown>)
  const moved = await Promise.all(leaves.map((x) => (x instanceof Tensor ? toBackend(x, backend) : x)))
  return tree.unflatten(structure, moved) as T
}

const tensorLeaves = (t: unknown): Tensor[] => tree.leaves(t as Tree<unknown>).filter((x): x is Tensor => x instanceof Tensor)

/**
 * Releases every tensor leaf of `t` that is not also a leaf of one of `keep` (so a new state that
 * shares tensors with the old one survives `dispose(oldState, newState)`). Each tensor is released
 * once even if it appears several times. Non-tensor leaves are ignored.
 *
 * @example
 * ```ts
 * const params = { w: fromArray([1, -2]) }
 * const opt = adam({ learningRate: 0.1 })
 * const state = opt.init(params)
 * const [updates, next] = opt.update(params, state, params)
 * dispose(state, next) // releases the old μ and ν, not the tensors `next` shares with `state`
 * ```
 */
export const dispose = (t: unknown, ...keep: readonly unknown[]): void => {
  const kept = new Set(keep.flatMap(tensorLeaves))
  const seen = new Set<Tensor>()
  for (const x of tensorLeaves(t)) {
    if (kept.has(x) || seen.has(x)) continue
    seen.add(x)
    if (x.backend.isLive(x)) x.backend.release(x)
  }
}

/**
 * Runs `fn` and releases every tensor created inside it except those in its result. Synchronous
 * only (a Promise result throws `UnsupportedError`). Scopes nest; kept tensors join the enclosing
 * scope. If `fn` throws, everything it created is released.
 *
 * @example
 * ```ts
 * const params = { w: fromArray([1, -2]) }
 * const opt = chain(clipByGlobalNorm(1), adam({ learningRate: 0.1 }))
 * const state = opt.init(params)
 * // the clipped gradients, made inside, are released; updates and next survive
 * const [updates, next] = scope(() => opt.update(params, state, params))
 * ```
 */
export const scope = <R>(fn: () => R): R => {
  const { result, created } = runInScope(fn)
  if (typeof (result as { then?: unknown })?.then === 'function') {
    // the refused promise may still reject later: swallow that, it is reported by this throw
    ;(result as unknown as Promise<unknown>).then(undefined, () => undefined)
    releaseAll(created)
    throw new UnsupportedError('scope: fn returned a Promise; scopes are synchronous')
  }
  const kept = new Set(tensorLeaves(result))
  for (const t of created) if (!kept.has(t) && t.backend.isLive(t)) t.backend.release(t)
  adoptIntoParentScope([...kept].filter((t) => created.has(t)))
  return result
}

/**
 * Exempts every tensor leaf of `t` from the scopes open around the call, so it outlives them (a
 * cache, a constant). It is still released by `dispose`.
 *
 * @example
 * ```ts
 * const table = scope(() => keep(fromArray([1, 2, 3])))
 * ```
 */
export const keep = <T>(t: T): T => {
  for (const x of tensorLeaves(t)) untrack(x)
  return t
}

/** Number of live tensors on a backend (default `cpu`): the leak check of tests. */
export const liveTensors = (backend: Backend = cpu): number => backend.liveCount()

/** Throws a `BackendError` naming the first leaf of `t` that is not on `backend`. */
export const assertOnBackend = (t: unknown, backend: Backend): void => {
  tree.map((x: unknown, path) => {
    if (x instanceof Tensor && x.backend !== backend) throw new BackendError(path, `tensor on ${x.backend.name}, expected ${backend.name}`)
    return x
  })(t as Tree<unknown>)
}
