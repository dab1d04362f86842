/**
 * Data laws: statistics fitted on the training rows are independent of the validation and test
 * rows (metamorphic: changing those rows changes nothing fitted, nor any other prepared row), for
 * the library's standardizer and centering and for the main job's own split (the lines of
 * examples/mnist.ts, compiled and run here); the splits are disjoint and cover the data; an
 * epoch's batches use every row once; and the planted variants (a scaler fitted on all rows, an
 * overlapping split, batches drawn with replacement, a dropped last batch) are rejected.
 */
import { readFileSync } from 'node:fs'
import fc from 'fast-check'
import ts from 'typescript'
import { describe, expect, it } from 'vitest'
import * as fluxion from '../src/index.js'
import { type HostMatrix, epochBatches, fitCentering, fitStandardizer, hostMatrix, key, permutation, takeRows, uniformValues } from '../src/index.js'
import * as laws from '../laws/predicates/index.js'
import { propertyParameters } from '../laws/runners.js'

const matrixArb = (rows: number, cols: number) => fc.array(fc.double({ min: -50, max: 50, noNaN: true }).map(Math.fround), { minLength: rows * cols, maxLength: rows * cols }).map((d) => hostMatrix(d, rows, cols))

/** A keyed split into train / validation / test, then `fit` on the training rows applied to every part. */
const keyedSplit =
  (seed: number, sizes: readonly [number, number, number], fit: (train: HostMatrix) => fluxion.Standardizer): laws.SplitPipeline =>
  (all) => {
    const order = permutation(key(seed), all.rows)
    const rows = [order.subarray(0, sizes[0]), order.subarray(sizes[0], sizes[0] + sizes[1]), order.subarray(sizes[0] + sizes[1], sizes[0] + sizes[1] + sizes[2])]
    const fitted = fit(takeRows(all, rows[0]!))
    return { rows, parts: rows.map((r) => fitted.transform(takeRows(all, r))), fitted: { mean: fitted.mean, std: fitted.std } }
  }

/** Held-out rows to change (a non-empty, keyed selection) and their new values, far from the old ones. */
const changeArb = fc.record({ seed: fc.nat({ max: 1e6 }), fraction: fc.double({ min: 0.05, max: 1, noNaN: true }), scale: fc.constantFrom(-1000, 3, 1e6) })
const changer = ({ seed, fraction, scale }: { seed: number; fraction: number; scale: number }, all: HostMatrix) => {
  const u = uniformValues(key(seed), all.rows)
  let first = true
  return (row: number) => {
    if (!(first || u[row]! < fraction)) return undefined
    first = false
    return Array.from({ length: all.cols }, (_, c) => scale * (1 + u[(row + c + 1) % all.rows]!))
  }
}

const splitArb = fc
  .record({ rows: fc.integer({ min: 3, max: 60 }), cols: fc.integer({ min: 1, max: 4 }), seed: fc.nat({ max: 1e6 }), a: fc.double({ min: 0.1, max: 0.9, noNaN: true }), b: fc.double({ min: 0, max: 1, noNaN: true }) })
  .chain(({ rows, cols, seed, a, b }) => {
    const train = Math.max(1, Math.floor(a * rows))
    const validation = Math.max(1, Math.floor(b * (rows - train)))
    return fc.record({ x: matrixArb(rows, cols), seed: fc.constant(seed), sizes: fc.constant([train, validation, rows - train - validation] as [number, number, number]), minStd: fc.constantFrom(0, 0.1) })
  })

describe('what is fitted on the training rows does not see the others', () => {
  it('fitStandardizer and fitCentering in a keyed split: held-out rows changed, nothing fitted or prepared from the rest changes', () =>
    fc.assert(
      fc.property(splitArb, changeArb, fc.boolean(), ({ x, seed, sizes, minStd }, change, centering) => {
        const pipeline = keyedSplit(seed, sizes, centering ? fitCentering : (m) => fitStandardizer(m, { minStd }))
        const r = laws.fittedOnTrainingRowsOnly(pipeline, x, changer(change, x))
        if (!r.ok) throw new Error(r.message)
        const p = laws.splitsArePartition(pipeline(x).rows, x.rows, true)
        if (!p.ok) throw new Error(p.message)
        return true
      }),
      propertyParameters(150),
    ))
})

