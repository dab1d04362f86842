/**
 * The `cpu` backend: Float32Array storage in pure TypeScript, no native code. The embedded default.
 * Each elementwise op is compiled once into a single fused loop over all of its outputs.
 */
import { DisposedTensorError } from '../errors.js'
import { type Backend, type Donation, type ElementwiseOp, type Read, Tensor, readOf, shapeSize, track } from './tensor.js'

type Loop = (ins: readonly Float32Array[], outs: Float32Array[], scalars: readonly number[], n: number) => void

const readExpr = (name: string, r: Read): string =>
  r.kind === 'same' ? `in_${name}[__i]` : r.kind === 'mod' ? (r.size === 1 ? `in_${name}[0]` : `in_${name}[__i % ${r.size}]`) : `in_${name}[Math.floor(__i / ${r.inner})]`

/** The loop over i shared by the op's loops: inputs bound, lets evaluated, then `perOutput` for each output. */
const loopSource = (op: ElementwiseOp, reads: readonly Read[], before: readonly string[], perOutput: (expr: string, i: number) => string): string[] => [
  ...op.inputs.map((name, i) => `const in_${name} = __ins[${i}];`),
  ...op.scalars.map((name, i) => `const ${name} = __scalars[${i}];`),
  ...before,
  'for (let __i = 0; __i < __n; __i++) {',
  ...op.inputs.map((name, k) => `  const ${name} = ${readExpr(name, reads[k]!)};`),
  ...op.lets.map(([name, expr]) => `  const ${name} = ${expr};`),
  ...op.outputs.map((expr, i) => `  ${perOutput(expr, i)}`),
  '}',
]

const compileLoop = (op: ElementwiseOp, reads: readonly Read[]): Loop => {
  const lines = loopSource(op, reads, op.outputs.map((_, i) => `const out_${i} = __outs[${i}];`), (expr, i) => `out_${i}[__i] = ${expr};`)
  return new Function('__ins', '__outs', '__scalars', '__n', lines.join('\n')) as Loop
}

type ReduceLoop = (ins: readonly Float32Array[], scalars: readonly number[], n: number) => number[]

/**
 * The loop of `reduceElementwise`: each output's value is rounded to float32 (as storing it would)
 * and summed in float64, so the sum equals `sum` of the stored output.
 */
const compileReduceLoop = (op: ElementwiseOp, reads: readonly Read[]): ReduceLoop => {
  const lines = loopSource(op, reads, op.outputs.map((_, i) => `let __s${i} = 0;`), (expr, i) => `__s${i} += Math.fround(${expr});`)
  lines.push(`return [${op.outputs.map((_, i) => `__s${i}`).join(', ')}];`)
  return new Function('__ins', '__scalars', '__n', lines.join('\n')) as ReduceLoop
}

const readsKey = (reads: readonly Read[]): string => JSON.stringify(reads)

/** [rows, cols] → [cols, rows]. */
const transpose = (x: Float32Array, rows: number, cols: number): Float32Array => {
  const out = new Float32Array(rows * cols)
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = x[r * cols + c]!
  return out
}

/**
 * out = A·B for row-major A [m, k], B [k, n]. Eight rows of B per pass and a float64 row
 * accumulator: about 1.3 GMAC/s in V8 here, 4× the plain i-p-j loop (measured by hand when written).
 */
