/**
 * fluxion: Optax-style gradient transformations over parameter trees of tensors on the CPU or a
 * GPU (gpu.js). See README.md for a tour.
 */
export * from './errors.js'
export * as tree from './tree/index.js'
export type { Tree, Structure } from './tree/index.js'
export * from './tensor/index.js'
export type { EmptyState, GradientTransformation, Params, ScalarOrSchedule, Schedule } from './core/types.js'
export { applyUpdates, chain, identity, setToZero, stateless, zerosLikeTree } from './core/base.js'
export type { AnyTransformation, ChainState, StateOf } from './core/base.js'
export { ranges } from './core/validate.js'
export * from './transforms/scaling.js'
export * from './transforms/moments.js'
export * from './optimizers/sgd.js'
export * from './optimizers/adam.js'
