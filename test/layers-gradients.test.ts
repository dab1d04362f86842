/**
 * Input gradients on demand: `sequential`'s backward computes ∂L/∂x (and the backward passes of the
 * parameter-free layers before the first trainable one) only when `dx` is read, with the same bits
 * as the eager chain the layers ran before; and dropout masks, generated in one loop, are the bits
 * the old `Float32Array.from(uniformValues(key, n), u ↦ …)` produced. A counting backend wrapped
 * around each backend logs every matmul and elementwise op the layers run.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type AnyLayer,
  type ApplyOptions,
  type Backend,
  type Key,
  type Params,
  HyperparameterError,
  batchNorm,
  cpu,
  dense,
  dispose,
  dropout,
  elu,
  foldIn,
  fromArray,
  gaussianNoise,
  heNormal,
  key,
  lazyInputGradient,
  noisyDense,
  read,
  readTree,
  relu,
  scope,
  sequential,
  sigmoid,
  tanh,
  tree,
  uniformValues,
} from '../src/index.js'
import { propertyParameters } from '../laws/runners.js'
import { Tensor, track, untrack } from '../src/tensor/tensor.js'
import { backends } from './backends.js'

/**
 * `inner` with a log of every matmul ('matmul' plus ᵀA / ᵀB) and elementwise op (by name) it runs,
 * in order. Its tensors wrap inner ones (the wrapper joins the open scope, the inner tensor does not).
 */
const countingBackend = (inner: Backend): Backend & { readonly log: string[] } => {
  const log: string[] = []
  const unwrap = (t: Tensor): Tensor => t.storage as Tensor
  const wrap = (t: Tensor): Tensor => track(new Tensor(backend, t.shape, untrack(t)))
  const backend: Backend & { readonly log: string[] } = {
    name: `counting ${inner.name}`,
    log,
    float64Intermediates: inner.float64Intermediates,
    fromData: (data, shape) => wrap(inner.fromData(data, shape)),
    fill: (shape, value) => wrap(inner.fill(shape, value)),
    elementwise: (op, inputs, scalars, layout, donate) => {
      log.push(op.name)
      return inner.elementwise(op, inputs.map(unwrap), scalars, layout, donate).map(wrap)
    },
    sum: (t) => wrap(inner.sum(unwrap(t))),
    sumTo: (t, shape) => wrap(inner.sumTo(unwrap(t), shape)),
    maxTo: (t, shape) => wrap(inner.maxTo(unwrap(t), shape)),
    matmul: (a, b, transposeA, transposeB) => {
      log.push(`matmul${transposeA ? 'ᵀA' : ''}${transposeB ? 'ᵀB' : ''}`)
      return wrap(inner.matmul(unwrap(a), unwrap(b), transposeA, transposeB))
    },
    read: (t) => inner.read(unwrap(t)),
    release: (t) => inner.release(unwrap(t)),
    isLive: (t) => inner.isLive(unwrap(t)),
    liveCount: () => inner.liveCount(),
    destroy: async () => undefined,
  }
  return backend
}

/** The bits of float32 values: equal bits, equal numbers (and −0 ≠ 0). */
const bitsOf = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length))

const bitsOfTree = async (t: Params): Promise<unknown> => tree.map((x: Float32Array) => bitsOf(x))((await readTree(t)) as tree.Tree<Float32Array>)

/**
 * The backward pass of `sequential` before input gradients were deferred: every layer's vector-
 * Jacobian product, last to first, each layer's ∂x read and fed to the layer before it.
 */
const eagerChain = (layers: readonly AnyLayer[], params: readonly Params[], state: readonly unknown[], x: Tensor, options: ApplyOptions) => {
  let y = x
  const backs = layers.map((l, i) => {
    const out = l.apply(params[i], state[i], y, { ...options, ...(options.key ? { key: foldIn(options.key, i) } : {}) })
    y = out.y
    return out.backward
  })
  return {
    y,
    backward: (dy: Tensor) => {
      const dparams: Params[] = new Array(layers.length)
      let g = dy
      for (let i = layers.length - 1; i >= 0; i--) {
        const r = backs[i]!(g)
        dparams[i] = r.dparams
        g = r.dx
      }
      return { dx: g, dparams }
    },
  }
}

const values = (seed: number, n: number) => Array.from({ length: n }, (_, i) => Math.fround(Math.sin(seed * 3.7 + i * 1.91) * 1.5))

const demoLayers = (): AnyLayer[] => [
  dropout(0.1),
  dense(5, { kernelInitializer: heNormal() }),
  batchNorm(),
  relu(),
  dropout(0.25),
  dense(4, { kernelInitializer: heNormal() }),
  batchNorm(),
  relu(),
  dropout(0.25),
  dense(3),
]

