/**
 * Laws of gradient transformations, as pure predicates: each takes the transformation(s), an input
 * (params and a gradient sequence on the host) and a backend, runs them, and returns a `LawResult`
 * whose `ok` is the law's truth value and whose `message` explains a failure.
 */
import {
  type AnyTransformation,
  type Backend,
  chain,
  dispose,
  identity,
  loadState,
  saveState,
  readTree,
  setToZero,
  tree,
} from '../../src/index.js'
import type { Tree } from '../../src/index.js'
import { type Comparison, type Tolerance, allClose } from '../allclose.js'
import type { SequenceInput } from '../arbitraries.js'
import { type HostTree, hostMap, toDevice } from '../host.js'
import { runTransform } from '../run.js'
import { sameData } from './snapshot.js'

/** The outcome of checking one law on one input. */
export type LawResult = Comparison

/** Bitwise equality: for laws that hold exactly in floating point. A NaN on either side is a mismatch. */
export const exact: Tolerance = Object.freeze({ rtol: 0, atol: 0 })

/**
 * Exact equality where a NaN matches a NaN: for laws that a value stays what it was (purity, a
 * restored state, an identity), where a NaN that came in must come out as NaN.
 */
export const unchanged: Tolerance = Object.freeze({ rtol: 0, atol: 0, nanEqual: true })

/** Two runs over one input (transformations and backends may differ) emit the same updates and params. */
const runsAgree = async (
  [ta, ba]: readonly [AnyTransformation, Backend],
  [tb, bb]: readonly [AnyTransformation, Backend],
  input: SequenceInput,
  tol: Tolerance,
): Promise<LawResult> => {
  const ra = await runTransform(ta, input.params, input.grads, ba)
  const rb = await runTransform(tb, input.params, input.grads, bb)
  const u = allClose(ra.updates, rb.updates, tol)
  return u.ok ? allClose(ra.params, rb.params, tol) : u
}

const sameRuns = (a: AnyTransformation, b: AnyTransformation, input: SequenceInput, backend: Backend, tol: Tolerance) =>
  runsAgree([a, backend], [b, backend], input, tol)

/** Left identity: `chain(identity(), t)` emits the same updates as `t`, step for step. */
export const leftIdentity = (t: AnyTransformation, input: SequenceInput, backend: Backend, tol: Tolerance = exact) =>
  sameRuns(chain(identity(), t), t, input, backend, tol)

/** Right identity: `chain(t, identity())` emits the same updates as `t`, step for step. */
export const rightIdentity = (t: AnyTransformation, input: SequenceInput, backend: Backend, tol: Tolerance = exact) =>
  sameRuns(chain(t, identity()), t, input, backend, tol)

/** Associativity: `chain(chain(a, b), c)` and `chain(a, chain(b, c))` emit the same updates. */
export const chainAssociative = (
  a: AnyTransformation,
  b: AnyTransformation,
  c: AnyTransformation,
  input: SequenceInput,
  backend: Backend,
  tol: Tolerance = exact,
) => sameRuns(chain(chain(a, b), c), chain(a, chain(b, c)), input, backend, tol)

/** Annihilation: `setToZero()` turns every update into exact zeros (also after `t`). */
export const setToZeroZeroes = async (t: AnyTransformation, input: SequenceInput, backend: Backend): Promise<LawResult> => {
  const run = await runTransform(chain(t, setToZero()), input.params, input.grads, backend)
  const zeros = run.updates.map((u) => hostMap(() => 0, u))
  return allClose(run.updates, zeros, exact)
}

/**
 * Backend parity: the same run on two backends agrees within `tol`, step for step (updates and
 * state). What it guarantees depends on the inputs: the cpu backend computes in float64 inside and
 * the wasm and gpu backends in float32, so parity holds where float32 evaluation neither overflows
 * nor cancels, as on the values the law arbitraries draw ([−10, 10], magnitudes below 1e-6 flushed
 * to 0); docs/backends.md lists where the two semantics part.
 */
export const backendParity = (t: AnyTransformation, input: SequenceInput, a: Backend, b: Backend, tol: Tolerance): Promise<LawResult> =>
  runsAgree([t, a], [t, b], input, tol)

type Snapshot = Tree<Float32Array | unknown>

const snapshot = (x: unknown): Promise<Snapshot> => readTree(x as Tree<unknown>) as Promise<Snapshot>

const sameSnapshot = (a: Snapshot, b: Snapshot): LawResult => sameData(a, b, unchanged)

