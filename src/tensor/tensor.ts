/**
 * The immutable `Tensor` handle, the `Backend` interface every backend implements, elementwise
 * operation specs (the maths written once, run on every backend), and live-handle bookkeeping.
 */
import { BackendError, DisposedTensorError, FluxionError, ShapeError } from '../errors.js'

/** Element type. Every backend stores float32. */
export type DType = 'float32'

let nextTensorId = 1

/**
 * An immutable handle to float32 data living on a backend. The handle never changes after
 * creation; its data is never written after the operation that produced it. Read it with
 * `await read(t)`, release it with `dispose(t)` or a `scope`.
 */
export class Tensor {
  readonly dtype: DType = 'float32'
  readonly size: number
  readonly id: number = nextTensorId++
  /** @internal backend-specific storage; never mutated after creation. */
  readonly storage: unknown
  readonly shape: readonly number[]
  readonly backend: Backend

  /** @internal use the backend's or `ops` constructors. */
  constructor(backend: Backend, shape: readonly number[], storage: unknown) {
    this.backend = backend
    // a frozen shape (another tensor's) is shared rather than copied
    this.shape = Object.isFrozen(shape) ? shape : Object.freeze([...shape])
    this.size = shapeSize(shape)
    this.storage = storage
    Object.freeze(this)
  }

  toString(): string {
    return `Tensor#${this.id}(${this.backend.name}, [${this.shape.join(', ')}])`
  }
}

/** Number of elements of a shape; throws on a negative or fractional dimension. */
export const shapeSize = (shape: readonly number[]): number => {
  let n = 1
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new ShapeError('', `invalid dimension ${d} in shape [${shape.join(', ')}]`)
    n *= d
  }
  return n
}

/**
 * An elementwise operation over same-shaped tensors and host scalars, written once as JavaScript
 * expressions in the subset gpu.js compiles (arithmetic, comparisons, `?:`, `Math.*`). `lets` are
 * shared bindings evaluated in order; each entry of `outputs` is one result tensor. The cpu backend
 * fuses all outputs into one loop; gpu backends compile one kernel per output (gpu.js kernel maps
 * do not work on webgpu or webasm).
 *
 * @example
 * ```ts
 * const axpy = defineElementwise({ name: 'axpy', inputs: ['x', 'y'], scalars: ['a'], outputs: ['a * x + y'] })
 * ```
 */
export interface ElementwiseOp {
  readonly name: string
  readonly inputs: readonly string[]
  readonly scalars: readonly string[]
  readonly lets: readonly (readonly [string, string])[]
  readonly outputs: readonly string[]
}

const identifier = /^[A-Za-z_][A-Za-z0-9_]*$/
// names the generated loops and kernels use themselves, and words that cannot be variables
const reserved = /^(__.*|in_.*|out_.*|Math|this|kernel|break|case|catch|class|const|continue|debugger|default|delete|do|else|export|extends|false|finally|for|function|if|import|in|instanceof|let|new|null|return|super|switch|throw|true|try|typeof|var|void|while|with|yield|undefined|NaN|Infinity)$/

/** Checks and freezes an elementwise op spec. */
export const defineElementwise = (spec: {
  name: string
  inputs: readonly string[]
  scalars?: readonly string[]
  lets?: readonly (readonly [string, string])[]
  outputs: readonly string[]
}): ElementwiseOp => {
  const scalars = spec.scalars ?? []
  const lets = spec.lets ?? []
  const names = [...spec.inputs, ...scalars, ...lets.map(([n]) => n)]
  for (const n of [spec.name, ...names]) {
    if (!identifier.test(n)) throw new FluxionError(`elementwise op ${spec.name}: ${JSON.stringify(n)} is not an identifier`)
  }
  for (const n of names) {
    if (reserved.test(n)) throw new FluxionError(`elementwise op ${spec.name}: ${JSON.stringify(n)} is a reserved name`)
  }
  if (new Set(names).size !== names.length) throw new FluxionError(`elementwise op ${spec.name}: duplicate names in ${names.join(', ')}`)
  if (spec.inputs.length === 0 || spec.outputs.length === 0) {
    throw new FluxionError(`elementwise op ${spec.name}: needs at least one input and one output`)
  }
  const op: ElementwiseOp = Object.freeze({
    name: spec.name,
    inputs: Object.freeze([...spec.inputs]),
    scalars: Object.freeze([...scalars]),
    lets: Object.freeze(lets.map(([n, e]) => Object.freeze([n, e] as const))),
    outputs: Object.freeze([...spec.outputs]),
  })
  registry.add(new WeakRef(op))
  if (registry.size > 2 * registrySizeAfterPrune + 64) pruneRegistry()
  return op
}

// every op defined so far, weakly held, so that a test can run each kernel on each backend
const registry = new Set<WeakRef<ElementwiseOp>>()
let registrySizeAfterPrune = 0
const pruneRegistry = () => {
  for (const r of registry) if (r.deref() === undefined) registry.delete(r)
  registrySizeAfterPrune = registry.size
}