// a model's layers, training mode, and the ops that only a read of the model's dx may run
const models: [string, () => AnyLayer[], boolean, string[]][] = [
  ['the demo (input dropout, dense, batch norm, relu, dropout)', demoLayers, true, ['matmulᵀB', 'dropoutMul']],
  ['the demo at evaluation', demoLayers, false, ['matmulᵀB']],
  ['dense first', () => [dense(5), tanh(), dense(3)], true, ['matmulᵀB']],
  ['batch norm first', () => [batchNorm(), dense(3)], true, ['bnBackward']],
  ['batch norm first at evaluation', () => [batchNorm(), dense(3)], false, ['bnEvalBackward']],
  ['noise and an activation first', () => [gaussianNoise(0.3), relu(), noisyDense(4, { stddev: 0.1 }), sigmoid(), dense(2)], true, ['matmulᵀB', 'reluGrad']],
  [
    'nested sequentials',
    () => [sequential([dropout(0.2), elu()]), sequential([dense(5), relu()]), dropout(0.1), dense(3)],
    true,
    ['matmulᵀB', 'eluGrad', 'dropoutMul'],
  ],
  ['no parameters at all', () => [relu(), dropout(0.5)], true, ['dropoutMul', 'reluGrad']],
  ['no layers', () => [], true, []],
]

/** The ops `fn` runs on a counting backend. */
const opsOf = (backend: { readonly log: string[] }, fn: () => void): string[] => {
  const from = backend.log.length
  fn()
  return backend.log.slice(from)
}

describe.each(backends)('sequential input gradients on $name', (backend: Backend) => {
  const setUp = (layers: AnyLayer[], on: Backend) => {
    const model = sequential(layers)
    const { params, state, outputShape } = model.init(key(1), [6], on)
    const x = fromArray(values(2, 4 * 6), [4, 6], on)
    const dy = fromArray(values(3, 4 * outputShape[0]!), [4, outputShape[0]!], on)
    return { model, params, state, x, dy }
  }

  it.each(models)('%s: dx and dparams, read, are bit for bit those of the eager chain', async (_name, layers, training) => {
    const { model, params, state, x, dy } = setUp(layers(), backend)
    const options = { training, key: key(4) }
    const [lazy, eager] = scope(() => {
      const l = model.apply(params, state, x, options).backward(dy)
      const e = eagerChain(layers(), params, state, x, options).backward(dy)
      return [{ dx: l.dx, dparams: l.dparams }, e] as const
    })
    expect(bitsOf(await read(lazy.dx))).toEqual(bitsOf(await read(eager.dx)))
    expect(await bitsOfTree(lazy.dparams)).toEqual(await bitsOfTree(eager.dparams))
    expect(lazy.dx.shape).toEqual(x.shape)
    dispose([params, state, x, dy, lazy, eager])
  })

  it.each(models)('%s: backward runs the eager chain\'s ops but those of dx, which wait for the first read of dx', (_name, layers, training, deferred) => {
    const counting = countingBackend(backend)
    const { model, params, state, x, dy } = setUp(layers(), counting)
    const options = { training, key: key(4) }
    const live = counting.liveCount()
    scope(() => {
      const out = model.apply(params, state, x, options)
      // eagerChain's forward pass repeats apply's: its backward ops are what follows them
      const forwardOps = opsOf(counting, () => eagerChain(layers(), params, state, x, options))
      const eagerOps = opsOf(counting, () => eagerChain(layers(), params, state, x, options).backward(dy)).slice(forwardOps.length)
      let grads: ReturnType<typeof out.backward> | undefined
      const backwardOps = opsOf(counting, () => {
        grads = out.backward(dy)
        void grads.dparams
      })
      let dx: Tensor | undefined
      const readOps = opsOf(counting, () => {
        dx = grads!.dx
      })
      expect(readOps).toEqual(deferred)
      expect([...backwardOps, ...readOps].sort()).toEqual([...eagerOps].sort())
      // a second read reuses the first one's tensor
      expect(opsOf(counting, () => expect(grads!.dx).toBe(dx))).toEqual([])
      return []
    })
    expect(counting.liveCount()).toBe(live)
    dispose([params, state, x, dy])
  })
})

