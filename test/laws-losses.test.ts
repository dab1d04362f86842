/**
 * Numerical laws of every loss in src/losses on every backend: agreement with the float64
 * references (laws/reference/losses.ts) in value and gradient over the whole legal range (logits of
 * magnitude 1e4 and more, targets exactly 0 and 1, regression errors up to 1e19 where float32 holds
 * the loss), finite values and gradients there, the invariances each loss has, the references'
 * gradients against float64 finite differences, and planted bugs each law must reject.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type Loss,
  binaryCrossEntropyFromLogits,
  defineElementwise,
  elementwise,
  hinge,
  huber,
  meanAbsoluteError,
  meanSquaredError,
  multiclassHinge,
  scaleTensor,
  scope,
  softmaxCrossEntropy,
  sum,
  sumTo,
} from '../src/index.js'
import { allClose } from '../laws/allclose.js'
import { HostTensor } from '../laws/host.js'
import * as laws from '../laws/predicates/index.js'
import * as ref from '../laws/reference/losses.js'
import { assertLaw, propertyParameters } from '../laws/runners.js'
import { backends } from './backends.js'

type Input = laws.LossInput
const f32 = Math.fround

/** A float32 value of magnitude up to `max`, spread over every decade from 1e-3 (and exact zeros). */
const magnitudeArb = (max: number) =>
  fc.oneof(
    { weight: 1, arbitrary: fc.constant(0) },
    { weight: 6, arbitrary: fc.tuple(fc.double({ min: -3, max: Math.log10(max), noNaN: true }), fc.boolean()).map(([e, neg]) => f32((neg ? -1 : 1) * Math.min(max, 10 ** e))) },
    { weight: 1, arbitrary: fc.constantFrom(max, -max).map(f32) },
  )
/** Multiples of 1/4 in ±max (max ≤ 2²¹), so sums with integers are exact in float32. */
const quarterArb = (max: number) => fc.integer({ min: -4 * max, max: 4 * max }).map((k) => k / 4)

const shapeArb = fc.record({ rows: fc.integer({ min: 1, max: 5 }), cols: fc.integer({ min: 1, max: 4 }) })
const tensorOf = (rows: number, cols: number, value: fc.Arbitrary<number>) => fc.array(value, { minLength: rows * cols, maxLength: rows * cols }).map((v) => new HostTensor([rows, cols], v))
const pairArb = (p: fc.Arbitrary<number>, y: fc.Arbitrary<number>): fc.Arbitrary<Input> => shapeArb.chain(({ rows, cols }) => fc.record({ p: tensorOf(rows, cols, p), y: tensorOf(rows, cols, y) }))

/** Probability rows: one-hot (exact 0s and a 1), or nonnegative weights normalized, with exact zeros. */
const probabilityRows = (rows: number, cols: number) =>
  fc.array(
    fc.oneof(
      fc.nat({ max: cols - 1 }).map((c) => Array.from({ length: cols }, (_, j) => (j === c ? 1 : 0))),
      fc.array(fc.oneof(fc.constant(0), fc.double({ min: 0.01, max: 1, noNaN: true })), { minLength: cols, maxLength: cols }).map((w) => {
        const s = w.reduce((a, b) => a + b, 0)
        return s === 0 ? w.map((_, j) => (j === 0 ? 1 : 0)) : w.map((v) => f32(v / s))
      }),
    ),
    { minLength: rows, maxLength: rows },
  ).map((r) => new HostTensor([rows, cols], r.flat()))
const oneHotRows = (rows: number, cols: number) => fc.array(fc.nat({ max: cols - 1 }), { minLength: rows, maxLength: rows }).map((ls) => new HostTensor([rows, cols], ls.flatMap((l) => Array.from({ length: cols }, (_, j) => (j === l ? 1 : 0)))))
const classArb = (logits: fc.Arbitrary<number>, targets: (rows: number, cols: number) => fc.Arbitrary<HostTensor>): fc.Arbitrary<Input> =>
  fc.record({ rows: fc.integer({ min: 1, max: 4 }), cols: fc.integer({ min: 2, max: 5 }) }).chain(({ rows, cols }) => fc.record({ p: tensorOf(rows, cols, logits), y: targets(rows, cols) }))

const targets01 = fc.oneof(fc.constantFrom(0, 1), fc.double({ min: 0, max: 1, noNaN: true }).map(f32))
const labelsPm1 = fc.constantFrom(-1, 1)

interface LossCase {
  readonly name: string
  readonly loss: Loss
  readonly reference: (p: HostTensor, y: HostTensor) => ref.LossReference
  /** The legal range: extreme but representable inputs. */
  readonly inputs: fc.Arbitrary<Input>
}

