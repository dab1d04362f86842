/**
 * The `wasm` backend: tensors live in one growable `WebAssembly.Memory` (see heap.ts) and every
 * elementwise op is compiled at run time, from the same expression strings every backend runs, to
 * a WebAssembly SIMD (f32x4) loop that reads and writes the tensors in place (kernels.ts). Matrix
 * products run a packed, blocked SIMD kernel (gemm.ts).
 *
 * Semantics are float32 throughout, like the GPU backends and the frameworks: host scalars are
 * rounded to float32 when passed, and every intermediate is a float32. The `cpu` backend, which
 * evaluates expressions in float64 and rounds only what it stores, stays the reference
 * implementation; the two agree to float32 tolerance except where float32 itself overflows or
 * cancels (docs/backends.md says where).
 *
 * Sums (`sum`, `reduceElementwise`, `sumTo`) accumulate float32 values in float64 and round once,
 * as the cpu backend does.
 */
import { DisposedTensorError, FluxionError, UnsupportedError } from '../../errors.js'
import { type Backend, type Donation, type ElementwiseOp, type Read, Tensor, readOf, shapeSize, track } from '../tensor.js'
import { createGemm } from './gemm.js'
import { wasmApi } from './api.js'
import { Code, encodeModule } from './encode.js'
import { createHeap } from './heap.js'
import { compileElementwise, type KernelSource, type Sink } from './kernels.js'

/** @internal A tensor's storage on the wasm backend: a block of the backend's memory. */
export interface WasmStorage {
  readonly ptr: number
  readonly n: number
}

interface Kernel {
  readonly fn: (...args: number[]) => void
  readonly src: KernelSource
}

// a module with one v128 instruction: v128.const 0; drop
const simdProbe = (): Uint8Array => encodeModule([{ params: [], results: [], code: new Code(0).f32x4Const(0).drop() }])

/**
 * Whether this JavaScript engine runs WebAssembly with 128-bit SIMD (Node ≥ 16.4, Chrome 91,
 * Firefox 89, Safari 16.4), which `createWasmBackend` needs: it validates a one-instruction module.
 *
 * @example
 * ```ts
 * const backend = wasmSimdSupported() ? createWasmBackend() : cpu
 * ```
 *
 * Reference: the WebAssembly fixed-width SIMD proposal, standardised in WebAssembly 2.0.
 */
export const wasmSimdSupported = (): boolean => {
  try {
    return wasmApi()?.validate(simdProbe()) === true
  } catch {
    return false
  }
}

const readsKey = (reads: readonly Read[]): string => JSON.stringify(reads)

/**
 * Creates an independent wasm backend (its own memory and live-handle count). Throws
 * `UnsupportedError` where WebAssembly SIMD is unavailable.
 *
 * @example
 * ```ts
 * const wasm = createWasmBackend()
 * const x = fromArray([1, 2, 3], [3], wasm)
 * const y = scaleTensor(x, 2) // computed by a generated f32x4 kernel
 * ```
 *
 * Reference: the WebAssembly SIMD proposal (fixed-width 128-bit SIMD, standard since 2021); the
 * storage-in-linear-memory design of tfjs-backend-wasm and XNNPACK.
 */
