/**
 * Laws of data preparation, as pure predicates: what is fitted on the training rows does not see
 * the held-out rows (metamorphic), splits are disjoint, and an epoch's batches use every row once.
 */
import { type HostMatrix, hostMatrix } from '../../src/index.js'
import { allClose } from '../allclose.js'
import { type LawResult, exact } from './transform.js'

/** What a data pipeline produces from the whole data set: its parts, their rows and what it fitted. */
export interface PreparedSplits {
  /** The source rows of each part, in the part's order; the first part is the training set. */
  readonly rows: readonly ArrayLike<number>[]
  /** Each part after preparation (e.g. standardized), row i from source row `rows[k][i]`. */
  readonly parts: readonly HostMatrix[]
  /** What was fitted (e.g. a standardizer's mean and std), compared exactly. */
  readonly fitted: Readonly<Record<string, ArrayLike<number>>>
}

/** A pipeline from the whole data set (all rows) to its prepared parts. */
export type SplitPipeline = (all: HostMatrix) => PreparedSplits

const fail = (message: string, path = '', index = -1, actual = NaN, expected = NaN): LawResult => ({ ok: false, path, index, actual, expected, message })

/**
 * Fitted on the training rows only (metamorphic): replacing some held-out rows (rows outside the
 * training part) by `change(row)` changes nothing fitted, not the split, not the prepared
 * training rows, and no prepared row whose source row was left alone, bit for bit. `change`
 * returns the new values of a held-out row, or undefined to leave it; it must change at least one.
 */
export const fittedOnTrainingRowsOnly = (pipeline: SplitPipeline, all: HostMatrix, change: (row: number) => ArrayLike<number> | undefined): LawResult => {
  const before = pipeline(all)
  const training = new Set(Array.from(before.rows[0] ?? []))
  const data = Float32Array.from(all.data)
  const changed = new Set<number>()
  for (let r = 0; r < all.rows; r++) {
    const values = training.has(r) ? undefined : change(r)
    if (values === undefined) continue
    data.set(Float32Array.from(values), r * all.cols)
    changed.add(r)
  }
  if (changed.size === 0) return fail('no held-out row was changed, so the law says nothing: change at least one')
  const after = pipeline(hostMatrix(data, all.rows, all.cols))
  const rows = allClose(after.rows.map((r) => Float64Array.from(r)), before.rows.map((r) => Float64Array.from(r)), exact)
  if (!rows.ok) return { ...rows, message: `changing held-out rows changed the split: ${rows.message}` }
  const fitted = allClose(after.fitted, before.fitted, exact)
  if (!fitted.ok) return { ...fitted, message: `changing held-out rows ${[...changed].slice(0, 5).join(', ')}${changed.size > 5 ? ', …' : ''} changed what was fitted: ${fitted.message}` }
  for (let k = 0; k < before.parts.length; k++) {
    const [a, b, source] = [before.parts[k]!, after.parts[k]!, before.rows[k]!]
    for (let i = 0; i < a.rows; i++) {
      if (changed.has(source[i]!)) continue
      const row = (m: HostMatrix) => m.data.subarray(i * a.cols, (i + 1) * a.cols)
      const same = allClose(row(b), row(a), exact)
      if (!same.ok) return { ...same, path: `parts[${k}]`, index: i * a.cols + same.index, message: `part ${k}, row ${i} (source row ${source[i]}, unchanged) was prepared differently after held-out rows changed: ${same.message}` }
    }
  }
  return { ok: true }
}

/**
 * Disjoint splits: every index of every part is an integer in [0, n), no row is in two parts (or
 * twice in one), and with `cover` every row is in some part.
 */
export const splitsArePartition = (parts: readonly ArrayLike<number>[], n: number, cover: boolean): LawResult => {
  const owner = new Map<number, number>()
  for (let k = 0; k < parts.length; k++) {
    const part = parts[k]!
    for (let i = 0; i < part.length; i++) {
      const r = part[i]!
      if (!Number.isInteger(r) || r < 0 || r >= n) return fail(`part ${k}, position ${i}: row ${r} is not in [0, ${n})`, `parts[${k}]`, i, r, n)
      const other = owner.get(r)
      if (other !== undefined) return fail(`row ${r} is in part ${other} and in part ${k}`, `parts[${k}]`, i, r, other)
      owner.set(r, k)
    }
  }
  if (cover && owner.size !== n) return fail(`the parts hold ${owner.size} of the ${n} rows`, '', -1, owner.size, n)
  return { ok: true }
}

/**
 * One epoch's batches use every row once: the indices are rows in [0, n), none twice, all n of
 * them (with `dropRemainder`, all but the n mod batchSize left out); every batch has `batchSize`
 * rows except a smaller last one (none with `dropRemainder`).
 */
export const batchesCoverEachRowOnce = (batches: readonly ArrayLike<number>[], n: number, batchSize: number, dropRemainder = false): LawResult => {
  const full = dropRemainder ? n - (n % batchSize) : n
  for (let k = 0; k < batches.length; k++) {
    const size = batches[k]!.length
    const last = k === batches.length - 1
    if (size > batchSize || size === 0 || (size < batchSize && (!last || dropRemainder))) return fail(`batch ${k} has ${size} rows (batchSize ${batchSize}, ${batches.length} batches)`, `batches[${k}]`, -1, size, batchSize)
  }
  const seen = splitsArePartition(batches, n, false)
  if (!seen.ok) return seen
  const count = batches.reduce((s, b) => s + b.length, 0)
  return count === full ? { ok: true } : fail(`the batches hold ${count} rows, expected ${full} of ${n}`, '', -1, count, full)
}
