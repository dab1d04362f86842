/**
 * Conversions between TensorFlow.js tensors and fluxion trees, names kept as tree keys, and the
 * custom-loop helper `lossAndGrads` over `tf.variableGrads`.
 *
 * Copies: fluxion never shares memory with tfjs. Its cpu backend recycles released arrays and
 * `compileStep`'s donation writes params in place, so an array that tfjs could still see (a clone
 * of a variable shares its data) would change under it. Each direction is one copy where the tfjs
 * backend allows: `fromTfjs` reads tfjs-backend-cpu's own array (`dataSync` copies nothing there)
 * into fluxion storage; `toTfjs` reads fluxion's data once and tfjs-backend-cpu adopts that array
 * as it is. tfjs-backend-wasm adds a copy out of (or into) its heap, webgl a download (upload).
 */
import * as tf from '@tensorflow/tfjs-core'
import type { Params } from '../core/types.js'
import { DisposedTensorError, ShapeError, StructureError, UnsupportedError } from '../errors.js'
import { cpu } from '../tensor/cpu.js'
import { fromArray, scope, zeros } from '../tensor/ops.js'
import { type Backend, Tensor } from '../tensor/tensor.js'
import * as tree from '../tree/index.js'
import type { Structure, Tree } from '../tree/index.js'

/** A named tensor, as `applyGradients`, `getWeights` and `setWeights` take them (tfjs-core's own type is not exported). */
export interface NamedTensor {
  readonly name: string
  readonly tensor: tf.Tensor
}

/** A tree of TensorFlow.js tensors (a `tf.Variable` is one): a tensor, an array or a record of trees, such as a `NamedTensorMap`. */
export type TfjsTree = tf.Tensor | readonly TfjsTree[] | { readonly [key: string]: TfjsTree }

/** A tree of `tf.Variable`s: `model.trainableWeights.map((w) => w.read())`, `{ w, b }`, … */
export type VariableTree = tf.Variable | readonly VariableTree[] | { readonly [key: string]: VariableTree }

/** The fluxion tree `fromTfjs` makes of `T`: every tfjs tensor a fluxion `Tensor`; a `NamedTensor[]` a record by name. */
export type FluxionTreeOf<T> = T extends tf.Tensor
  ? Tensor
  : T extends readonly NamedTensor[]
    ? Record<string, Tensor>
    : { readonly [K in keyof T]: FluxionTreeOf<T[K]> }

/** The tfjs tree `toTfjs` makes of a fluxion tree `T`. */
export type TfjsTreeOf<T> = T extends Tensor ? tf.Tensor : { readonly [K in keyof T]: TfjsTreeOf<T[K]> }

const describe = (x: unknown): string => (x === null ? 'null' : typeof x === 'object' ? (x.constructor?.name ?? 'an object') : typeof x)

/** `[{ name, tensor }, …]`, what `applyGradients` and `getWeights` use. */
export const isNamedTensorList = (x: unknown): x is readonly NamedTensor[] =>
  Array.isArray(x) &&
  x.length > 0 &&
  x.every((e) => tree.isNode(e) && !Array.isArray(e) && typeof (e as { name?: unknown }).name === 'string' && (e as { tensor?: unknown }).tensor instanceof tf.Tensor && Object.keys(e).length === 2)

const namedRecord = (list: readonly NamedTensor[], who: string): Record<string, tf.Tensor> => {
  const entries = list.map((e) => [e.name, e.tensor] as const)
  const names = new Set(entries.map(([n]) => n))
  if (names.size !== entries.length) {
    const twice = entries.find(([n], i) => entries.findIndex(([m]) => m === n) !== i)![0]
    throw new StructureError(tree.childPath('', twice), `${who}: the name appears twice in the list`)
  }
  return Object.fromEntries(entries)
}

/** A live float32 tfjs tensor, else the typed error naming its path. */
export const checkTfjsTensor = (x: unknown, path: string, who: string): tf.Tensor => {
  if (!(x instanceof tf.Tensor)) throw new StructureError(path, `${who}: expected a TensorFlow.js tensor, got ${describe(x)}`)
  if (x.isDisposed) throw new DisposedTensorError(path, x.id)
  if (x.dtype !== 'float32') throw new UnsupportedError(`${who}: ${path === '' ? '<root>' : path} is a ${x.dtype} tensor; fluxion's tensors are float32`)
  return x
}