// regression errors up to 1.8e19 keep each (p − y)² in float32 (|p|, |y| ≤ 9e18); MAE and Huber take 1.7e38
const cases: readonly LossCase[] = [
  { name: 'meanSquaredError', loss: meanSquaredError, reference: ref.meanSquaredErrorReference, inputs: pairArb(magnitudeArb(9e18), magnitudeArb(9e18)) },
  { name: 'meanAbsoluteError', loss: meanAbsoluteError, reference: ref.meanAbsoluteErrorReference, inputs: pairArb(magnitudeArb(1.7e38), magnitudeArb(1.7e38)) },
  // beyond δ the loss is about δ|r|: |r| ≤ 3.4e38/δ keeps it in float32
  ...[0.5, 1, 1e6].map((delta) => ({ name: `huber(δ = ${delta})`, loss: huber({ delta }), reference: (p: HostTensor, y: HostTensor) => ref.huberReference(p, y, delta), inputs: pairArb(magnitudeArb(1.7e38 / Math.max(1, delta)), magnitudeArb(1.7e38 / Math.max(1, delta))) })),
  { name: 'binaryCrossEntropyFromLogits', loss: binaryCrossEntropyFromLogits, reference: ref.binaryCrossEntropyFromLogitsReference, inputs: pairArb(magnitudeArb(1e30), targets01) },
  { name: 'hinge', loss: hinge, reference: ref.hingeReference, inputs: pairArb(magnitudeArb(1e30), labelsPm1) },
  { name: 'softmaxCrossEntropy', loss: softmaxCrossEntropy, reference: ref.softmaxCrossEntropyReference, inputs: classArb(magnitudeArb(1e4), probabilityRows) },
  { name: 'multiclassHinge', loss: multiclassHinge, reference: ref.multiclassHingeReference, inputs: classArb(magnitudeArb(1e4), oneHotRows) },
]

const negate = (g: HostTensor) => new HostTensor(g.shape, g.data.map((v) => -v))
const same = (g: HostTensor) => g
const rowMap = (x: HostTensor, f: (v: number, row: number) => number) => new HostTensor(x.shape, Array.from(x.data, (v, i) => f(v, Math.floor(i / x.shape[1]!))))
const permuteRows = (x: HostTensor, order: readonly number[]) => {
  const c = x.shape[1]!
  return new HostTensor(x.shape, order.flatMap((r) => Array.from(x.data.subarray(r * c, (r + 1) * c))))
}

/** Each loss's metamorphic relations: a related input and how the gradient maps. Exact where the arithmetic is. */
const invariances: readonly { readonly name: string; readonly loss: Loss; readonly relation: string; readonly inputs: fc.Arbitrary<readonly [Input, Input, (g: HostTensor) => HostTensor]>; readonly exact: boolean }[] = [
  ...(
    [
      ['meanSquaredError', meanSquaredError],
      ['meanAbsoluteError', meanAbsoluteError],
      ['huber', huber({ delta: 1.5 })],
    ] as const
  ).flatMap(([name, loss]) => [
    { name, loss, relation: '(p, y) ↦ (p + c, y + c): same loss and gradient', exact: true, inputs: fc.tuple(pairArb(quarterArb(1e5), quarterArb(1e5)), fc.integer({ min: -1e5, max: 1e5 })).map(([i, c]) => [i, { p: rowMap(i.p, (v) => v + c), y: rowMap(i.y, (v) => v + c) }, same] as const) },
    { name, loss, relation: '(p, y) ↦ (y, p): same loss, negated gradient', exact: true, inputs: pairArb(magnitudeArb(1e18), magnitudeArb(1e18)).map((i) => [i, { p: i.y, y: i.p }, negate] as const) },
  ]),
  { name: 'binaryCrossEntropyFromLogits', loss: binaryCrossEntropyFromLogits, relation: '(x, y) ↦ (−x, 1 − y): same loss, negated gradient', exact: false, inputs: pairArb(magnitudeArb(1e4), targets01).map((i) => [i, { p: negate(i.p), y: new HostTensor(i.y.shape, i.y.data.map((v) => 1 - v)) }, negate] as const) },
  { name: 'hinge', loss: hinge, relation: '(p, y) ↦ (−p, −y): same loss, negated gradient', exact: true, inputs: pairArb(magnitudeArb(1e4), labelsPm1).map((i) => [i, { p: negate(i.p), y: negate(i.y) }, negate] as const) },
  ...(
    [
      ['softmaxCrossEntropy', softmaxCrossEntropy, probabilityRows],
      ['multiclassHinge', multiclassHinge, oneHotRows],
    ] as const
  ).map(([name, loss, targets]) => ({
    name,
    loss,
    relation: 'a constant added to each row of logits: same loss and gradient',
    exact: true,
    inputs: fc
      .tuple(classArb(quarterArb(1e4), targets), fc.array(fc.integer({ min: -1e4, max: 1e4 }), { minLength: 4, maxLength: 4 }))
      .map(([i, cs]) => [i, { p: rowMap(i.p, (v, r) => v + cs[r]!), y: i.y }, same] as const),
  })),
  ...cases.map((c) => ({
    name: c.name,
    loss: c.loss,
    relation: 'rows reordered: same loss, gradient reordered alike',
    exact: false,
    inputs: c.inputs.chain((i) => fc.shuffledSubarray([...Array(i.p.shape[0]!).keys()], { minLength: i.p.shape[0]!, maxLength: i.p.shape[0]! }).map((order) => [i, { p: permuteRows(i.p, order), y: permuteRows(i.y, order) }, (g: HostTensor) => permuteRows(g, order)] as const)),
  })),
]

