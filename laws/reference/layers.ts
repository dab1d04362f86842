/**
 * Float64 references of the layers, written naively, element by element, from the formulas of the
 * seeds and papers they cite. Inputs are host tensors [batch, features]; the randomness of the
 * noise layers (uniforms for the dropout mask, normals for the noise) is passed in, drawn from the
 * same counter-based key the layer is given (`uniformValues(key, n)`, `normalValues(key, n)`).
 */
import { HostTensor } from '../host.js'

const rowsCols = (x: HostTensor): [number, number] => [x.shape[0]!, x.shape.slice(1).reduce((a, b) => a * b, 1)]
const map = (x: HostTensor, f: (v: number, i: number) => number) => new HostTensor(x.shape, Array.from(x.data, f))

/**
 * A fully connected layer: y_bj = Σ_i x_bi W_ij + b_j.
 *
 * Reference: seed 001_6e8604431cc2cba1.txt (fully connected layers, y = Wx + b); Keras `Dense`.
 *
 * @example
 * ```ts
 * const x = new HostTensor([1, 2], [1, 2])
 * reference.denseReference(x, new HostTensor([2, 1], [3, 4]), new HostTensor([1], [0.5])) // [[11.5]]
 * ```
 */
export const denseReference = (x: HostTensor, kernel: HostTensor, bias: HostTensor): HostTensor => {
  const [b, n] = rowsCols(x)
  const units = kernel.shape[1]!
  const y = new Float64Array(b * units)
  for (let r = 0; r < b; r++) {
    for (let j = 0; j < units; j++) {
      let s = bias.data[j]!
      for (let i = 0; i < n; i++) s += x.data[r * n + i]! * kernel.data[i * units + j]!
      y[r * units + j] = s
    }
  }
  return new HostTensor([b, units], y)
}

/**
 * The vector-Jacobian product of y = xW + b: ∂x = ∂y Wᵀ, ∂W = xᵀ ∂y, ∂b = Σ_batch ∂y.
 *
 * Reference: seed 001_6e8604431cc2cba1.txt (backpropagation through a fully connected layer).
 *
 * @example
 * ```ts
 * const g = reference.denseBackwardReference(new HostTensor([1, 1], [2]), new HostTensor([1, 1], [3]), new HostTensor([1, 1], [1]))
 * // g.dx = [[3]], g.kernel = [[2]], g.bias = [1]
 * ```
 */
export const denseBackwardReference = (x: HostTensor, kernel: HostTensor, dy: HostTensor): { dx: HostTensor; kernel: HostTensor; bias: HostTensor } => {
  const [b, n] = rowsCols(x)
  const units = kernel.shape[1]!
  const dx = new Float64Array(b * n)
  const dw = new Float64Array(n * units)
  const db = new Float64Array(units)
  for (let r = 0; r < b; r++) {
    for (let j = 0; j < units; j++) {
      const g = dy.data[r * units + j]!
      db[j]! += g
      for (let i = 0; i < n; i++) {
        dx[r * n + i]! += g * kernel.data[i * units + j]!
        dw[i * units + j]! += x.data[r * n + i]! * g
      }
    }
  }
  return { dx: new HostTensor(x.shape, dx), kernel: new HostTensor(kernel.shape, dw), bias: new HostTensor([units], db) }
}

/** The activations `activationReferences` knows, by the name of their fluxion layer. */
export type ActivationName = 'sigmoid' | 'tanh' | 'relu' | 'leakyRelu' | 'elu' | 'softplus'

/**
 * Each activation f and its derivative f', naive float64 (α for leakyRelu and elu):
 * σ(x) = 1/(1 + e^(−x)), σ' = σ(1 − σ); tanh, 1 − tanh²; relu max(0, x), 1 for x > 0 else 0;
 * leakyRelu x or αx, 1 or α; elu x or α(eˣ − 1), 1 or αeˣ; softplus log(1 + eˣ), σ(x). At a kink
 * (x = 0) the derivative is the left one, as the layers document ("otherwise" includes 0).
 *
 * Reference: seed 004_fdd4da4bfe9ce189.txt ("Once again: nonlinearities"); seed 003_3f666a11de5b95b1.txt
 * (ReLU); Clevert et al. 2016 (ELU); Maas et al. 2013 (leaky ReLU).
 *
 * @example
 * ```ts
 * reference.activationReferences.relu.f(-2, 0) // 0
 * reference.activationReferences.elu.df(-1, 1)  // e^(−1)
 * ```
 */
