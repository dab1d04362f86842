/**
 * Saving, loading and validating optimizer state (docs/state.md).
 *
 * Every transformation carries an io-ts `stateCodec` over the JSON form of its state, where each
 * tensor is `{ shape, dtype: 'float32', data: <base64 of the little-endian float32 bytes> }`
 * (exact, and NaN and ±∞ survive), and the codecs refine each field to its domain (counts are
 * integers in [0, 2^53), second moments have no negative element, ...). `saveState` reads the
 * tensors back (the asynchronous step) and seals the encoded state in a versioned envelope:
 *
 *   { format: 'fluxion-state', version: 1, transform: { name, hyperparameters } | null,
 *     checksum: 'crc32:…', state }
 *
 * `loadState` checks, in this order and before it allocates any tensor: the nesting depth, the
 * format and version, which transformation wrote the state, every field's type and domain, the
 * checksum, the hyperparameters, and (given the params) every shape; then it uploads. A checkpoint
 * (`encodeCheckpoint` / `decodeCheckpoint`, and the files of `fluxion/node`) adds the params and
 * the step under one more checksum.
 */
import * as E from 'fp-ts/lib/Either.js'
import * as t from 'io-ts'
import { fromByteArray, toByteArray } from 'base64-js'
import { BackendError, CheckpointError, FluxionError, HyperparameterError, ShapeError, StructureError, TreeDepthError, UnsupportedError } from '../errors.js'
import { cpu } from '../tensor/cpu.js'
import { readTree, scope } from '../tensor/ops.js'
import { type Backend, Tensor, shapeSize } from '../tensor/tensor.js'
import * as tree from '../tree/index.js'
import type { GradientTransformation, HyperparameterJson, Params, TransformIdentity } from './types.js'
import { refinement, validate } from './validate.js'

// ---- the JSON form of tensors and trees ------------------------------------------------------------

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

const littleEndian = new Uint8Array(Float32Array.of(1).buffer)[3] === 0x3f

/** Standard padded base64 (RFC 4648 §4) of some bytes, by base64-js. */
const bytesToBase64 = (bytes: Uint8Array): string => fromByteArray(bytes)

/** The bytes of standard padded base64, or undefined unless `s` is exactly that. */
const base64ToBytes = (s: string): Uint8Array | undefined => {
  // base64-js maps a character outside the alphabet to 0 and accepts padding anywhere: check first
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(s)) return undefined
  return toByteArray(s)
}

const toBase64 = (a: Float32Array): string => {
  if (littleEndian) return bytesToBase64(new Uint8Array(a.buffer, a.byteOffset, a.byteLength))
  const bytes = new Uint8Array(a.length * 4)
  const view = new DataView(bytes.buffer)
  a.forEach((x, i) => view.setFloat32(i * 4, x, true))
  return bytesToBase64(bytes)
}

const fromBase64 = (s: string): Float32Array | undefined => {
  const bytes = base64ToBytes(s)
  if (!bytes || bytes.length % 4 !== 0) return undefined
  if (littleEndian) return new Float32Array(bytes.buffer)
  const view = new DataView(bytes.buffer)
  return Float32Array.from({ length: bytes.length / 4 }, (_, i) => view.getFloat32(i * 4, true))
}

const isShape = (u: unknown): u is number[] => Array.isArray(u) && u.every((d) => Number.isSafeInteger(d) && d >= 0)

/**
 * Codec of a step counter: an integer in [0, 2^53). Beyond 2^53 − 1, count + 1 === count, so a
 * larger count would never advance (and bias corrections would be wrong forever).
 */
export const countCodec = refinement('an integer in [0, 2^53)', (u): u is number => typeof u === 'number' && Number.isSafeInteger(u) && u >= 0)

/** Codec of a step counter that cannot exceed `max` (e.g. a phase below a period): an integer in [0, max]. */
export const countCodecUpTo = (max: number): t.Type<number, number, unknown> =>
  refinement(`an integer in [0, ${max}]`, (u): u is number => countCodec.is(u) && u <= max)

const tensorName = 'a tensor { shape: number[], dtype: "float32", data: base64 } whose data fills its shape'

/**
 * A tensor codec whose elements must all satisfy `ok` (`name` says what they must be); the failure
 * names the first offending element.
 */
