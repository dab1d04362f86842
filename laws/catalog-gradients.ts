/**
 * Catalogue entries (laws/catalog.ts's `CatalogEntry`) of the gradient transforms of
 * src/transforms/gradients.ts and privacy.ts, with the io-ts codecs of their numeric
 * hyperparameters (the same `ranges` the factories validate with).
 *
 * What the laws can test. The laws feed a transformation gradients shaped like the params.
 * `normalizeByUpdateNorm` takes those and is catalogued as it is. DP-SGD takes per-example
 * gradients (leaves [B, ...s] for params [...s]), so `differentiallyPrivateAggregate` and `dpsgd`
 * are catalogued behind `onPerExampleGradients`, which turns each gradient g the laws draw into the
 * batch of per-example gradients c_b·g, c = (1, −0.5, 3): three examples of different norms, so
 * that a drawn clip norm clips some of them and not others, and the sum over the batch is not g.
 * Every law of the catalogue (identities, purity, determinism, state round trip, compiled step,
 * backend parity) and the non-finite policy then hold for them like for any other entry; the clips
 * themselves (`perExampleGlobalNormClip`, `perExampleLayerNormClip`) are functions, not
 * transformations, and are checked against their references and Optax's numbers in
 * test/gradient-transforms.test.ts. `scaleGradient` is a layer (its gradient check is there too).
 *
 * `skipLargeUpdates` and `skipNotFinite` skip non-finite steps by design, so they are outside the
 * non-finite policy that test/nonfinite.test.ts checks on every entry of `catalogGradients`: they
 * are in `catalogGradientsSkipping`, whose laws test/gradient-transforms.test.ts runs.
 */
import * as f from '../src/index.js'
import { type AnyTransformation, type Params, type Tensor, defineElementwise, elementwise, ranges, tree } from '../src/index.js'
import type { CatalogEntry } from './catalog.js'

const h = <T,>(x: Readonly<Record<string, unknown>>) => x as unknown as T

/** The per-example multipliers of `onPerExampleGradients`. */
export const perExampleCoefficients: readonly number[] = Object.freeze([1, -0.5, 3])

const spreadOp = defineElementwise({ name: 'catalogPerExample', inputs: ['z', 'c', 'g'], outputs: ['c * g'] })

/** The batch [c₁g, c₂g, c₃g] of shape [3, ...g.shape], on g's backend. */
const perExampleOf = (g: Tensor, path: string): Tensor => {
  const batch = perExampleCoefficients.length
  const c = g.backend.fromData(Float32Array.from(perExampleCoefficients), [batch, ...g.shape.map(() => 1)])
  return elementwise(spreadOp, [g.backend.fill([batch, ...g.shape], 0), c, g], [], path)[0]!
}

/**
 * A transformation of per-example gradients driven with ordinary ones: each update g becomes the
 * batch c_b·g (`perExampleCoefficients`) before `t` sees it. Updates that are not a tree of live
 * tensors are refused with the typed error `t` itself would give, before anything is allocated.
 */
export const onPerExampleGradients = (t: AnyTransformation): AnyTransformation => ({
  init: t.init,
  update: (u, s, p, extra) => {
    if (!(u instanceof f.Tensor) && !tree.isNode(u)) throw new f.StructureError('updates', `updates must be a tree of tensors, got ${String(u)}`)
    const paths = tree.paths(u)
    tree.leaves(u).forEach((x: unknown, i) => {
      if (!(x instanceof f.Tensor)) throw new f.BackendError(paths[i]!, `updates leaf is not a Tensor: ${String(x)}`)
      if (!x.backend.isLive(x)) throw new f.DisposedTensorError(paths[i]!, x.id)
    })
    return f.scope(() => t.update(tree.map((x: Tensor, path) => perExampleOf(x, path))(u) as Params, s, p, extra))
  },
  ...(t.stateCodec ? { stateCodec: t.stateCodec } : {}),
  ...(t.identity ? { identity: t.identity } : {}),
})

const dp = { l2NormClip: ranges.nonNegative, noiseMultiplier: ranges.nonNegative, seed: ranges.seed }
// the required options, for the suites that pass only a learning rate (or nothing)
const dpDefaults = { l2NormClip: 1, noiseMultiplier: 0.5, seed: 0 }

/** Entries that satisfy the whole law catalogue and the non-finite policy (docs/nonfinite.md). */
export const catalogGradients: readonly CatalogEntry[] = [
  { name: 'normalizeByUpdateNorm', hyperparameters: { scaleFactor: ranges.finite, eps: ranges.nonNegative }, make: (x) => f.normalizeByUpdateNorm(h(x)) },
  {
    name: 'differentiallyPrivateAggregate (per-example gradients c_b·g)',
    hyperparameters: dp,
    make: (x) => onPerExampleGradients(f.differentiallyPrivateAggregate(h({ ...dpDefaults, ...x }))),
  },
  {
    name: 'dpsgd (per-example gradients c_b·g)',
    hyperparameters: { learningRate: ranges.nonNegative, ...dp, momentum: ranges.unitInterval, nesterov: ranges.boolean },
    make: (x) => onPerExampleGradients(f.dpsgd(h({ ...dpDefaults, ...x }))),
  },
]

/**
 * The skipping wrappers, around Adam: lawful like the entries above, but they skip non-finite
 * steps by design, so they are outside the non-finite policy (test/gradient-transforms.test.ts
 * runs their laws).
 */
export const catalogGradientsSkipping: readonly CatalogEntry[] = [
  {
    name: 'skipLargeUpdates(adam)',
    hyperparameters: { learningRate: ranges.nonNegative, maxSquaredNorm: ranges.positive },
    make: (x) => f.skipLargeUpdates(f.adam({ learningRate: (x.learningRate as number | undefined) ?? 0.1 }), { maxSquaredNorm: (x.maxSquaredNorm as number | undefined) ?? 10 }),
  },
  {
    name: 'skipNotFinite(adam)',
    hyperparameters: { learningRate: ranges.nonNegative },
    make: (x) => f.skipNotFinite(f.adam({ learningRate: (x.learningRate as number | undefined) ?? 0.1 })),
  },
]