export const activationReferences: Readonly<Record<ActivationName, { readonly f: (x: number, alpha: number) => number; readonly df: (x: number, alpha: number) => number }>> = Object.freeze({
  sigmoid: { f: (x) => 1 / (1 + Math.exp(-x)), df: (x) => (1 / (1 + Math.exp(-x))) * (1 - 1 / (1 + Math.exp(-x))) },
  tanh: { f: (x) => Math.tanh(x), df: (x) => 1 - Math.tanh(x) ** 2 },
  relu: { f: (x) => (x > 0 ? x : 0), df: (x) => (x > 0 ? 1 : 0) },
  leakyRelu: { f: (x, a) => (x > 0 ? x : a * x), df: (x, a) => (x > 0 ? 1 : a) },
  elu: { f: (x, a) => (x > 0 ? x : a * (Math.exp(x) - 1)), df: (x, a) => (x > 0 ? 1 : a * Math.exp(x)) },
  softplus: { f: (x) => Math.log(1 + Math.exp(x)), df: (x) => 1 / (1 + Math.exp(-x)) },
})

/**
 * Inverted dropout: unit i is kept when its uniform uᵢ ≥ rate (probability 1 − rate) and then
 * scaled by 1/(1 − rate), else 0: yᵢ = xᵢ·[uᵢ ≥ rate]/(1 − rate); ∂x = ∂y with the same mask.
 * `uniforms` are the layer's `uniformValues(key, n)`.
 *
 * Reference: seed 000_33f4fbf331723dec.txt, "Dropout (2)" (h̃ = h with probability p, else 0; here
 * p = 1 − rate and the test-time scaling moved into training, Keras' `Dropout`); Srivastava et al. 2014.
 *
 * @example
 * ```ts
 * reference.dropoutReference(new HostTensor([1, 2], [1, 2]), [0.9, 0.1], 0.5) // [[2, 0]]
 * ```
 */
export const dropoutReference = (x: HostTensor, uniforms: ArrayLike<number>, rate: number): HostTensor =>
  map(x, (v, i) => (uniforms[i]! >= rate ? v / (1 - rate) : 0))

/**
 * Additive noise on the hidden units: y = x + σz, z the layer's `normalValues(key, n)`; ∂x = ∂y.
 *
 * Reference: seed 000_33f4fbf331723dec.txt, "Noise Injection" (to the hidden units, Keras `GaussianNoise`).
 *
 * @example
 * ```ts
 * reference.gaussianNoiseReference(new HostTensor([1, 2], [1, 2]), [1, -1], 0.5) // [[1.5, 1.5]]
 * ```
 */
export const gaussianNoiseReference = (x: HostTensor, normals: ArrayLike<number>, stddev: number): HostTensor => map(x, (v, i) => v + stddev * normals[i]!)

/**
 * Noise on the weights: W̃ = W + σz (z the layer's `normalValues(key, |W|)`), y = xW̃ + b; the
 * backward pass is dense's with W̃ (∂x = ∂y W̃ᵀ, ∂W = xᵀ∂y, ∂b = Σ ∂y). Returns W̃ too.
 *
 * Reference: seed 000_33f4fbf331723dec.txt, "Noise Injection" (to the weights, Keras `NoisyDense`); Graves 2011.
 *
 * @example
 * ```ts
 * const { y } = reference.noisyDenseReference(new HostTensor([1, 1], [2]), new HostTensor([1, 1], [1]), new HostTensor([1], [0]), [1], 0.5)
 * // y = [[3]]: 2 · (1 + 0.5 · 1)
 * ```
 */
export const noisyDenseReference = (x: HostTensor, kernel: HostTensor, bias: HostTensor, normals: ArrayLike<number>, stddev: number): { y: HostTensor; noisyKernel: HostTensor } => {
  const noisyKernel = map(kernel, (w, i) => w + stddev * normals[i]!)
  return { y: denseReference(x, noisyKernel, bias), noisyKernel }
}

/** Per-feature statistics of batch norm (the batch's, or the running ones). */
export interface BatchStatistics {
  readonly mean: HostTensor
  readonly variance: HostTensor
}