export const tensorCodecWhere = (name: string, ok: ((x: number) => boolean) | undefined): t.Type<StoredTensor, TensorJson, unknown> =>
  new t.Type<StoredTensor, TensorJson, unknown>(
    name,
    (u): u is StoredTensor => u instanceof StoredTensor && (ok === undefined || u.data.every(ok)),
    (u, c) => {
      if (typeof u !== 'object' || u === null || Array.isArray(u)) return t.failure(u, c)
      const own = (k: string) => (Object.hasOwn(u, k) ? (u as Record<string, unknown>)[k] : undefined)
      const shape = own('shape')
      const data = own('data')
      if (!isShape(shape) || own('dtype') !== 'float32' || typeof data !== 'string') return t.failure(u, c)
      const values = fromBase64(data)
      if (!values || values.length !== shapeSize(shape)) return t.failure(u, c)
      if (ok !== undefined) {
        const bad = values.findIndex((x) => !ok(x))
        if (bad !== -1) return t.failure(u, c, `${name}; element ${bad} is ${values[bad]}`)
      }
      return t.success(new StoredTensor(shape, values))
    },
    (s) => ({ shape: [...s.shape], dtype: 'float32', data: toBase64(s.data) }),
  )

/** Codec of one tensor: host `StoredTensor` ⇄ `TensorJson`, checking that the data fills the shape. */
export const tensorCodec = tensorCodecWhere(tensorName, undefined)

const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === 'object' && u !== null && !Array.isArray(u)
/** A JSON object is read as a tensor when it has any of a tensor's keys, else as a record of subtrees. */
const looksLikeTensor = (u: Record<string, unknown>): boolean => Object.hasOwn(u, 'shape') || Object.hasOwn(u, 'dtype') || Object.hasOwn(u, 'data')

/**
 * Codec of a tree of tensors whose leaves are read by `leaf`. Decoding dispatches on the JSON's
 * form (array, tensor object, record) rather than trying each in turn, so a failure names the
 * leaf's path (`mu.layer.kernel`) and what that leaf should have been. Every own key is data
 * (records are built with `Object.fromEntries`, so `"__proto__"` stays a key).
 */
export const paramsCodecOf = (name: string, leaf: t.Type<StoredTensor, TensorJson, unknown>): t.Type<unknown, unknown, unknown> => {
  const codec: t.Type<unknown, unknown, unknown> = new t.Type<unknown, unknown, unknown>(
    name,
    (u): u is unknown => (u instanceof StoredTensor ? leaf.is(u) : Array.isArray(u) ? u.every((x) => codec.is(x)) : isRecord(u) && Object.values(u).every((x) => codec.is(x))),
    (u, c) => {
      if (isRecord(u) && looksLikeTensor(u)) return leaf.validate(u, t.appendContext(c, '', leaf, u))
      if (!Array.isArray(u) && !isRecord(u)) return t.failure(u, c)
      const out: [string, unknown][] = []
      for (const [k, x] of Object.entries(u)) {
        const r = codec.validate(x, t.appendContext(c, k, codec, x))
        if (E.isLeft(r)) return r
        out.push([k, r.right])
      }
      return t.success(Array.isArray(u) ? out.map(([, x]) => x) : Object.fromEntries(out))
    },
    (a) =>
      a instanceof StoredTensor
        ? leaf.encode(a)
        : Array.isArray(a)
          ? a.map((x) => codec.encode(x))
          : Object.fromEntries(Object.entries(a as Record<string, unknown>).map(([k, x]) => [k, codec.encode(x)])),
  )
  return codec
}

/** Codec of a parameter tree (records and arrays of tensors). */
export const paramsCodec: t.Type<unknown, unknown, unknown> = paramsCodecOf('a tree of tensors', tensorCodec)

/**
 * Codec of a tree of tensors with no negative element: second moments (ν, ν̂ₘₐₓ, AdaGrad's sum of
 * squares, AdaDelta's averages, Adamax's norm). NaN and +∞ are kept (a diverged state still saves
 * and loads, exactly); −∞ and every negative number are refused.
 */
export const nonNegativeParamsCodec: t.Type<unknown, unknown, unknown> = paramsCodecOf(
  'a tree of tensors with no negative element',
  tensorCodecWhere(`${tensorName}, with no negative element`, (x) => !(x < 0)),
)

const uint32Codec = refinement('an integer in [0, 2^32)', (u): u is number => typeof u === 'number' && Number.isInteger(u) && u >= 0 && u < 2 ** 32)

/** Codec of a random key: two 32-bit words. */
export const keyCodec = t.strict({ kind: t.literal('fluxion.key'), words: t.tuple([uint32Codec, uint32Codec]) }, 'a random key')

const specialFloats: Readonly<Record<string, number>> = { Infinity, '-Infinity': -Infinity, NaN: Number.NaN, '-0': -0 }

