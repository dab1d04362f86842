// Golden trajectories from TensorFlow.js (@tensorflow/tfjs-core with its cpu backend, float32):
// writes test/fixtures/goldens/tfjs.json (or $GOLDENS_OUT/tfjs.json).
//
// Each case of cases.json in the 'tfjs' convention is run with the tf.train optimizer fluxion's
// convention reproduces, given only the options the case sets (so the defaults are TF.js' own), on
// every problem of problems.json but 'schedule': tf.train optimizers take a constant learning rate.
// Same encoding and layout as the Python generators (scripts/goldens/common.py).
import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'

const here = dirname(fileURLToPath(import.meta.url))
const fixtures = join(here, '..', '..', 'test', 'fixtures', 'goldens')
const { steps, problems } = JSON.parse(readFileSync(join(fixtures, 'problems.json'), 'utf8'))
const { cases } = JSON.parse(readFileSync(join(here, 'cases.json'), 'utf8'))

const unhex = (text) => {
  const words = text === '' ? [] : text.split(' ')
  const view = new DataView(new ArrayBuffer(4 * words.length))
  words.forEach((w, i) => view.setUint32(4 * i, parseInt(w, 16)))
  return Float32Array.from({ length: words.length }, (_, i) => view.getFloat32(4 * i))
}
const hex = (values) => {
  const view = new DataView(new ArrayBuffer(4 * values.length))
  values.forEach((v, i) => view.setFloat32(4 * i, v))
  return Array.from({ length: values.length }, (_, i) => view.getUint32(4 * i).toString(16).padStart(8, '0')).join(' ')
}

const TAKES_CONVENTION = new Set(['sgd', 'adagrad', 'rmsprop', 'adadelta', 'adam', 'adamw', 'nadam', 'amsgrad', 'adamax', 'radam', 'lion'])

/** The tf.train call for a case: [factory, the call written out]. */
const tfjsOptimizer = (optimizer, lr, o) => {
  const args = (...xs) => xs.map((x) => (x === undefined ? 'undefined' : JSON.stringify(x))).join(', ')
  switch (optimizer) {
    case 'sgd':
      return (o.momentum ?? 0) === 0 && !o.nesterov
        ? [() => tf.train.sgd(lr), `tf.train.sgd(${args(lr)})`]
        : [() => tf.train.momentum(lr, o.momentum ?? 0, o.nesterov ?? false), `tf.train.momentum(${args(lr, o.momentum ?? 0, o.nesterov ?? false)})`]
    case 'adagrad':
      return [() => tf.train.adagrad(lr, o.initialAccumulatorValue), `tf.train.adagrad(${args(lr, o.initialAccumulatorValue)})`]
    case 'rmsprop':
      return [() => tf.train.rmsprop(lr, o.decay, o.momentum, o.eps, o.centered), `tf.train.rmsprop(${args(lr, o.decay, o.momentum, o.eps, o.centered)})`]
    case 'adadelta':
      return [() => tf.train.adadelta(lr, o.rho, o.eps), `tf.train.adadelta(${args(lr, o.rho, o.eps)})`]
    case 'adam':
      return [() => tf.train.adam(lr, o.b1, o.b2, o.eps), `tf.train.adam(${args(lr, o.b1, o.b2, o.eps)})`]
    case 'adamax':
      return [() => tf.train.adamax(lr, o.b1, o.b2, o.eps), `tf.train.adamax(${args(lr, o.b1, o.b2, o.eps)})`]
    default:
      throw new Error(`no TensorFlow.js optimizer for ${optimizer}`)
  }
}

const gradientsAt = (problem, values, k) => {
  if (problem.grads) return problem.grads[k].map(unhex)
  const h = unhex(problem.quadratic.h)
  const c = unhex(problem.quadratic.c)
  return [values[0].map((x, i) => Math.fround(h[i] * Math.fround(x - c[i])))]
}

const run = (c, name, problem) => {
  const [make, call] = tfjsOptimizer(c.optimizer, c.learningRate, c.options)
  const vars = problem.leaves.map((l) => tf.variable(tf.tensor(unhex(l.init), l.shape, 'float32'), true, `${name}_${l.name}`))
  const opt = make()
  const out = []
  for (let k = 0; k < steps; k++) {
    const values = vars.map((v) => v.dataSync().slice())
    const grads = gradientsAt(problem, values, k).map((g, j) => tf.tensor(g, problem.leaves[j].shape, 'float32'))
    opt.applyGradients(vars.map((v, j) => ({ name: v.name, tensor: grads[j] })))
    tf.dispose(grads)
    const after = vars.map((v) => v.dataSync().slice())
    for (const a of after) if (!a.every(Number.isFinite)) throw new Error(`${c.optimizer}/${c.config}/${name}: non-finite parameters`)
    out.push(after.map(hex))
  }
  opt.dispose()
  tf.dispose(vars)
  return { call, params: out }
}

await tf.setBackend('cpu')
const rows = []
for (const c of cases) {
  if (!c.conventions.includes('tfjs')) continue
  const options = { ...c.options, ...(TAKES_CONVENTION.has(c.optimizer) ? { convention: 'tfjs' } : {}) }
  for (const [name, problem] of Object.entries(problems)) {
    if (name === 'schedule' || (c.skip ?? {})[`tfjs/${name}`] !== undefined || (c.problems !== undefined && !c.problems.includes(name))) continue
    const { call, params } = run(c, name, problem)
    rows.push({ id: [c.optimizer, 'tfjs', c.config, name].join('/'), optimizer: c.optimizer, convention: 'tfjs', config: c.config, problem: name, learningRate: c.learningRate, options, call, params })
  }
}
const head = { framework: 'tfjs', versions: { '@tensorflow/tfjs-core': tf.version_core, '@tensorflow/tfjs-backend-cpu': createRequire(import.meta.url)('@tensorflow/tfjs-backend-cpu/package.json').version }, generator: 'scripts/goldens/tfjs_goldens' }
const text = `{\n${Object.entries(head).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)},`).join('\n')}\n  "trajectories": [\n    ${rows.map((r) => JSON.stringify(r)).join(',\n    ')}\n  ]\n}\n`
const path = join(process.env.GOLDENS_OUT ?? fixtures, 'tfjs.json')
writeFileSync(path, text)
console.log(`${path}: ${rows.length} trajectories`)