const gemm = (A: Float32Array, B: Float32Array, out: Float32Array, m: number, k: number, n: number): void => {
  const acc = new Float64Array(n)
  for (let i = 0; i < m; i++) {
    acc.fill(0)
    const ao = i * k
    let p = 0
    for (; p + 7 < k; p += 8) {
      const a0 = A[ao + p]!, a1 = A[ao + p + 1]!, a2 = A[ao + p + 2]!, a3 = A[ao + p + 3]!
      const a4 = A[ao + p + 4]!, a5 = A[ao + p + 5]!, a6 = A[ao + p + 6]!, a7 = A[ao + p + 7]!
      const b0 = p * n, b1 = b0 + n, b2 = b1 + n, b3 = b2 + n, b4 = b3 + n, b5 = b4 + n, b6 = b5 + n, b7 = b6 + n
      for (let j = 0; j < n; j++) {
        acc[j]! += a0 * B[b0 + j]! + a1 * B[b1 + j]! + a2 * B[b2 + j]! + a3 * B[b3 + j]! + a4 * B[b4 + j]! + a5 * B[b5 + j]! + a6 * B[b6 + j]! + a7 * B[b7 + j]!
      }
    }
    for (; p < k; p++) {
      const a = A[ao + p]!
      const bo = p * n
      for (let j = 0; j < n; j++) acc[j]! += a * B[bo + j]!
    }
    out.set(acc, i * n)
  }
}

/** Bytes of released storage the cpu backend always may keep for reuse (per backend). */
const poolFloorBytes = 256 * 2 ** 20

/**
 * Creates an independent cpu backend (own live-handle count). Most code uses the shared `cpu`.
 * Released arrays are recycled for outputs of the same length, so a training loop that disposes
 * its old params and state allocates nothing after its first steps; an op writes every element of
 * a recycled output, so no stale value survives. The pool keeps up to 256 MiB, or as many bytes as
 * the live tensors hold when that is more: a step that releases what it allocated (7 arrays of
 * 40 MB for Adam at 1e7 parameters) always finds them again, with no fixed cap to fall off.
 */
