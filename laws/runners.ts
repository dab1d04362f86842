/**
 * fast-check runners that drive the law predicates inside vitest. Every run uses a reported seed:
 * `FC_SEED` from the environment when set, else a fresh one printed once; a failure prints fast-check's
 * seed and path, and rerunning with `FC_SEED=<seed>` replays it.
 */
import fc from 'fast-check'
import { describe, it } from 'vitest'
import type { AnyTransformation, Backend, Layer, Schedule } from '../src/index.js'
import { type HostTree, hostMap } from './host.js'
import { type Tolerance, float32Tolerance } from './allclose.js'
import { type SequenceInput, sequenceArb } from './arbitraries.js'
import * as laws from './predicates/index.js'

let globalSeed: number | undefined

/** The seed of this process's property runs: `FC_SEED` or a fresh one (printed once). */
export const propertySeed = (): number => {
  if (globalSeed === undefined) {
    const env = typeof process !== 'undefined' ? process.env.FC_SEED : undefined
    globalSeed = env !== undefined && env !== '' ? Number(env) : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0
    if (!Number.isInteger(globalSeed)) throw new Error(`FC_SEED must be an integer, got ${env}`)
    console.info(`[fluxion laws] fast-check seed ${globalSeed} (replay with FC_SEED=${globalSeed})`)
  }
  return globalSeed
}

/** fast-check parameters with the reported seed. */
export const propertyParameters = <T>(numRuns: number, extra: fc.Parameters<T> = {}): fc.Parameters<T> => ({
  seed: propertySeed(),
  numRuns: Number(process.env.FC_NUM_RUNS ?? '') || numRuns,
  ...extra,
})

/** Asserts an async property of `arb`, where the property asserts a `LawResult`. */
export const assertLaw = async <T>(
  arb: fc.Arbitrary<T>,
  law: (value: T) => Promise<laws.LawResult>,
  numRuns: number,
): Promise<void> => {
  await fc.assert(
    fc.asyncProperty(arb, async (value) => {
      const r = await law(value)
      if (!r.ok) throw new Error(r.message)
      return true
    }),
    propertyParameters(numRuns),
  )
}


/** The laws `checkTransformLaws` and `verifyTransformLaws` know. */
export type TransformLaw =
  | 'leftIdentity'
  | 'rightIdentity'
  | 'associativity'
  | 'purity'
  | 'determinism'
  | 'stateRoundTrip'
  | 'parity'
  | 'reference'
  | 'scaleInvariance'
  | 'homogeneity'
  | 'additivity'

/** Options of the transform-law runners. */
export interface TransformLawOptions {
  /** Backends to run on; the first is the reference for parity. */
  readonly backends: readonly Backend[]
  /** Runs per law and backend (default 20; `FC_NUM_RUNS` overrides). */
  readonly numRuns?: number
  /** Tolerance for parity and the reference (default float32). */
  readonly tolerance?: Tolerance
  /** Laws to skip, for transforms where one does not apply, with the reason. */
  readonly except?: Partial<Record<TransformLaw, string>>
  /** Gradient sequences (default: sequenceArb()). */
  readonly inputs?: fc.Arbitrary<SequenceInput>
  /** Expected updates per step (a float64 reference); enables the 'reference' law. */
  readonly reference?: (input: SequenceInput) => readonly HostTree[]
  /** Opt-in laws that hold only for some transforms. */
  readonly scaleInvariant?: boolean
  readonly linear?: boolean
}

/** One law checked on one backend. */
export interface LawReport {
  readonly law: TransformLaw
  readonly backend: string
  readonly ok: boolean
  /** fast-check's seed and counterexample path: rerun with them to replay a failure. */
  readonly seed: number
  readonly path?: string
  readonly message?: string
}

type LawBody = (b: Backend) => (input: SequenceInput) => Promise<laws.LawResult>

