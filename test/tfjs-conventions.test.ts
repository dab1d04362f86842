/**
 * The 'tfjs' convention against TensorFlow.js itself: @tensorflow/tfjs-core's optimizers (cpu
 * backend) and fluxion run on the same gradient sequences from the same start, with default
 * hyperparameters left to each side's own defaults (so the defaults are compared too).
 */
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import fc from 'fast-check'
import { beforeAll, describe, it } from 'vitest'
import { type Optimizer, adadelta, adagrad, adam, adamax, rmsprop, sgd } from '../src/index.js'
import { allClose } from '../laws/allclose.js'
import { HostTensor } from '../laws/host.js'
import { runTransform } from '../laws/run.js'
import { assertLaw } from '../laws/runners.js'
import { float32Arb } from '../laws/arbitraries.js'
import { backends } from './backends.js'

beforeAll(async () => {
  await tf.setBackend('cpu')
})

const tfjsRun = (make: () => tf.Optimizer, theta0: number[], grads: number[][]): Float32Array => {
  const v = tf.variable(tf.tensor1d(theta0))
  const opt = make()
  for (const g of grads) {
    const gt = tf.tensor1d(g)
    opt.applyGradients([{ name: v.name, tensor: gt }])
    gt.dispose()
  }
  const out = v.dataSync() as Float32Array
  const copy = Float32Array.from(out)
  opt.dispose()
  v.dispose()
  return copy
}

interface Case {
  readonly name: string
  readonly hyper: fc.Arbitrary<{ lr: number; a: number; b: number; flag: boolean }>
  readonly fluxion: (h: { lr: number; a: number; b: number; flag: boolean }) => Optimizer
  readonly tfjs: (h: { lr: number; a: number; b: number; flag: boolean }) => tf.Optimizer
}

const unit = fc.double({ min: 0.05, max: 0.95, noNaN: true }).map(Math.fround)
const hyper = fc.record({ lr: fc.double({ min: 1e-3, max: 0.2, noNaN: true }).map(Math.fround), a: unit, b: unit, flag: fc.boolean() })

const cases: Case[] = [
  {
    name: 'train.momentum = sgd({ convention: "tfjs" })',
    hyper,
    fluxion: (h) => sgd({ learningRate: h.lr, momentum: h.a, nesterov: h.flag, convention: 'tfjs' }),
    tfjs: (h) => tf.train.momentum(h.lr, h.a, h.flag),
  },
  {
    name: 'train.sgd = sgd({ convention: "tfjs" })',
    hyper,
    fluxion: (h) => sgd({ learningRate: h.lr, convention: 'tfjs' }),
    tfjs: (h) => tf.train.sgd(h.lr),
  },
  {
    name: 'train.adagrad = adagrad({ convention: "tfjs" })',
    hyper,
    fluxion: (h) => adagrad({ learningRate: h.lr, convention: 'tfjs' }),
    tfjs: (h) => tf.train.adagrad(h.lr),
  },
  {
    name: 'train.rmsprop = rmsprop({ convention: "tfjs" }) (plain and centered, with momentum)',
    hyper,
    fluxion: (h) => rmsprop({ learningRate: h.lr, decay: h.a, momentum: h.b, centered: h.flag, convention: 'tfjs' }),
    tfjs: (h) => tf.train.rmsprop(h.lr, h.a, h.b, undefined, h.flag),
  },
  {
    name: 'train.adadelta = adadelta({ convention: "tfjs" }) (old accumulator)',
    hyper,
    fluxion: (h) => adadelta({ learningRate: h.lr, convention: 'tfjs' }),
    tfjs: (h) => tf.train.adadelta(h.lr),
  },
  {
    name: 'train.adam = adam({ convention: "tfjs" })',
    hyper,
    fluxion: (h) => adam({ learningRate: h.lr, b1: h.a, b2: Math.fround(0.9 + h.b / 10), convention: 'tfjs' }),
    tfjs: (h) => tf.train.adam(h.lr, h.a, Math.fround(0.9 + h.b / 10)),
  },
  {
    name: 'train.adamax = adamax({ convention: "tfjs" })',
    hyper,
    fluxion: (h) => adamax({ learningRate: h.lr, b1: h.a, b2: Math.fround(0.9 + h.b / 10), convention: 'tfjs' }),
    tfjs: (h) => tf.train.adamax(h.lr, h.a, Math.fround(0.9 + h.b / 10)),
  },
]

const sequence = fc.integer({ min: 1, max: 8 }).chain((n) =>
  fc.record({
    theta: fc.array(float32Arb({ min: -3, max: 3 }), { minLength: n, maxLength: n }),
    grads: fc.array(fc.array(float32Arb({ min: -3, max: 3 }), { minLength: n, maxLength: n }), { minLength: 1, maxLength: 6 }),
  }),
)

describe.each(backends)('the tfjs convention reproduces TensorFlow.js on $name', (backend) => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_n, c) =>
    assertLaw(
      fc.tuple(sequence, c.hyper),
      async ([s, h]) => {
        // centered RMSProp in TF.js takes √(ν − μ² − ε): skip inputs where that is NaN on either side
        const expected = tfjsRun(() => c.tfjs(h), s.theta, s.grads)
        fc.pre(expected.every(Number.isFinite))
        const n = s.theta.length
        const run = await runTransform(c.fluxion(h), { w: new HostTensor([n], s.theta) }, s.grads.map((g) => ({ w: new HostTensor([n], g) })), backend)
        const actual = (run.params[run.params.length - 1] as { w: HostTensor }).w
        return allClose(actual, expected, { rtol: 2e-4, atol: 1e-5 })
      },
      15, backend.name,
    ),
  )
})
