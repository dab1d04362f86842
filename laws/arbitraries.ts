/**
 * fast-check arbitraries for the laws: tree templates of random shapes, float32-representable
 * values, and gradient sequences shaped like a template.
 */
import fc from 'fast-check'
import { tree } from '../src/index.js'
import { HostTensor, type HostTree } from './host.js'

/** A shape of rank 0 to 2 with dimensions 1 to 4. */
export const shapeArb: fc.Arbitrary<number[]> = fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 0, maxLength: 2 })

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1)

/** A tree template (zeros) of 1 to 4 leaves in records and arrays, e.g. `{ a: [x, y], b: z }`. */
export const templateArb: fc.Arbitrary<HostTree> = fc
  .tuple(
    fc.array(shapeArb, { minLength: 1, maxLength: 4 }),
    fc.constantFrom<'record' | 'array' | 'nested'>('record', 'array', 'nested'),
  )
  .map(([shapes, layout]) => {
    const leaves = shapes.map((s) => new HostTensor(s, new Float64Array(size(s))))
    if (layout === 'array') return leaves
    if (layout === 'record') return Object.fromEntries(leaves.map((l, i) => [`p${i}`, l]))
    return { layer: { kernel: leaves[0]!, rest: leaves.slice(1) } }
  })

/** Options of the value arbitraries. */
export interface ValueOptions {
  readonly min?: number
  readonly max?: number
  /** Probability weight of exact zeros (default 1 in 8). */
  readonly zeroWeight?: number
  /**
   * Magnitudes below this become 0 (default 1e-6), keeping float32 denormals and underflowing
   * squares out of comparisons against float64 references; 0 keeps every value.
   */
  readonly minAbs?: number
}

/** A float32-representable double in [min, max], with extra weight on 0. */
export const float32Arb = ({ min = -10, max = 10, zeroWeight = 1, minAbs = 1e-6 }: ValueOptions = {}): fc.Arbitrary<number> =>
  fc.oneof(
    { weight: 7, arbitrary: fc.double({ min, max, noNaN: true, noDefaultInfinity: true }).map((x) => (Math.abs(x) < minAbs ? 0 : Math.fround(x))) },
    { weight: zeroWeight, arbitrary: fc.constant(0) },
  )

/** Values filling a template's shapes. */
export const valuesLike = (template: HostTree, options: ValueOptions = {}): fc.Arbitrary<HostTree> => {
  const { leaves, structure } = tree.flatten(template)
  return fc
    .tuple(...leaves.map((l) => fc.array(float32Arb(options), { minLength: l.data.length, maxLength: l.data.length })))
    .map((arrays) => tree.unflatten(structure, arrays.map((a, i) => new HostTensor(leaves[i]!.shape, a))))
}

/** Parameters and a sequence of 1 to `maxSteps` gradients of the same structure. */
export interface SequenceInput {
  readonly params: HostTree
  readonly grads: readonly HostTree[]
}

export const sequenceArb = (options: { minSteps?: number; maxSteps?: number; grads?: ValueOptions; params?: ValueOptions } = {}): fc.Arbitrary<SequenceInput> =>
  templateArb.chain((template) =>
    fc.record({
      params: valuesLike(template, options.params),
      grads: fc.array(valuesLike(template, options.grads), { minLength: options.minSteps ?? 1, maxLength: Math.max(options.maxSteps ?? 6, options.minSteps ?? 1) }),
    }),
  )

/**
 * Extreme float32 values: denormals and tiny numbers, huge ones near the float32 maximum, ±0, NaN
 * and ±∞ — for laws that must hold whatever the values (purity, determinism, identities).
 */
export const extremeFloatArb: fc.Arbitrary<number> = fc.oneof(
  fc.double({ min: 1e-45, max: 1e-30, noNaN: true }).chain((x) => fc.constantFrom(x, -x)).map(Math.fround),
  fc.double({ min: 1e30, max: 3.4e38, noNaN: true }).chain((x) => fc.constantFrom(x, -x)).map(Math.fround),
  fc.constantFrom(0, -0, NaN, Infinity, -Infinity),
  fc.double({ min: -10, max: 10, noNaN: true }).map(Math.fround),
)

/** Parameters and gradient sequences whose values include the extreme ones. */
export const extremeSequenceArb = (maxSteps = 4): fc.Arbitrary<SequenceInput> =>
  templateArb.chain((template) => {
    const { leaves, structure } = tree.flatten(template)
    const values = fc
      .tuple(...leaves.map((l) => fc.array(extremeFloatArb, { minLength: l.data.length, maxLength: l.data.length })))
      .map((arrays) => tree.unflatten(structure, arrays.map((a, i) => new HostTensor(leaves[i]!.shape, a))))
    return fc.record({ params: values, grads: fc.array(values, { minLength: 1, maxLength: maxSteps }) })
  })

/**
 * An arbitrary of values inside the range an io-ts codec of `ranges` states (its name), so
 * hyperparameters are drawn from exactly the domain a transform validates. Unknown codecs throw.
 */
export const arbitraryFromCodec = (codec: { readonly name: string }): fc.Arbitrary<unknown> => {
  switch (codec.name) {
    case 'a finite number':
      return fc.double({ min: -10, max: 10, noNaN: true })
    case 'a finite number ≥ 0':
      return fc.oneof(fc.constant(0), fc.double({ min: 1e-6, max: 10, noNaN: true }))
    case 'a finite number > 0':
      return fc.double({ min: 1e-6, max: 10, noNaN: true })
    case 'a number in [0, 1)':
      return fc.oneof(fc.constant(0), fc.double({ min: 1e-3, max: 0.999, noNaN: true }))
    case 'a number in [0, 1]':
      return fc.double({ min: 0, max: 1, noNaN: true })
    case 'a number in (0, 1)':
      return fc.double({ min: 1e-3, max: 0.999, noNaN: true })
    case 'an integer ≥ 1':
      return fc.integer({ min: 1, max: 20 })
    case 'an integer ≥ 0':
      return fc.integer({ min: 0, max: 20 })
    case 'a number ≥ 0 (Infinity allowed)':
      return fc.oneof(fc.constant(0), fc.constant(Infinity), fc.double({ min: 1e-6, max: 10, noNaN: true }))
    case 'a finite number ≥ 1':
      return fc.double({ min: 1, max: 10, noNaN: true })
    case 'an integer ≥ 1 or Infinity':
      return fc.oneof(fc.integer({ min: 1, max: 20 }), fc.constant(Infinity))
    case 'an integer in [0, 2^53)':
      return fc.maxSafeNat()
    case 'boolean':
      return fc.boolean()
    case 'a finite number ≥ 0 or a schedule (step) => number':
      return fc.double({ min: 1e-4, max: 1, noNaN: true })
    default:
      throw new Error(`arbitraryFromCodec: no arbitrary for the codec "${codec.name}"`)
  }
}

/** Records of hyperparameters drawn from their codecs. */
export const hyperparametersArb = (codecs: Readonly<Record<string, { readonly name: string }>>): fc.Arbitrary<Record<string, unknown>> =>
  fc.record(Object.fromEntries(Object.entries(codecs).map(([k, c]) => [k, arbitraryFromCodec(c)])))