/**
 * Purity: `update` leaves its arguments (updates, state, params) byte-for-byte unchanged, and
 * `init` leaves the params unchanged.
 */
export const inputsUnchanged = async (t: AnyTransformation, input: SequenceInput, backend: Backend): Promise<LawResult> => {
  const params = toDevice(input.params, backend)
  const before = await snapshot(params)
  let state = t.init(params)
  const afterInit = await snapshot(params)
  let result = sameSnapshot(before, afterInit)
  try {
    for (const g of input.grads) {
      if (!result.ok) break
      const gd = toDevice(g, backend)
      const args = await snapshot([gd, state, params])
      const [u, next] = t.update(gd, state, params)
      result = sameSnapshot(args, await snapshot([gd, state, params]))
      dispose([gd, u, state], [next, params])
      state = next
    }
  } finally {
    dispose([params, state])
  }
  return result
}

/**
 * State round trip: after a few steps, `saveState` → JSON text → `loadState` gives a state whose
 * next update (and next state) equals the original's, bit for bit.
 */
export const stateRoundTrip = async (t: AnyTransformation, input: SequenceInput, backend: Backend): Promise<LawResult> => {
  if (!t.stateCodec) return { ok: false, path: '', index: -1, actual: NaN, expected: NaN, message: 'the transformation has no stateCodec' }
  const params = toDevice(input.params, backend)
  let state = t.init(params)
  const [last, ...firsts] = [...input.grads].reverse()
  for (const g of firsts.reverse()) {
    const gd = toDevice(g, backend)
    const [u, next] = t.update(gd, state, params)
    dispose([gd, u, state], [next, params])
    state = next
  }
  const json = JSON.parse(JSON.stringify(await saveState(t, state)))
  const restored = loadState(t, json, backend)
  const g = toDevice(last!, backend)
  const a = t.update(g, state, params)
  const b = t.update(g, restored, params)
  const result = sameSnapshot(await snapshot(a), await snapshot(b))
  dispose([g, a, b, state, restored, params])
  return result
}

/** Determinism: `init` twice gives equal states, and `update` twice on equal inputs gives equal results. */
export const deterministic = async (t: AnyTransformation, input: SequenceInput, backend: Backend): Promise<LawResult> => {
  const params = toDevice(input.params, backend)
  const s1 = t.init(params)
  const s2 = t.init(params)
  let result = sameSnapshot(await snapshot(s1), await snapshot(s2))
  if (result.ok) {
    const g = toDevice(input.grads[0]!, backend)
    const r1 = t.update(g, s1, params)
    const r2 = t.update(g, s1, params)
    result = sameSnapshot(await snapshot(r1), await snapshot(r2))
    dispose([g, r1, r2], params, s1)
  }
  dispose([params, s1, s2])
  return result
}

const scaleHost = (c: number, t: HostTree) => hostMap((x) => Math.fround(c * x), t)

/**
 * Scale invariance: f(c·g) = f(g) for every c > 0, on the whole gradient sequence. Holds for
 * Adam, RMSProp and AdaGrad with ε = 0 and for sign-based updates (signSGD, Lion's direction).
 */
export const scaleInvariant = async (t: AnyTransformation, input: SequenceInput, c: number, backend: Backend, tol: Tolerance): Promise<LawResult> => {
  const a = await runTransform(t, input.params, input.grads, backend)
  const b = await runTransform(t, input.params, input.grads.map((g) => scaleHost(c, g)), backend)
  return allClose(b.updates, a.updates, tol)
}

/**
 * Homogeneity: f(c·g) = c·f(g) on the whole gradient sequence, for any real c. Holds for plain and
 * momentum SGD, which are linear in the gradient sequence.
 */
export const homogeneous = async (t: AnyTransformation, input: SequenceInput, c: number, backend: Backend, tol: Tolerance): Promise<LawResult> => {
  const a = await runTransform(t, input.params, input.grads, backend)
  const b = await runTransform(t, input.params, input.grads.map((g) => scaleHost(c, g)), backend)
  return allClose(b.updates, a.updates.map((u) => hostMap((x) => c * x, u)), tol)
}

/**
 * Additivity: f(g + h) = f(g) + f(h) for two gradient sequences of one structure (with
 * homogeneity: linearity). Holds for plain and momentum SGD.
 */
