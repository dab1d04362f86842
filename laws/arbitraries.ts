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

export const sequenceArb = (options: { maxSteps?: number; grads?: ValueOptions; params?: ValueOptions } = {}): fc.Arbitrary<SequenceInput> =>
  templateArb.chain((template) =>
    fc.record({
      params: valuesLike(template, options.params),
      grads: fc.array(valuesLike(template, options.grads), { minLength: 1, maxLength: options.maxSteps ?? 6 }),
    }),
  )
