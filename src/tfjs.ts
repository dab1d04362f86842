/**
 * fluxion/tfjs: fluxion inside TensorFlow.js. `tfjsOptimizer(transformation)` is a `tf.Optimizer`
 * that runs any fluxion transformation in `model.fit`, `minimize` and `applyGradients`, with masks
 * by variable name and its whole state in `getWeights` / `setWeights` (so `model.save` with
 * `includeOptimizer` resumes exactly); `fromTfjs` / `toTfjs` / `assignVariables` convert tensors
 * and variables, names kept as tree keys; `lossAndGrads` gives a custom loop its loss and gradient
 * tree. `@tensorflow/tfjs-core` is an optional peer dependency that only this entry imports. See
 * docs/tfjs.md.
 *
 * @module fluxion/tfjs
 */
export { assignVariables, fromTfjs, labelsByName, leafNames, lossAndGrads, maskByName, paramKeys, toTfjs, variablesByName } from './tfjs/convert.js'
export type { FluxionTreeOf, LossAndGrads, NamedTensor, TfjsTree, TfjsTreeOf, VariableTree } from './tfjs/convert.js'
export { FluxionOptimizer, registerTransformation, tfjsOptimizer } from './tfjs/optimizer.js'
export type { TfjsOptimizerOptions } from './tfjs/optimizer.js'
export { stateWeightName, weightsFormat, weightsFormatVersion } from './tfjs/weights.js'
export type { SavedVariable } from './tfjs/weights.js'
