/**
 * fast-check runners that drive the law predicates, with no test framework: `assertLaw` throws on a
 * counterexample and `verifyTransformLaws` returns reports (the vitest suites that register one test
 * per law are in `fluxion/laws/vitest`). Every run uses a reported seed:
 * `FC_SEED` from the environment when set, else a fresh one printed once; a failure prints fast-check's
 * seed and path, and rerunning with `FC_SEED=<seed>` replays it.
 */
import fc from 'fast-check'
import type { AnyTransformation, Backend } from '../src/index.js'
import type { HostTree } from './host.js'
import { type Tolerance, float32Tolerance } from './allclose.js'
import { type SequenceInput, sequenceArb } from './arbitraries.js'
import { lawTable } from './law-table.js'
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

const env = (name: string): string | undefined => (typeof process !== 'undefined' ? process.env?.[name] : undefined)

/**
 * The factor on run counts for a backend, from `FLUXION_RUN_SCALE`: a comma-separated list of
 * `backend=factor` (e.g. `gpu:webgpu=0.5`, which CI sets for its software WebGPU adapter, or
 * `wasm=0.5`); 1 for a
 * backend not listed or when unset.
 */
export const runScale = (backend?: string): number => {
  const spec = env('FLUXION_RUN_SCALE')
  if (spec === undefined || spec === '') return 1
  let factor = 1
  for (const entry of spec.split(',')) {
    const m = /^\s*([^=\s]+)\s*=\s*([0-9.]+)\s*$/.exec(entry)
    const f = m ? Number(m[2]) : NaN
    if (!m || !(f > 0)) throw new Error(`FLUXION_RUN_SCALE must be a list of backend=factor with factors > 0 (e.g. gpu:webgpu=0.5), got ${JSON.stringify(spec)}`)
    if (!/^(cpu|wasm|gpu:(webgpu|webgl2|headlessgl|webasm|cpu))$/.test(m[1]!)) throw new Error(`FLUXION_RUN_SCALE names an unknown backend ${JSON.stringify(m[1])}; backends are cpu, wasm and gpu:<mode> (gpu:webgpu, gpu:webasm, ...)`)
    if (m[1] === backend) factor = f
  }
  return factor
}

/**
 * fast-check parameters with the reported seed: `numRuns` runs (at least one) scaled by
 * `runScale(backend)`, or exactly `FC_NUM_RUNS` when that is set.
 */
export const propertyParameters = <T>(numRuns: number, extra: fc.Parameters<T> = {}, backend?: string): fc.Parameters<T> => ({
  seed: propertySeed(),
  numRuns: Number(env('FC_NUM_RUNS') ?? '') || Math.max(1, Math.round(numRuns * runScale(backend))),
  ...extra,
})

/**
 * Asserts an async property of `arb`, where the property asserts a `LawResult`; `backend` (a
 * backend's name) scales the run count by `runScale`.
 */
export const assertLaw = async <T>(
  arb: fc.Arbitrary<T>,
  law: (value: T) => Promise<laws.LawResult>,
  numRuns: number,
  backend?: string,
): Promise<void> => {
  await fc.assert(
    fc.asyncProperty(arb, async (value) => {
      const r = await law(value)
      if (!r.ok) throw new Error(r.message)
      return true
    }),
    propertyParameters(numRuns, {}, backend),
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
  | 'compiledStep'
  | 'compiledStepDonated'

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

/**
 * Checks the transformation laws on `make()` on every backend and returns one report per law and
 * backend instead of throwing: identity (left and right), associativity, purity, determinism,
 * state round trip, backend parity, and, when asked, the reference, scale invariance and
 * linearity. A failed report carries fast-check's seed and counterexample path.
 *
 * @example
 * ```ts
 * const myTransform = () => chain(trace({ decay: 0.9 }), scaleBySign())
 * const reports = await verifyTransformLaws(() => myTransform(), { backends: [cpu] })
 * reports.filter((r) => !r.ok) // []
 * ```
 */
export const verifyTransformLaws = async (make: () => AnyTransformation, options: TransformLawOptions): Promise<LawReport[]> => {
  const { backends, numRuns = 20, tolerance = float32Tolerance, inputs = sequenceArb() } = options
  const parameters = (backend: string) => propertyParameters<[SequenceInput]>(numRuns, {}, backend)
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
    for (const b of backends) out.push(report(law, b.name, await fc.check(property(body(b)), parameters(b.name))))
  }
  if (options.except?.parity === undefined) {
    for (const b of backends.slice(1)) {
      out.push(report('parity', `${backends[0]!.name} = ${b.name}`, await fc.check(property((x) => laws.backendParity(make(), x, backends[0]!, b, tolerance)), parameters(b.name))))
    }
  }
  return out
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