/** One tfjs tensor's values in a new fluxion tensor (one copy on tfjs-backend-cpu). */
export const tensorFromTfjs = (x: tf.Tensor, backend: Backend): Tensor => fromArray(x.dataSync() as Float32Array, x.shape, backend)

/** A fluxion tensor's values on the host, read synchronously, else the typed error naming its path. */
export const hostValues = (x: unknown, path: string, who: string): Float32Array => {
  if (!(x instanceof Tensor)) throw new StructureError(path, `${who}: expected a fluxion Tensor, got ${describe(x)}`)
  if (!x.backend.isLive(x)) throw new DisposedTensorError(path, x.id)
  const values = x.backend.readSync?.(x)
  if (values === undefined) {
    throw new UnsupportedError(`${who}: the ${x.backend.name} backend cannot read ${path === '' ? 'a tensor' : path} synchronously (WebGPU reads are asynchronous); use fluxion's cpu backend or gpu.js webasm or webgl2`)
  }
  return values
}

/**
 * Copies TensorFlow.js tensors into fluxion tensors on `backend` (default cpu), keeping the tree:
 * a tensor gives a `Tensor`, an array an array, a record (a `NamedTensorMap`, a record of
 * `tf.Variable`s) a record with the same keys, and a `NamedTensor[]` list a record keyed by the
 * names, so a variable `'dense_Dense1/kernel'` is the leaf at path `["dense_Dense1/kernel"]`.
 * Reads synchronously (`dataSync`); tensors must be float32. The tfjs tensors are left as they
 * are. On an error, the tensors made so far are released.
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core'
 * const params = fromTfjs({ w: tf.variable(tf.ones([2, 2])), b: tf.variable(tf.zeros([2])) }) // { w: Tensor, b: Tensor }
 * ```
 */
export const fromTfjs = <T extends TfjsTree | readonly NamedTensor[]>(x: T, backend: Backend = cpu): FluxionTreeOf<T> => {
  const input = isNamedTensorList(x) ? namedRecord(x, 'fromTfjs') : x
  return scope(() => tree.map((leaf: unknown, path) => tensorFromTfjs(checkTfjsTensor(leaf, path, 'fromTfjs'), backend))(input)) as FluxionTreeOf<T>
}

/**
 * Copies fluxion tensors into new TensorFlow.js tensors (float32, same shapes, same tree), on
 * tfjs's current backend; the fluxion tensors are left as they are. The backend of the fluxion
 * tensors must read synchronously (cpu, gpu.js webasm or webgl2). The new tensors are the
 * caller's to dispose (or a `tf.tidy`'s).
 *
 * @example
 * ```ts
 * const { w } = toTfjs({ w: fromArray([1, 2, 3, 4], [2, 2]) }) // a tf.Tensor of shape [2, 2]
 * ```
 */
export const toTfjs = <T>(t: T): TfjsTreeOf<T> => {
  const made: tf.Tensor[] = []
  try {
    return tree.map((leaf: unknown, path) => {
      const values = hostValues(leaf, path, 'toTfjs')
      const out = tf.tensor(values, [...(leaf as Tensor).shape], 'float32')
      made.push(out)
      return out
    })(t as tree.TreeLike<unknown>) as TfjsTreeOf<T>
  } catch (e) {
    tf.dispose(made)
    throw e
  }
}

/**
 * Writes the values of a fluxion tree into `tf.Variable`s of the same tree (`variable.assign`), e.g.
 * the params a fluxion step returned. Every structure, shape and read is checked before the first
 * variable changes.
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core'
 * const variables = { w: tf.variable(tf.zeros([2])) }
 * assignVariables(variables, { w: fromArray([0.5, -1]) })
 * ```
 */
