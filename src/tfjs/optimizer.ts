/**
 * `tfjsOptimizer`: any fluxion `GradientTransformation` as a `tf.Optimizer`, for
 * `model.compile({ optimizer })` + `model.fit`, `optimizer.minimize` and `applyGradients`.
 *
 * fluxion keeps its own copy of the variables (its params tree, keyed by variable name) and its
 * state on a fluxion backend (default cpu), and runs `compileStep(transformation, { donate: true })`
 * on them: one fused kernel per variable, written in place. A step copies the gradients in and the
 * new values out (`variable.assign`); its copy of a variable is read again only when the variable
 * was assigned by someone else since (its `dataId` changed: `model.setWeights`, `loadWeights`).
 */
import * as tf from '@tensorflow/tfjs-core'
import type { AnyTransformation } from '../core/base.js'
import { type CompiledStep, compileStep } from '../core/compile.js'
import { type LoadStateOptions, loadState, saveState } from '../core/state.js'
import type { UpdateExtras } from '../core/types.js'
import { refinement, validate } from '../core/validate.js'
import { FluxionError, HyperparameterError, ShapeError, StructureError } from '../errors.js'
import { cpu } from '../tensor/cpu.js'
import { clone, dispose, keep, scope } from '../tensor/ops.js'
import { type Backend, Tensor } from '../tensor/tensor.js'
import * as tree from '../tree/index.js'
import { type NamedTensor, checkTfjsTensor, hostValues, paramKeys, tensorFromTfjs } from './convert.js'
import { type SavedVariable, envelopeToWeights, weightsToEnvelope } from './weights.js'

/** Options of `tfjsOptimizer`. */
export interface TfjsOptimizerOptions {
  /**
   * The name the optimizer is saved under (`getConfig()`, so `model.save` writes it) and that
   * `tf.loadLayersModel` finds the transformation by: constructing the optimizer registers the
   * transformation under it (see `registerTransformation`). Default: the transformation's identity
   * name (`'adamw'`, `'chain(clipByGlobalNorm, adamw)'`), else `'fluxion'`.
   */
  readonly name?: string
  /** The fluxion backend the state lives and computes on; it must read synchronously. Default `cpu`. */
  readonly backend?: Backend
  /**
   * Pass `minimize`'s loss (the loss `model.fit` logs, regularisers included) to `update` as
   * `{ value }`, which `reduceOnPlateau` watches. A non-finite loss is not passed. Default true.
   */
  readonly feedLoss?: boolean
  /** How `setWeights` loads a saved state (`loadState`'s options, less `params`). */
  readonly loadOptions?: Omit<LoadStateOptions, 'params'>
}

interface Registered {
  readonly transformation: AnyTransformation
  readonly options: TfjsOptimizerOptions
}

const registry = new Map<string, Registered>()

/**
 * Registers `transformation` (with the adapter's options) under `name`, so that
 * `tf.loadLayersModel` of a model saved with a `tfjsOptimizer` of that name rebuilds it:
 * TensorFlow.js recreates an optimizer from its JSON config alone (`fromConfig`), and a fluxion
 * transformation holds functions (schedules, masks) that JSON cannot. Constructing a
 * `tfjsOptimizer` registers its own transformation, so a process that builds the optimizer before
 * loading needs nothing else; a later registration of a name replaces the earlier one.
 *
 * @example
 * ```ts
 * registerTransformation('my-adamw', adamw({ learningRate: 1e-3, weightDecay: 1e-4 }))
 * // const model = await tf.loadLayersModel(url) // model.optimizer: the fluxion optimizer, state restored
 * ```
 */
export const registerTransformation = (name: string, transformation: AnyTransformation, options: Omit<TfjsOptimizerOptions, 'name'> = {}): void => {
  if (typeof name !== 'string' || name === '') throw new HyperparameterError('registerTransformation', 'name', name, 'a non-empty string')
  checkTransformation('registerTransformation', transformation)
  registry.set(name, { transformation, options: { ...options, name } })
}

const checkTransformation = (who: string, t: unknown): void => {
  const ok = typeof t === 'object' && t !== null && typeof (t as AnyTransformation).init === 'function' && typeof (t as AnyTransformation).update === 'function'
  if (!ok) throw new HyperparameterError(who, 'transformation', t, 'a GradientTransformation { init, update }')
}

