/**
 * fast-check runners that drive the law predicates inside vitest. Every run uses a reported seed:
 * `FC_SEED` from the environment when set, else a fresh one printed once; a failure prints fast-check's
 * seed and path, and rerunning with `FC_SEED=<seed>` replays it.
 */
import fc from 'fast-check'
import { describe, it } from 'vitest'
import type { AnyTransformation, Backend } from '../src/index.js'
import { type Tolerance, float32Tolerance } from './allclose.js'
import { type SequenceInput, sequenceArb } from './arbitraries.js'
import * as laws from './predicates/transform.js'

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


/** The laws `checkTransformLaws` knows. */
export type TransformLaw = 'leftIdentity' | 'rightIdentity' | 'associativity' | 'purity' | 'determinism' | 'stateRoundTrip' | 'parity'

/** Options of `checkTransformLaws`. */
export interface TransformLawOptions {
  /** Backends to run on; the first is the reference for parity. */
  readonly backends: readonly Backend[]
  /** Runs per law and backend (default 20; `FC_NUM_RUNS` overrides). */
  readonly numRuns?: number
  /** Tolerance for backend parity (default float32). */
  readonly tolerance?: Tolerance
  /** Laws to skip, for transforms where one does not apply, with the reason. */
  readonly except?: Partial<Record<TransformLaw, string>>
  /** Gradient sequences (default: sequenceArb()). */
  readonly inputs?: fc.Arbitrary<SequenceInput>
}

/**
 * Registers a vitest suite checking the transformation laws on `make()` on every backend:
 * left and right identity of `chain`, associativity (with `make()` in each position), purity,
 * determinism, the state round trip through its codec, and backend parity against the first backend.
 *
 * @example
 * ```ts
 * checkTransformLaws('my clip', () => myClip(1), { backends: [cpu] })
 * ```
 */
export const checkTransformLaws = (name: string, make: () => AnyTransformation, options: TransformLawOptions): void => {
  const { backends, numRuns = 20, tolerance = float32Tolerance, except = {}, inputs = sequenceArb() } = options
  const run = (law: TransformLaw, title: string, body: (b: Backend) => (input: SequenceInput) => Promise<laws.LawResult>) => {
    if (except[law] !== undefined) return
    for (const backend of backends) {
      it(`${title} [${backend.name}]`, () => assertLaw(inputs, body(backend), numRuns), 120_000)
    }
  }
  describe(`laws of ${name}`, () => {
    run('leftIdentity', 'chain(identity(), t) = t', (b) => (x) => laws.leftIdentity(make(), x, b))
    run('rightIdentity', 'chain(t, identity()) = t', (b) => (x) => laws.rightIdentity(make(), x, b))
    run('associativity', 'chain(chain(t, t), t) = chain(t, chain(t, t))', (b) => (x) => laws.chainAssociative(make(), make(), make(), x, b))
    run('purity', 'update and init do not mutate their inputs', (b) => (x) => laws.inputsUnchanged(make(), x, b))
    run('determinism', 'init and update are deterministic', (b) => (x) => laws.deterministic(make(), x, b))
    run('stateRoundTrip', 'saveState → JSON → loadState gives the same next step', (b) => (x) => laws.stateRoundTrip(make(), x, b))
    if (except.parity === undefined) {
      for (const b of backends.slice(1)) {
        it(`backend parity ${backends[0]!.name} = ${b.name}`, () => assertLaw(inputs, (x) => laws.backendParity(make(), x, backends[0]!, b, tolerance), numRuns), 120_000)
      }
    }
  })
}
