/**
 * The `cpu` backend: Float32Array storage in pure TypeScript, no native code. The embedded default.
 * Each elementwise op is compiled once into a single fused loop over all of its outputs.
 */
import { DisposedTensorError } from '../errors.js'
import { type Backend, type ElementwiseOp, Tensor, shapeSize, track } from './tensor.js'

type Loop = (ins: readonly Float32Array[], outs: Float32Array[], scalars: readonly number[], n: number) => void

const compileLoop = (op: ElementwiseOp): Loop => {
  const lines: string[] = []
  op.inputs.forEach((name, i) => lines.push(`const in_${name} = ins[${i}];`))
  op.scalars.forEach((name, i) => lines.push(`const ${name} = scalars[${i}];`))
  op.outputs.forEach((_, i) => lines.push(`const out_${i} = outs[${i}];`))
  lines.push('for (let i = 0; i < n; i++) {')
  op.inputs.forEach((name) => lines.push(`  const ${name} = in_${name}[i];`))
  op.lets.forEach(([name, expr]) => lines.push(`  const ${name} = ${expr};`))
  op.outputs.forEach((expr, i) => lines.push(`  out_${i}[i] = ${expr};`))
  lines.push('}')
  return new Function('ins', 'outs', 'scalars', 'n', lines.join('\n')) as Loop
}

/** Creates an independent cpu backend (own live-handle count). Most code uses the shared `cpu`. */
export const createCpuBackend = (name = 'cpu'): Backend => {
  const live = new Set<number>()
  const loops = new WeakMap<ElementwiseOp, Loop>()
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
      return make(shape, Float32Array.from(values))
    },
    fill: (shape, value) => make(shape, new Float32Array(shapeSize(shape)).fill(value)),
    elementwise: (op, inputs, scalars) => {
      let loop = loops.get(op)
      if (!loop) loops.set(op, (loop = compileLoop(op)))
      const shape = inputs[0]!.shape
      const n = inputs[0]!.size
      const outs = op.outputs.map(() => new Float32Array(n))
      loop(inputs.map(data), outs, scalars, n)
      return outs.map((o) => make(shape, o))
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
    },
    isLive: (t) => live.has(t.id),
    liveCount: () => live.size,
    destroy: async () => live.clear(),
  }
  return Object.freeze(backend)
}

/** The shared cpu backend: the default wherever a backend is optional. */
export const cpu: Backend = createCpuBackend()