/**
 * Codec of a host float that must satisfy `ok` (`name` says what it must be), exact through JSON:
 * ±∞, NaN and −0 (which JSON cannot hold) are encoded as the strings 'Infinity', '-Infinity',
 * 'NaN' and '-0'.
 */
export const floatCodecWhere = (name: string, ok: (x: number) => boolean): t.Type<number, number | string, unknown> =>
  new t.Type<number, number | string, unknown>(
    name,
    (u): u is number => typeof u === 'number' && ok(u),
    (u, c) => {
      const x = typeof u === 'number' ? u : typeof u === 'string' && Object.hasOwn(specialFloats, u) ? specialFloats[u]! : undefined
      return x !== undefined && ok(x) ? t.success(x) : t.failure(u, c)
    },
    (n) => (Object.is(n, -0) ? '-0' : Number.isFinite(n) ? n : String(n)),
  )

/** Codec of any host float (NaN and ±∞ included), exact through JSON. */
export const floatCodec = floatCodecWhere('a number (or "Infinity", "-Infinity", "NaN", "-0")', () => true)

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

/** Decodes with `codec` or throws the StateDecodeError of the first failure, its path prefixed by `prefix`. */
const decodeOrThrow = (codec: t.Mixed, json: unknown, prefix: string): unknown => {
  const r = codec.decode(json)
  if (E.isRight(r)) return r.right
  const e = r.left[0]!
  const path = [prefix, ...e.context.map((c) => c.key)].filter((k) => k !== '').join('.')
  throw new StateDecodeError(path, e.value, e.message ?? e.context[e.context.length - 1]!.type.name)
}

// ---- which transformation wrote a state ----------------------------------------------------------

const recordValue = (u: unknown, depth: number, path: string): HyperparameterJson => {
  if (typeof u === 'number') return floatCodec.encode(u)
  if (typeof u === 'string' || typeof u === 'boolean' || u === null || u === undefined) return u ?? null
  if (typeof u === 'function') return `<function ${u.name || 'anonymous'}>`
  if (!tree.isNode(u)) return `<${(u as { constructor?: { name?: string } }).constructor?.name ?? typeof u}>`
  if (depth >= tree.maxDepth) throw new TreeDepthError(path, tree.maxDepth)
  if (Array.isArray(u)) return Object.freeze(u.map((x, i) => recordValue(x, depth + 1, tree.childPath(path, i))))
  return Object.freeze(
    Object.fromEntries(
      Object.entries(u)
        .filter(([, x]) => x !== undefined)
        .map(([k, x]) => [k, recordValue(x, depth + 1, tree.childPath(path, k))]),
    ),
  )
}

/**
 * The transformation with an identity: its name and resolved hyperparameters, recorded in every
 * state `saveState` writes for it, so that `loadState` refuses a state that another transformation
 * wrote and reports changed hyperparameters. Numbers are kept exactly (NaN, ±∞ and −0 as strings),
 * functions (schedules, masks) as `'<function name>'`, so two schedules compare equal by name only.
 *
 * @example
 * ```ts
 * const opt = withIdentity(chain(scaleByAdam(), scaleByLearningRate(0.1)), 'myAdam', { learningRate: 0.1 })
 * opt.identity // { name: 'myAdam', hyperparameters: { learningRate: 0.1 } }
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const withIdentity = <T extends GradientTransformation<any>>(transform: T, name: string, hyperparameters: object = {}): T => {
  if (typeof name !== 'string' || name === '') throw new HyperparameterError('withIdentity', 'name', name, 'a non-empty string')
  if (!tree.isNode(hyperparameters) || Array.isArray(hyperparameters)) throw new HyperparameterError('withIdentity', 'hyperparameters', hyperparameters, 'a record of options')
  const identity: TransformIdentity = Object.freeze({ name, hyperparameters: recordValue(hyperparameters, 0, '') as TransformIdentity['hyperparameters'] })
  return Object.freeze({ ...transform, identity })
}

const isIdentity = (u: unknown): u is TransformIdentity => isRecord(u) && typeof u.name === 'string' && isRecord(u.hyperparameters)

// ---- checksums -----------------------------------------------------------------------------------

let crcTable: Uint32Array | undefined

/**
 * @internal CRC-32 (IEEE 802.3, the polynomial of zlib, PNG and gzip) of some bytes:
 * `crc32(utf8('123456789')) === 0xcbf43926`.
 */
export const crc32 = (bytes: Uint8Array): number => {
  if (!crcTable) {
    crcTable = new Uint32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
      crcTable[n] = c >>> 0
    }
  }
  const table = crcTable
  let c = 0xffffffff
  for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