const lawTable = (make: () => AnyTransformation, o: TransformLawOptions): [TransformLaw, string, LawBody][] => {
  const tol = o.tolerance ?? float32Tolerance
  const rows: [TransformLaw, string, LawBody][] = [
    ['leftIdentity', 'chain(identity(), t) = t', (b) => (x) => laws.leftIdentity(make(), x, b)],
    ['rightIdentity', 'chain(t, identity()) = t', (b) => (x) => laws.rightIdentity(make(), x, b)],
    ['associativity', 'chain(chain(t, t), t) = chain(t, chain(t, t))', (b) => (x) => laws.chainAssociative(make(), make(), make(), x, b)],
    ['purity', 'update and init do not mutate their inputs', (b) => (x) => laws.inputsUnchanged(make(), x, b)],
    ['determinism', 'init and update are deterministic', (b) => (x) => laws.deterministic(make(), x, b)],
    ['stateRoundTrip', 'saveState → JSON → loadState gives the same next step', (b) => (x) => laws.stateRoundTrip(make(), x, b)],
  ]
  if (o.reference) rows.push(['reference', 'updates match the float64 reference', (b) => (x) => laws.matchesReference(make(), x, o.reference!(x), b, tol)])
  if (o.scaleInvariant) rows.push(['scaleInvariance', 'f(c·g) = f(g) for c > 0', (b) => (x) => laws.scaleInvariant(make(), x, 2.5, b, tol)])
  if (o.linear) {
    rows.push(['homogeneity', 'f(c·g) = c·f(g)', (b) => (x) => laws.homogeneous(make(), x, -1.5, b, tol)])
    rows.push(['additivity', 'f(g + h) = f(g) + f(h)', (b) => (x) => laws.additive(make(), x, x.grads.map((g) => hostMap((v) => Math.fround(0.5 - v), g)), b, tol)])
  }
  return rows.filter(([law]) => o.except?.[law] === undefined)
}

/**
 * Checks the transformation laws on `make()` on every backend and returns one report per law and
 * backend instead of throwing: identity (left and right), associativity, purity, determinism,
 * state round trip, backend parity, and, when asked, the reference, scale invariance and
 * linearity. A failed report carries fast-check's seed and counterexample path.
 *
 * @example
 * ```ts
 * const reports = await verifyTransformLaws(() => myTransform(), { backends: [cpu] })
 * reports.filter((r) => !r.ok)
 * ```
 */
export const verifyTransformLaws = async (make: () => AnyTransformation, options: TransformLawOptions): Promise<LawReport[]> => {
  const { backends, numRuns = 20, tolerance = float32Tolerance, inputs = sequenceArb() } = options
  const parameters = propertyParameters<[SequenceInput]>(numRuns)
  const property = (body: (x: SequenceInput) => Promise<laws.LawResult>) =>
    fc.asyncProperty(inputs, async (x) => {
      const r = await body(x)
      if (!r.ok) throw new Error(r.message)
      return true
    })
  const report = (law: TransformLaw, backend: string, d: fc.RunDetails<[SequenceInput]>): LawReport =>
    d.failed
      ? { law, backend, ok: false, seed: d.seed, path: d.counterexamplePath ?? '', message: String((d.errorInstance as Error | undefined)?.message ?? 'failed') }
      : { law, backend, ok: true, seed: d.seed }
  const out: LawReport[] = []
  for (const [law, , body] of lawTable(make, options)) {
    for (const b of backends) out.push(report(law, b.name, await fc.check(property(body(b)), parameters)))
  }
  if (options.except?.parity === undefined) {
    for (const b of backends.slice(1)) {
      out.push(report('parity', `${backends[0]!.name} = ${b.name}`, await fc.check(property((x) => laws.backendParity(make(), x, backends[0]!, b, tolerance)), parameters)))
    }
  }
  return out
}

/**
 * Registers a vitest suite checking the transformation laws on `make()` on every backend (see
 * `verifyTransformLaws` for the list); each law is one test that fails with fast-check's seed and
 * counterexample path.
 *
 * @example
 * ```ts
 * checkTransformLaws('my clip', () => myClip(1), { backends: [cpu] })
 * ```
 */
export const checkTransformLaws = (name: string, make: () => AnyTransformation, options: TransformLawOptions): void => {
  const { backends, numRuns = 20, tolerance = float32Tolerance, inputs = sequenceArb() } = options
  describe(`laws of ${name}`, () => {
    for (const [, title, body] of lawTable(make, options)) {
      for (const backend of backends) it(`${title} [${backend.name}]`, () => assertLaw(inputs, body(backend), numRuns), 120_000)
    }
    if (options.except?.parity === undefined) {
      for (const b of backends.slice(1)) {
        it(`backend parity ${backends[0]!.name} = ${b.name}`, () => assertLaw(inputs, (x) => laws.backendParity(make(), x, backends[0]!, b, tolerance), numRuns), 120_000)
      }
    }
  })
}

