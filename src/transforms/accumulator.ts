/**
 * @internal The shape shared by the adaptive transformations: a step count and moment buffers
 * shaped like the params, updated with the incoming gradient by one fused elementwise op whose
 * outputs are the new buffers followed by the update. Host-side scalars (1 − β, bias corrections)
 * are computed from the step count t = count + 1 in the framework's arithmetic (raw.ts `Arithmetic`).
 */
import { checkCount, elementwiseTree, frozen, mapLeaves, transformation } from '../core/internal.js'
import type { GradientTransformation, Params } from '../core/types.js'
import { countCodec, nonNegativeParamsCodec, paramsCodec } from '../core/state.js'
import * as t from 'io-ts'
import type { ElementwiseOp, Tensor } from '../tensor/tensor.js'

/**
 * Kernel expressions of the non-finite policy (docs/nonfinite.md), shared by the transforms that
 * divide by something computed from the data. `nanUnlessFinite(x, e)` is `e` where the data `x` (a
 * second moment, a norm) is finite, and NaN where `x` is NaN or ±∞, so that neither a NaN nor an
 * overflowed state becomes a silent 0 (μ/√∞ is 0 and would freeze the coordinate). The test is on
 * the data, not on the divisor: a divisor that is infinite because of a hyperparameter (a clipping
 * threshold of 1e-320) still scales to 0. Spelled without a branch: e · (x′ − x′ + 1) with
 * x′ = float32(x), which is e · 1 = e (exactly, −0 included) for a finite x′ and e · NaN = NaN for
 * x′ = ±∞ or NaN. Rounding to float32 first makes an `x` that the cpu loop holds in float64 beyond
 * float32's range (it will be stored as ∞) count as ∞ on every backend; the gpu.js backends, which
 * compute in float32 already, drop the `Math.fround`. No `isNaN`: these strings also compile to
 * WGSL and GLSL, which have none.
 */
export const nanUnlessFinite = (x: string, e: string): string => `((${e}) * (Math.fround(${x}) - Math.fround(${x}) + 1.0))`

/**
 * `e` for an adaptive denominator `den` ≥ 0, except where `den` is exactly 0, which happens only
 * where no gradient has been seen (ν = 0, so μ = 0 too): the update is 0 there rather than 0/0.
 * NaN fails `den <= 0` and reaches `e`.
 */
export const zeroWhereNoGradient = (den: string, e: string): string => `((${den}) <= 0 ? 0 : (${e}))`

/**
 * The update of a leaf of size 0 in a norm-based transform: a fresh empty tensor of its shape. Its
 * norm, a sum over no elements, is 0 and adds nothing to a global norm.
 */
export const emptyLeaf = (g: Tensor): Tensor => g.backend.fill(g.shape, 0)

/** A state with a step count and named buffers. */
export type AccumulatorState<K extends string> = { readonly count: number } & { readonly [k in K]: Params }

export const accumulator = <K extends string>(spec: {
  readonly name: string
  readonly buffers: readonly K[]
  /** Initial value of each buffer (default 0). */
  readonly initial?: Partial<Record<K, number>>
  /** Buffers that can hold no negative element (second moments); a saved state with one is refused. */
  readonly nonNegative?: readonly K[]
  /** Inputs: 'g', then the buffers; outputs: the new buffers, then u. */
  readonly op: ElementwiseOp
  /** The op's scalars at step t (1-based). */
  readonly scalars: (t: number) => readonly number[]
  /** The op's scalars that do not depend on t (inlined by `compileStep`). */
  readonly constants?: readonly string[]
}): GradientTransformation<AccumulatorState<K>> =>
  transformation(spec.name, {
    init: (params: Params) => {
      const state: Record<string, unknown> = { count: 0 }
      for (const b of spec.buffers) {
        const v = spec.initial?.[b] ?? 0
        state[b] = mapLeaves([['params', params]], 1, ([p]) => [p!.backend.fill(p!.shape, v)])[0]!
      }
      return frozen(state) as AccumulatorState<K>
    },
    update: (updates: Params, state: AccumulatorState<K>) => {
      const t = checkCount(spec.name, state.count) + 1
      const named: (readonly [string, Params])[] = [['updates', updates], ...spec.buffers.map((b) => [`state.${b}`, state[b]] as const)]
      const outs = elementwiseTree(spec.op, named, spec.scalars(t))
      const next: Record<string, unknown> = { count: t }
      spec.buffers.forEach((b, i) => (next[b] = outs[i]))
      return [outs[spec.buffers.length]!, frozen(next) as AccumulatorState<K>] as const
    },
    stateCodec: t.strict(
      { count: countCodec, ...Object.fromEntries(spec.buffers.map((b) => [b, spec.nonNegative?.includes(b) ? nonNegativeParamsCodec : paramsCodec])) },
      `{ count, ${spec.buffers.join(', ')} }`,
    ),
  }, {
    fusion: {
      kind: 'stage',
      stage: {
        name: spec.name,
        op: spec.op,
        sources: [{ from: 'updates' }, ...spec.buffers.map((name) => ({ from: 'buffer' as const, name }))],
        sinks: [...spec.buffers.map((name) => ({ to: 'buffer' as const, name })), { to: 'updates' }],
        buffers: spec.buffers,
        ...(spec.constants ? { constants: spec.constants } : {}),
        host: (state) => {
          const t = checkCount(spec.name, state.count) + 1
          return { scalars: spec.scalars(t), hostState: { count: t } }
        },
      },
    },
  })

export type { Tensor }
