/**
 * Muon (MomentUm Orthogonalized by Newton–Schulz) for the 2-D leaves, AdamW for the others, as
 * Optax 0.2.8's `optax.contrib.muon` (docs/muon-schedule-free.md).
 *
 * References: Jordan et al. 2024, "Muon: An optimizer for hidden layers in neural networks";
 * Liu et al. 2025, "Muon is Scalable for LLM Training"; Optax 0.2.8 `optax/contrib/_muon.py`.
 */
import { chain } from '../core/base.js'
import { type Mask, maskCodec, maskLeaves } from '../core/mask.js'
import type { Params, ScalarOrSchedule } from '../core/types.js'
import { nonNegativeOrSchedule, ranges, validate } from '../core/validate.js'
import { ShapeError } from '../errors.js'
import { Tensor } from '../tensor/tensor.js'
import * as tree from '../tree/index.js'
import type { Tree } from '../tree/index.js'
import { addDecayedWeights } from '../transforms/decay.js'
import { type MuonConvention, type MuonPreconditioning, type NewtonSchulzCoefficients, muonConventionCodec, muonNsCoefficients, muonPreconditioningCodec, nsCoefficientsCodec, scaleByMuon, scaleByShape } from '../transforms/muon.js'
import { rawAdam } from '../transforms/raw.js'
import { scaleByLearningRate } from '../transforms/scaling.js'
import { masked, multiTransform } from '../transforms/wrappers.js'
import * as t from 'io-ts'
import { type Optimizer, asFloat32, namedOptimizer, onlyIn } from './common.js'
import { adamw } from './adam.js'
import { HyperparameterError } from '../errors.js'

/** Options of `muon`. */
export interface MuonOptions {
  /** α, a number ≥ 0 or a schedule. Required. */
  readonly learningRate: ScalarOrSchedule
  /** Newton–Schulz coefficients: a triple, a list of triples (one per step), or 'standard' / 'dion'. Default (3.4445, −4.7750, 2.0315). */
  readonly nsCoeffs?: NewtonSchulzCoefficients | readonly NewtonSchulzCoefficients[] | 'standard' | 'dion'
  /** Newton–Schulz steps, an integer ≥ 1 (ignored for a list of coefficients). Default 5. */
  readonly nsSteps?: number
  /** β, Muon's momentum decay, in [0, 1). Default 0.95. */
  readonly beta?: number
  /** ε ≥ 0: Muon's preconditioning and AdamW's denominator. Default 1e-8. */
  readonly eps?: number
  /** λ ≥ 0, decoupled weight decay of the Muon leaves, a number or a schedule. Default 0. */
  readonly weightDecay?: ScalarOrSchedule
  /** Which Muon leaves to decay (a mask over the whole params; default all). */
  readonly weightDecayMask?: Mask
  /** Nesterov momentum, in Muon and in AdamW. Default true. */
  readonly nesterov?: boolean
  /** Muon's adaptive scaling by ⟨m̂, O⟩. Default false. */
  readonly adaptive?: boolean
  /** Muon's scaling before the iteration. Default 'frobenius'. */
  readonly preconditioning?: MuonPreconditioning
  /** AdamW's β₁, in [0, 1). Default 0.9. */
  readonly adamB1?: number
  /** AdamW's β₂, in [0, 1). Default 0.999. */
  readonly adamB2?: number
  /** AdamW's ε inside the root, ≥ 0. Default 0. */
  readonly adamEpsRoot?: number
  /** AdamW's decoupled weight decay, a number ≥ 0 or a schedule. Default 0. */
  readonly adamWeightDecay?: ScalarOrSchedule
  /** AdamW's learning rate, a number ≥ 0 or a schedule. Default: `learningRate`. */
  readonly adamLearningRate?: ScalarOrSchedule
  /** Which leaves Muon gets (true) and which AdamW (false); must select 2-D leaves only. Default: the 2-D leaves. */
  readonly muonMask?: Mask
  /** Consistent-RMS scaling √max(fanIn, fanOut)·consistentRms (≥ 0; 0.2 matches AdamW) instead of √max(1, fanOut/fanIn). Default unset. */
  readonly consistentRms?: number
  /** AdamW's ε outside the root (pytorch only: torch.optim.AdamW's `eps`). Default 1e-8. */
  readonly adamEps?: number
  /** 'optax' (default): Optax's `contrib.muon`; 'pytorch': `torch.optim.Muon` on the Muon leaves and `torch.optim.AdamW` on the others. */
  readonly convention?: MuonConvention
}

const optionalNumber = (c: t.Type<number, number, unknown>, name: string) => t.union([c, t.undefined], name)

