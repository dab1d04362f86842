/**
 * Saving, loading and validating optimizer state. Every transformation carries an io-ts
 * `stateCodec` over the JSON form of its state, where each tensor is
 * `{ shape, dtype: 'float32', data: <base64 of the little-endian float32 bytes> }` (exact, and NaN
 * and ±∞ survive). `saveState` reads the tensors back (the asynchronous step) and encodes;
 * `loadState` decodes, validating every field, and uploads to a backend.
 */
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { base64ToUint8Array, uint8ArrayToBase64 } from 'uint8array-extras'
import { FluxionError, UnsupportedError } from '../errors.js'
import { cpu } from '../tensor/cpu.js'
import { readTree } from '../tensor/ops.js'
import { type Backend, Tensor, shapeSize } from '../tensor/tensor.js'
import * as tree from '../tree/index.js'
import type { GradientTransformation } from './types.js'
import { refinement } from './validate.js'

/** A tensor read back to the host, the leaf of a state's host form. */
export class StoredTensor {
  readonly shape: readonly number[]
  readonly data: Float32Array
  constructor(shape: readonly number[], data: Float32Array) {
    this.shape = Object.freeze([...shape])
    this.data = data
    Object.freeze(this)
  }
}

/** The JSON form of a tensor. */
export interface TensorJson {
  readonly shape: readonly number[]
  readonly dtype: 'float32'
  readonly data: string
}

const toBase64 = (a: Float32Array): string => {
  const bytes = new Uint8Array(a.length * 4)
  const view = new DataView(bytes.buffer)
  a.forEach((x, i) => view.setFloat32(i * 4, x, true))
  return uint8ArrayToBase64(bytes)
}

const fromBase64 = (s: string): Float32Array | undefined => {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined
  if (s.length % 4 !== 0) return undefined
  let bytes: Uint8Array
  try {
    bytes = base64ToUint8Array(s)
  } catch {
    return undefined // atob's InvalidCharacterError: padding in the wrong place
  }
  if (bytes.length % 4 !== 0) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return Float32Array.from({ length: bytes.length / 4 }, (_, i) => view.getFloat32(i * 4, true))
}

const isShape = (u: unknown): u is number[] => Array.isArray(u) && u.every((d) => Number.isInteger(d) && d >= 0)

/** Codec of a step counter. */
export const countCodec = refinement('an integer ≥ 0', (u): u is number => typeof u === 'number' && Number.isInteger(u) && u >= 0)

/** Codec of one tensor: host `StoredTensor` ⇄ `TensorJson`, checking that the data fills the shape. */
export const tensorCodec = new t.Type<StoredTensor, TensorJson, unknown>(
  'a tensor { shape: number[], dtype: "float32", data: base64 } whose data fills its shape',
  (u): u is StoredTensor => u instanceof StoredTensor,
  (u, c) => {
    // a non-object has none of the three fields
    const { shape, dtype, data } = (u ?? {}) as Record<string, unknown>
    if (!isShape(shape) || dtype !== 'float32' || typeof data !== 'string') return t.failure(u, c)
    const values = fromBase64(data)
    if (!values || values.length !== shapeSize(shape)) return t.failure(u, c)
    return t.success(new StoredTensor(shape, values))
  },
  (s) => ({ shape: [...s.shape], dtype: 'float32', data: toBase64(s.data) }),
)

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === 'object' && u !== null && !Array.isArray(u)
/** A JSON object is read as a tensor when it has any of a tensor's keys, else as a record of subtrees. */
const looksLikeTensor = (u: Record<string, unknown>): boolean => 'shape' in u || 'dtype' in u || 'data' in u

/**
 * Codec of a parameter tree (records and arrays of tensors). Decoding dispatches on the JSON's
 * form (array, tensor object, record) rather than trying each in turn, so a failure names the
 * leaf's path (`mu.layer.kernel`) and what that leaf should have been.
 */
export const paramsCodec: t.Type<unknown, unknown, unknown> = new t.Type<unknown, unknown, unknown>(
  'a tree of tensors',
  (u): u is unknown =>
    u instanceof StoredTensor || (Array.isArray(u) ? u.every((x) => paramsCodec.is(x)) : isRecord(u) && Object.values(u).every((x) => paramsCodec.is(x))),
  (u, c) => {
    if (isRecord(u) && looksLikeTensor(u)) return tensorCodec.validate(u, t.appendContext(c, '', tensorCodec, u))
    if (!Array.isArray(u) && !isRecord(u)) return t.failure(u, c)
    const out: unknown[] | Record<string, unknown> = Array.isArray(u) ? [] : {}
    for (const [k, x] of Object.entries(u)) {
      const r = paramsCodec.validate(x, t.appendContext(c, k, paramsCodec, x))
      if (E.isLeft(r)) return r
      ;(out as Record<string, unknown>)[k] = r.right
    }
    return t.success(out)
  },
  (a) =>
    a instanceof StoredTensor
      ? tensorCodec.encode(a)
      : Array.isArray(a)
        ? a.map((x) => paramsCodec.encode(x))
        : Object.fromEntries(Object.entries(a as Record<string, unknown>).map(([k, x]) => [k, paramsCodec.encode(x)])),
)