export const assignVariables = (variables: VariableTree, values: Params): void => {
  tree.assertSameStructure(variables, values, 'assignVariables: variables vs values')
  const vs = tree.leaves<unknown>(variables)
  const paths = tree.paths(variables)
  const ps = tree.leaves<unknown>(values)
  const data = vs.map((v, i) => {
    const path = paths[i]!
    if (!(v instanceof tf.Variable)) throw new StructureError(path, `assignVariables: expected a tf.Variable, got ${describe(v)}`)
    checkTfjsTensor(v, path, 'assignVariables')
    const values = hostValues(ps[i], path, 'assignVariables')
    const shape = (ps[i] as Tensor).shape
    if (shape.length !== v.shape.length || shape.some((d, k) => d !== v.shape[k])) throw new ShapeError(path, `the variable is [${v.shape.join(', ')}], the value [${shape.join(', ')}]`)
    return values
  })
  tf.tidy(() => vs.forEach((v, i) => (v as tf.Variable).assign(tf.tensor(data[i]!, (v as tf.Variable).shape, 'float32'))))
}

/**
 * The keys fluxion/tfjs gives variables (in `tfjsOptimizer`'s params tree, `variablesByName`,
 * `lossAndGrads`): each name without the `_<n>` that
 * tfjs-layers appends to a variable name already taken (the second model of a process has
 * `hidden/kernel_1`; tfjs-layers saves it as `hidden/kernel`, its `originalName`), so that masks by
 * name and saved states see the same keys in every copy of a model. Names that would then collide
 * keep their suffix.
 *
 * @example
 * ```ts
 * paramKeys(['hidden/kernel_1', 'hidden/bias_1', 'w_1', 'w_2']) // ['hidden/kernel', 'hidden/bias', 'w_1', 'w_2']
 * ```
 */
export const paramKeys = (names: readonly string[]): string[] => {
  const stripped = names.map((n) => n.replace(/_\d+$/, ''))
  return stripped.map((k, i) => (stripped.indexOf(k) === stripped.lastIndexOf(k) ? k : names[i]!))
}

/**
 * A list of variables (`model.trainableWeights.map((w) => w.read())`) as a record keyed by name
 * (`paramKeys`), for `fromTfjs`, `lossAndGrads` and `assignVariables`: the tree `tfjsOptimizer`'s
 * transformation sees, so that masks by name mean the same in a custom loop.
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core'
 * const variables = variablesByName([tf.variable(tf.zeros([2]), true, 'dense/kernel_1')]) // { 'dense/kernel': … }
 * ```
 */
export const variablesByName = (variables: readonly tf.Variable[]): Record<string, tf.Variable> => {
  variables.forEach((v, i) => {
    if (!(v instanceof tf.Variable)) throw new StructureError(`[${i}]`, `variablesByName: expected a tf.Variable, got ${describe(v)}`)
  })
  const names = variables.map((v) => v.name)
  if (new Set(names).size !== names.length) throw new StructureError('', 'variablesByName: a variable appears twice in the list')
  const keys = paramKeys(names)
  return Object.fromEntries(variables.map((v, i) => [keys[i]!, v]))
}

/** What `lossAndGrads` returns: the loss as a number and the gradients as fluxion tensors. */
export interface LossAndGrads<G> {
  readonly loss: number
  readonly grads: G
}

/**
 * The value of `f` and its gradients with respect to `variables`, as a number and a fluxion tree
 * shaped like `variables`, ready for `update` or a compiled step; by `tf.variableGrads`. Without
 * `variables`, every trainable variable `f` uses, in a record keyed by name (`paramKeys`). A variable
 * `f` does not use (or a non-trainable one) gets a zero gradient. Every tfjs tensor made on the
 * way (`f`'s intermediates, its value, the gradients) is disposed before it returns; the fluxion
 * gradients are the caller's to dispose.
 *
 * @example
 * ```ts
 * import * as tf from '@tensorflow/tfjs-core'
 * const w = tf.variable(tf.tensor1d([1, -2]))
 * const opt = adam({ learningRate: 0.1 })
 * let params = fromTfjs({ w })
 * let state = opt.init(params)
 * const step = compileStep(opt, { donate: true })
 * for (let i = 0; i < 10; i++) {
 *   const { loss, grads } = lossAndGrads(() => tf.sum(tf.square(w)), { w })
 *   ;[params, state] = step(params, grads, state)
 *   dispose(grads)
 *   assignVariables({ w }, params)
 * }
 * ```
 */
