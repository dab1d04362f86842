/**
 * The `cpu` backend: Float32Array storage in pure TypeScript, no native code. The embedded default.
 * Each elementwise op is compiled once into a single fused loop over all of its outputs.
 */
import { DisposedTensorError } from '../errors.js'
import { type Backend, type ElementwiseOp, type Read, Tensor, readOf, shapeSize, track } from './tensor.js'

type Loop = (ins: readonly Float32Array[], outs: Float32Array[], scalars: readonly number[], n: number) => void

const readExpr = (name: string, r: Read): string =>
  r.kind === 'same' ? `in_${name}[i]` : r.kind === 'mod' ? (r.size === 1 ? `in_${name}[0]` : `in_${name}[i % ${r.size}]`) : `in_${name}[Math.floor(i / ${r.inner})]`

const compileLoop = (op: ElementwiseOp, reads: readonly Read[]): Loop => {
  const lines: string[] = []
  op.inputs.forEach((name, i) => lines.push(`const in_${name} = ins[${i}];`))
  op.scalars.forEach((name, i) => lines.push(`const ${name} = scalars[${i}];`))
  op.outputs.forEach((_, i) => lines.push(`const out_${i} = outs[${i}];`))
  lines.push('for (let i = 0; i < n; i++) {')
  op.inputs.forEach((name, k) => lines.push(`  const ${name} = ${readExpr(name, reads[k]!)};`))
  op.lets.forEach(([name, expr]) => lines.push(`  const ${name} = ${expr};`))
  op.outputs.forEach((expr, i) => lines.push(`  out_${i}[i] = ${expr};`))
  lines.push('}')
  return new Function('ins', 'outs', 'scalars', 'n', lines.join('\n')) as Loop
}

/** Bytes of released storage the cpu backend keeps for reuse (per backend). */
const poolLimitBytes = 256 * 2 ** 20

/**
 * Creates an independent cpu backend (own live-handle count). Most code uses the shared `cpu`.
 * Released arrays are recycled for outputs of the same length (up to 256 MiB), so a training loop
 * that disposes its old params and state allocates nothing after its first steps; an op writes
 * every element of a recycled output, so no stale value survives.
 */
export const createCpuBackend = (name = 'cpu'): Backend => {
  const live = new Set<number>()
  const loops = new WeakMap<ElementwiseOp, Map<string, Loop>>()
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
    if (a.length === 0 || pooledBytes + a.byteLength > poolLimitBytes) return
    let free = pool.get(a.length)
    if (!free) pool.set(a.length, (free = []))
    free.push(a)
    pooledBytes += a.byteLength
  }
  const make = (shape: readonly number[], data: Float32Array): Tensor => {
    const t = new Tensor(backend, shape, data)
    live.add(t.id)
    return track(t)
  }
  const data = (t: Tensor): Float32Array => t.storage as Float32Array
  const backend: Backend = {
    name,
    fromData: (values, shape) => {
      const n = shapeSize(shape)
      if (values.length !== n) throw new RangeError(`fromData: ${values.length} values for shape [${shape.join(', ')}]`)
      const out = allocate(n)
      out.set(values)
      return make(shape, out)
    },
    fill: (shape, value) => make(shape, allocate(shapeSize(shape)).fill(value)),
    elementwise: (op, inputs, scalars, layout) => {
      let byReads = loops.get(op)
      if (!byReads) loops.set(op, (byReads = new Map()))
      const key = JSON.stringify(layout.reads)
      let loop = byReads.get(key)
      if (!loop) byReads.set(key, (loop = compileLoop(op, layout.reads)))
      const n = layout.size
      const outs = op.outputs.map(() => allocate(n))
      loop(inputs.map(data), outs, scalars, n)
      return outs.map((o) => make(layout.shape, o))
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
    release: (t) => {
      if (!live.delete(t.id)) throw new DisposedTensorError('', t.id)
      recycle(data(t))
    },
    isLive: (t) => live.has(t.id),
    liveCount: () => live.size,
    destroy: async () => {
      live.clear()
      pool.clear()
      pooledBytes = 0
    },
  }
  return Object.freeze(backend)
}

/** The shared cpu backend: the default wherever a backend is optional. */
export const cpu: Backend = createCpuBackend()
