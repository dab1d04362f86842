/**
 * Regularizing noise layers: inverted `dropout` and `gaussianNoise`, active only while training.
 *
 * References: seed 000_33f4fbf331723dec.txt ("Dropout", "Noise injection"); seed
 * 002_22903fbb3df79e4c.txt ("dropout at test time"); Srivastava et al. 2014.
 */
import { ranges, validate } from '../core/validate.js'
import { HyperparameterError } from '../errors.js'
import { elementwise, scope } from '../tensor/ops.js'
import { type Key, normalValues, uniformValues } from '../tensor/random.js'
import { type Tensor, defineElementwise } from '../tensor/tensor.js'
import type { Layer } from './layer.js'

type Empty = Readonly<Record<string, never>>
const empty: Empty = Object.freeze({})

const needKey = (name: string, key: Key | undefined): Key => {
  if (!key) throw new HyperparameterError(name, 'key', key, 'a key in the apply options while training')
  return key
}

/**
 * The inverted-dropout mask of `n` units: 1/(1 − rate) where the key's uniform sample u_i ≥ rate,
 * else 0, in one pass (a map callback per element cost an eighth of a training epoch).
 */
const dropoutMask = (k: Key, n: number, rate: number): Float32Array => {
  const u = uniformValues(k, n)
  const kept = 1 / (1 - rate)
  const mask = new Float32Array(n)
  for (let i = 0; i < n; i++) mask[i] = u[i]! >= rate ? kept : 0
  return mask
}

const mulOp = defineElementwise({ name: 'dropoutMul', inputs: ['x', 'm'], outputs: ['x * m'] })
const addNoiseOp = defineElementwise({ name: 'gaussianNoise', inputs: ['x', 'z'], scalars: ['sd'], outputs: ['x + sd * z'] })

/**
 * Inverted dropout: while training, each unit is kept with probability 1 − rate and scaled by
 * 1/(1 − rate), so E[y] = x; at evaluation it is the identity. The mask comes from the apply key
 * (the same on every backend); the backward pass multiplies by the same mask.
 *
 * Reference: seed 000_33f4fbf331723dec.txt, "Dropout"; Srivastava et al. 2014.
 *
 * @example
 * ```ts
 * sequential([dense(256), relu(), dropout(0.3), dense(10)])
 * ```
 */
export const dropout = (rate: number): Layer<Empty, Empty> => {
  validate('dropout', { rate: ranges.unitInterval }, { rate })
  const name = `dropout(${rate})`
  const layer: Layer<Empty, Empty> = {
    name,
    init: (_key, inputShape) => ({ params: empty, state: empty, outputShape: inputShape }),
    apply: (params, state, x, { training, key }) => {
      if (!training || rate === 0) return { y: x, state, backward: (dy) => ({ dx: dy, dparams: params }) }
      const k = needKey(name, key)
      const mask: Tensor = x.backend.fromData(dropoutMask(k, x.size, rate), x.shape)
      const y = elementwise(mulOp, [x, mask], [], name)[0]!
      return { y, state, backward: (dy) => ({ dx: elementwise(mulOp, [dy, mask], [], name)[0]!, dparams: params }) }
    },
  }
  return Object.freeze(layer)
}

/**
 * Additive Gaussian noise while training: y = x + σz, z ~ N(0, I) from the apply key; the identity
 * at evaluation. ∂x = ∂y.
 *
 * Reference: seed 000_33f4fbf331723dec.txt, "Noise injection".
 *
 * @example
 * ```ts
 * sequential([gaussianNoise(0.1), dense(64)])
 * ```
 */
export const gaussianNoise = (stddev: number): Layer<Empty, Empty> => {
  validate('gaussianNoise', { stddev: ranges.nonNegative }, { stddev })
  const name = `gaussianNoise(${stddev})`
  const layer: Layer<Empty, Empty> = {
    name,
    init: (_key, inputShape) => ({ params: empty, state: empty, outputShape: inputShape }),
    apply: (params, state, x, { training, key }) => {
      if (!training || stddev === 0) return { y: x, state, backward: (dy) => ({ dx: dy, dparams: params }) }
      const k = needKey(name, key)
      const y = scope(() => elementwise(addNoiseOp, [x, x.backend.fromData(new Float32Array(normalValues(k, x.size)), x.shape)], [stddev], name)[0]!)
      return { y, state, backward: (dy) => ({ dx: dy, dparams: params }) }
    },
  }
  return Object.freeze(layer)
}