/**
 * @internal JSON text with every record's keys sorted and no spaces, so a checksum does not depend
 * on how a file was re-serialized. (The input's depth is checked before.)
 */
export const canonicalJson = (u: unknown): string => {
  if (typeof u !== 'object' || u === null) return JSON.stringify(u) ?? 'null'
  if (Array.isArray(u)) return `[${u.map((x) => (x === undefined ? 'null' : canonicalJson(x))).join(',')}]`
  const keys = Object.keys(u)
    .filter((k) => (u as Record<string, unknown>)[k] !== undefined)
    .sort()
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((u as Record<string, unknown>)[k])}`).join(',')}}`
}

/** `'crc32:'` and 8 hex digits: the CRC-32 of the UTF-8 bytes of the canonical JSON of `u`. */
const checksumOf = (u: unknown): string => `crc32:${crc32(new TextEncoder().encode(canonicalJson(u))).toString(16).padStart(8, '0')}`

const checksumPattern = /^crc32:[0-9a-f]{8}$/

// ---- nesting depth --------------------------------------------------------------------------------

/** The deepest JSON `loadState` reads: a tree of `tree.maxDepth` levels plus the envelope's and a tensor's own. */
export const maxJsonDepth = tree.maxDepth + 8

/** Throws a TreeDepthError if `u` nests deeper than `maxJsonDepth`; iterative, so any depth is safe to check. */
const checkJsonDepth = (u: unknown): void => {
  interface Frame {
    readonly value: object
    readonly depth: number
    readonly parent: Frame | undefined
    readonly key: string | number
  }
  const pathOf = (f: Frame): string => {
    const keys: (string | number)[] = []
    for (let x: Frame | undefined = f; x?.parent; x = x.parent) keys.push(x.key)
    return keys.reverse().reduce<string>((p, k) => tree.childPath(p, k), '')
  }
  if (typeof u !== 'object' || u === null) return
  const stack: Frame[] = [{ value: u, depth: 0, parent: undefined, key: '' }]
  while (stack.length > 0) {
    const f = stack.pop()!
    const children: [string | number, unknown][] = Array.isArray(f.value) ? f.value.map((x, i) => [i, x]) : Object.entries(f.value)
    let pushed = false
    for (const [key, x] of children) {
      if (typeof x !== 'object' || x === null) continue
      if (!pushed && f.depth >= maxJsonDepth) throw new TreeDepthError(pathOf(f), maxJsonDepth)
      pushed = true
      stack.push({ value: x, depth: f.depth + 1, parent: f, key })
    }
  }
}

// ---- shapes against the params -------------------------------------------------------------------

/**
 * A backend that only computes shapes (JAX's `eval_shape`): its tensors have no storage and are
 * never counted as live, so `transform.init` over it gives the state's structure and shapes
 * without allocating anything.
 */
const shapeOnly: Backend = {
  name: 'shape-only',
  fromData: (_data, shape) => shapeOnlyTensor(shape),
  fill: (shape) => shapeOnlyTensor(shape),
  elementwise: (op, _inputs, _scalars, layout) => op.outputs.map(() => shapeOnlyTensor(layout.shape)),
  sum: () => shapeOnlyTensor([]),
  sumTo: (_t, shape) => shapeOnlyTensor(shape),
  maxTo: (_t, shape) => shapeOnlyTensor(shape),
  matmul: (a, b, transposeA, transposeB) => shapeOnlyTensor([transposeA ? a.shape[1]! : a.shape[0]!, transposeB ? b.shape[0]! : b.shape[1]!]),
  read: () => Promise.reject(new UnsupportedError('a shape-only tensor has no values')),
  release: () => undefined,
  isLive: () => true,
  liveCount: () => 0,
  destroy: () => Promise.resolve(),
}
const shapeOnlyTensor = (shape: readonly number[]): Tensor => new Tensor(shapeOnly, shape, undefined)

const kindOf = (u: unknown): string =>
  u instanceof StoredTensor || u instanceof Tensor ? `a tensor [${u.shape.join(', ')}]` : Array.isArray(u) ? 'an array' : tree.isNode(u) ? 'a record' : JSON.stringify(u) ?? String(u)

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i])

/**
 * Checks a decoded state against the one `transform.init` gives for these params: the same record
 * keys, and every tensor of the params' shape. An array whose length changes as the state evolves
 * (L-BFGS' memory) is checked element by element against the params where an element mirrors them.
 */
