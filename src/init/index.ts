/**
 * Initializers: keyed, reproducible, and identical on every backend (values are drawn on the host
 * from counter-based keys, then uploaded). An initializer is `(key, shape, backend?) => Tensor`.
 * Fans follow Keras: a kernel [in, out] has fan_in = in, fan_out = out; a conv kernel
 * [..., in, out] multiplies both by the receptive field; a vector [n] has fan_in = fan_out = n.
 *
 * References: seed 000_33f4fbf331723dec.txt ("Parameter Initialization": Glorot σ² = 2/(n_in + n_out),
 * He σ² = 2/n_in); seed 001_6e8604431cc2cba1.txt ("Xavier initialization": U[±√(6/(d_{l−1} + d_l))],
 * ×4 for a sigmoid; He N(0, 2/d)); seed 002_22903fbb3df79e4c.txt (fan_in, fan_out, fan_avg);
 * Glorot & Bengio 2010; He et al. 2015; LeCun et al. 1998; Saxe et al. 2014 (orthogonal).
 *
 * Every initializer checks the shape it is asked for before it draws or allocates anything: an
 * array of integers ≥ 0 with at most `maxElements` (2^28) elements, else a HyperparameterError
 * naming the initializer, the field `shape` and the size.
 */
import { checkShape, ranges, validate } from '../core/validate.js'
import { HyperparameterError, ShapeError } from '../errors.js'
import { cpu } from '../tensor/cpu.js'
import { type Key, foldIn, normalValues, uniformValues } from '../tensor/random.js'
import type { Backend, Tensor } from '../tensor/tensor.js'
import * as t from 'io-ts'

/** An initializer: a tensor of `shape` drawn from `key`. */
export type Initializer = (key: Key, shape: readonly number[], backend?: Backend) => Tensor

const upload = (values: ArrayLike<number>, shape: readonly number[], backend: Backend) => backend.fromData(Float32Array.from(values), shape)

/** An initializer that checks the shape (and its size) before `make` draws or allocates anything. */
const initializer =
  (name: string, make: (key: Key, shape: readonly number[], size: number, backend: Backend) => Tensor): Initializer =>
  (key, shape, backend = cpu) =>
    make(key, shape, checkShape(name, 'shape', shape), backend)

/** fan_in and fan_out of a shape (Keras' rule). */
export const fans = (shape: readonly number[]): { fanIn: number; fanOut: number } => {
  if (shape.length === 0) return { fanIn: 1, fanOut: 1 }
  if (shape.length === 1) return { fanIn: shape[0]!, fanOut: shape[0]! }
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1)
  return { fanIn: shape[shape.length - 2]! * receptive, fanOut: shape[shape.length - 1]! * receptive }
}

/** Zeros. (Zero kernels leave hidden units identical: the lectures' symmetry problem.) */
export const zerosInit = (): Initializer => initializer('zerosInit', (_key, shape, _size, backend) => backend.fill(shape, 0))

/** Every element `value`. */
export const constantInit = (value: number): Initializer => {
  validate('constantInit', { value: ranges.finite }, { value })
  return initializer('constantInit', (_key, shape, _size, backend) => backend.fill(shape, value))
}

/**
 * U[minval, maxval).
 *
 * @example
 * ```ts
 * uniformInit({ minval: -0.05, maxval: 0.05 })(key(0), [784, 128])
 * ```
 */
export const uniformInit = (options: { readonly minval?: number; readonly maxval?: number } = {}): Initializer => {
  const o = validate('uniformInit', { minval: ranges.finite, maxval: ranges.finite }, options, { minval: -0.05, maxval: 0.05 })
  if (o.maxval <= o.minval) throw new HyperparameterError('uniformInit', 'maxval', o.maxval, `a number > minval (${o.minval})`)
  return initializer('uniformInit', (key, shape, size, backend) => upload(Array.from(uniformValues(key, size), (u) => o.minval + (o.maxval - o.minval) * u), shape, backend))
}

/** N(mean, stddev²). */
export const normalInit = (options: { readonly mean?: number; readonly stddev?: number } = {}): Initializer => {
  const o = validate('normalInit', { mean: ranges.finite, stddev: ranges.nonNegative }, options, { mean: 0, stddev: 0.05 })
  return initializer('normalInit', (key, shape, size, backend) => upload(Array.from(normalValues(key, size), (z) => o.mean + o.stddev * z), shape, backend))
}