/** The Muon leaves of `p` as a boolean tree: the mask, or the 2-D leaves; a selected leaf that is not 2-D is a ShapeError naming its path. */
const muonLeavesOf = (mask: Mask | undefined) => (p: Params): Tree<boolean> => {
  const { leaves, structure } = tree.flatten(p)
  const paths = tree.paths(p)
  const on = mask === undefined ? leaves.map((x) => x instanceof Tensor && x.shape.length === 2) : maskLeaves('muon', mask, p, p, 'params')
  on.forEach((b, j) => {
    const x = leaves[j]
    if (b && x instanceof Tensor && x.shape.length !== 2) {
      throw new ShapeError(paths[j]!, `muon: muonMask selects a leaf of shape [${x.shape.join(', ')}]; Muon orthogonalises 2-D leaves only`)
    }
  })
  return tree.unflatten(structure, on)
}

/**
 * Muon: the 2-D leaves (or those `muonMask` selects) follow
 *
 *   θ ← θ − α_k (s · NS(m̂) + λθ),
 *
 * with m̂ the (Nesterov) bias-corrected momentum of `scaleByMuon`, NS its Newton–Schulz
 * orthogonalisation, and s = √max(1, fanOut/fanIn) for a [fanIn, fanOut] matrix (or
 * √max(fanIn, fanOut)·consistentRms, see `scaleByShape`); λ decays the leaves `weightDecayMask`
 * selects. Every other leaf (biases, gains, scalars) follows AdamW with β₁ = adamB1, β₂ = adamB2,
 * the same ε and Nesterov flag, decay adamWeightDecay and rate adamLearningRate (default α).
 *
 *   chain(multiTransform({ muon: chain(scaleByMuon(...), scaleByShape(...)), adam: scaleByAdam(...) }, labels),
 *         addDecayedWeights(λ, Muon ∧ weightDecayMask), addDecayedWeights(λ_adam, ¬Muon),
 *         scaleByLearningRate(α) or one rate per group)
 *
 * which is Optax's `partition` of `chain(scale_by_muon, scale_by_shape, add_decayed_weights,
 * scale_by_learning_rate)` and `adamw(nesterov=nesterov)`, step for step.
 *
 * Defaults (Optax 0.2.8's): nsCoeffs = (3.4445, −4.7750, 2.0315), nsSteps = 5, beta = 0.95,
 * eps = 1e-8, weightDecay = 0, nesterov = true, adaptive = false, preconditioning = 'frobenius',
 * adamB1 = 0.9, adamB2 = 0.999, adamEpsRoot = 0, adamWeightDecay = 0, adamLearningRate =
 * learningRate, muonMask = the 2-D leaves, consistentRms unset. Optax's
 * `muon_weight_dimension_numbers` (reshaping higher-rank leaves into batches of matrices) is not
 * offered: reshape such a leaf to 2-D, or leave it to AdamW.
 *
 * `convention: 'pytorch'` reproduces PyTorch 2.13's pairing of `torch.optim.Muon` (the Muon
 * leaves: momentum m ← m + (1 − β)(g − m) without bias correction, X₀ = m̂/max(‖m̂‖_F, ε), the
 * shape read as [fanOut, fanIn], θ ← θ(1 − αλ) − α·s·O) with `torch.optim.AdamW` (the others:
 * `adamw({ convention: 'pytorch' })` with adamB1, adamB2, adamEps, adamWeightDecay). Its defaults
 * are torch's: eps = 1e-7, weightDecay = 0.1, adamEps = 1e-8, adamWeightDecay = 0.01;
 * consistentRms 0.2 is `adjust_lr_fn='match_rms_adamw'`. adaptive, the other preconditionings,
 * per-step coefficient lists and adamEpsRoot are refused there; adamEps only exists there. PyTorch
 * iterates Newton–Schulz in bfloat16, fluxion in float32 (docs/muon-schedule-free.md).
 * Reference: Jordan et al. 2024 (Muon); Liu et al. 2025 (consistent RMS, weight decay); Optax
 * `contrib.muon`; PyTorch `torch.optim.Muon`.
 *
 * @example
 * ```ts
 * const params = { w: fromArray([0.5, -1, 2, 0.1, 1, -0.3], [2, 3]), b: fromArray([0, 0, 0]) }
 * const opt = muon({ learningRate: 0.02, weightDecay: 0.01 }) // w: Muon, b: AdamW
 * const [u] = opt.update(params, opt.init(params), params)
 * // choose the Muon leaves yourself: here none but w
 * const own = muon({ learningRate: 0.02, muonMask: { w: true, b: false } })
 * ```
 */