/**
 * The main job's data preparation, compiled from examples/mnist.ts itself: the lines from
 * `const order = permutation(` to the one that builds `[train, validation, test]`, run on `all`.
 */
const mainJobSource = readFileSync(new URL('../examples/mnist.ts', import.meta.url), 'utf8')
const mainJobSplit = (seed: number, quick: boolean, source = mainJobSource): laws.SplitPipeline => {
  const start = source.indexOf('const order = permutation(')
  const endLine = 'const [train, validation, test] = [subset(trainIdx), subset(valIdx), subset(testIdx)]'
  const end = source.indexOf(endLine)
  if (start < 0 || end < start) throw new Error(`examples/mnist.ts no longer has the split this test runs (from "const order = permutation(" to "${endLine}"): update test/laws-data.test.ts`)
  const js = ts.transpileModule(source.slice(start, end + endLine.length), { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } }).outputText
  const names = Object.keys(fluxion).filter((n) => /^[A-Za-z_$][\w$]*$/.test(n))
  const body = `const { ${names.join(', ')} } = lib;\n{\n${js}\nreturn { rows: [trainIdx, valIdx, testIdx], parts: [train.x, validation.x, test.x], fitted: { mean: standardizer.mean, std: standardizer.std } }\n}`
  const run = new Function('lib', 'all', 'seed', 'quick', body) as (lib: typeof fluxion, all: { x: HostMatrix; y: HostMatrix }, seed: number, quick: boolean) => laws.PreparedSplits
  return (x) => run(fluxion, { x, y: hostMatrix(new Float32Array(x.rows * 10), x.rows, 10) }, seed, quick)
}

describe("the main job's split (examples/mnist.ts)", () => {
  it.each([
    ['--quick', true, 1000],
    ['full', false, 10000],
  ] as const)('%s: disjoint parts covering the digits, and the standardizer sees only the training digits', (_name, quick, rows) =>
    fc.assert(
      fc.property(fc.nat({ max: 1e6 }), changeArb, fc.integer({ min: 0, max: 1e6 }), (seed, change, dataSeed) => {
        const x = hostMatrix(Array.from(uniformValues(key(dataSeed), rows * 2), (u, i) => 255 * u * (i % 2)), rows, 2)
        const pipeline = mainJobSplit(seed, quick)
        const split = laws.splitsArePartition(pipeline(x).rows, rows, true)
        if (!split.ok) throw new Error(split.message)
        const r = laws.fittedOnTrainingRowsOnly(pipeline, x, changer(change, x))
        if (!r.ok) throw new Error(r.message)
        return true
      }),
      propertyParameters(quick ? 10 : 3),
    ))
})

describe('batches', () => {
  it('epochBatches: every row exactly once per epoch (all but n mod batchSize with dropRemainder), full batches but the last', () =>
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 1, max: 64 }), fc.nat({ max: 50 }), fc.nat({ max: 1e6 }), fc.boolean(), fc.boolean(), (n, batchSize, epoch, seed, shuffle, dropRemainder) => {
        const r = laws.batchesCoverEachRowOnce(epochBatches(key(seed), epoch, n, batchSize, { shuffle, dropRemainder }), n, batchSize, dropRemainder)
        if (!r.ok) throw new Error(r.message)
        return true
      }),
      propertyParameters(300),
    ))
})

// ---- planted bugs --------------------------------------------------------------------------