const checkFitsParams = (transform: GradientTransformation<unknown>, state: unknown, params: unknown): void => {
  const template = tree.map((leaf: unknown, path) => {
    if (!(leaf instanceof Tensor || leaf instanceof StoredTensor)) throw new BackendError(path, `params leaf is not a Tensor: ${String(leaf)}`)
    return shapeOnlyTensor(leaf.shape)
  })(params)
  // a transformation may allocate for real in init (applyIfFinite's counters on the cpu when the
  // params have no leaves): release whatever is not shape-only
  const expected = scope(() => transform.init(template as Params))
  for (const x of tree.leaves(expected as tree.Tree<unknown>)) if (x instanceof Tensor && x.backend !== shapeOnly && x.backend.isLive(x)) x.backend.release(x)
  const go = (want: unknown, got: unknown, path: string): void => {
    if (want instanceof Tensor) {
      if (!(got instanceof StoredTensor)) throw new StructureError(path, `the saved state has ${kindOf(got)} where the params give ${kindOf(want)}`)
      if (!sameShape(want.shape, got.shape)) throw new ShapeError(path, `the saved state has [${got.shape.join(', ')}] where the params give [${want.shape.join(', ')}]`)
      return
    }
    if (Array.isArray(want)) {
      if (!Array.isArray(got)) throw new StructureError(path, `the saved state has ${kindOf(got)} where the params give an array`)
      if (got.length === want.length) want.forEach((w, i) => go(w, got[i], tree.childPath(path, i)))
      else if (tree.isNode(template)) got.forEach((g, i) => tree.sameStructure(g, template) && go(template, g, tree.childPath(path, i)))
      return
    }
    if (tree.isNode(want)) {
      if (!tree.isNode(got) || Array.isArray(got)) throw new StructureError(path, `the saved state has ${kindOf(got)} where the params give a record`)
      for (const k of [...new Set([...Object.keys(want), ...Object.keys(got)])].sort()) {
        if (!Object.hasOwn(got, k)) throw new StructureError(tree.childPath(path, k), 'missing from the saved state (the params have it)')
        if (!Object.hasOwn(want, k)) throw new StructureError(tree.childPath(path, k), 'in the saved state but not in the params')
        go((want as Record<string, unknown>)[k], (got as Record<string, unknown>)[k], tree.childPath(path, k))
      }
    }
    // other leaves (counts, random keys' words) were checked by the codec
  }
  go(expected, state, '')
}

// ---- uploading ---------------------------------------------------------------------------------------

/** Uploads every StoredTensor of a decoded tree; if one upload fails, releases those already made. */
const upload = (host: unknown, backend: Backend): unknown => {
  const made: Tensor[] = []
  const go = (x: unknown): unknown => {
    if (x instanceof StoredTensor) {
      const t = backend.fromData(x.data, x.shape)
      made.push(t)
      return t
    }
    if (Array.isArray(x)) return Object.freeze(x.map(go))
    if (tree.isNode(x)) return Object.freeze(Object.fromEntries(Object.entries(x).map(([k, v]) => [k, go(v)])))
    return x
  }
  try {
    return go(host)
  } catch (e) {
    for (const t of made) if (t.backend.isLive(t)) t.backend.release(t)
    throw e
  }
}

/** The host form of a state: tensors read back as StoredTensors, every other leaf as it is. */
const hostForm = async (value: unknown): Promise<unknown> => {
  const host = await readTree(value)
  const shapes = tree.leaves(value as tree.Tree<unknown>).map((x) => (x instanceof Tensor ? x.shape : undefined))
  const { leaves, structure } = tree.flatten(host as tree.Tree<unknown>)
  return tree.unflatten(structure, leaves.map((x, i) => (x instanceof Float32Array ? new StoredTensor(shapes[i]!, x) : x)))
}

// ---- saving and loading state --------------------------------------------------------------------

/** The format name of a saved state. */
export const stateFormat = 'fluxion-state'
/** The version of the saved-state format this fluxion writes and reads. */
export const stateFormatVersion = 1

/** What `saveState` returns: the encoded state in a versioned, checksummed envelope (JSON data). */
export interface StateEnvelope {
  readonly format: typeof stateFormat
  readonly version: typeof stateFormatVersion
  /** Which transformation wrote it, or null for one without an identity. */
  readonly transform: TransformIdentity | null
  /** `'crc32:'` and 8 hex digits, over the canonical JSON of format, version, transform and state. */
  readonly checksum: string
  /** The state's JSON form, as its `stateCodec` encodes it. */
  readonly state: unknown
}