/** Codec of a random key. */
export const keyCodec = t.strict({ kind: t.literal('fluxion.key'), words: t.tuple([countCodec, countCodec]) }, 'a random key')

const specialFloats: Readonly<Record<string, number>> = { Infinity, '-Infinity': -Infinity, NaN: Number.NaN, '-0': -0 }

/**
 * Codec of a host float, exact through JSON: ±∞, NaN and −0 (which JSON cannot hold) are encoded as
 * the strings 'Infinity', '-Infinity', 'NaN' and '-0'.
 */
export const floatCodec = new t.Type<number, number | string, unknown>(
  'a number (or "Infinity", "-Infinity", "NaN", "-0")',
  (u): u is number => typeof u === 'number',
  (u, c) => (typeof u === 'number' ? t.success(u) : typeof u === 'string' && Object.hasOwn(specialFloats, u) ? t.success(specialFloats[u]!) : t.failure(u, c)),
  (n) => (Object.is(n, -0) ? '-0' : Number.isFinite(n) ? n : String(n)),
)

/** Codec of the empty state `{}`. */
export const emptyStateCodec = t.strict({}, '{}')

/** Codec of a fixed-length tuple with one codec per element (a chain's state). */
export const tupleCodec = (codecs: readonly t.Mixed[]): t.Type<unknown[], unknown[], unknown> =>
  new t.Type<unknown[], unknown[], unknown>(
    `[${codecs.map((x) => x.name).join(', ')}]`,
    (u): u is unknown[] => Array.isArray(u) && u.length === codecs.length && codecs.every((x, i) => x.is(u[i])),
    (u, c) => {
      if (!Array.isArray(u) || u.length !== codecs.length) return t.failure(u, c)
      const out: unknown[] = []
      for (let i = 0; i < codecs.length; i++) {
        const r = codecs[i]!.validate(u[i], t.appendContext(c, String(i), codecs[i]!, u[i]))
        if (E.isLeft(r)) return r
        out.push(r.right)
      }
      return t.success(out)
    },
    (a) => a.map((x, i) => codecs[i]!.encode(x)),
  )

/** A state that could not be decoded; `path` is where (e.g. `1.mu.layer.kernel`). */
export class StateDecodeError extends FluxionError {
  constructor(
    readonly path: string,
    readonly value: unknown,
    readonly expected: string,
  ) {
    super(`invalid state at ${path === '' ? '<root>' : path}: expected ${expected}, got ${JSON.stringify(value)?.slice(0, 120)}`)
  }
}

/** The codec of a transformation's state, or an UnsupportedError. */
const codecOf = (transform: GradientTransformation<unknown>): t.Mixed => {
  const codec = (transform as { stateCodec?: t.Mixed }).stateCodec
  if (!codec) throw new UnsupportedError('this transformation has no stateCodec, so its state cannot be saved or loaded')
  return codec
}

/**
 * The JSON form of a state, reading its tensors back (asynchronous).
 *
 * @example
 * ```ts
 * const params = { w: fromArray([1, -2]) }
 * const opt = adam({ learningRate: 0.1 })
 * const [, state] = opt.update(params, opt.init(params), params)
 * const json = await saveState(opt, state)
 * const restored = loadState(opt, JSON.parse(JSON.stringify(json)), cpu)
 * ```
 */
export const saveState = async <S>(transform: GradientTransformation<S>, state: S): Promise<unknown> => {
  const codec = codecOf(transform as GradientTransformation<unknown>)
  const host = await readTree(state)
  const shapes = tree.leaves(state as tree.Tree<unknown>).map((x) => (x instanceof Tensor ? x.shape : undefined))
  const { leaves, structure } = tree.flatten(host as tree.Tree<unknown>)
  const stored = tree.unflatten(structure, leaves.map((x, i) => (x instanceof Float32Array ? new StoredTensor(shapes[i]!, x) : x)))
  return codec.encode(stored)
}

/** Decodes and validates a saved state, then uploads its tensors to `backend` (default cpu). */
export const loadState = <S>(transform: GradientTransformation<S>, json: unknown, backend: Backend = cpu): S => {
  const codec = codecOf(transform as GradientTransformation<unknown>)
  const r = codec.decode(json)
  if (E.isLeft(r)) {
    const e = r.left[0]!
    const path = e.context.map((c) => c.key).filter((k) => k !== '').join('.')
    throw new StateDecodeError(path, e.value, e.context[e.context.length - 1]!.type.name)
  }
  const upload = (x: unknown): unknown => {
    if (x instanceof StoredTensor) return backend.fromData(x.data, x.shape)
    if (Array.isArray(x)) return Object.freeze(x.map(upload))
    if (tree.isNode(x)) return Object.freeze(Object.fromEntries(Object.entries(x).map(([k, v]) => [k, upload(v)])))
    return x
  }
  return upload(r.right) as S
}