describe('the data laws catch planted bugs', () => {
  const x = hostMatrix(Array.from({ length: 40 }, (_, i) => Math.sin(i) * 10 + (i % 2)), 20, 2)
  const change = (m: HostMatrix) => changer({ seed: 1, fraction: 0.5, scale: 1000 }, m)
  const fails = (r: laws.LawResult, message: RegExp) => expect([r.ok, r.ok ? '' : r.message]).toEqual([false, expect.stringMatching(message)])

  it('fittedOnTrainingRowsOnly: a scaler fitted on all rows, or on training and validation rows', () => {
    const split = keyedSplit(4, [12, 4, 4], fitStandardizer)
    const onAll: laws.SplitPipeline = (all) => {
      const r = split(all)
      const s = fitStandardizer(all)
      return { rows: r.rows, parts: r.rows.map((rows) => s.transform(takeRows(all, rows))), fitted: { mean: s.mean, std: s.std } }
    }
    const onTrainAndValidation: laws.SplitPipeline = (all) => {
      const r = split(all)
      const s = fitStandardizer(takeRows(all, [...Array.from(r.rows[0]!), ...Array.from(r.rows[1]!)]))
      return { rows: r.rows, parts: r.rows.map((rows) => s.transform(takeRows(all, rows))), fitted: { mean: s.mean, std: s.std } }
    }
    expect(laws.fittedOnTrainingRowsOnly(split, x, change(x)).ok).toBe(true)
    fails(laws.fittedOnTrainingRowsOnly(onAll, x, change(x)), /changed what was fitted/)
    fails(laws.fittedOnTrainingRowsOnly(onTrainAndValidation, x, (r) => [r, r]), /changed what was fitted/)
    // a law that changes nothing says nothing: refused
    fails(laws.fittedOnTrainingRowsOnly(split, x, () => undefined), /no held-out row was changed/)
  })

  it("the main job's split with its standardizer fitted on every digit, or with validation overlapping training", () => {
    const all = hostMatrix(Array.from(uniformValues(key(2), 2000), (u) => 255 * u), 1000, 2)
    const fitted = 'fitStandardizer(takeRows(all.x, trainIdx)'
    const overlapping = 'split(sizes[0]!, sizes[1]!)'
    expect([mainJobSource.includes(fitted), mainJobSource.includes(overlapping)]).toEqual([true, true])
    expect(laws.fittedOnTrainingRowsOnly(mainJobSplit(0, true), all, change(all)).ok).toBe(true)
    fails(laws.fittedOnTrainingRowsOnly(mainJobSplit(0, true, mainJobSource.replace(fitted, 'fitStandardizer(all.x')), all, change(all)), /changed what was fitted/)
    fails(laws.splitsArePartition(mainJobSplit(0, true, mainJobSource.replace(overlapping, 'split(sizes[0]! - 1, sizes[1]!)'))(all).rows, 1000, true), /^row \d+ is in part 0 and in part 1/)
  })

  it('splitsArePartition: validation starting one row early (overlapping the training rows)', () => {
    const order = permutation(key(0), 20)
    expect(laws.splitsArePartition([order.subarray(0, 12), order.subarray(12, 16), order.subarray(16, 20)], 20, true).ok).toBe(true)
    fails(laws.splitsArePartition([order.subarray(0, 12), order.subarray(11, 15), order.subarray(16, 20)], 20, true), /is in part 0 and in part 1/)
    fails(laws.splitsArePartition([order.subarray(0, 12), order.subarray(12, 16), order.subarray(17, 20)], 20, true), /hold 19 of the 20 rows/)
  })

  it('batchesCoverEachRowOnce: batches drawn with replacement, and a last partial batch dropped silently', () => {
    const withReplacement = Array.from({ length: 4 }, (_, b) => Int32Array.from(uniformValues(key(b), 8), (u) => Math.floor(u * 30)))
    const dropped = epochBatches(key(0), 0, 30, 8).slice(0, 3)
    expect(laws.batchesCoverEachRowOnce(epochBatches(key(0), 0, 30, 8), 30, 8).ok).toBe(true)
    fails(laws.batchesCoverEachRowOnce(withReplacement, 30, 8), /is in part \d+ and in part \d+|row \d+ is in part/)
    fails(laws.batchesCoverEachRowOnce(dropped, 30, 8), /hold 24 rows, expected 30/)
    expect(laws.batchesCoverEachRowOnce(dropped, 30, 8, true).ok).toBe(true)
  })
})
