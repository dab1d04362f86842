/**
 * Counter-based random keys. A key is two 32-bit words; `split` derives independent keys and every
 * random number is a pure hash of (key, counter), so the same key gives the same numbers in any
 * order, on every backend: values are generated on the host with exact integer arithmetic and then
 * uploaded. The hash is the murmur3 finaliser applied in two keyed rounds (not cryptographic).
 *
 * Reference: JAX's splittable keys (Claessen & Pałka 2013; Salmon et al. 2011, counter-based RNGs).
 */
import { HyperparameterError } from '../errors.js'
import { type Backend, type Tensor, shapeSize } from './tensor.js'
import { cpu } from './cpu.js'

/** An immutable random key. */
export interface Key {
  readonly kind: 'fluxion.key'
  readonly words: readonly [number, number]
}

const fmix32 = (h0: number): number => {
  let h = h0 >>> 0
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

const makeKey = (a: number, b: number): Key => Object.freeze({ kind: 'fluxion.key', words: Object.freeze([a >>> 0, b >>> 0]) as readonly [number, number] })

/** 32 random bits for counter `i` (0 ≤ i < 2^32) under key `k`, stream `s`. */
const bits = (k: Key, i: number, s = 0): number => {
  const [k0, k1] = k.words
  const a = fmix32((i ^ Math.imul(k1 ^ s, 0x9e3779b1)) >>> 0)
  return fmix32(((a + Math.imul(k0 ^ s, 0x27d4eb2f)) >>> 0) ^ k0)
}

const isKey = (k: unknown): k is Key =>
  typeof k === 'object' && k !== null && (k as Key).kind === 'fluxion.key' && Array.isArray((k as Key).words)

const assertKey = (where: string, k: unknown): Key => {
  if (!isKey(k)) throw new HyperparameterError(where, 'key', k, 'a key made by key(seed) or split')
  return k
}

/**
 * A key from an integer seed in [0, 2^53).
 *
 * @example
 * ```ts
 * const [k1, k2] = split(key(0))
 * ```
 */
export const key = (seed: number): Key => {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new HyperparameterError('key', 'seed', seed, 'an integer in [0, 2^53)')
  const lo = seed >>> 0
  const hi = Math.floor(seed / 2 ** 32) >>> 0
  return makeKey(fmix32(lo ^ 0x3c6ef372), fmix32(hi ^ fmix32(lo + 0x6a09e667)))
}

/** `n` new independent keys derived from `k` (default 2). */
export const split = (k: Key, n = 2): Key[] => {
  assertKey('split', k)
  if (!Number.isInteger(n) || n < 1) throw new HyperparameterError('split', 'n', n, 'an integer ≥ 1')
  return Array.from({ length: n }, (_, i) => makeKey(bits(k, 2 * i, 0x1234567), bits(k, 2 * i + 1, 0x7654321)))
}

/** A key derived from `k` and an integer `data` (e.g. a step number). */
export const foldIn = (k: Key, data: number): Key => {
  assertKey('foldIn', k)
  if (!Number.isSafeInteger(data) || data < 0) throw new HyperparameterError('foldIn', 'data', data, 'an integer in [0, 2^53)')
  const [a] = key(data).words
  return makeKey(bits(k, a, 0x2545f491), bits(k, a, 0x4f6cdd1d))
}

/** Uniform samples in [0, 1) with 24 random bits each, on the host. */
export const uniformValues = (k: Key, n: number): Float64Array => {
  assertKey('uniform', k)
  const out = new Float64Array(n)
  for (let i = 0; i < n; i++) out[i] = (bits(k, i) >>> 8) / 16777216
  return out
}

/** Standard normal samples (Box–Muller over two counter streams), on the host. */
export const normalValues = (k: Key, n: number): Float64Array => {
  assertKey('normal', k)
  const out = new Float64Array(n)
  for (let i = 0; i < n; i++) {
    const u1 = ((bits(k, i, 1) >>> 8) + 1) / 16777216 // (0, 1]
    const u2 = (bits(k, i, 2) >>> 8) / 16777216
    out[i] = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2)
  }
  return out
}

/**
 * A tensor of uniform samples in [minval, maxval).
 *
 * @example
 * ```ts
 * const u = uniform(key(1), [2, 3], { minval: -1, maxval: 1 })
 * ```
 */
export const uniform = (
  k: Key,
  shape: readonly number[],
  options: { readonly minval?: number; readonly maxval?: number; readonly backend?: Backend } = {},
): Tensor => {
  const { minval = 0, maxval = 1, backend = cpu } = options
  if (!Number.isFinite(minval)) throw new HyperparameterError('uniform', 'minval', minval, 'a finite number')
  if (!Number.isFinite(maxval) || maxval <= minval) throw new HyperparameterError('uniform', 'maxval', maxval, `a finite number > minval (${minval})`)
  const u = uniformValues(k, shapeSize(shape))
  return backend.fromData(Float32Array.from(u, (x) => minval + (maxval - minval) * x), shape)
}

/**
 * A tensor of normal samples with the given mean and standard deviation.
 *
 * @example
 * ```ts
 * const g = normal(key(2), [100], { stddev: 0.1 })
 * ```
 */
export const normal = (
  k: Key,
  shape: readonly number[],
  options: { readonly mean?: number; readonly stddev?: number; readonly backend?: Backend } = {},
): Tensor => {
  const { mean = 0, stddev = 1, backend = cpu } = options
  if (!Number.isFinite(mean)) throw new HyperparameterError('normal', 'mean', mean, 'a finite number')
  if (!Number.isFinite(stddev) || stddev < 0) throw new HyperparameterError('normal', 'stddev', stddev, 'a finite number ≥ 0')
  const z = normalValues(k, shapeSize(shape))
  return backend.fromData(Float32Array.from(z, (x) => mean + stddev * x), shape)
}
