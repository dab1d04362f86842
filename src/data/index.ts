/**
 * Data utilities on the host: a row-major `HostMatrix`, standardization and centering fitted on the
 * training set only and applied to the others, keyed shuffling, and full-batch / stochastic /
 * mini-batch index streams reshuffled every epoch.
 *
 * References: seed 001_6e8604431cc2cba1.txt ("input normalization"; "shuffling"; "SGD vs batch
 * GD"); seed 002_22903fbb3df79e4c.txt ("batch, stochastic and mini-batch gradient descent");
 * seed 003_3f666a11de5b95b1.txt ("input normalization").
 */
import { ranges, validate } from '../core/validate.js'
import { HyperparameterError, ShapeError } from '../errors.js'
import { checkLabels } from '../losses/index.js'
import { cpu } from '../tensor/cpu.js'
import { type Key, foldIn, uniformValues } from '../tensor/random.js'
import type { Backend, Tensor } from '../tensor/tensor.js'

/** A row-major float32 matrix on the host: `rows` examples of `cols` features. */
export interface HostMatrix {
  readonly data: Float32Array
  readonly rows: number
  readonly cols: number
}

/** A HostMatrix from data, checking that it fills rows × cols. */
export const hostMatrix = (data: ArrayLike<number>, rows: number, cols: number): HostMatrix => {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 0 || cols < 0 || data.length !== rows * cols) {
    throw new ShapeError('', `${data.length} values do not fill a ${rows} × ${cols} matrix`)
  }
  // always a copy: a matrix must not change when the caller later writes to their array
  return Object.freeze({ data: Float32Array.from(data), rows, cols })
}

/** The rows at `indices`, in that order. */
export const takeRows = (m: HostMatrix, indices: ArrayLike<number>): HostMatrix => {
  const out = new Float32Array(indices.length * m.cols)
  for (let i = 0; i < indices.length; i++) {
    const r = indices[i]!
    if (!Number.isInteger(r) || r < 0 || r >= m.rows) throw new ShapeError('', `row ${r} out of range [0, ${m.rows})`)
    out.set(m.data.subarray(r * m.cols, (r + 1) * m.cols), i * m.cols)
  }
  return Object.freeze({ data: out, rows: indices.length, cols: m.cols })
}

/** Uploads a matrix as a [rows, cols] tensor. */
export const toTensor = (m: HostMatrix, backend: Backend = cpu): Tensor => backend.fromData(m.data, [m.rows, m.cols])

/**
 * One-hot rows for integer labels: [n, classes].
 *
 * @example
 * ```ts
 * oneHot([2, 0], 3) // [[0, 0, 1], [1, 0, 0]]
 * ```
 */
export const oneHot = (labels: ArrayLike<number>, classes: number, backend: Backend = cpu): Tensor => {
  checkLabels(labels, classes)
  const out = new Float32Array(labels.length * classes)
  for (let i = 0; i < labels.length; i++) out[i * classes + labels[i]!] = 1
  return backend.fromData(out, [labels.length, classes])
}

/** A fitted feature-wise transform. */
export interface Standardizer {
  readonly mean: Float64Array
  readonly std: Float64Array
  /** (x − mean)/std per feature (features with std 0 are only centered). */
  readonly transform: (m: HostMatrix) => HostMatrix
}

const columnStats = (m: HostMatrix): { mean: Float64Array; std: Float64Array } => {
  if (m.rows === 0) throw new ShapeError('', 'cannot fit on an empty matrix')
  const mean = new Float64Array(m.cols)
  const sq = new Float64Array(m.cols)
  for (let r = 0; r < m.rows; r++) for (let c = 0; c < m.cols; c++) mean[c]! += m.data[r * m.cols + c]!
  mean.forEach((s, c) => (mean[c] = s / m.rows))
  for (let r = 0; r < m.rows; r++) for (let c = 0; c < m.cols; c++) sq[c]! += (m.data[r * m.cols + c]! - mean[c]!) ** 2
  return { mean, std: sq.map((s) => Math.sqrt(s / m.rows)) }
}