/** Options of `loadState`. */
export interface LoadStateOptions {
  /**
   * The params the state belongs to: every tensor of the state must then have the shape
   * `transform.init(params)` would give it (checked without allocating), else a ShapeError or
   * StructureError names the path.
   */
  readonly params?: Params
  /** A state another transformation wrote: 'refuse' (default, a CheckpointError) or 'warn' and load it. */
  readonly onOtherTransform?: 'refuse' | 'warn'
  /** A state this transformation wrote with other hyperparameters: 'warn' (default), 'refuse' or 'ignore'. */
  readonly onOtherHyperparameters?: 'warn' | 'refuse' | 'ignore'
  /** Load a state saved before the envelope (fluxion ≤ 0.2), without checksum or identity. Default false. */
  readonly acceptLegacy?: boolean
  /** Where warnings go. Default `console.warn`. */
  readonly onWarning?: (message: string) => void
}

const optional = <C extends t.Mixed>(c: C) => t.union([c, t.undefined])
const loadOptionCodecs = {
  params: t.unknown,
  onOtherTransform: optional(t.keyof({ refuse: null, warn: null }, "'refuse' or 'warn'")),
  onOtherHyperparameters: optional(t.keyof({ warn: null, refuse: null, ignore: null }, "'warn', 'refuse' or 'ignore'")),
  acceptLegacy: optional(t.boolean),
  onWarning: optional(t.Function),
}

/** The codec of a transformation's state, or an UnsupportedError. */
const codecOf = (transform: GradientTransformation<unknown>): t.Mixed => {
  const codec = (transform as { stateCodec?: t.Mixed }).stateCodec
  if (!codec) throw new UnsupportedError('this transformation has no stateCodec, so its state cannot be saved or loaded')
  return codec
}

const sealState = (transform: TransformIdentity | null, state: unknown): StateEnvelope => {
  const body = { format: stateFormat, version: stateFormatVersion, transform } as const
  return { ...body, checksum: checksumOf({ ...body, state }), state }
}

const describeIdentity = (x: TransformIdentity): string => `${x.name} ${canonicalJson(x.hyperparameters)}`

/** The hyperparameters that differ, as `name: saved → now` lines. */
const hyperparameterChanges = (saved: TransformIdentity, now: TransformIdentity): string[] =>
  [...new Set([...Object.keys(saved.hyperparameters), ...Object.keys(now.hyperparameters)])]
    .sort()
    .flatMap((k) => {
      const a = Object.hasOwn(saved.hyperparameters, k) ? canonicalJson(saved.hyperparameters[k]) : '(none)'
      const b = Object.hasOwn(now.hyperparameters, k) ? canonicalJson(now.hyperparameters[k]) : '(none)'
      return a === b ? [] : [`${k}: ${a} → ${b}`]
    })