/** Φ⁻¹, the standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9). */
const probit = (p: number): number => {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239]
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1]
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783]
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416]
  const lo = 0.02425
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p))
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1)
  }
  if (p > 1 - lo) return -probit(1 - p)
  const q = p - 0.5
  const r = q * q
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
}

const PHI_MINUS_2 = 0.022750131948179195 // Φ(−2)

/** Standard normal samples truncated to [−2, 2], by inverting the CDF on [Φ(−2), Φ(2)]. */
const truncatedNormalValues = (key: Key, n: number): Float64Array =>
  uniformValues(key, n).map((u) => probit(PHI_MINUS_2 + u * (1 - 2 * PHI_MINUS_2)))

/** Truncated N(mean, stddev²): values beyond two standard deviations are excluded (Keras' TruncatedNormal). */
export const truncatedNormalInit = (options: { readonly mean?: number; readonly stddev?: number } = {}): Initializer => {
  const o = validate('truncatedNormalInit', { mean: ranges.finite, stddev: ranges.nonNegative }, options, { mean: 0, stddev: 0.05 })
  return initializer('truncatedNormalInit', (key, shape, size, backend) =>
    upload(Array.from(truncatedNormalValues(key, size), (z) => o.mean + o.stddev * z), shape, backend),
  )
}

/** The standard deviation of N(0, 1) truncated to [−2, 2]. */
export const TRUNCATED_NORMAL_STDDEV = 0.8796256610342398

/** Options of `varianceScaling`. */
export interface VarianceScalingOptions {
  /** s > 0. Default 1. */
  readonly scale?: number
  /** Which fan n divides the scale. Default 'fanIn'. */
  readonly mode?: 'fanIn' | 'fanOut' | 'fanAvg'
  /** Default 'truncatedNormal'. */
  readonly distribution?: 'normal' | 'truncatedNormal' | 'uniform'
}

/**
 * Variance scaling: weights with variance s/n, n = fan_in, fan_out or (fan_in + fan_out)/2;
 * normal with σ = √(s/n), truncated normal with σ = √(s/n)/0.8796 (so the variance is still s/n),
 * or uniform on [−√(3s/n), √(3s/n)].
 *
 * Reference: seed 002_22903fbb3df79e4c.txt (fan_in, fan_out, fan_avg); Keras `VarianceScaling`.
 *
 * @example
 * ```ts
 * varianceScaling({ scale: 2, mode: 'fanIn', distribution: 'normal' }) // He normal
 * ```
 */
export const varianceScaling = (options: VarianceScalingOptions = {}): Initializer => scaledBy('varianceScaling', options)

/** `varianceScaling` under the name its errors use (`glorotNormal`, `heNormal`, …). */
const scaledBy = (name: string, options: unknown): Initializer => {
  const o = validate(
    name,
    { scale: ranges.positive, mode: t.keyof({ fanIn: null, fanOut: null, fanAvg: null }), distribution: t.keyof({ normal: null, truncatedNormal: null, uniform: null }) },
    options,
    { scale: 1, mode: 'fanIn', distribution: 'truncatedNormal' },
  )
  return initializer(name, (key, shape, size, backend) => {
    const { fanIn, fanOut } = fans(shape)
    const n = o.mode === 'fanIn' ? fanIn : o.mode === 'fanOut' ? fanOut : (fanIn + fanOut) / 2
    const variance = o.scale / Math.max(1, n)
    if (o.distribution === 'uniform') {
      const limit = Math.sqrt(3 * variance)
      return upload(Array.from(uniformValues(key, size), (u) => -limit + 2 * limit * u), shape, backend)
    }
    if (o.distribution === 'normal') return upload(Array.from(normalValues(key, size), (z) => Math.sqrt(variance) * z), shape, backend)
    return upload(Array.from(truncatedNormalValues(key, size), (z) => (Math.sqrt(variance) / TRUNCATED_NORMAL_STDDEV) * z), shape, backend)
  })
}

const gainCodec = { gain: ranges.positive }

/**
 * Glorot (Xavier) normal: N(0, gain² · 2/(fan_in + fan_out)).
 *
 * Reference: seed 000_33f4fbf331723dec.txt, "Glorot (or, Xavier) method"; Glorot & Bengio 2010.
 *
 * @example
 * ```ts
 * glorotNormal()(key(0), [784, 128])
 * ```
 */