export const createWasmBackend = (name = 'wasm'): Backend => {
  if (!wasmSimdSupported()) throw new UnsupportedError('the wasm backend needs WebAssembly with 128-bit SIMD, which this JavaScript engine does not provide')
  const heap = createHeap()
  const live = new Set<number>()
  let destroyed = false
  const kernels = { store: new WeakMap<ElementwiseOp, Map<string, Kernel>>(), reduce: new WeakMap<ElementwiseOp, Map<string, Kernel>>() }
  // a layout object reused across calls (compileStep keeps one per leaf) skips the key's JSON
  const byLayout = { store: new WeakMap<ElementwiseOp, WeakMap<readonly Read[], Kernel>>(), reduce: new WeakMap<ElementwiseOp, WeakMap<readonly Read[], Kernel>>() }
  let gemm: ReturnType<typeof createGemm> | undefined
  let scratch = 0
  let scratchBytes = 0

  const kernelFor = (op: ElementwiseOp, reads: readonly Read[], sink: Sink): Kernel => {
    let objects = byLayout[sink].get(op)
    const hit = objects?.get(reads)
    if (hit) return hit
    let byReads = kernels[sink].get(op)
    if (!byReads) kernels[sink].set(op, (byReads = new Map()))
    const key = readsKey(reads)
    let k = byReads.get(key)
    if (!k) {
      const src = compileElementwise(op, reads, sink)
      const h = Object.fromEntries(src.hostFns.map((f, i) => [`f${i}`, f]))
      const api = wasmApi()!
      const instance = new api.Instance(new api.Module(src.bytes), { m: { memory: heap.memory }, h })
      k = { fn: instance.exports['k'] as (...args: number[]) => void, src }
      byReads.set(key, k)
    }
    if (!objects) byLayout[sink].set(op, (objects = new WeakMap()))
    objects.set(reads, k)
    return k
  }
  /** The loop bounds a kernel takes first: (rows, innerBytes) or (n). */
  const bounds = (k: Kernel, n: number): number[] => {
    if (k.src.shape === 'gather') return [n]
    const inner = k.src.inner ?? n
    return inner === 0 ? [0, 0] : [n / inner, inner * 4]
  }

  const alloc = (n: number): number => {
    if (destroyed) throw new FluxionError(`${name}: the backend was destroyed`)
    return heap.alloc(4 * n)
  }
  const make = (shape: readonly number[], ptr: number, n: number): Tensor => {
    const t = new Tensor(backend, shape, { ptr, n } satisfies WasmStorage)
    live.add(t.id)
    return track(t)
  }
  const st = (t: Tensor): WasmStorage => t.storage as WasmStorage
  const view = (t: Tensor | WasmStorage): Float32Array => {
    const s = t instanceof Tensor ? st(t) : t
    return new Float32Array(heap.memory.buffer, s.ptr, s.n)
  }
  const checkLive = (t: Tensor) => {
    if (!live.has(t.id)) throw new DisposedTensorError('', t.id)
  }

  const backend: Backend = {
    name,
    fusesExactly: true,
    fromData: (values, shape) => {
      const n = shapeSize(shape)
      if (values.length !== n) throw new RangeError(`fromData: ${values.length} values for shape [${shape.join(', ')}]`)
      const ptr = alloc(n)
      new Float32Array(heap.memory.buffer, ptr, n).set(values)
      return make(shape, ptr, n)
    },
    fill: (shape, value) => {
      const n = shapeSize(shape)
      const ptr = alloc(n)
      new Float32Array(heap.memory.buffer, ptr, n).fill(value)
      return make(shape, ptr, n)
    },
    elementwise: (op, inputs, scalars, layout, donate?: Donation) => {
      const k = kernelFor(op, layout.reads, 'store')
      const n = layout.size
      const nOut = op.outputs.length
      // the call's arguments in one array: loop bounds, input pointers, output pointers, scalars
      const args = bounds(k, n)
      for (let j = 0; j < inputs.length; j++) args.push(st(inputs[j]!).ptr)
      for (let j = 0; j < nOut; j++) {
        const d = donate === undefined ? -1 : (donate[j] ?? -1)
        const t = d >= 0 ? inputs[d]! : undefined
        if (t && layout.reads[d]!.kind === 'same' && live.has(t.id)) {
          // the output takes over the donated input's block: the loop reads every input at i
          // before it writes any output at i
          live.delete(t.id)
          args.push(st(t).ptr)
        } else args.push(alloc(n))
      }
      for (let j = 0; j < scalars.length; j++) args.push(scalars[j]!)
      k.fn.apply(undefined, args)
      const outs: Tensor[] = []
      const first = args.length - scalars.length - nOut
      for (let j = 0; j < nOut; j++) outs.push(make(layout.shape, args[first + j]!, n))
      return outs
    },
    reduceElementwise: (op, inputs, scalars, layout) => {
      const k = kernelFor(op, layout.reads, 'reduce')
      const bytes = 8 * op.outputs.length
      if (bytes > scratchBytes) {
        heap.free(scratch, scratchBytes)
        scratch = heap.alloc(bytes)
        scratchBytes = bytes
      }
      k.fn(...bounds(k, layout.size), ...inputs.map((t) => st(t).ptr), scratch, ...scalars)
      const sums = Array.from(new Float64Array(heap.memory.buffer, scratch, op.outputs.length))
      return sums.map((s) => backend.fromData(Float32Array.of(s), []))
    },
    sum: (t) => backend.reduceElementwise!(copyOp, [t], [], { shape: t.shape, size: t.size, reads: [{ kind: 'same' }] })[0]!,
    sumTo: (t, shape) => {
      const m = shapeSize(shape)
      const ptr = alloc(m)
      const d = view(t)
      const acc = new Float64Array(m)
      const r = readOf(shape, t.shape)!
      if (r.kind === 'div') for (let i = 0; i < d.length; i++) acc[Math.floor(i / r.inner)]! += d[i]!
      else for (let i = 0; i < d.length; i++) acc[i % m]! += d[i]!
      new Float32Array(heap.memory.buffer, ptr, m).set(acc)
      return make(shape, ptr, m)
    },
    maxTo: (t, shape) => {
      const m = shapeSize(shape)
      const ptr = alloc(m)
      const d = view(t)
      const out = new Float32Array(heap.memory.buffer, ptr, m).fill(-Infinity)
      const r = readOf(shape, t.shape)!
      for (let i = 0; i < d.length; i++) {
        const j = r.kind === 'div' ? Math.floor(i / r.inner) : i % m
        const x = d[i]!
        if (x > out[j]! || Number.isNaN(x)) out[j] = x
      }
      return make(shape, ptr, m)
    },
    matmul: (a, b, ta, tb) => {
      const [m, k] = ta ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!]
      const n = tb ? b.shape[0]! : b.shape[1]!
      const ptr = alloc(m * n)
      gemm ??= createGemm(heap)
      gemm(st(a).ptr, st(b).ptr, ptr, m, k, n, ta, tb)
      return make([m, n], ptr, m * n)
    },
    read: async (t) => {
      checkLive(t)
      return view(t).slice()
    },
    readSync: (t) => {
      checkLive(t)
      return view(t).slice()
    },
    release: (t) => {
      if (!live.delete(t.id)) throw new DisposedTensorError('', t.id)
      heap.free(st(t).ptr, 4 * st(t).n)
    },
    isLive: (t) => live.has(t.id),
    liveCount: () => live.size,
    destroy: async () => {
      live.clear()
      destroyed = true
    },
  }
  return Object.freeze(backend)
}

const copyOp = Object.freeze({ name: 'copy', inputs: Object.freeze(['a']), scalars: Object.freeze([]), lets: Object.freeze([]), outputs: Object.freeze(['a']) }) as ElementwiseOp