/** Opens an envelope: checks format, version, fields and the transform's name; returns the encoded state. */
const openEnvelope = (
  json: unknown,
  transform: GradientTransformation<unknown>,
  o: LoadStateOptions,
  warn: (m: string) => void,
): { state: unknown; verify: () => void } => {
  if (!isRecord(json) || !Object.hasOwn(json, 'format')) {
    if (!o.acceptLegacy) {
      throw new CheckpointError(
        'legacy',
        `not a saved fluxion state: expected the envelope { format: '${stateFormat}', version: ${stateFormatVersion}, transform, checksum, state } that saveState writes; a state saved by fluxion 0.2 or earlier loads with loadState(transform, json, backend, { acceptLegacy: true }), without its checksum and transformation checks`,
      )
    }
    warn('loading a state saved without an envelope (fluxion ≤ 0.2): there is no checksum or transformation to verify')
    return { state: json, verify: () => undefined }
  }
  if (json.format !== stateFormat) {
    const hint = json.format === checkpointFormat ? ' (this is a checkpoint: read it with decodeCheckpoint or loadCheckpoint)' : ''
    throw new CheckpointError('format', `expected format '${stateFormat}', got ${JSON.stringify(json.format)?.slice(0, 60)}${hint}`)
  }
  if (json.version !== stateFormatVersion) {
    const newer = typeof json.version === 'number' && json.version > stateFormatVersion
    throw new CheckpointError('format', `${stateFormat} version ${JSON.stringify(json.version)?.slice(0, 20)} ${newer ? 'was written by a newer fluxion; this one reads' : 'is unknown; this fluxion reads'} version ${stateFormatVersion}`)
  }
  if (typeof json.checksum !== 'string' || !checksumPattern.test(json.checksum)) throw new CheckpointError('format', `the envelope's checksum must be 'crc32:' and 8 hex digits, got ${JSON.stringify(json.checksum)?.slice(0, 40)}`)
  if (json.transform !== null && !isIdentity(json.transform)) throw new CheckpointError('format', "the envelope's transform must be null or { name, hyperparameters }")
  if (!Object.hasOwn(json, 'state')) throw new CheckpointError('format', 'the envelope has no state')
  // every field of the envelope is covered by its checksum, so no other field may ride along
  const extra = Object.keys(json).filter((k) => !['format', 'version', 'transform', 'checksum', 'state'].includes(k))
  if (extra.length > 0) throw new CheckpointError('format', `the envelope has fields it does not define (${extra.map((k) => JSON.stringify(k)).join(', ')}); it holds format, version, transform, checksum and state`)
  const saved = json.transform
  const now = transform.identity ?? null
  if (saved !== null && now !== null && saved.name !== now.name) {
    const message = `this state was saved by ${describeIdentity(saved)} and does not fit ${describeIdentity(now)}: a state belongs to the transformation that wrote it`
    if ((o.onOtherTransform ?? 'refuse') === 'refuse') throw new CheckpointError('transform', `${message} (onOtherTransform: 'warn' loads it anyway)`)
    warn(message)
  }
  const verify = () => {
    const actual = checksumOf({ format: json.format, version: json.version, transform: json.transform, state: json.state })
    if (actual !== json.checksum) throw new CheckpointError('checksum', `checksum mismatch: the envelope says ${String(json.checksum)}, the content gives ${actual}; the state was changed or damaged after it was saved`)
    if (saved === null && now !== null) warn(`the state was saved by a transformation without an identity, so it cannot be checked to fit ${now.name}`)
    if (saved !== null && now === null) warn(`the state was saved by ${saved.name}; this transformation has no identity, so that cannot be checked`)
    if (saved === null || now === null || saved.name !== now.name) return
    const changes = hyperparameterChanges(saved, now)
    const policy = o.onOtherHyperparameters ?? 'warn'
    if (changes.length === 0 || policy === 'ignore') return
    const message = `${now.name}: the state was saved with other hyperparameters (saved → now): ${changes.join(', ')}`
    if (policy === 'refuse') throw new CheckpointError('hyperparameters', message)
    warn(message)
  }
  return { state: json.state, verify }
}

/** Every check of `loadState`, on the host; returns the decoded state, ready to upload. */
const prepareState = (transform: GradientTransformation<unknown>, json: unknown, options: LoadStateOptions): unknown => {
  const o = validate('loadState', loadOptionCodecs, options) as LoadStateOptions
  const warn = o.onWarning ?? ((m: string) => console.warn(m))
  const codec = codecOf(transform)
  checkJsonDepth(json)
  const envelope = openEnvelope(json, transform, o, warn)
  const decoded = decodeOrThrow(codec, envelope.state, '')
  envelope.verify()
  if (o.params !== undefined) checkFitsParams(transform, decoded, o.params)
  return decoded
}

/**
 * The state in a versioned, checksummed envelope (JSON data), reading its tensors back
 * (asynchronous). The envelope records the transformation's identity when it has one (every
 * fluxion optimizer does).
 *
 * @example
 * ```ts
 * const params = { w: fromArray([1, -2]) }
 * const opt = adam({ learningRate: 0.1 })
 * const [, state] = opt.update(params, opt.init(params), params)
 * const json = await saveState(opt, state) // { format: 'fluxion-state', version: 1, transform, checksum, state }
 * const restored = loadState(opt, JSON.parse(JSON.stringify(json)), cpu, { params })
 * ```
 */
export const saveState = async <S>(transform: GradientTransformation<S>, state: S): Promise<StateEnvelope> => {
  const codec = codecOf(transform as GradientTransformation<unknown>)
  return sealState(transform.identity ?? null, codec.encode(await hostForm(state)))
}

/**
 * Validates a saved state and uploads its tensors to `backend` (default cpu). Before allocating
 * anything it refuses, with a typed error: JSON nested deeper than `maxJsonDepth` (TreeDepthError);
 * an unknown format or version, a state without an envelope (unless `acceptLegacy`), or one
 * another transformation wrote (CheckpointError); a field of the wrong type or outside its domain
 * (StateDecodeError naming the path); a checksum mismatch (CheckpointError); and, given
 * `options.params`, a tensor whose shape differs from the params' (ShapeError / StructureError
 * naming the path). Changed hyperparameters warn (or refuse, with `onOtherHyperparameters`).
 *
 * @example
 * ```ts
 * const params = { w: fromArray([1, -2]) }
 * const opt = adam({ learningRate: 0.1 })
 * const json = JSON.parse(JSON.stringify(await saveState(opt, opt.init(params))))
 * const state = loadState(opt, json, cpu, { params })
 * ```
 */