export const additive = async (t: AnyTransformation, input: SequenceInput, other: readonly HostTree[], backend: Backend, tol: Tolerance): Promise<LawResult> => {
  const n = Math.min(input.grads.length, other.length)
  const g = input.grads.slice(0, n)
  const h = other.slice(0, n)
  const sum = g.map((gi, k) => hostMap((x, y) => Math.fround(x + y), gi, h[k]!))
  const [a, b, s] = await Promise.all([runTransform(t, input.params, g, backend), runTransform(t, input.params, h, backend), runTransform(t, input.params, sum, backend)])
  return allClose(s.updates, a.updates.map((u, k) => hostMap((x, y) => x + y, u, b.updates[k]!)), tol)
}

/** Identity: `t` emits its input updates unchanged (e.g. `addDecayedWeights({ weightDecay: 0 })`). */
export const isIdentity = async (t: AnyTransformation, input: SequenceInput, backend: Backend): Promise<LawResult> => {
  const r = await runTransform(t, input.params, input.grads, backend)
  // unchanged, so a NaN that came in is matched by the NaN that comes out
  return allClose(r.updates, input.grads.map((g) => hostMap(Math.fround, g)), unchanged)
}

const norm = (xs: ArrayLike<number>) => Math.sqrt(Array.from(xs).reduce((s, v) => s + v * v, 0))

/** Norm bound: after clipping to v, every leaf's norm (or the global norm, `global`) is ≤ v. */
export const normBounded = async (t: AnyTransformation, input: SequenceInput, v: number, backend: Backend, global = false): Promise<LawResult> => {
  const r = await runTransform(t, input.params, input.grads, backend)
  for (const u of r.updates) {
    const leaves = tree.leaves(u)
    const norms = global ? [Math.sqrt(leaves.reduce((s, l) => s + norm(l.data) ** 2, 0))] : leaves.map((l) => norm(l.data))
    const bad = norms.findIndex((n) => n > v * (1 + 1e-5) + 1e-6)
    if (bad >= 0) return { ok: false, path: tree.paths(u)[bad] ?? '', index: -1, actual: norms[bad]!, expected: v, message: `norm ${norms[bad]} > ${v}` }
  }
  return { ok: true }
}

/** Direction preserved: each clipped update is c·g with 0 < c ≤ 1 (per leaf, or one c for all with `global`). */
export const directionPreserved = async (t: AnyTransformation, input: SequenceInput, backend: Backend, global = false): Promise<LawResult> => {
  const r = await runTransform(t, input.params, input.grads, backend)
  for (let k = 0; k < r.updates.length; k++) {
    const us = tree.leaves(r.updates[k]!)
    const gs = tree.leaves(input.grads[k]!)
    const ratio = (a: number, b: number) => (b === 0 ? 1 : a / b)
    const globalC = ratio(Math.sqrt(us.reduce((s, l) => s + norm(l.data) ** 2, 0)), Math.sqrt(gs.reduce((s, l) => s + norm(l.data) ** 2, 0)))
    for (let j = 0; j < us.length; j++) {
      const c = global ? globalC : ratio(norm(us[j]!.data), norm(gs[j]!.data))
      if (!(c > 0 && c <= 1 + 1e-6)) return { ok: false, path: tree.paths(r.updates[k]!)[j] ?? '', index: -1, actual: c, expected: 1, message: `scale factor ${c} outside (0, 1]` }
      const cmp = allClose(us[j]!.data, gs[j]!.data.map((x) => c * Math.fround(x)), { rtol: 1e-4, atol: 1e-6 })
      if (!cmp.ok) return cmp
    }
  }
  return { ok: true }
}

/** Idempotence: applying the (stateless) transformation twice equals applying it once. */
export const idempotent = async (t: AnyTransformation, input: SequenceInput, backend: Backend, tol: Tolerance = { rtol: 1e-5, atol: 1e-6 }): Promise<LawResult> => {
  const once = await runTransform(t, input.params, input.grads, backend)
  const twice = await runTransform(t, input.params, once.updates, backend)
  return allClose(twice.updates, once.updates, tol)
}

/**
 * Reference: the updates `t` emits over the sequence equal `expected` (one tree per step), e.g. a
 * float64 transcription of the published formula, within `tol`.
 */
export const matchesReference = async (t: AnyTransformation, input: SequenceInput, expected: readonly HostTree[], backend: Backend, tol: Tolerance): Promise<LawResult> => {
  const r = await runTransform(t, input.params, input.grads, backend)
  return allClose(r.updates, expected, tol)
}