/** @internal Every elementwise op defined so far that is still reachable, in definition order. */
export const definedElementwiseOps = (): ElementwiseOp[] => {
  pruneRegistry()
  return [...registry].map((r) => r.deref()).filter((op): op is ElementwiseOp => op !== undefined)
}

/**
 * Buffer donation for one `elementwise` call: entry k is the index of the input whose storage
 * output k may take over (-1: a fresh output). A donated input must be read element for element
 * (`same`), and becomes a released handle: the output reuses its memory where the backend can write
 * in place (cpu), else the input is released after the call.
 */
export type Donation = readonly number[]

/**
 * A place tensors live. Implementations: `cpu` (Float32Array) and the gpu.js backend. Operations
 * are synchronous and return handles at once; device work may be queued behind them. Reading back
 * is the one asynchronous point.
 *
 * Reference: the small allocate / dispatch / read / release interface of jax-js's backend.
 */
export interface Backend {
  /** e.g. `'cpu'`, `'gpu:webgpu'`, `'gpu:webasm'`. */
  readonly name: string
  /** Copies host data into a new tensor. */
  fromData(data: Float32Array, shape: readonly number[]): Tensor
  /** A tensor of the given shape whose every element is `value`. */
  fill(shape: readonly number[], value: number): Tensor
  /**
   * Runs an elementwise op. Inputs are already checked to be live and on this backend; `layout`
   * says the output shape and how each input is read (see `broadcastOperands`).
   */
  elementwise(op: ElementwiseOp, inputs: readonly Tensor[], scalars: readonly number[], layout: Broadcast, donate?: Donation): Tensor[]
  /**
   * Sums each output of `op` over all elements without storing the outputs (a reduction fused
   * with the expression that feeds it): one tensor of shape `[]` per output, each the sum of the
   * output's values as the backend would store them. Optional; where absent, `compileStep` runs the
   * op and sums its outputs.
   */
  reduceElementwise?(op: ElementwiseOp, inputs: readonly Tensor[], scalars: readonly number[], layout: Broadcast): Tensor[]
  /**
   * True where elementwise expressions are evaluated in float64 and rounded to float32 only when
   * stored (the cpu backend). A fused kernel then rounds the values an unfused chain would have
   * stored, so that fused and unfused results agree bit for bit.
   */
  readonly float64Intermediates?: boolean
  /**
   * True where a fused kernel computes bit for bit what the unfused ops store: the cpu backend
   * (it rounds to float32 where the unfused chain stores) and the wasm engine (every value is a
   * float32 already, so concatenating the stages' expressions changes no rounding). The compiled
   * step law is then exact instead of within float32 tolerance.
   */
  readonly fusesExactly?: boolean
  /** Sum of all elements, as a tensor of shape `[]`. */
  sum(t: Tensor): Tensor
  /**
   * Sums `t` down to `shape`, the inverse of broadcasting: `shape` is a trailing suffix of t's shape
   * (sum over the leading axes) or t's leading axes followed by ones (sum over the trailing axes).
   */
  sumTo(t: Tensor, shape: readonly number[]): Tensor
  /** Like `sumTo`, with the maximum instead of the sum. */
  maxTo(t: Tensor, shape: readonly number[]): Tensor
  /**
   * Matrix product of 2-D tensors, op(a) · op(b) with op the optional transpose:
   * a is [m, k] ([k, m] when transposeA), b is [k, n] ([n, k] when transposeB); the result is [m, n].
   */
  matmul(a: Tensor, b: Tensor, transposeA: boolean, transposeB: boolean): Tensor
  /** Copies the data back to the host (a fresh array the caller owns). */
  read(t: Tensor): Promise<Float32Array>
  /**
   * Copies the data back at once when that can be done synchronously, else undefined: always on
   * the cpu backend and gpu.js webasm and cpu modes (host memory); on gpu.js webgl2 and headlessgl
   * once the tensor's value is settled (a synchronous texture read, which waits for the kernels
   * that produce it); never on webgpu, whose reads are asynchronous. Lets a wrapper decide on the
   * host (`applyIfFinite`).
   */
  readSync?(t: Tensor): Float32Array | undefined
  /** Releases a tensor's storage. Releasing twice throws `DisposedTensorError`. */
  release(t: Tensor): void
  /** Whether a tensor is still live (not released). */
  isLive(t: Tensor): boolean
  /** Number of live (unreleased) tensors on this backend. */
  liveCount(): number
  /** Releases everything the backend holds; the backend is unusable afterwards. */
  destroy(): Promise<void>
}

// ---- live-handle bookkeeping shared by backends -------------------------------------------------

const scopeStack: Set<Tensor>[] = []

/** @internal Called by backends for every tensor they create. */
export const track = (t: Tensor): Tensor => {
  scopeStack[scopeStack.length - 1]?.add(t)
  return t
}

/** @internal Removes a tensor from every open scope, so no scope releases it. */
export const untrack = (t: Tensor): Tensor => {
  for (const s of scopeStack) s.delete(t)
  return t
}

/** @internal */
export const pushScope = (): Set<Tensor> => {
  const s = new Set<Tensor>()
  scopeStack.push(s)
  return s
}