export function lossAndGrads(f: () => tf.Scalar, variables?: undefined, backend?: Backend): LossAndGrads<Record<string, Tensor>>
export function lossAndGrads<V extends VariableTree>(f: () => tf.Scalar, variables: V, backend?: Backend): LossAndGrads<FluxionTreeOf<V>>
export function lossAndGrads(f: () => tf.Scalar, variables?: VariableTree, backend: Backend = cpu): LossAndGrads<Params> {
  const list = variables === undefined ? undefined : tree.leaves<unknown>(variables)
  const paths = variables === undefined ? [] : tree.paths(variables)
  list?.forEach((v, i) => {
    if (!(v instanceof tf.Variable)) throw new StructureError(paths[i]!, `lossAndGrads: expected a tf.Variable, got ${describe(v)}`)
  })
  const { value, grads } = tf.variableGrads(f, list as tf.Variable[] | undefined)
  try {
    const loss = value.dataSync()[0]!
    if (variables === undefined) {
      const names = Object.keys(grads)
      const keys = paramKeys(names)
      return { loss, grads: fromTfjs(Object.fromEntries(names.map((n, i) => [keys[i]!, grads[n]!])), backend) }
    }
    const out = scope(() =>
      tree.map((v: tf.Variable, path) => {
        const g = grads[v.name]
        return g == null ? zeros(v.shape, backend) : tensorFromTfjs(checkTfjsTensor(g, path, 'lossAndGrads'), backend)
      })(variables),
    )
    return { loss, grads: out }
  } finally {
    value.dispose()
    tf.dispose(Object.values(grads).filter((g): g is tf.Tensor => g != null))
  }
}

const joinName = (prefix: string | undefined, key: string): string => (prefix === undefined ? key : `${prefix}/${key}`)

/**
 * The name of every leaf of `params`: its keys from the root joined with `/`, so a record keyed by
 * tfjs variable names gives the names themselves (`'dense_Dense1/kernel'`) and `{ dense: { bias } }`
 * gives `'dense/bias'` (array positions are numbers).
 */
export const leafNames = (params: Params): Tree<string> => {
  const { structure } = tree.flatten(params)
  const go = (s: Structure, prefix: string | undefined): Tree<string> => {
    if (s.kind === 'leaf') return prefix ?? ''
    if (s.kind === 'array') return s.children.map((c, i) => go(c, joinName(prefix, String(i))))
    return Object.fromEntries(s.keys.map((k, i) => [k, go(s.children[i]!, joinName(prefix, k))]))
  }
  return go(structure, undefined)
}

/**
 * A mask by variable name, for any fluxion option or wrapper that takes a `Mask` (`adamw`'s,
 * `addDecayedWeights`', `masked`, `freeze`): `predicate(name)` for every leaf, its name as
 * `leafNames` gives it. Through `tfjsOptimizer` the params are keyed by variable name, so this
 * excludes biases and normalisation parameters from weight decay:
 *
 * @example
 * ```ts
 * const decayed = maskByName((name) => !/(^|\/)(bias|gamma|beta)$/.test(name))
 * const opt = adamw({ learningRate: 1e-3, weightDecay: 1e-4, mask: decayed })
 * ```
 */
export const maskByName =
  (predicate: (name: string) => boolean) =>
  (params: Params): Tree<boolean> =>
    tree.map((name: string) => predicate(name))(leafNames(params))

/**
 * Labels by variable name, for `multiTransform` / `partition`: `label(name)` for every leaf.
 *
 * @example
 * ```ts
 * const opt = multiTransform(
 *   { adam: adam({ learningRate: 1e-3 }), frozen: setToZero() },
 *   labelsByName((name) => (name.startsWith('embedding') ? 'frozen' : 'adam')),
 * )
 * ```
 */
export const labelsByName =
  (label: (name: string) => string) =>
  (params: Params): Tree<string> =>
    tree.map((name: string) => label(name))(leafNames(params))