export const createCpuBackend = (name = 'cpu'): Backend => {
  const live = new Set<number>()
  let liveBytes = 0
  const loops = new WeakMap<ElementwiseOp, Map<string, Loop>>()
  const reduceLoops = new WeakMap<ElementwiseOp, Map<string, ReduceLoop>>()
  // a layout object reused across calls (compileStep keeps one per leaf) skips the key's JSON
  const loopsByReads = new WeakMap<ElementwiseOp, WeakMap<readonly Read[], Loop>>()
  const pool = new Map<number, Float32Array[]>()
  let pooledBytes = 0
  const allocate = (n: number): Float32Array => {
    const free = pool.get(n)
    const reused = free?.pop()
    if (reused) {
      pooledBytes -= reused.byteLength
      return reused
    }
    return new Float32Array(n)
  }
  const recycle = (a: Float32Array) => {
    if (a.length === 0 || pooledBytes + a.byteLength > Math.max(poolFloorBytes, liveBytes)) return
    let free = pool.get(a.length)
    if (!free) pool.set(a.length, (free = []))
    free.push(a)
    pooledBytes += a.byteLength
  }
  const make = (shape: readonly number[], data: Float32Array): Tensor => {
    const t = new Tensor(backend, shape, data)
    live.add(t.id)
    liveBytes += data.byteLength
    return track(t)
  }
  const data = (t: Tensor): Float32Array => t.storage as Float32Array
  const loopFor = (op: ElementwiseOp, reads: readonly Read[]): Loop => {
    let byObject = loopsByReads.get(op)
    const hit = byObject?.get(reads)
    if (hit) return hit
    let byReads = loops.get(op)
    if (!byReads) loops.set(op, (byReads = new Map()))
    const key = readsKey(reads)
    let loop = byReads.get(key)
    if (!loop) byReads.set(key, (loop = compileLoop(op, reads)))
    if (!byObject) loopsByReads.set(op, (byObject = new WeakMap()))
    byObject.set(reads, loop)
    return loop
  }
  /** Takes over the storage of a donated input: its handle is released, the array lives on. */
  const takeOver = (t: Tensor, n: number): Float32Array => {
    const d = data(t)
    if (d.length !== n || !live.delete(t.id)) throw new DisposedTensorError('', t.id)
    liveBytes -= d.byteLength
    return d
  }
  const backend: Backend = {
    name,
    float64Intermediates: true,
    fusesExactly: true,
    fromData: (values, shape) => {
      const n = shapeSize(shape)
      if (values.length !== n) throw new RangeError(`fromData: ${values.length} values for shape [${shape.join(', ')}]`)
      const out = allocate(n)
      out.set(values)
      return make(shape, out)
    },
    fill: (shape, value) => make(shape, allocate(shapeSize(shape)).fill(value)),
    elementwise: (op, inputs, scalars, layout, donate?: Donation) => {
      const loop = loopFor(op, layout.reads)
      const n = layout.size
      const ins = inputs.map(data)
      // the loop reads every input at i before it writes any output at i, so an output may
      // overwrite an input read element for element (donation)
      const outs = op.outputs.map((_, k) => {
        const d = donate?.[k] ?? -1
        return d >= 0 && layout.reads[d]!.kind === 'same' && live.has(inputs[d]!.id) ? takeOver(inputs[d]!, n) : allocate(n)
      })
      loop(ins, outs, scalars, n)
      return outs.map((o) => make(layout.shape, o))
    },
    reduceElementwise: (op, inputs, scalars, layout) => {
      let byReads = reduceLoops.get(op)
      if (!byReads) reduceLoops.set(op, (byReads = new Map()))
      const key = readsKey(layout.reads)
      let loop = byReads.get(key)
      if (!loop) byReads.set(key, (loop = compileReduceLoop(op, layout.reads)))
      return loop(inputs.map(data), scalars, layout.size).map((s) => make([], Float32Array.of(s)))
    },
    sumTo: (t, shape) => {
      const d = data(t)
      const m = shapeSize(shape)
      const acc = new Float64Array(m)
      const r = readOf(shape, t.shape)!
      if (r.kind === 'div') for (let i = 0; i < d.length; i++) acc[Math.floor(i / r.inner)]! += d[i]!
      else for (let i = 0; i < d.length; i++) acc[i % m]! += d[i]!
      const out = allocate(m)
      out.set(acc)
      return make(shape, out)
    },
    maxTo: (t, shape) => {
      const d = data(t)
      const m = shapeSize(shape)
      const out = allocate(m).fill(-Infinity)
      const r = readOf(shape, t.shape)!
      for (let i = 0; i < d.length; i++) {
        const j = r.kind === 'div' ? Math.floor(i / r.inner) : i % m
        const x = d[i]!
        if (x > out[j]! || Number.isNaN(x)) out[j] = x
      }
      return make(shape, out)
    },
    matmul: (a, b, ta, tb) => {
      const [m, k] = ta ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!]
      const n = tb ? b.shape[0]! : b.shape[1]!
      const out = allocate(m * n)
      gemm(ta ? transpose(data(a), k, m) : data(a), tb ? transpose(data(b), n, k) : data(b), out, m, k, n)
      return make([m, n], out)
    },
    sum: (t) => {
      const d = data(t)
      let s = 0
      for (let i = 0; i < d.length; i++) s += d[i]!
      return make([], Float32Array.of(s))
    },
    read: async (t) => {
      if (!live.has(t.id)) throw new DisposedTensorError('', t.id)
      return data(t).slice()
    },
    readSync: (t) => {
      if (!live.has(t.id)) throw new DisposedTensorError('', t.id)
      return data(t).slice()
    },
    release: (t) => {
      if (!live.delete(t.id)) throw new DisposedTensorError('', t.id)
      liveBytes -= data(t).byteLength
      recycle(data(t))
    },
    isLive: (t) => live.has(t.id),
    liveCount: () => live.size,
    destroy: async () => {
      live.clear()
      liveBytes = 0
      pool.clear()
      pooledBytes = 0
    },
  }
  return Object.freeze(backend)
}

/** The shared cpu backend: the default wherever a backend is optional. */
export const cpu: Backend = createCpuBackend()