const optionCodecs = {
  name: refinement('a non-empty string or undefined', (u): u is string | undefined => u === undefined || (typeof u === 'string' && u !== '')),
  backend: refinement('a fluxion backend that reads synchronously (cpu, gpu.js webasm or webgl2)', (u): u is Backend => {
    const b = u as Backend
    return typeof u === 'object' && u !== null && typeof b.fromData === 'function' && typeof b.elementwise === 'function' && typeof b.readSync === 'function'
  }),
  feedLoss: refinement('a boolean', (u): u is boolean => typeof u === 'boolean'),
  loadOptions: refinement('loadState options or undefined', (u): u is Omit<LoadStateOptions, 'params'> | undefined => u === undefined || (typeof u === 'object' && u !== null && !('params' in u))),
}

/** A variable of the params tree: its key there, the tf.Variable it is bound to (after a load, at the next step) and its shape. */
interface Slot {
  readonly key: string
  readonly variable: string | undefined
  readonly shape: readonly number[]
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i])

const variableNamed = (name: string): tf.Variable => {
  const v = tf.engine().registeredVariables[name]
  if (v === undefined) throw new FluxionError(`tfjsOptimizer: no tf.Variable named ${JSON.stringify(name)} is registered (disposed?)`)
  return v
}

const finite = (x: number | undefined): number | undefined => (x !== undefined && Number.isFinite(x) ? x : undefined)

/**
 * A `tf.Optimizer` that runs a fluxion transformation; made by `tfjsOptimizer`. Registered with
 * `tf.serialization` as `FluxionOptimizer`.
 */
export class FluxionOptimizer extends tf.Optimizer {
  static className = 'FluxionOptimizer'

  /** The fluxion transformation this optimizer runs. */
  readonly transformation: AnyTransformation
  /** The name it is saved and registered under. */
  readonly name: string
  readonly #backend: Backend
  readonly #feedLoss: boolean
  readonly #loadOptions: Omit<LoadStateOptions, 'params'>
  readonly #step: CompiledStep<unknown>
  #slots: readonly Slot[] | undefined
  #params: Record<string, Tensor> | undefined
  #state: unknown
  // the dataId of each variable after this optimizer last assigned it
  readonly #assigned = new Map<string, object>()
  #handedOut: tf.Tensor[] = []
  #disposed = false

  constructor(transformation: AnyTransformation, options: TfjsOptimizerOptions = {}) {
    super()
    checkTransformation('tfjsOptimizer', transformation)
    const o = validate('tfjsOptimizer', optionCodecs, options, { backend: cpu, feedLoss: true })
    this.transformation = transformation
    this.name = o.name ?? transformation.identity?.name ?? 'fluxion'
    this.#backend = o.backend
    this.#feedLoss = o.feedLoss
    this.#loadOptions = o.loadOptions ?? {}
    this.#step = compileStep(transformation, { donate: true })
    registry.set(this.name, { transformation, options: { ...options, name: this.name } })
  }

  /** Computes the gradients of `f`, applies them, and passes `f`'s value to `update` (see `feedLoss`). */
  override minimize(f: () => tf.Scalar, returnCost = false, varList?: tf.Variable[]): tf.Scalar | null {
    const { value, grads } = this.computeGradients(f, varList)
    try {
      const named = varList != null ? varList.map((v) => ({ name: v.name, tensor: grads[v.name] as tf.Tensor })) : grads
      this.#apply(named, this.#feedLoss ? finite(value.dataSync()[0]) : undefined)
    } catch (e) {
      value.dispose()
      throw e
    } finally {
      tf.dispose(Object.values(grads).filter((g): g is tf.Tensor => g != null))
    }
    if (returnCost) return value
    value.dispose()
    return null
  }

