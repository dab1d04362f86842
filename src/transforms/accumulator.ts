/**
 * @internal The shape shared by the adaptive transformations: a step count and moment buffers
 * shaped like the params, updated with the incoming gradient by one fused elementwise op whose
 * outputs are the new buffers followed by the update. Host-side scalars (1 − β, bias corrections)
 * are computed in float64 from the step count t = count + 1.
 */
import { checkCount, elementwiseTree, frozen, mapLeaves } from '../core/internal.js'
import type { GradientTransformation, Params } from '../core/types.js'
import { countCodec, paramsCodec } from '../core/state.js'
import * as t from 'io-ts'
import type { ElementwiseOp, Tensor } from '../tensor/tensor.js'

/** A state with a step count and named buffers. */
export type AccumulatorState<K extends string> = { readonly count: number } & { readonly [k in K]: Params }

export const accumulator = <K extends string>(spec: {
  readonly name: string
  readonly buffers: readonly K[]
  /** Initial value of each buffer (default 0). */
  readonly initial?: Partial<Record<K, number>>
  /** Inputs: 'g', then the buffers; outputs: the new buffers, then u. */
  readonly op: ElementwiseOp
  /** The op's scalars at step t (1-based). */
  readonly scalars: (t: number) => readonly number[]
}): GradientTransformation<AccumulatorState<K>> =>
  frozen({
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
      { count: countCodec, ...Object.fromEntries(spec.buffers.map((b) => [b, paramsCodec])) },
      `{ count, ${spec.buffers.join(', ')} }`,
    ),
  })

export type { Tensor }