/** @internal */
export const popScope = (s: Set<Tensor>): void => {
  const top = scopeStack.pop()
  if (top !== s) throw new FluxionError('scopes closed out of order')
}

/** @internal Releases every live tensor of a set. */
export const releaseAll = (ts: Iterable<Tensor>): void => {
  for (const t of ts) if (t.backend.isLive(t)) t.backend.release(t)
}

/**
 * @internal Runs `fn` in a new scope and returns its result with the tensors it created; if `fn`
 * throws, those are released and the error is rethrown unchanged.
 */
export const runInScope = <R>(fn: () => R): { readonly result: R; readonly created: Set<Tensor> } => {
  const created = pushScope()
  try {
    const result = fn()
    popScope(created)
    return { result, created }
  } catch (e) {
    popScope(created)
    releaseAll(created)
    throw e
  }
}

/** @internal Registers kept tensors with the enclosing scope, if any. */
export const adoptIntoParentScope = (ts: Iterable<Tensor>): void => {
  const parent = scopeStack[scopeStack.length - 1]
  if (parent) for (const t of ts) parent.add(t)
}

/**
 * How an elementwise input is read at output index i: `same` reads element i; `mod` (an input whose
 * shape is a trailing suffix of the output's, e.g. a bias or a scalar) reads i mod size; `div` (an
 * input whose shape is the output's leading axes followed by ones, e.g. a per-row statistic) reads
 * ⌊i / inner⌋.
 */
export type Read = { readonly kind: 'same' } | { readonly kind: 'mod'; readonly size: number } | { readonly kind: 'div'; readonly inner: number }

/** Output shape of an elementwise op and how each input is read. */
export interface Broadcast {
  readonly shape: readonly number[]
  readonly size: number
  readonly reads: readonly Read[]
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i])

/** The read of an input of shape `s` inside an output of shape `out`, or undefined if unsupported. */
export const readOf = (s: readonly number[], out: readonly number[]): Read | undefined => {
  if (sameShape(s, out)) return { kind: 'same' }
  const size = shapeSize(s)
  const outSize = shapeSize(out)
  if (s.length > out.length) return undefined
  const firstNonOne = s.findIndex((d) => d !== 1)
  const stripped = firstNonOne === -1 ? [] : s.slice(firstNonOne)
  if (stripped.every((d, i) => d === out[out.length - stripped.length + i])) return { kind: 'mod', size }
  const lead = s.findIndex((d, i) => d !== out[i])
  if (s.length === out.length && lead > 0 && s.slice(lead).every((d) => d === 1)) return { kind: 'div', inner: outSize / size }
  return undefined
}

/** @internal The message for tensors of two backends; two distinct backends may share a name. */
export const backendMismatch = (a: Backend, b: Backend): string =>
  a.name === b.name
    ? `tensor on one ${a.name} backend combined with a tensor on another ${b.name} backend (two backends created separately; move one with toBackend)`
    : `tensor on ${a.name} combined with a tensor on ${b.name}`

/**
 * @internal Checks that tensors can meet in one broadcasting op: same backend, all live, and each
 * shape equal to the output shape (the largest), a trailing suffix of it, or its leading axes
 * followed by ones. Anything else throws a ShapeError naming the path.
 */
export const broadcastOperands = (tensors: readonly Tensor[], path: string): Broadcast => {
  const first = tensors[0]!
  let out = first
  for (const t of tensors) {
    if (!(t instanceof Tensor)) throw new BackendError(path, `expected a Tensor, got ${String(t)}`)
    if (t.backend !== first.backend) {
      throw new BackendError(path, backendMismatch(t.backend, first.backend))
    }
    if (!t.backend.isLive(t)) throw new DisposedTensorError(path, t.id)
    // an empty tensor is the output when there is one ([0, n] + [n] is [0, n])
    const size = t.size === 0 ? Infinity : t.size
    const outSize = out.size === 0 ? Infinity : out.size
    if (size > outSize || (size === outSize && t.shape.length > out.shape.length)) out = t
  }
  const reads = tensors.map((t) => {
    const r = readOf(t.shape, out.shape)
    if (!r) throw new ShapeError(path, `[${t.shape.join(', ')}] does not broadcast to [${out.shape.join(', ')}]`)
    return r
  })
  return { shape: out.shape, size: out.size, reads }
}

/** @internal Checks that tensors can meet in one op: same backend, same shape, all live. */
export const checkOperands = (tensors: readonly Tensor[], path: string): void => {
  const first = tensors[0]!
  for (const t of tensors) {
    if (!(t instanceof Tensor)) throw new BackendError(path, `expected a Tensor, got ${String(t)}`)
    if (t.backend !== first.backend) {
      throw new BackendError(path, backendMismatch(t.backend, first.backend))
    }
    if (!t.backend.isLive(t)) throw new DisposedTensorError(path, t.id)
    if (t.shape.length !== first.shape.length || t.shape.some((d, i) => d !== first.shape[i])) {
      throw new ShapeError(path, `[${first.shape.join(', ')}] vs [${t.shape.join(', ')}]`)
    }
  }
}