export const muon = (options: MuonOptions): Optimizer => {
  const given = typeof options === 'object' && options !== null && Object.hasOwn(options, 'convention') ? (options as { convention?: unknown }).convention : undefined
  const c = validate('muon', { convention: muonConventionCodec }, { convention: given ?? 'optax' }).convention
  const pytorch = c === 'pytorch'
  const o = validate(
    'muon',
    {
      learningRate: nonNegativeOrSchedule,
      nsCoeffs: nsCoefficientsCodec,
      nsSteps: ranges.positiveInteger,
      beta: ranges.unitInterval,
      eps: ranges.nonNegative,
      weightDecay: nonNegativeOrSchedule,
      weightDecayMask: maskCodec,
      nesterov: ranges.boolean,
      adaptive: ranges.boolean,
      preconditioning: muonPreconditioningCodec,
      adamB1: ranges.unitInterval,
      adamB2: ranges.unitInterval,
      adamEpsRoot: ranges.nonNegative,
      adamWeightDecay: nonNegativeOrSchedule,
      adamLearningRate: t.union([nonNegativeOrSchedule, t.undefined], 'a finite number ≥ 0, a schedule (step) => number, or undefined (the learning rate)'),
      muonMask: maskCodec,
      consistentRms: optionalNumber(ranges.nonNegative, 'a finite number ≥ 0, or undefined (width scaling)'),
      adamEps: ranges.nonNegative,
      convention: muonConventionCodec,
    },
    options,
    {
      nsCoeffs: muonNsCoefficients, nsSteps: 5, beta: 0.95, eps: pytorch ? 1e-7 : 1e-8, weightDecay: pytorch ? 0.1 : 0, nesterov: true, adaptive: false, preconditioning: 'frobenius',
      adamB1: 0.9, adamB2: 0.999, adamEpsRoot: 0, adamWeightDecay: pytorch ? 1e-2 : 0, adamEps: 1e-8, convention: c,
    },
  )
  onlyIn('muon', c, ['pytorch'], 'adamEps', o.adamEps, 1e-8)
  onlyIn('muon', c, ['optax'], 'adamEpsRoot', o.adamEpsRoot, 0)
  const isMuon = muonLeavesOf(o.muonMask)
  const labels = (p: Params) => tree.map((b: boolean) => (b ? 'muon' : 'adam'))(isMuon(p))
  const both = (a: (p: Params) => Tree<boolean>, b: Mask | undefined) => (p: Params): Tree<boolean> => {
    const on = tree.leaves(a(p))
    const second = b === undefined ? on.map(() => true) : maskLeaves('muon', b, p, p, 'params')
    return tree.unflatten(tree.structureOf(p), on.map((x, i) => x && second[i]!))
  }
  const notMuon = (p: Params) => tree.map((b: boolean) => !b)(isMuon(p))
  const muonRescaling = () =>
    chain(
      scaleByMuon({ nsCoeffs: o.nsCoeffs, nsSteps: o.nsSteps, beta: o.beta, eps: o.eps, nesterov: o.nesterov, adaptive: o.adaptive, preconditioning: o.preconditioning, convention: c }),
      scaleByShape({ consistentRms: o.consistentRms, convention: c }),
    )
  if (pytorch) {
    if (typeof o.weightDecay === 'function' || typeof o.adamWeightDecay === 'function') {
      throw new HyperparameterError('muon', typeof o.weightDecay === 'function' ? 'weightDecay' : 'adamWeightDecay', 'a schedule', 'a finite number ≥ 0: torch.optim.Muon and AdamW take numbers')
    }
    // PyTorch pairs torch.optim.Muon (the matrices) with torch.optim.AdamW (the rest): on the
    // Muon leaves θ ← θ(1 − αλ) − α·s·O, i.e. −α(s·O + λθ)
    return namedOptimizer(
      'muon',
      o,
      multiTransform(
        { muon: muonRescaling(), adam: adamw({ learningRate: o.adamLearningRate ?? o.learningRate, b1: o.adamB1, b2: o.adamB2, eps: o.adamEps, weightDecay: o.adamWeightDecay, convention: 'pytorch' }) },
        labels,
      ),
      addDecayedWeights({ weightDecay: Math.fround(o.weightDecay as number), mask: both(isMuon, o.weightDecayMask) }),
      masked(scaleByLearningRate(asFloat32(o.learningRate)), isMuon),
    )
  }
  const rate = scaleByLearningRate(asFloat32(o.learningRate))
  const rates = o.adamLearningRate === undefined ? rate : multiTransform({ muon: rate, adam: scaleByLearningRate(asFloat32(o.adamLearningRate)) }, labels)
  return namedOptimizer(
    'muon',
    o,
    multiTransform(
      {
        muon: muonRescaling(),
        adam: rawAdam(o.adamB1, o.adamB2, o.eps, o.adamEpsRoot, o.nesterov),
      },
      labels,
    ),
    addDecayedWeights({ weightDecay: asFloat32(o.weightDecay), mask: both(isMuon, o.weightDecayMask) }),
    addDecayedWeights({ weightDecay: asFloat32(o.adamWeightDecay), mask: notMuon }),
    rates,
  )
}
