/**
 * fluxion: Optax-style gradient transformations over parameter trees of tensors on the CPU or a
 * GPU (gpu.js). See README.md for a tour.
 *
 * @module fluxion
 */
export * from './errors.js'
export * as tree from './tree/index.js'
export type { Tree, TreeLike, Structure } from './tree/index.js'
export * from './tensor/index.js'
export type { EmptyState, GradientTransformation, HyperparameterJson, Params, ScalarOrSchedule, Schedule, TransformIdentity, UpdateExtras } from './core/types.js'
export { applyUpdates, chain, identity, setToZero, stateless, zerosLikeTree } from './core/base.js'
export type { AnyTransformation, ChainState, StateOf } from './core/base.js'
export { compileStep, fusedTransformations } from './core/compile.js'
export type { CompiledStep, CompileStepOptions } from './core/compile.js'
export { ranges } from './core/validate.js'
export {
  StateDecodeError,
  StoredTensor,
  checkpointFormat,
  countCodec,
  decodeCheckpoint,
  emptyStateCodec,
  encodeCheckpoint,
  floatCodec,
  floatCodecWhere,
  keyCodec,
  loadState,
  maxJsonDepth,
  nonNegativeParamsCodec,
  paramsCodec,
  saveState,
  stateFormat,
  stateFormatVersion,
  tensorCodec,
  tupleCodec,
  withIdentity,
} from './core/state.js'
export type { Checkpoint, CheckpointJson, LoadStateOptions, StateEnvelope, TensorJson } from './core/state.js'
export type { Mask } from './core/mask.js'
export * from './transforms/scaling.js'
export * from './transforms/moments.js'
export * from './transforms/clipping.js'
export * from './transforms/decay.js'
export * from './transforms/misc.js'
export * from './transforms/trust.js'
export * from './transforms/lbfgs.js'
export * from './transforms/linesearch.js'
export * from './transforms/wrappers.js'
export type { AccumulatorState } from './transforms/accumulator.js'
export type { Convention, Optimizer, OptimizerState } from './optimizers/common.js'
export * from './optimizers/sgd.js'
export * from './optimizers/adaptive.js'
export * from './optimizers/adam.js'
export * from './optimizers/others.js'
export * from './schedules/index.js'
export * from './init/index.js'
export * from './layers/index.js'
export * from './losses/index.js'
export * from './regularizers/index.js'
export * from './data/index.js'
export * from './training/index.js'
export * from './transforms/modern.js'
export * from './optimizers/modern.js'
export * from './transforms/factored.js'
export * from './optimizers/factored.js'
export * from './transforms/muon.js'
export * from './transforms/schedule-free.js'
export * from './optimizers/muon.js'
export * from './optimizers/schedule-free.js'
export * from './transforms/parameter-free.js'
export * from './optimizers/parameter-free.js'
export * from './transforms/contrib.js'
export * from './optimizers/contrib.js'
export * from './transforms/asgd-ftrl.js'
export * from './optimizers/asgd-ftrl.js'
export * from './transforms/gradients.js'
export * from './transforms/privacy.js'
export * from './transforms/conditional.js'
export * from './transforms/monitoring.js'
export * from './transforms/inject.js'
export * from './transforms/microbatch.js'
