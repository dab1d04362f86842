// Run by test/consumer.test.ts in a fresh project where the packed tarball and TensorFlow.js
// (tfjs-core, -backend-cpu, -layers) are installed: fluxion/tfjs as a plain .mjs imports it.
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import * as tfl from '@tensorflow/tfjs-layers'
import { adamw, chain, clipByGlobalNorm } from 'fluxion'
import { FluxionOptimizer, maskByName, tfjsOptimizer } from 'fluxion/tfjs'

await tf.setBackend('cpu')
const x = tf.randomUniform([32, 2], -1, 1, 'float32', 1)
const y = tf.sum(x, 1, true)
const model = () =>
  tfl.sequential({ layers: [tfl.layers.dense({ name: 'hidden', units: 4, inputShape: [2], activation: 'tanh', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }), tfl.layers.dense({ name: 'out', units: 1, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) })] })
const optimizer = () => tfjsOptimizer(chain(clipByGlobalNorm(1), adamw({ learningRate: 0.02, weightDecay: 1e-3, mask: maskByName((n) => !n.endsWith('/bias')) })), { name: 'consumer' })
const fit = async (m, epochs) => (await m.fit(x, y, { epochs, batchSize: 8, shuffle: false, verbose: 0 })).history.loss
const values = (m) => m.getWeights().map((w) => Array.from(w.dataSync()))

const straight = model()
straight.compile({ optimizer: optimizer(), loss: 'meanSquaredError' })
const losses = [...(await fit(straight, 10)), ...(await fit(straight, 10))]

const first = model()
first.compile({ optimizer: optimizer(), loss: 'meanSquaredError' })
await fit(first, 10)
let artifacts
await first.save(tf.io.withSaveHandler(async (a) => ((artifacts = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })), { includeOptimizer: true })
const resumed = await tfl.loadLayersModel(tf.io.fromMemory(artifacts))
await fit(resumed, 10)

console.log(JSON.stringify({
  firstLoss: losses[0],
  lastLoss: losses[losses.length - 1],
  restored: resumed.optimizer instanceof FluxionOptimizer,
  resumedExact: JSON.stringify(values(resumed)) === JSON.stringify(values(straight)),
}))
