/**
 * fluxion state as TensorFlow.js optimizer weights, so that `model.save(…, { includeOptimizer: true })`
 * carries it: every tensor of `saveState`'s envelope becomes a float32 weight
 * (`fluxion/state/0`, `fluxion/state/1`, …) and the rest of the envelope (format, identity,
 * checksum, counters, the variable names and shapes) a JSON string weight `fluxion/state`, where
 * each tensor's base64 `data` is replaced by the number of its weight. Reading puts the bytes back
 * and hands the envelope to `loadState`, whose CRC-32 then covers the float weights too.
 */
import * as tf from '@tensorflow/tfjs-core'
import { fromByteArray, toByteArray } from 'base64-js'
import type { StateEnvelope } from '../core/state.js'
import { CheckpointError } from '../errors.js'
import type { NamedTensor } from './convert.js'

/** The name of the JSON weight, and the prefix of the float32 ones. */
export const stateWeightName = 'fluxion/state'
/** The format of the JSON weight. */
export const weightsFormat = 'fluxion-tfjs-optimizer'
/** The version of that format this fluxion writes and reads. */
export const weightsFormatVersion = 1

/** Where a tensor's data was in the envelope: the number of its float32 weight. */
const reference = 'fluxion/weight'

/** A variable the state belongs to: its key in the params tree and its shape. */
export interface SavedVariable {
  readonly name: string
  readonly shape: readonly number[]
}

const littleEndian = new Uint8Array(Float32Array.of(1).buffer)[3] === 0x3f

// tfjs weights are in the platform's byte order, fluxion's base64 in little-endian
const bytesToFloats = (bytes: Uint8Array): Float32Array => {
  if (littleEndian) return new Float32Array(bytes.slice().buffer)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  return Float32Array.from({ length: bytes.length / 4 }, (_, i) => view.getFloat32(i * 4, true))
}

const floatsToBytes = (values: Float32Array): Uint8Array => {
  if (littleEndian) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength)
  const bytes = new Uint8Array(values.length * 4)
  const view = new DataView(bytes.buffer)
  values.forEach((x, i) => view.setFloat32(i * 4, x, true))
  return bytes
}

const isTensorJson = (u: unknown): u is { shape: number[]; dtype: 'float32'; data: string } => {
  if (typeof u !== 'object' || u === null || Array.isArray(u)) return false
  const keys = Object.keys(u)
  const o = u as Record<string, unknown>
  return keys.length === 3 && Array.isArray(o.shape) && o.dtype === 'float32' && typeof o.data === 'string'
}

const mapJson = (u: unknown, f: (node: unknown) => unknown | undefined): unknown => {
  const replaced = f(u)
  if (replaced !== undefined) return replaced
  if (Array.isArray(u)) return u.map((x) => mapJson(x, f))
  if (typeof u === 'object' && u !== null) return Object.fromEntries(Object.entries(u).map(([k, v]) => [k, mapJson(v, f)]))
  return u
}

/** The weights of a saved state (after tfjs's `iter`): the JSON weight first, then one float32 weight per tensor. */
export const envelopeToWeights = (envelope: StateEnvelope, variables: readonly SavedVariable[]): NamedTensor[] => {
  const tensors: { shape: number[]; values: Float32Array }[] = []
  const state = mapJson(envelope.state, (node) => {
    if (!isTensorJson(node)) return undefined
    tensors.push({ shape: node.shape, values: bytesToFloats(toByteArray(node.data)) })
    return { shape: node.shape, dtype: node.dtype, [reference]: tensors.length - 1 }
  })
  const json = JSON.stringify({ format: weightsFormat, version: weightsFormatVersion, variables, tensors: tensors.length, envelope: { ...envelope, state } })
  const made: NamedTensor[] = []
  try {
    made.push({ name: stateWeightName, tensor: tf.scalar(json, 'string') })
    tensors.forEach((t, i) => made.push({ name: `${stateWeightName}/${i}`, tensor: tf.tensor(t.values, t.shape, 'float32') }))
  } catch (e) {
    tf.dispose(made.map((w) => w.tensor))
    throw e
  }
  return made
}

const formatError = (detail: string) => new CheckpointError('format', `tfjsOptimizer.setWeights: ${detail}`)

const isShape = (u: unknown): u is number[] => Array.isArray(u) && u.every((d) => Number.isInteger(d) && d >= 0)

/** The envelope and variables in weights that `envelopeToWeights` wrote, checked; `undefined` when there is no saved state. */
export const weightsToEnvelope = async (weights: readonly NamedTensor[]): Promise<{ envelope: unknown; variables: SavedVariable[] } | undefined> => {
  if (weights.length === 0) return undefined
  const byName = new Map(weights.map((w) => [w.name, w.tensor]))
  const head = byName.get(stateWeightName)
  if (head === undefined || head.dtype !== 'string' || head.size !== 1) {
    throw formatError(`no string weight '${stateWeightName}' among ${weights.map((w) => `'${w.name}'`).join(', ')}: these are not the weights of a fluxion optimizer (a tfjs optimizer's, perhaps)`)
  }
  let parsed: unknown
  try {
    parsed = JSON.parse((await head.data())[0] as unknown as string)
  } catch (e) {
    throw formatError(`'${stateWeightName}' is not JSON (${(e as Error).message})`)
  }
  const p = parsed as { format?: unknown; version?: unknown; variables?: unknown; tensors?: unknown; envelope?: unknown }
  if (typeof parsed !== 'object' || parsed === null || p.format !== weightsFormat) throw formatError(`'${stateWeightName}' is not in the ${weightsFormat} format`)
  if (p.version !== weightsFormatVersion) throw formatError(`version ${JSON.stringify(p.version)} of the ${weightsFormat} format; this fluxion reads version ${weightsFormatVersion}`)
  const variables = p.variables
  if (!Array.isArray(variables) || !variables.every((v) => typeof v?.name === 'string' && isShape(v?.shape))) throw formatError('the variables are not a list of { name, shape }')
  if (!Number.isSafeInteger(p.tensors) || typeof p.envelope !== 'object' || p.envelope === null) throw formatError('no envelope')
  const count = p.tensors as number
  const values: Float32Array[] = []
  for (let i = 0; i < count; i++) {
    const w = byName.get(`${stateWeightName}/${i}`)
    if (w === undefined || w.dtype !== 'float32') throw formatError(`weight '${stateWeightName}/${i}' (float32) is missing`)
    values.push((await w.data()) as Float32Array)
  }
  const used = new Set<number>()
  const fail: string[] = []
  const envelope = mapJson(p.envelope, (node) => {
    if (typeof node !== 'object' || node === null || !(reference in node)) return undefined
    const { shape, dtype, [reference]: index } = node as Record<string, unknown>
    const v = typeof index === 'number' ? values[index] : undefined
    if (v === undefined || !isShape(shape) || shape.reduce((a, d) => a * d, 1) !== v.length) {
      fail.push(`reference ${JSON.stringify(index)} with shape ${JSON.stringify(shape)}`)
      return node
    }
    used.add(index as number)
    return { shape, dtype, data: fromByteArray(floatsToBytes(v)) }
  })
  if (fail.length > 0) throw formatError(`tensors that do not fit their weights: ${fail.join(', ')}`)
  if (used.size !== count) throw formatError(`${count - used.size} float32 weights that the state does not use`)
  return { envelope, variables: variables as SavedVariable[] }
}