  /** One step of the transformation with these gradients (`null` gradients are left out). */
  override applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    this.#apply(variableGradients, undefined)
  }

  #live(): void {
    if (this.#disposed) throw new FluxionError(`tfjsOptimizer (${this.name}): the optimizer was disposed`)
  }

  /** The slots for these gradient names: set at the first step, bound after a load, checked after. */
  #bind(names: readonly string[], shapes: readonly (readonly number[])[]): readonly Slot[] {
    const slots = this.#slots
    const keys = paramKeys(names)
    if (slots === undefined) return (this.#slots = names.map((name, i) => ({ key: keys[i]!, variable: name, shape: shapes[i]! })))
    if (slots[0]?.variable === undefined) {
      if (names.length !== slots.length) {
        throw new StructureError('', `tfjsOptimizer (${this.name}): the loaded state is for ${slots.length} variables (${slots.map((s) => s.key).join(', ')}), the gradients for ${names.length}`)
      }
      // after setWeights: by key where the keys are the saved ones, else by position, as tfjs's own optimizers do
      const byKey = slots.every((s) => keys.includes(s.key))
      const bound = slots.map((s, i) => ({ ...s, variable: byKey ? names[keys.indexOf(s.key)]! : names[i]! }))
      bound.forEach((s) => {
        const shape = shapes[names.indexOf(s.variable)]!
        if (!sameShape(shape, s.shape)) throw new ShapeError(tree.childPath('', s.key), `the loaded state has [${s.shape.join(', ')}], variable ${s.variable} is [${shape.join(', ')}]`)
      })
      return (this.#slots = bound)
    }
    const missing = slots.filter((s) => !names.includes(s.variable!)).map((s) => s.variable)
    const extra = names.filter((n) => !slots.some((s) => s.variable === n))
    if (missing.length > 0 || extra.length > 0) {
      const detail = [missing.length > 0 ? `no gradient for ${missing.join(', ')}` : '', extra.length > 0 ? `gradients for new variables ${extra.join(', ')}` : ''].filter(Boolean).join('; ')
      throw new StructureError('', `tfjsOptimizer (${this.name}): the state is for the variables of the first step: ${detail} (use one optimizer per set of variables)`)
    }
    return slots
  }

  #apply(variableGradients: tf.NamedTensorMap | NamedTensor[], loss: number | undefined): void {
    this.#live()
    const given = Array.isArray(variableGradients) ? variableGradients.map((e) => [e.name, e.tensor] as const) : Object.entries(variableGradients)
    const entries = given.filter((e): e is readonly [string, tf.Tensor] => e[1] != null)
    if (entries.length === 0) return
    const names = entries.map(([n]) => n)
    if (new Set(names).size !== names.length) throw new StructureError('', `tfjsOptimizer (${this.name}): a variable has two gradients`)
    const variables = new Map(names.map((n) => [n, variableNamed(n)]))
    const slots = this.#bind(names, names.map((n) => variables.get(n)!.shape))
    const gradientOf = new Map(entries)
    const backend = this.#backend

    // fluxion's copy of every variable assigned by someone else since this optimizer did, and the gradients
    const [fresh, grads] = scope(() => {
      const read: Record<string, Tensor> = {}
      const g = Object.fromEntries(
        slots.map((s) => {
          const v = variables.get(s.variable!)!
          const path = tree.childPath('', s.key)
          const gradient = checkTfjsTensor(gradientOf.get(s.variable!), path, 'tfjsOptimizer')
          if (!sameShape(gradient.shape, v.shape)) throw new ShapeError(path, `the gradient is [${gradient.shape.join(', ')}], variable ${v.name} is [${v.shape.join(', ')}]`)
          if (this.#params?.[s.key] === undefined || this.#assigned.get(v.name) !== v.dataId) read[s.key] = tensorFromTfjs(checkTfjsTensor(v, path, 'tfjsOptimizer'), backend)
          return [s.key, tensorFromTfjs(gradient, backend)]
        }),
      )
      return [read, g] as const
    })
    let next: Record<string, Tensor>
    try {
      keep(fresh)
      if (this.#params !== undefined) dispose(Object.keys(fresh).map((k) => this.#params![k]))
      const params = Object.fromEntries(slots.map((s) => [s.key, fresh[s.key] ?? this.#params![s.key]!]))
      this.#params = params
      if (this.#state === undefined) this.#state = keep(this.transformation.init(params))
      const extra: UpdateExtras | undefined = loss === undefined ? undefined : { value: loss }
      // the step donates params and state; on an error it leaves them whole (docs/compile.md)
      const [nextParams, nextState] = this.#step(params, grads, this.#state, extra)
      next = keep(nextParams)
      this.#params = next
      this.#state = keep(nextState)
    } finally {
      dispose(grads)
    }
    const values = slots.map((s) => hostValues(next[s.key], tree.childPath('', s.key), 'tfjsOptimizer'))
    tf.tidy(() =>
      slots.forEach((s, i) => {
        const v = variables.get(s.variable!)!
        v.assign(tf.tensor(values[i]!, v.shape, 'float32'))
        this.#assigned.set(v.name, v.dataId)
      }),
    )
    this.incrementIterations()
  }

  /**
   * tfjs's `iter`, then the fluxion state (`saveState`'s envelope) as a JSON string weight and one
   * float32 weight per state tensor. The tensors are the optimizer's: they stay valid until the next
   * `getWeights` or `dispose`, which release them (`model.save` does not dispose what it is given).
   */
  override async getWeights(): Promise<NamedTensor[]> {
    this.#live()
    tf.dispose(this.#handedOut)
    this.#handedOut = []
    const weights: NamedTensor[] = [await this.saveIterations()]
    if (this.#state !== undefined && this.#slots !== undefined) {
      const variables: SavedVariable[] = this.#slots.map((s) => ({ name: s.key, shape: [...s.shape] }))
      // a copy taken now: a step while saveState awaits overwrites the live state in place
      const snapshot = scope(() => tree.map((x: unknown) => (x instanceof Tensor ? clone(x) : x))(this.#state as tree.TreeLike<unknown>))
      try {
        weights.push(...envelopeToWeights(await saveState(this.transformation, snapshot), variables))
      } catch (e) {
        tf.dispose(weights.map((w) => w.tensor))
        throw e
      } finally {
        dispose(snapshot)
      }
    }
    this.#handedOut = weights.map((w) => w.tensor)
    return weights
  }

  /**
   * Loads what `getWeights` wrote (as `tf.loadLayersModel` does after a `model.save` with
   * `includeOptimizer`): the iterations, and the state through `loadState` (format, identity,
   * domains and checksum checked before anything is allocated). The state is bound to the
   * variables at the next step: by name when they have the saved names, else by position.
   */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    this.#live()
    const rest = await this.extractIterations(weightValues)
    const saved = await weightsToEnvelope(rest)
    const state = saved === undefined ? undefined : keep(loadState(this.transformation, saved.envelope, this.#backend, this.#loadOptions))
    dispose([this.#params, this.#state])
    this.#params = undefined
    this.#assigned.clear()
    this.#state = state
    this.#slots = saved?.variables.map((v) => ({ key: v.name, variable: undefined, shape: v.shape }))
  }

  /** Releases the state, fluxion's copy of the variables and the tensors `getWeights` handed out; the optimizer cannot be used afterwards. */
  override dispose(): void {
    if (this.#disposed) return
    this.#disposed = true
    dispose([this.#params, this.#state])
    this.#params = undefined
    this.#state = undefined
    tf.dispose(this.#handedOut)
    this.#handedOut = []
    super.dispose()
  }

  /** `{ name }`: all that `tf.loadLayersModel` gets back; the transformation comes from the registry. */
  override getConfig(): tf.serialization.ConfigDict {
    return { name: this.name }
  }

  static override fromConfig<T extends tf.serialization.Serializable>(cls: tf.serialization.SerializableConstructor<T>, config: tf.serialization.ConfigDict): T {
    const name = config.name
    const entry = typeof name === 'string' ? registry.get(name) : undefined
    if (entry === undefined) {
      throw new FluxionError(
        `tfjsOptimizer: no transformation is registered as ${JSON.stringify(name)}; TensorFlow.js rebuilds an optimizer from its JSON config, which cannot hold a fluxion transformation: ` +
          `call registerTransformation(${JSON.stringify(name)}, transformation) (or construct tfjsOptimizer(transformation, { name: ${JSON.stringify(name)} })) before loading`,
      )
    }
    return new cls(entry.transformation, entry.options)
  }
}

tf.serialization.registerClass(FluxionOptimizer)

/**
 * Any fluxion transformation as a TensorFlow.js optimizer: `model.compile({ optimizer:
 * tfjsOptimizer(adamw(…)) })`, then `model.fit`, `optimizer.minimize(f)` or
 * `optimizer.applyGradients(grads)`. The params tree the transformation sees is a record keyed by
 * variable name (`'dense_Dense1/kernel'`, without the `_1` tfjs-layers adds to a name already
 * taken: `paramKeys`), so masks and labels by name (`maskByName`, `labelsByName`) work; the loss
 * `minimize` computes is passed to `update` as `{ value }` (for `reduceOnPlateau`). Where tfjs
 * computes, fluxion does not: it keeps its own copy of the variables and the state on a fluxion
 * backend (default cpu) and runs `compileStep(transformation, { donate: true })` there; a step
 * copies the gradients in and the new values out. On tfjs-backend-cpu the variables it writes are bit for bit those of `update` + `applyUpdates` on
 * the same gradients. `getWeights` / `setWeights` carry the whole state, so `model.save` with
 * `includeOptimizer` and `tf.loadLayersModel` resume exactly; `dispose` releases everything.
 *
 * @example
 * ```ts
 * const optimizer = tfjsOptimizer(
 *   chain(clipByGlobalNorm(1), adamw({ learningRate: 1e-3, weightDecay: 1e-4, mask: maskByName((n) => !n.endsWith('/bias')) })),
 * )
 * // model.compile({ optimizer, loss: 'categoricalCrossentropy' }); await model.fit(xs, ys)
 * ```
 */
export const tfjsOptimizer = (transformation: AnyTransformation, options: TfjsOptimizerOptions = {}): FluxionOptimizer => new FluxionOptimizer(transformation, options)