/**
 * Batch norm in training, per feature j over the m rows of the batch:
 * μ_B = (1/m) Σᵢ xᵢ, σ²_B = (1/m) Σᵢ (xᵢ − μ_B)², x̂ᵢ = (xᵢ − μ_B)/√(σ²_B + ε), yᵢ = γx̂ᵢ + β.
 * Returns y, x̂ and the batch statistics.
 *
 * Reference: seed 001_6e8604431cc2cba1.txt, "Batch normalization – The algorithm"; Ioffe & Szegedy
 * 2015, Algorithm 1.
 *
 * @example
 * ```ts
 * const bn = reference.batchNormTrainingReference(new HostTensor([2, 1], [1, 3]), new HostTensor([1], [1]), new HostTensor([1], [0]), 0)
 * // μ = 2, σ² = 1, y = [[−1], [1]]
 * ```
 */
export const batchNormTrainingReference = (x: HostTensor, gamma: HostTensor, beta: HostTensor, eps: number): { y: HostTensor; xhat: HostTensor; batch: BatchStatistics } => {
  const [m, f] = rowsCols(x)
  const mu = new Float64Array(f)
  const variance = new Float64Array(f)
  for (let j = 0; j < f; j++) {
    for (let i = 0; i < m; i++) mu[j]! += x.data[i * f + j]! / m
    for (let i = 0; i < m; i++) variance[j]! += (x.data[i * f + j]! - mu[j]!) ** 2 / m
  }
  const xhat = map(x, (v, k) => (v - mu[k % f]!) / Math.sqrt(variance[k % f]! + eps))
  const y = map(xhat, (v, k) => gamma.data[k % f]! * v + beta.data[k % f]!)
  return { y, xhat, batch: { mean: new HostTensor([f], mu), variance: new HostTensor([f], variance) } }
}

/**
 * The running statistics after one training step: r ← m·r + (1 − m)·b for the mean and the
 * variance, m the momentum, b the batch statistic (biased variance, as Keras').
 *
 * Reference: seed 001_6e8604431cc2cba1.txt, "From training to test time" (a moving average of the
 * mean and variance); seed 000_33f4fbf331723dec.txt, "Batch Normalization (5)"; Keras
 * `BatchNormalization` (moving_mean = moving_mean·momentum + mean·(1 − momentum)).
 *
 * @example
 * ```ts
 * const one = (v: number) => new HostTensor([1], [v])
 * reference.batchNormRunningReference({ mean: one(0), variance: one(1) }, { mean: one(2), variance: one(3) }, 0.9)
 * // mean 0.2, variance 1.2
 * ```
 */
export const batchNormRunningReference = (running: BatchStatistics, batch: BatchStatistics, momentum: number): BatchStatistics => ({
  mean: map(running.mean, (r, j) => momentum * r + (1 - momentum) * batch.mean.data[j]!),
  variance: map(running.variance, (r, j) => momentum * r + (1 - momentum) * batch.variance.data[j]!),
})

/**
 * Batch norm at evaluation: the running statistics take the batch's place,
 * y = γ(x − μ_r)/√(σ²_r + ε) + β.
 *
 * Reference: seed 000_33f4fbf331723dec.txt, "Batch Normalization (5)" (at inference time,
 * normalization uses the moving averages); Ioffe & Szegedy 2015, Algorithm 2.
 *
 * @example
 * ```ts
 * const one = (v: number) => new HostTensor([1], [v])
 * reference.batchNormEvaluationReference(new HostTensor([1, 1], [3]), one(2), one(0), { mean: one(1), variance: one(4) }, 0) // [[2]]
 * ```
 */
export const batchNormEvaluationReference = (x: HostTensor, gamma: HostTensor, beta: HostTensor, running: BatchStatistics, eps: number): HostTensor => {
  const f = rowsCols(x)[1]
  return map(x, (v, k) => (gamma.data[k % f]! * (v - running.mean.data[k % f]!)) / Math.sqrt(running.variance.data[k % f]! + eps) + beta.data[k % f]!)
}