export const glorotNormal = (options: { readonly gain?: number } = {}): Initializer => {
  const { gain } = validate('glorotNormal', gainCodec, options, { gain: 1 })
  return scaledBy('glorotNormal', { scale: gain * gain, mode: 'fanAvg', distribution: 'normal' })
}

/**
 * Glorot (Xavier) uniform: U[±gain·√(6/(fan_in + fan_out))]; gain = 4 is the lectures' sigmoid
 * version.
 *
 * Reference: seed 001_6e8604431cc2cba1.txt, "Xavier initialization" (tanh, and ×4 for a sigmoid).
 *
 * @example
 * ```ts
 * glorotUniform({ gain: 4 })(key(0), [784, 128]) // for sigmoid units
 * ```
 */
export const glorotUniform = (options: { readonly gain?: number } = {}): Initializer => {
  const { gain } = validate('glorotUniform', gainCodec, options, { gain: 1 })
  return scaledBy('glorotUniform', { scale: gain * gain, mode: 'fanAvg', distribution: 'uniform' })
}

/**
 * He normal: N(0, 2/fan_in), for ReLU units.
 *
 * Reference: seed 000_33f4fbf331723dec.txt, "He initialization"; seed 001 ("w ∼ N(0, 2/d)"); He et al. 2015.
 *
 * @example
 * ```ts
 * heNormal()(key(0), [784, 128])
 * ```
 */
export const heNormal = (): Initializer => scaledBy('heNormal', { scale: 2, mode: 'fanIn', distribution: 'normal' })

/** He uniform: U[±√(6/fan_in)]. Reference: He et al. 2015; Keras `HeUniform`. */
export const heUniform = (): Initializer => scaledBy('heUniform', { scale: 2, mode: 'fanIn', distribution: 'uniform' })

/** LeCun normal: N(0, 1/fan_in) (for SELU). Reference: LeCun et al. 1998; Keras `LecunNormal` (truncated there). */
export const lecunNormal = (): Initializer => scaledBy('lecunNormal', { scale: 1, mode: 'fanIn', distribution: 'normal' })

/** LeCun uniform: U[±√(3/fan_in)]. Reference: LeCun et al. 1998. */
export const lecunUniform = (): Initializer => scaledBy('lecunUniform', { scale: 1, mode: 'fanIn', distribution: 'uniform' })

/**
 * Orthogonal: the Q of a QR factorisation of a Gaussian matrix (rows = all axes but the last,
 * columns = the last; transposed when there are fewer rows), signs fixed by diag(R), times `gain`.
 *
 * Reference: Saxe et al. 2014; Keras `Orthogonal`.
 *
 * @example
 * ```ts
 * orthogonal()(key(0), [128, 128])
 * ```
 */
export const orthogonal = (options: { readonly gain?: number } = {}): Initializer => {
  const { gain } = validate('orthogonal', gainCodec, options, { gain: 1 })
  return initializer('orthogonal', (key, shape, size, backend) => {
    if (shape.length < 2) throw new ShapeError('', `orthogonal needs a shape of rank ≥ 2, got [${shape.join(', ')}]`)
    const cols = shape[shape.length - 1]!
    const rows = cols === 0 ? 0 : size / cols
    const [r, c] = rows < cols ? [cols, rows] : [rows, cols]
    const z = normalValues(foldIn(key, 0), r * c)
    // modified Gram–Schmidt on the c columns of the r × c matrix (r ≥ c), in float64
    const q = Array.from({ length: c }, (_, j) => Float64Array.from({ length: r }, (_, i) => z[i * c + j]!))
    for (let j = 0; j < c; j++) {
      for (let p = 0; p < j; p++) {
        const dot = q[j]!.reduce((s, v, i) => s + v * q[p]![i]!, 0)
        q[j] = q[j]!.map((v, i) => v - dot * q[p]![i]!)
      }
      const norm = Math.sqrt(q[j]!.reduce((s, v) => s + v * v, 0))
      q[j] = q[j]!.map((v) => v / norm) // sign of diag(R) = sign of the norm, positive
    }
    const out = new Float32Array(rows * cols)
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) {
      const v = gain * q[j]![i]!
      if (rows < cols) out[j * cols + i] = v
      else out[i * cols + j] = v
    }
    return backend.fromData(out, shape)
  })
}