describe.each(backends)('losses on $name', (backend) => {
  const runs = backend.name === 'cpu' ? 60 : 15

  it.each(cases)('$name agrees with its float64 reference, value and gradient, over the whole legal range', ({ loss, reference, inputs }) =>
    assertLaw(inputs, (i) => laws.lossMatchesReference(loss, i, reference, backend), runs, backend.name))

  it.each(cases)('$name has a finite value and gradient at extreme but legal inputs', ({ loss, inputs }) => assertLaw(inputs, (i) => laws.lossFinite(loss, i, backend), runs, backend.name))

  it('softmaxCrossEntropy is finite and agrees with the reference where logits spread over the whole float32 range (target: each row\'s first maximum)', () =>
    assertLaw(
      classArb(magnitudeArb(3.4e38), () => fc.constant(new HostTensor([1], [0]))).map(({ p }) => ({ p, y: oneHotAtFirstMaximum(p) })),
      (i) => all(() => laws.lossFinite(softmaxCrossEntropy, i, backend), () => laws.lossMatchesReference(softmaxCrossEntropy, i, ref.softmaxCrossEntropyReference, backend)),
      runs,
      backend.name,
    ))

  it.each(invariances)('$name: $relation', ({ loss, inputs, exact }) =>
    assertLaw(inputs, ([a, b, gradient]) => laws.lossInvariant(loss, a, b, gradient, backend, exact ? laws.exact : undefined), Math.ceil(runs / 2), backend.name))
})

/** One-hot rows at each row's first largest logit. */
const oneHotAtFirstMaximum = (p: HostTensor) => {
  const c = p.shape[1]!
  const y = new Float64Array(p.data.length)
  for (let r = 0; r < p.shape[0]!; r++) {
    let best = 0
    for (let j = 1; j < c; j++) if (p.data[r * c + j]! > p.data[r * c + best]!) best = j
    y[r * c + best] = 1
  }
  return new HostTensor(p.shape, y)
}

const all = async (...checks: (() => Promise<laws.LawResult>)[]): Promise<laws.LawResult> => {
  for (const check of checks) {
    const r = await check()
    if (!r.ok) return r
  }
  return { ok: true }
}

describe('the float64 references', () => {
  it.each(cases)('$name: the gradient is the derivative of the value (central differences in float64)', ({ reference, inputs }) =>
    fc.assert(
      fc.property(
        // moderate values (finite differences of a loss of 1e30 say nothing), off the integers where kinks sit
        inputs.map((i) => ({ p: new HostTensor(i.p.shape, i.p.data.map((v) => Math.max(-20, Math.min(20, v)) + 0.01)), y: new HostTensor(i.y.shape, i.y.data.map((v) => Math.max(-20, Math.min(20, v)))) })),
        ({ p, y }) => {
          const h = 1e-6
          const { grad } = reference(p, y)
          const numeric = Array.from(p.data, (_, k) => {
            const at = (d: number) => reference(new HostTensor(p.shape, p.data.map((v, j) => (j === k ? v + d : v))), y).loss
            return (at(h) - at(-h)) / (2 * h)
          })
          // a kink within h of a point (|r| = δ, a margin of 0, p = y) has no derivative: skip those entries
          const smooth = Array.from(p.data, (_, k) => {
            const at = (d: number) => reference(new HostTensor(p.shape, p.data.map((v, j) => (j === k ? v + d : v))), y).loss
            return Math.abs(at(2 * h) - 2 * at(0) + at(-2 * h)) < 1e-9
          })
          const c = allClose(Float64Array.from(numeric, (v, k) => (smooth[k] ? v : grad.data[k]!)), grad.data, { rtol: 1e-4, atol: 1e-6 })
          if (!c.ok) throw new Error(c.message)
          return true
        },
      ),
      propertyParameters(100),
    ))
})

