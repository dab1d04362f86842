import { chain } from '../core/base.js'
import type { GradientTransformation, ScalarOrSchedule } from '../core/types.js'
import { nonNegativeOrSchedule, validate } from '../core/validate.js'
import { type ScaleByAdamOptions, type ScaleByAdamState, scaleByAdam } from '../transforms/moments.js'
import { type ScaleByScheduleState, scaleByLearningRate } from '../transforms/scaling.js'

/** Options of `adam`: the learning rate plus those of `scaleByAdam`. */
export interface AdamOptions extends ScaleByAdamOptions {
  /** α, a number ≥ 0 or a schedule k ↦ α_k. Required. */
  readonly learningRate: ScalarOrSchedule
}

/** State of `adam`. */
export type AdamState = readonly [ScaleByAdamState, ScaleByScheduleState]

/**
 * Adam: `chain(scaleByAdam({ b1, b2, eps, epsRoot }), scaleByLearningRate(learningRate))`,
 *
 *   μ ← β₁μ + (1 − β₁)g,  ν ← β₂ν + (1 − β₂)g⊙g,
 *   θ ← θ − α_k · (μ / (1 − β₁ᵗ)) / (√(ν / (1 − β₂ᵗ) + ε_root) + ε).
 *
 * Defaults: b1 = 0.9, b2 = 0.999, eps = 1e-8, epsRoot = 0 (Optax's). The lectures' form with δ
 * inside the root is `adam({ learningRate, eps: 0, epsRoot: 1e-8 })`.
 * Reference: seed 000_33f4fbf331723dec.txt, "Adam: Algorithm"; Kingma & Ba 2015; Optax `adam`.
 *
 * @example
 * ```ts
 * const opt = adam({ learningRate: 1e-3 })
 * ```
 */
export const adam = (options: AdamOptions): GradientTransformation<AdamState> => {
  if (typeof options !== 'object' || options === null) validate('adam', { learningRate: nonNegativeOrSchedule }, options)
  const { learningRate, ...rest } = options
  validate('adam', { learningRate: nonNegativeOrSchedule }, { learningRate })
  return chain(scaleByAdam(rest), scaleByLearningRate(learningRate))
}