const affine = (mean: Float64Array, scale: Float64Array) => (m: HostMatrix): HostMatrix => {
  if (m.cols !== mean.length) throw new ShapeError('', `fitted on ${mean.length} features, got ${m.cols}`)
  const out = new Float32Array(m.data.length)
  for (let i = 0; i < out.length; i++) out[i] = (m.data[i]! - mean[i % m.cols]!) * scale[i % m.cols]!
  return Object.freeze({ data: out, rows: m.rows, cols: m.cols })
}

/**
 * Standardization fitted on the training set only: per feature, mean μ and (population) standard
 * deviation σ; `transform` maps x ↦ (x − μ)/max(σ, minStd) (σ = 0 features are only centered when
 * minStd = 0). Apply the same fitted transform to validation and test data. A floor such as
 * minStd = 0.1 keeps near-constant features (image borders) from being blown up by a tiny σ.
 *
 * Reference: seed 001_6e8604431cc2cba1.txt and seed 003_3f666a11de5b95b1.txt ("input normalization").
 *
 * @example
 * ```ts
 * const train = hostMatrix([1, 10, 2, 20, 3, 30], 3, 2) // 3 examples, 2 features
 * const test = hostMatrix([4, 40], 1, 2)
 * const s = fitStandardizer(train)                      // μ = [2, 20], σ ≈ [0.816, 8.16]
 * const [trainX, testX] = [s.transform(train), s.transform(test)]
 * ```
 */
export const fitStandardizer = (train: HostMatrix, options: { readonly minStd?: number } = {}): Standardizer => {
  const { minStd } = validate('fitStandardizer', { minStd: ranges.nonNegative }, options, { minStd: 0 })
  const { mean, std } = columnStats(train)
  return Object.freeze({ mean, std, transform: affine(mean, std.map((s) => (Math.max(s, minStd) > 0 ? 1 / Math.max(s, minStd) : 1))) })
}

/** Centering fitted on the training set: x ↦ x − μ. */
export const fitCentering = (train: HostMatrix): Standardizer => {
  const { mean, std } = columnStats(train)
  return Object.freeze({ mean, std, transform: affine(mean, mean.map(() => 1)) })
}

/** A permutation of 0 … n − 1 drawn from `key` (Fisher–Yates with counter-based uniforms). */
export const permutation = (key: Key, n: number): Int32Array => {
  if (!Number.isInteger(n) || n < 0) throw new HyperparameterError('permutation', 'n', n, 'an integer ≥ 0')
  const p = Int32Array.from({ length: n }, (_, i) => i)
  const u = uniformValues(key, n)
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(u[i]! * (i + 1))
    const tmp = p[i]!
    p[i] = p[j]!
    p[j] = tmp
  }
  return p
}

/**
 * The batches of one epoch: index arrays over n examples, reshuffled per epoch from
 * `foldIn(key, epoch)`. batchSize = n is full-batch gradient descent, 1 is stochastic, anything
 * between is mini-batch; the last batch is smaller unless `dropRemainder`.
 *
 * Reference: seed 002_22903fbb3df79e4c.txt, "batch, stochastic and mini-batch gradient descent".
 *
 * @example
 * ```ts
 * const train = hostMatrix(Array.from({ length: 1000 * 4 }, Math.random), 1000, 4)
 * for (let epoch = 0; epoch < 3; epoch++) {
 *   for (const idx of epochBatches(key(0), epoch, train.rows, 128)) {
 *     const x = toTensor(takeRows(train, idx)) // [128, 4] (the last batch [104, 4])
 *     dispose(x)
 *   }
 * }
 * ```
 */
export const epochBatches = (
  key: Key,
  epoch: number,
  n: number,
  batchSize: number,
  options: { readonly shuffle?: boolean; readonly dropRemainder?: boolean } = {},
): Int32Array[] => {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new HyperparameterError('epochBatches', 'batchSize', batchSize, 'an integer ≥ 1')
  if (!Number.isInteger(epoch) || epoch < 0) throw new HyperparameterError('epochBatches', 'epoch', epoch, 'an integer ≥ 0')
  const { shuffle = true, dropRemainder = false } = options
  const order = shuffle ? permutation(foldIn(key, epoch), n) : Int32Array.from({ length: n }, (_, i) => i)
  const out: Int32Array[] = []
  for (let s = 0; s < n; s += batchSize) {
    const b = order.subarray(s, Math.min(n, s + batchSize))
    if (b.length < batchSize && dropRemainder) break
    out.push(Int32Array.from(b))
  }
  return out
}