// ---- planted bugs --------------------------------------------------------------------------

/** A loss from an elementwise (value, gradient) pair, averaged over all elements. */
const plantedElementwise = (name: string, value: string, gradient: string): Loss => {
  const op = defineElementwise({ name, inputs: ['p', 'y'], outputs: [value, gradient] })
  return (p, y) =>
    scope(() => {
      const [l, g] = elementwise(op, [p, y])
      return { loss: scaleTensor(sum(l!), 1 / p.size), grad: scaleTensor(g!, 1 / p.size) }
    })
}

/** Binary cross-entropy of logits without the log-sum-exp trick: −[y log σ(x) + (1 − y) log(1 − σ(x))]. */
const naiveBinaryCrossEntropy = plantedElementwise('plantedNaiveBce', '-(y * Math.log(1 / (1 + Math.exp(-p))) + (1 - y) * Math.log(1 - 1 / (1 + Math.exp(-p))))', '1 / (1 + Math.exp(-p)) - y')

/** Softmax cross-entropy without subtracting the row maximum: e^x overflows from x ≈ 88 in float32. */
const unshiftedSoftmax: Loss = (x, y) =>
  scope(() => {
    const b = x.shape[0]!
    const e = elementwise(defineElementwise({ name: 'plantedExp', inputs: ['x'], outputs: ['Math.exp(x)'] }), [x])[0]!
    const z = sumTo(e, [b, 1])
    const [l, g] = elementwise(defineElementwise({ name: 'plantedCe', inputs: ['x', 'y', 'z'], outputs: ['y * (Math.log(z) - x)', 'Math.exp(x) / z - y'] }), [x, y, z])
    return { loss: scaleTensor(sum(l!), 1 / b), grad: scaleTensor(g!, 1 / b) }
  })

/** Huber with the branch on r instead of |r|: every negative residual is "small". */
const huberWithoutAbs = plantedElementwise('plantedHuber', 'p - y <= 1 ? 0.5 * (p - y) * (p - y) : (Math.abs(p - y) - 0.5)', 'p - y <= 1 ? p - y : Math.sign(p - y)')

describe('the loss laws catch planted bugs', () => {
  const cpu = backends[0]!
  const logits: Input = { p: new HostTensor([2, 3], [1e4, -1e4, 3, 0.5, -2, 1e4 - 1]), y: new HostTensor([2, 3], [1, 0, 0, 0, 0.25, 0.75]) }
  const residuals: Input = { p: new HostTensor([1, 3], [-5, 0.5, 3]), y: new HostTensor([1, 3], [0, 0, 0]) }

  it('lossMatchesReference: binary cross-entropy without the log-sum-exp trick, at logits ±1e4', async () => {
    const law = (loss: Loss) => laws.lossMatchesReference(loss, logits, ref.binaryCrossEntropyFromLogitsReference, cpu)
    expect([(await law(binaryCrossEntropyFromLogits)).ok, (await law(naiveBinaryCrossEntropy)).ok]).toEqual([true, false])
  })

  it('lossFinite: softmax cross-entropy without the row maximum subtracted, and naive binary cross-entropy', async () => {
    expect((await laws.lossFinite(softmaxCrossEntropy, logits, cpu)).ok).toBe(true)
    expect((await laws.lossFinite(unshiftedSoftmax, logits, cpu)).ok).toBe(false)
    expect((await laws.lossFinite(naiveBinaryCrossEntropy, logits, cpu)).ok).toBe(false)
  })

  it('lossInvariant: Huber branching on r instead of |r| breaks (p, y) ↦ (y, p)', async () => {
    const law = (loss: Loss) => laws.lossInvariant(loss, residuals, { p: residuals.y, y: residuals.p }, negate, cpu, laws.exact)
    expect([(await law(huber({ delta: 1 }))).ok, (await law(huberWithoutAbs)).ok]).toEqual([true, false])
  })

  it('the shift invariance of softmax cross-entropy is exact, which a loss recomputing e^x without the shift is not', async () => {
    const i: Input = { p: new HostTensor([1, 3], [1.25, -3.5, 2]), y: new HostTensor([1, 3], [0, 1, 0]) }
    const shifted: Input = { p: rowMap(i.p, (v) => v + 40), y: i.y }
    expect((await laws.lossInvariant(softmaxCrossEntropy, i, shifted, same, cpu, laws.exact)).ok).toBe(true)
    expect((await laws.lossInvariant(unshiftedSoftmax, i, shifted, same, cpu, laws.exact)).ok).toBe(false)
  })
})