describe('the demo model skips its largest product', () => {
  it('784 → 256 → 128 → 10 with input dropout: no ∂x of the first dense layer and no input-dropout backward unless dx is read', () => {
    const counting = countingBackend(cpu)
    const layers = (): AnyLayer[] => [dropout(0.1), dense(256), batchNorm(), relu(), dropout(0.25), dense(128), batchNorm(), relu(), dropout(0.25), dense(10)]
    const model = sequential(layers())
    const { params, state } = model.init(key(0), [784], counting)
    const x = fromArray(values(5, 8 * 784), [8, 784], counting)
    const dy = fromArray(values(6, 8 * 10), [8, 10], counting)
    const options = { training: true, key: key(7) }
    const products = (ops: string[]) => ops.filter((o) => o.startsWith('matmul') || o === 'dropoutMul').sort()
    scope(() => {
      const out = model.apply(params, state, x, options)
      let grads: ReturnType<typeof out.backward> | undefined
      const trained = products(opsOf(counting, () => void (grads = out.backward(dy)).dparams))
      // ∂W of the three dense layers, ∂x of the last two, the masks of the two inner dropouts
      expect(trained).toEqual(['dropoutMul', 'dropoutMul', 'matmulᵀA', 'matmulᵀA', 'matmulᵀA', 'matmulᵀB', 'matmulᵀB'])
      // the eager chain adds the [8, 256]·[784, 256]ᵀ product and the input dropout's mask
      const eager = eagerChain(layers(), params, state, x, options)
      expect(products(opsOf(counting, () => eager.backward(dy)))).toEqual(products([...trained, 'matmulᵀB', 'dropoutMul']))
      expect(products(opsOf(counting, () => expect(grads!.dx.shape).toEqual([8, 784])))).toEqual(['dropoutMul', 'matmulᵀB'])
      return []
    })
    dispose([params, state, x, dy])
  })
})

describe('lazyInputGradient', () => {
  it('computes ∂x on the first read of dx only, once, and refuses a non-function before anything runs', () => {
    let runs = 0
    scope(() => {
      const grads = lazyInputGradient({ w: fromArray([1, 2]) }, () => {
        runs++
        return fromArray([3])
      })
      expect(runs).toBe(0)
      void grads.dparams
      expect(runs).toBe(0)
      const dx = grads.dx
      expect(grads.dx).toBe(dx)
      expect(runs).toBe(1)
      return []
    })
    expect(() => lazyInputGradient({}, fromArray([1]) as never)).toThrow(HyperparameterError)
  })
})

// ---- dropout masks ------------------------------------------------------------------------------

/** The mask as dropout made it before: Float32Array.from with a map callback. */
const oldMask = (k: Key, n: number, rate: number): Float32Array => Float32Array.from(uniformValues(k, n), (u) => (u >= rate ? 1 / (1 - rate) : 0))

/** The mask dropout applies: its output on ones (1·m = m exactly in float32). */
const maskOf = (k: Key, n: number, rate: number, backend: Backend) =>
  scope(() => {
    const ones = fromArray(new Array(n).fill(1), [1, n], backend)
    const out = dropout(rate).apply({}, {}, ones, { training: true, key: k })
    return { y: out.y, dx: out.backward(ones).dx }
  })

const keys: [string, Key][] = [
  ['key(0)', key(0)],
  ['key(1)', key(1)],
  ['key(2024)', key(2024)],
  ['foldIn(foldIn(key(1), 5), 3)', foldIn(foldIn(key(1), 5), 3)],
]

describe.each(backends)('dropout masks on $name', (backend: Backend) => {
  it.each(keys)('%s: for sizes 0, 1, 3, 5, 1000 and rates 0.1 … 0.9 or a sample itself, the output and ∂x on ones are the old mask, bit for bit', async (_name, k) => {
    // a rate equal to the sample u₃: that unit is kept (u ≥ rate, not u > rate)
    const tie = uniformValues(k, 4)[3]!
    for (const n of [0, 1, 3, 5, 1000]) {
      for (const rate of [0.1, 0.25, 0.3, 0.5, 0.9, tie]) {
        const expected = bitsOf(oldMask(k, n, rate))
        const { y, dx } = maskOf(k, n, rate, backend)
        expect(bitsOf(await read(y)), `n = ${n}, rate = ${rate}`).toEqual(expected)
        expect(bitsOf(await read(dx)), `n = ${n}, rate = ${rate}`).toEqual(expected)
        dispose([y, dx])
      }
    }
  })
})

describe('dropout masks, any key, size and rate', () => {
  it('equal the old mask bit for bit (cpu)', () =>
    fc.assert(
      fc.asyncProperty(fc.nat(), fc.integer({ min: 0, max: 300 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), async (seed, n, rate) => {
        const { y, dx } = maskOf(key(seed), n, rate, backends[0]!)
        const expected = bitsOf(oldMask(key(seed), n, rate))
        const ok = JSON.stringify(bitsOf(await read(y))) === JSON.stringify(expected) && JSON.stringify(bitsOf(await read(dx))) === JSON.stringify(expected)
        dispose([y, dx])
        return ok
      }),
      propertyParameters(50),
    ))
})