export const loadState = <S>(transform: GradientTransformation<S>, json: unknown, backend: Backend = cpu, options: LoadStateOptions = {}): S =>
  upload(prepareState(transform as GradientTransformation<unknown>, json, options), backend) as S

// ---- checkpoints ---------------------------------------------------------------------------------

/** The format name of a checkpoint. */
export const checkpointFormat = 'fluxion-checkpoint'

/** A checkpoint's JSON form: the step, the params and the state envelope under one checksum. */
export interface CheckpointJson {
  readonly format: typeof checkpointFormat
  readonly version: typeof stateFormatVersion
  readonly step: number
  /** `'crc32:'` and 8 hex digits, over the canonical JSON of format, version, step, params and state. */
  readonly checksum: string
  readonly params: unknown
  readonly state: StateEnvelope
}

/** What a checkpoint holds. */
export interface Checkpoint<S> {
  readonly params: Params
  readonly state: S
  /** The training step it was taken at, an integer in [0, 2^53). */
  readonly step: number
}

/**
 * A checkpoint's JSON form (asynchronous: reads the tensors back). Every params leaf must be a
 * Tensor.
 *
 * @example
 * ```ts
 * const params = { w: fromArray([1, -2]) }
 * const opt = adam({ learningRate: 0.1 })
 * const json = await encodeCheckpoint(opt, { params, state: opt.init(params), step: 0 })
 * const { step, state } = decodeCheckpoint(opt, JSON.parse(JSON.stringify(json)))
 * ```
 */
export const encodeCheckpoint = async <S>(transform: GradientTransformation<S>, checkpoint: Checkpoint<S>): Promise<CheckpointJson> => {
  if (!countCodec.is(checkpoint.step)) throw new HyperparameterError('encodeCheckpoint', 'step', checkpoint.step, countCodec.name)
  tree.leaves(checkpoint.params).forEach((x, i) => {
    if (!(x instanceof Tensor)) throw new BackendError(tree.paths(checkpoint.params)[i]!, `params leaf is not a Tensor: ${String(x)}`)
  })
  const [params, state] = await Promise.all([hostForm(checkpoint.params).then((h) => paramsCodec.encode(h)), saveState(transform, checkpoint.state)])
  const body = { format: checkpointFormat, version: stateFormatVersion, step: checkpoint.step } as const
  return { ...body, checksum: checksumOf({ ...body, params, state }), params, state }
}

/**
 * Validates a checkpoint's JSON and uploads its params and state to `backend` (default cpu). The
 * checkpoint's checksum is verified first, so a damaged or torn checkpoint is a CheckpointError
 * with `problem: 'checksum'` (or `'format'`); then the params, and the state as `loadState` does
 * with those params. Nothing is allocated unless everything passes.
 */
export const decodeCheckpoint = <S>(
  transform: GradientTransformation<S>,
  json: unknown,
  backend: Backend = cpu,
  options: Omit<LoadStateOptions, 'params'> = {},
): Checkpoint<S> => {
  checkJsonDepth(json)
  if (!isRecord(json) || json.format !== checkpointFormat) {
    throw new CheckpointError('format', `expected format '${checkpointFormat}', got ${isRecord(json) ? JSON.stringify(json.format)?.slice(0, 60) : kindOf(json).slice(0, 60)}`)
  }
  if (json.version !== stateFormatVersion) throw new CheckpointError('format', `${checkpointFormat} version ${JSON.stringify(json.version)?.slice(0, 20)} is not version ${stateFormatVersion}, the one this fluxion reads`)
  const actual = checksumOf({ format: json.format, version: json.version, step: json.step, params: json.params, state: json.state })
  if (actual !== json.checksum) throw new CheckpointError('checksum', `checksum mismatch: the checkpoint says ${JSON.stringify(json.checksum)?.slice(0, 40)}, the content gives ${actual}; it is torn or was changed after it was written`)
  const step = decodeOrThrow(countCodec, json.step, 'step') as number
  const hostParams = decodeOrThrow(paramsCodec, json.params, 'params')
  const hostState = prepareState(transform as GradientTransformation<unknown>, json.state, { ...options, params: hostParams as Params })
  const params = upload(hostParams, backend) as Params
  try {
    return { params, state: upload(hostState, backend) as S, step }
  } catch (e) {
    for (const x of tree.leaves(params)) if (x instanceof Tensor && x.backend.isLive(x)) x.backend.release(x)
    throw e
  }
}