/** Options of `checkScheduleLaws`. */
export interface ScheduleLawOptions {
  /** The closed form the schedule must equal. */
  readonly closedForm?: (step: number) => number
  /** Monotone over [0, steps]. */
  readonly monotone?: 'increasing' | 'decreasing'
  /** Join boundaries where the schedule must be continuous, with the largest allowed jump. */
  readonly continuousAt?: readonly { readonly step: number; readonly maxStep: number }[]
  /** Steps checked (default 0 … 2000). */
  readonly steps?: number
  /** The schedule holds its step-0 value before step 0, as every fluxion schedule does. */
  readonly holdsBeforeStart?: boolean
}

/**
 * Registers a vitest suite checking a schedule: finite values, its closed form at random steps
 * (fast-check), monotonicity, continuity at joins and its value before step 0 where stated.
 *
 * @example
 * ```ts
 * checkScheduleLaws('linear', linear({ init: 1, end: 0, transitionSteps: 100 }), { monotone: 'decreasing' })
 * ```
 */
export const checkScheduleLaws = (name: string, schedule: Schedule, options: ScheduleLawOptions = {}): void => {
  const steps = options.steps ?? 2000
  const all = Array.from({ length: steps + 1 }, (_, k) => k)
  const assertOk = (r: laws.LawResult) => {
    if (!r.ok) throw new Error(r.message)
  }
  describe(`laws of schedule ${name}`, () => {
    it('values are finite', () => assertOk(laws.finiteValues(schedule, all)))
    if (options.closedForm) {
      const f = options.closedForm
      it('equals its closed form at random steps', () =>
        fc.assert(
          fc.property(fc.integer({ min: 0, max: 10 * steps }), (k) => {
            assertOk(laws.matchesClosedForm(schedule, f, [k]))
            return true
          }),
          propertyParameters(200),
        ))
    }
    if (options.monotone) it(`is ${options.monotone === 'increasing' ? 'non-decreasing' : 'non-increasing'}`, () => assertOk(laws.monotone(schedule, options.monotone === 'increasing' ? 1 : -1, 0, steps)))
    for (const j of options.continuousAt ?? []) it(`is continuous at ${j.step}`, () => assertOk(laws.continuousAt(schedule, j.step, j.maxStep)))
    if (options.holdsBeforeStart) it('holds its step-0 value before step 0', () => assertOk(laws.holdsBeforeStart(schedule)))
  })
}

/** Options of `checkLayerLaws`. */
export interface LayerLawOptions {
  readonly backends: readonly Backend[]
  readonly inputShape: readonly number[]
  /** Check gradients in training mode (default false). */
  readonly training?: boolean
  /** The layer is the identity at evaluation (dropout, noise). */
  readonly identityAtEvaluation?: boolean
  /** Runs (default 3). */
  readonly numRuns?: number
}

/**
 * Registers a vitest suite checking a layer on every backend: its backward pass against finite
 * differences (params and input, random inputs kept away from activation kinks) and, where stated,
 * the identity at evaluation.
 *
 * @example
 * ```ts
 * checkLayerLaws('dense', dense(3), { backends: [cpu], inputShape: [4] })
 * ```
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const checkLayerLaws = (name: string, layer: Layer<any, any>, options: LayerLawOptions): void => {
  const size = options.inputShape.reduce((a, b) => a * b, 1)
  const values = (n: number) => fc.array(fc.double({ min: 0.1, max: 2, noNaN: true }).chain((v) => fc.constantFrom(v, -v)).map(Math.fround), { minLength: n, maxLength: n })
  // |x| grows with the row, so inputs stay away from activation kinks and every feature varies
  // across the batch (batch norm is smooth there)
  const inputs = values(3 * size).map((xs) => xs.map((v, i) => Math.fround(Math.sign(v) * (Math.abs(v) + 0.7 * Math.floor(i / size)))))
  describe(`laws of layer ${name}`, () => {
    for (const b of options.backends) {
      it(`backward equals finite differences [${b.name}]`, () =>
        assertLaw(fc.tuple(inputs, values(3 * 64)), ([x, r]) => laws.gradientsMatch(layer, options.inputShape, x, r, options.training ?? false, b), options.numRuns ?? 3))
      if (options.identityAtEvaluation) it(`is the identity at evaluation [${b.name}]`, () => assertLaw(values(2 * size), (x) => laws.identityAtEvaluation(layer, options.inputShape, x, b), options.numRuns ?? 5))
    }
  })
}