/**
 * The backward pass of batch norm in training, by the chain rule through μ_B and σ²_B as the paper
 * writes it (per feature, over the m rows):
 * ∂x̂ = ∂y·γ;  ∂σ² = Σ ∂x̂(x − μ)·(−½)(σ² + ε)^(−3/2);  ∂μ = −Σ ∂x̂/√(σ² + ε) + ∂σ²·Σ −2(x − μ)/m;
 * ∂x = ∂x̂/√(σ² + ε) + ∂σ²·2(x − μ)/m + ∂μ/m;  ∂γ = Σ ∂y·x̂;  ∂β = Σ ∂y.
 *
 * Reference: Ioffe & Szegedy 2015, §3 (the gradients of the BN transform).
 *
 * @example
 * ```ts
 * const one = (v: number) => new HostTensor([1], [v])
 * const g = reference.batchNormBackwardReference(new HostTensor([2, 1], [1, 3]), one(1), 1e-3, new HostTensor([2, 1], [1, 1]))
 * // a constant ∂y moves nothing: g.dx ≈ [[0], [0]], g.beta = [2]
 * ```
 */
export const batchNormBackwardReference = (x: HostTensor, gamma: HostTensor, eps: number, dy: HostTensor): { dx: HostTensor; gamma: HostTensor; beta: HostTensor } => {
  const [m, f] = rowsCols(x)
  const dx = new Float64Array(m * f)
  const dgamma = new Float64Array(f)
  const dbeta = new Float64Array(f)
  for (let j = 0; j < f; j++) {
    const col = (i: number) => x.data[i * f + j]!
    const g = (i: number) => dy.data[i * f + j]!
    let mu = 0
    for (let i = 0; i < m; i++) mu += col(i) / m
    let v = 0
    for (let i = 0; i < m; i++) v += (col(i) - mu) ** 2 / m
    const dxhat = (i: number) => g(i) * gamma.data[j]!
    let dvar = 0
    for (let i = 0; i < m; i++) dvar += dxhat(i) * (col(i) - mu) * -0.5 * (v + eps) ** -1.5
    let dmu = 0
    let centred = 0
    for (let i = 0; i < m; i++) {
      dmu += -dxhat(i) / Math.sqrt(v + eps)
      centred += -2 * (col(i) - mu)
    }
    dmu += (dvar * centred) / m
    for (let i = 0; i < m; i++) {
      dx[i * f + j] = dxhat(i) / Math.sqrt(v + eps) + (dvar * 2 * (col(i) - mu)) / m + dmu / m
      dgamma[j]! += g(i) * ((col(i) - mu) / Math.sqrt(v + eps))
      dbeta[j]! += g(i)
    }
  }
  return { dx: new HostTensor(x.shape, dx), gamma: new HostTensor([f], dgamma), beta: new HostTensor([f], dbeta) }
}

/**
 * The backward pass of batch norm at evaluation, where μ_r and σ²_r are constants:
 * ∂x = ∂y·γ/√(σ²_r + ε), ∂γ = Σ ∂y·(x − μ_r)/√(σ²_r + ε), ∂β = Σ ∂y.
 *
 * Reference: Ioffe & Szegedy 2015, Algorithm 2 (inference BN is an affine map).
 *
 * @example
 * ```ts
 * const one = (v: number) => new HostTensor([1], [v])
 * reference.batchNormEvaluationBackwardReference(new HostTensor([1, 1], [3]), one(2), { mean: one(1), variance: one(4) }, 0, new HostTensor([1, 1], [1]))
 * // dx = [[1]], gamma = [1], beta = [1]
 * ```
 */
export const batchNormEvaluationBackwardReference = (x: HostTensor, gamma: HostTensor, running: BatchStatistics, eps: number, dy: HostTensor): { dx: HostTensor; gamma: HostTensor; beta: HostTensor } => {
  const [m, f] = rowsCols(x)
  const inv = (j: number) => 1 / Math.sqrt(running.variance.data[j]! + eps)
  const dgamma = new Float64Array(f)
  const dbeta = new Float64Array(f)
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < f; j++) {
      dgamma[j]! += dy.data[i * f + j]! * (x.data[i * f + j]! - running.mean.data[j]!) * inv(j)
      dbeta[j]! += dy.data[i * f + j]!
    }
  }
  return { dx: map(dy, (g, k) => g * gamma.data[k % f]! * inv(k % f)), gamma: new HostTensor([f], dgamma), beta: new HostTensor([f], dbeta) }
}
