import * as t from 'io-ts'
import { type GradientTransformation, HyperparameterError, type Params, Tensor, chain, defineElementwise, elementwise, full, paramsCodec, scale, tree, zerosLikeTree } from 'fluxion'

/** State of `scaleByRprop`: the previous gradient and one step size per parameter entry. */
export interface ScaleByRpropState {
  readonly prevGrad: Params
  readonly stepSize: Params
}

/** Options of `scaleByRprop` and `rprop`. */
export interface RpropOptions {
  /** The initial step size of every entry. */
  readonly learningRate: number
  /** η⁺ > 1, the growth of a step while the gradient keeps its sign. Default 1.2. */
  readonly etaPlus?: number
  /** η⁻ in (0, 1), the shrinking of a step when the sign flips. Default 0.5. */
  readonly etaMinus?: number
  readonly minStep?: number
  readonly maxStep?: number
}

// One op, written once, runs on every backend: step sizes grow while g keeps its sign, shrink when
// it flips (and that entry skips one step, iRprop⁻); the update is sign(g)·step.
const rpropOp = defineElementwise({
  name: 'rprop',
  inputs: ['g', 'prev', 'step'],
  scalars: ['etaPlus', 'etaMinus', 'minStep', 'maxStep'],
  lets: [
    ['prod', 'g * prev'],
    ['step1', 'prod > 0 ? Math.min(step * etaPlus, maxStep) : (prod < 0 ? Math.max(step * etaMinus, minStep) : step)'],
    ['g1', 'prod < 0 ? 0 : g'],
  ],
  outputs: ['Math.sign(g1) * step1', 'g1', 'step1'],
})

/** Rprop's scaling (Riedmiller & Braun 1993; the iRprop⁻ variant of Igel & Hüsken 2000): u = sign(g)·step. */
export const scaleByRprop = (options: RpropOptions): GradientTransformation<ScaleByRpropState> => {
  const { learningRate, etaPlus = 1.2, etaMinus = 0.5, minStep = 1e-6, maxStep = 50 } = options
  if (!(etaPlus > 1)) throw new HyperparameterError('scaleByRprop', 'etaPlus', etaPlus, 'a number > 1')
  if (!(etaMinus > 0 && etaMinus < 1)) throw new HyperparameterError('scaleByRprop', 'etaMinus', etaMinus, 'a number in (0, 1)')
  return Object.freeze({
    init: (params: Params) =>
      Object.freeze({
        prevGrad: zerosLikeTree(params),
        stepSize: tree.map((p: Tensor) => full(p.shape, learningRate, p.backend))(params),
      }),
    update: (updates: Params, state: ScaleByRpropState) => {
      const { leaves, structure } = tree.flatten<Tensor>(updates)
      const prev = tree.leaves<Tensor>(state.prevGrad)
      const steps = tree.leaves<Tensor>(state.stepSize)
      const outs = leaves.map((g, i) => elementwise(rpropOp, [g, prev[i]!, steps[i]!], [etaPlus, etaMinus, minStep, maxStep]))
      const next = Object.freeze({
        prevGrad: tree.unflatten(structure, outs.map((o) => o[1]!)),
        stepSize: tree.unflatten(structure, outs.map((o) => o[2]!)),
      })
      return [tree.unflatten(structure, outs.map((o) => o[0]!)), next] as const
    },
    // the state's JSON form, so saveState / loadState (and the stateRoundTrip law) work
    stateCodec: t.strict({ prevGrad: paramsCodec, stepSize: paramsCodec }, '{ prevGrad, stepSize }'),
  })
}

/** The optimizer: the scaling, then the descent sign, as Optax writes `rprop`. */
export const rprop = (options: RpropOptions) => chain(scaleByRprop(options), scale(-1))
