/**
 * The compiled training step: `compileStep(optimizer)` fuses a chain of elementwise
 * transformations and `applyUpdates` into one generated kernel per leaf, the way XLA fuses an Optax
 * `chain` + `apply_updates`, with opt-in buffer donation (JAX's `donate_argnums`).
 *
 * Reference: Babuschkin et al. 2020 ("The DeepMind JAX Ecosystem": Optax under `jax.jit`); JAX
 * `jit(..., donate_argnums=...)`.
 */
import { BackendError, HyperparameterError, MissingParamsError, ShapeError } from '../errors.js'
import { type Backend, type Broadcast, type Donation, type ElementwiseOp, type Read, Tensor, adoptIntoParentScope, backendMismatch, defineElementwise, runInScope } from '../tensor/tensor.js'
import * as tree from '../tree/index.js'
import type { Structure } from '../tree/index.js'
import { applyOp } from './base.js'
import { type FusionStage, fusionOf } from './fusion.js'
import { checkStateOf, checkUpdates, deepFreeze, leafRows, paramsNeededBy, transformationName } from './internal.js'
import type { GradientTransformation, Params, UpdateExtras } from './types.js'
import { ranges, validate } from './validate.js'

/** Options of `compileStep`. */
export interface CompileStepOptions {
  /**
   * Donate the params and the state to the step (JAX's `donate_argnums`): their tensors are
   * overwritten in place where the backend can (cpu) and become disposed handles, so a later use
   * throws `DisposedTensorError`. Default false: the inputs stay valid and unchanged.
   */
  readonly donate?: boolean
}

/** A compiled step: the new params and state, as `applyUpdates(params, update(grads, state, params)[0])`. */
export type CompiledStep<S> = <P extends Params>(params: P, grads: Params, state: S, extra?: UpdateExtras) => readonly [P, S]

// ---- the transformation, resolved --------------------------------------------------------------

type AnyT = GradientTransformation<unknown>

type Node =
  | { readonly kind: 'chain'; readonly t: AnyT; readonly children: readonly Node[] }
  | { readonly kind: 'stage'; readonly t: AnyT; readonly stage: FusionStage; readonly id: number }
  | { readonly kind: 'identity'; readonly t: AnyT }
  | { readonly kind: 'opaque'; readonly t: AnyT; readonly id: number }

type Item = Extract<Node, { kind: 'stage' | 'opaque' }>

const resolve = (t: AnyT, items: Item[]): Node => {
  const f = fusionOf(t)
  if (f?.kind === 'chain') return { kind: 'chain', t, children: f.members.map((m) => resolve(m as AnyT, items)) }
  if (f?.kind === 'identity') return { kind: 'identity', t }
  const item: Item = f?.kind === 'stage' ? { kind: 'stage', t, stage: f.stage, id: items.length } : { kind: 'opaque', t, id: items.length }
  items.push(item)
  return item
}

/** Runs every state check the unfused update would run first (chains' tuple lengths, fields), collecting each item's state. */
const collectStates = (node: Node, state: unknown, out: unknown[]): void => {
  if (node.kind === 'opaque') {
    out[node.id] = state
    return
  }
  checkStateOf(node.t, state)
  if (node.kind === 'chain') node.children.forEach((c, i) => collectStates(c, (state as readonly unknown[])[i], out))
  else if (node.kind === 'stage') out[node.id] = state
}

const assembleState = (node: Node, state: unknown, next: readonly unknown[]): unknown => {
  if (node.kind === 'chain') return Object.freeze(node.children.map((c, i) => assembleState(c, (state as readonly unknown[])[i], next)))
  if (node.kind === 'identity') return deepFreeze(state)
  return next[node.id]
}

// ---- kernels --------------------------------------------------------------------------------------

type InputRef =
  | { readonly kind: 'grads' }
  | { readonly kind: 'params' }
  | { readonly kind: 'buffer'; readonly stage: number; readonly slot: number }
  | { readonly kind: 'reduction'; readonly stage: number; readonly index: number }

type OutputRef = { readonly kind: 'updates' } | { readonly kind: 'params' } | { readonly kind: 'buffer'; readonly stage: number; readonly slot: number }

interface Kernel {
  readonly op: ElementwiseOp
  readonly inputs: readonly InputRef[]
  /** [stage, scalar index] per op scalar. */
  readonly scalars: readonly (readonly [number, number])[]
  readonly outputs: readonly OutputRef[]
  readonly reads: readonly Read[]
  /** Output k may take over input donate[k] (params → new params, a buffer → its new value). */
  readonly donate: Donation
}

const token = /(\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|(\.\s*)?([A-Za-z_$][\w$]*)/g

/** `expr` with every identifier of `names` replaced; numbers and property names (Math.sqrt) are left alone. */
const rename = (expr: string, names: ReadonlyMap<string, string>): string =>
  expr.replace(token, (m, num: string | undefined, dot: string | undefined, name: string) => (num !== undefined || dot !== undefined ? m : (names.get(name) ?? m)))

/** A number as a JavaScript literal that keeps its value (and the sign of zero). */
const literal = (x: number): string => (Object.is(x, -0) ? '(-0)' : x < 0 ? `(${String(x)})` : String(x))

const same: Read = Object.freeze({ kind: 'same' })
const scalarRead: Read = Object.freeze({ kind: 'mod', size: 1 })

/**
 * The kernel of stages [0, upTo) of a group for one leaf variant (which stages apply there).
 * `mode` 'final' writes the new buffers and the updates (or, with `apply`, the new params);
 * 'reduce' outputs u⊙u of the updates entering stage `upTo` (summed by the caller). With
 * `exact` (a backend that evaluates in float64) the values an unfused chain would store are
 * rounded to float32 at the same points, and constant scalars are inlined as literals.
 */
const buildKernel = (
  stages: readonly FusionStage[],
  active: readonly boolean[],
  constants: readonly (readonly (number | undefined)[])[],
  upTo: number,
  mode: 'final' | 'reduce',
  apply: boolean,
  exact: boolean,
): Kernel => {
  const inputs: InputRef[] = []
  const inputNames: string[] = []
  const scalars: (readonly [number, number])[] = []
  const scalarNames: string[] = []
  const lets: [string, string][] = []
  const outputs: OutputRef[] = []
  const outputExprs: string[] = []
  const round = (e: string) => (exact ? `Math.fround(${e})` : e)
  const addInput = (ref: InputRef, name: string): string => {
    inputs.push(ref)
    inputNames.push(name)
    return name
  }
  let u = addInput({ kind: 'grads' }, 'gin')
  let params: string | undefined
  const paramsInput = () => (params ??= addInput({ kind: 'params' }, 'pin'))
  const names: string[] = []
  for (let k = 0; k < upTo; k++) {
    if (!active[k]) continue
    const st = stages[k]!
    const map = new Map<string, string>()
    st.op.inputs.forEach((name, i) => {
      const src = st.sources[i]!
      if (src.from === 'updates') map.set(name, u)
      else if (src.from === 'params') map.set(name, paramsInput())
      else if (src.from === 'buffer') map.set(name, addInput({ kind: 'buffer', stage: k, slot: st.buffers.indexOf(src.name) }, `s${k}_b_${name}`))
      else map.set(name, addInput({ kind: 'reduction', stage: k, index: src.index }, `s${k}_r_${name}`))
    })
    st.op.scalars.forEach((name, i) => {
      const c = constants[k]![i]
      if (c !== undefined) map.set(name, literal(c))
      else {
        scalars.push([k, i])
        scalarNames.push(`s${k}_c_${name}`)
        map.set(name, `s${k}_c_${name}`)
      }
    })
    for (const [name, e] of st.op.lets) {
      const renamed = `s${k}_l_${name}`
      lets.push([renamed, rename(e, map)])
      map.set(name, renamed)
    }
    st.op.outputs.forEach((e, i) => {
      const sink = st.sinks[i]!
      if (sink.to === 'updates') {
        const next = `s${k}_u`
        lets.push([next, round(rename(e, map))])
        u = next
      } else if (mode === 'final') {
        outputs.push({ kind: 'buffer', stage: k, slot: st.buffers.indexOf(sink.name) })
        outputExprs.push(rename(e, map))
      }
    })
    names.push(st.name)
  }
  if (mode === 'reduce') {
    outputs.length = 0
    outputExprs.length = 0
    outputExprs.push(`${u} * ${u}`)
    outputs.push({ kind: 'updates' })
  } else if (apply) {
    const p = paramsInput()
    outputs.unshift({ kind: 'params' })
    outputExprs.unshift(rename(applyOp.outputs[0]!, new Map([[applyOp.inputs[0]!, p], [applyOp.inputs[1]!, u]])))
  } else {
    outputs.unshift({ kind: 'updates' })
    outputExprs.unshift(u)
  }
  const op: ElementwiseOp = Object.freeze({
    name: `fused_${mode}_${names.join('_') || 'apply'}`.replace(/[^A-Za-z0-9_]/g, '_'),
    inputs: Object.freeze(inputNames),
    scalars: Object.freeze(scalarNames),
    lets: Object.freeze(lets.map((l) => Object.freeze(l))),
    outputs: Object.freeze(outputExprs),
  })
  const reads = Object.freeze(inputs.map((r) => (r.kind === 'reduction' ? scalarRead : same)))
  const donate = Object.freeze(
    outputs.map((o) =>
      o.kind === 'params'
        ? inputs.findIndex((r) => r.kind === 'params')
        : o.kind === 'buffer'
          ? inputs.findIndex((r) => r.kind === 'buffer' && r.stage === o.stage && r.slot === o.slot)
          : -1,
    ),
  )
  return { op, inputs, scalars, outputs, reads, donate }
}

const addOp = defineElementwise({ name: 'add', inputs: ['a', 'b'], outputs: ['a + b'] })
const scalarLayout = (n: number): Broadcast => ({ shape: [], size: 1, reads: Array.from({ length: n }, () => same) })
const layout1 = scalarLayout(1)
const layout2 = scalarLayout(2)

/** Σ over elements of each output of `op`, as tensors of shape []. */
const reduceSum = (b: Backend, op: ElementwiseOp, inputs: readonly Tensor[], scalars: readonly number[], layout: Broadcast): Tensor => {
  if (b.reduceElementwise) return b.reduceElementwise(op, inputs, scalars, layout)[0]!
  const [out] = b.elementwise(op, inputs, scalars, layout)
  const s = b.sum(out!)
  b.release(out!)
  return s
}

// ---- plans: one per tree structure ------------------------------------------------------------------

interface Plan {
  readonly structure: Structure
  readonly paths: readonly string[]
  readonly shapes: readonly (readonly number[])[]
  readonly sizes: readonly number[]
  readonly backends: readonly Backend[]
  /** Per kernel, the layout of each leaf (the reads array shared, so backends cache by it). */
  readonly layouts: WeakMap<Kernel, Broadcast[]>
}

/** The leaves of `x` if it has `s`'s structure (own keys only), else undefined. */
const extract = (s: Structure, x: unknown, out: unknown[]): boolean => {
  if (s.kind === 'leaf') {
    out.push(x)
    return true
  }
  if (s.kind === 'array') {
    if (!Array.isArray(x) || x.length !== s.children.length) return false
    for (let i = 0; i < x.length; i++) if (!extract(s.children[i]!, x[i], out)) return false
    return true
  }
  if (!tree.isNode(x) || Array.isArray(x)) return false
  if (Object.keys(x).length !== s.keys.length) return false
  for (let i = 0; i < s.keys.length; i++) {
    const k = s.keys[i]!
    // an own enumerable key: what Object.keys counted (a hidden own key must not stand in for one)
    if (!Object.prototype.propertyIsEnumerable.call(x, k) || !extract(s.children[i]!, (x as Record<string, unknown>)[k], out)) return false
  }
  return true
}

/** Every tensor in a tree (arrays and plain objects), without paths or structure. */
const collectTensors = (x: unknown, out: Tensor[]): Tensor[] => {
  if (x instanceof Tensor) out.push(x)
  else if (Array.isArray(x)) for (const c of x) collectTensors(c, out)
  else if (tree.isNode(x)) for (const k of Object.keys(x)) collectTensors((x as Record<string, unknown>)[k], out)
  return out
}

/** A frozen tree of `s`'s structure over `leaves` (every own key is data, `__proto__` included). */
const build = (s: Structure, leaves: readonly unknown[]): unknown => {
  let next = 0
  const go = (x: Structure): unknown => {
    if (x.kind === 'leaf') return leaves[next++]
    if (x.kind === 'array') return Object.freeze(x.children.map(go))
    const o: Record<string, unknown> = {}
    for (let i = 0; i < x.keys.length; i++) {
      const k = x.keys[i]!
      if (k === '__proto__') Object.defineProperty(o, k, { value: go(x.children[i]!), enumerable: true, writable: true, configurable: true })
      else o[k] = go(x.children[i]!)
    }
    return Object.freeze(o)
  }
  return go(s)
}

const sameShape = (a: readonly number[], b: readonly number[]) => a === b || (a.length === b.length && a.every((d, i) => d === b[i]))

/** The leaves of `x` under `plan`, each a live tensor of the leaf's backend and shape, else undefined. */
const leavesUnder = (plan: Plan, x: unknown): Tensor[] | undefined => {
  const out: unknown[] = []
  if (!extract(plan.structure, x, out)) return undefined
  for (let j = 0; j < out.length; j++) {
    const t = out[j]
    if (!(t instanceof Tensor) || t.backend !== plan.backends[j] || !sameShape(t.shape, plan.shapes[j]!) || !t.backend.isLive(t)) return undefined
  }
  return out as Tensor[]
}

const buildPlan = (named: readonly (readonly [string, Params])[]): Plan => {
  const { rows, paths, structure } = leafRows(named)
  return {
    structure,
    paths,
    shapes: rows.map((r) => r[0]!.shape),
    sizes: rows.map((r) => r[0]!.size),
    backends: rows.map((r) => r[0]!.backend),
    layouts: new WeakMap(),
  }
}

const layoutsOf = (plan: Plan, k: Kernel): Broadcast[] => {
  let ls = plan.layouts.get(k)
  if (!ls) plan.layouts.set(k, (ls = plan.shapes.map((shape, j) => ({ shape, size: plan.sizes[j]!, reads: k.reads }))))
  return ls
}

// ---- compileStep --------------------------------------------------------------------------------------

type Segment = { readonly kind: 'fused'; readonly items: readonly Extract<Item, { kind: 'stage' }>[]; readonly last: boolean } | { readonly kind: 'opaque'; readonly item: Extract<Item, { kind: 'opaque' }> }

/** Throws a HyperparameterError unless `t` is a GradientTransformation `{ init, update }`. */
const checkTransformation = (fn: string, field: string, t: unknown): void => {
  const ok = typeof t === 'object' && t !== null && typeof (t as { init?: unknown }).init === 'function' && typeof (t as { update?: unknown }).update === 'function'
  if (!ok) throw new HyperparameterError(fn, field, t, 'a GradientTransformation { init, update }')
}

/** Which transformations fuse (and the names `compileStep` reports for the others). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const fusedTransformations = (transform: GradientTransformation<any>): { readonly fused: readonly string[]; readonly unfused: readonly string[] } => {
  checkTransformation('fusedTransformations', 'transform', transform)
  const items: Item[] = []
  resolve(transform, items)
  return {
    fused: items.filter((i) => i.kind === 'stage').map((i) => (i as { stage: FusionStage }).stage.name),
    unfused: items.filter((i) => i.kind === 'opaque').map((i) => transformationName(i.t)),
  }
}

/**
 * Compiles an optimizer into one training step, `step(params, grads, state, extra?)`, that returns
 * what `applyUpdates(params, u)` with `[u, next] = optimizer.update(grads, state, params, extra)`
 * returns: the new params and state. Runs of elementwise transformations (the moment rescalings,
 * `trace`, the scalings and learning rates, `addDecayedWeights` and the penalties, `clip`,
 * `clipByNorm`, `clipByGlobalNorm`) and the final `applyUpdates` become one generated kernel per
 * leaf that reads each input once and writes each output once; a norm clip first runs a
 * reduction kernel that computes Σu² without storing u. Host work (step counters, schedules, bias
 * corrections) is done once per step and passed in as numbers; hyperparameters that never change
 * are inlined when the kernel is built (cpu). Transformations that do not fuse (L-BFGS, the
 * wrappers, trust ratios, sign-based and per-row rescalings) run their own `update` in place in
 * the chain, unfused; `fusedTransformations(optimizer)` lists which are which.
 *
 * Results: on the cpu backend fused and unfused steps agree bit for bit (the kernel rounds to
 * float32 where the unfused chain stores); on gpu backends within float32 rounding. Every check of
 * the unfused `update` runs before any device work, and throws the same typed errors. Trees are
 * flattened once per structure and the plan (paths, shapes, kernels) reused.
 *
 * With `donate: true`, the params and every state tensor are donated: on the cpu backend the new
 * params and moment buffers are written over the old ones (no allocation per step); on gpu
 * backends the old ones are released after the step. Either way the donated handles are disposed
 * after the call. When an unfused transformation sits in the chain, the fused runs before it write
 * fresh buffers (a failure inside it must leave the inputs whole) and only the runs after the last
 * one write in place. A tensor passed twice (as params and grads) is released but not overwritten.
 *
 * Defaults: donate = false.
 * Reference: XLA's fusion of Optax `chain` + `apply_updates` under `jax.jit`; JAX `donate_argnums`.
 *
 * @example
 * ```ts
 * const opt = chain(clipByGlobalNorm(1), scaleByAdam(), addDecayedWeights({ weightDecay: 1e-2 }), scaleByLearningRate(1e-3))
 * const step = compileStep(opt, { donate: true })
 * let params: Params = { w: fromArray([1, -2]) }
 * let state = opt.init(params)
 * for (let i = 0; i < 10; i++) [params, state] = step(params, params, state) // ∇ of ½‖w‖² is w
 * ```
 */
export const compileStep = <S>(optimizer: GradientTransformation<S>, options: CompileStepOptions = {}): CompiledStep<S> => {
  checkTransformation('compileStep', 'optimizer', optimizer)
  const { donate } = validate('compileStep', { donate: ranges.boolean }, options, { donate: false })
  const items: Item[] = []
  const root = resolve(optimizer as AnyT, items)
  // consecutive fusable stages form a group; the last group also applies the updates
  const segments: Segment[] = []
  for (const item of items) {
    const prev = segments[segments.length - 1]
    if (item.kind === 'opaque') segments.push({ kind: 'opaque', item })
    else if (prev?.kind === 'fused') (prev.items as Item[]).push(item)
    else segments.push({ kind: 'fused', items: [item], last: false })
  }
  if (segments[segments.length - 1]?.kind !== 'fused') segments.push({ kind: 'fused', items: [], last: true })
  else (segments[segments.length - 1] as { last: boolean }).last = true
  const lastOpaque = segments.map((s) => s.kind).lastIndexOf('opaque')

  // kernels per group, per backend family, per constant values and per leaf variant
  const kernelCache = segments.map(() => new Map<string, { constants: readonly (readonly (number | undefined)[])[]; byVariant: Map<string, Kernel[]> }>())
  let plans: Plan[] = []

  const planFor = (params: Params, grads: Params, buffers: readonly (readonly [string, Params])[]): { plan: Plan; p: Tensor[]; g: Tensor[]; b: Tensor[][] } => {
    for (const plan of plans) {
      const p = leavesUnder(plan, params)
      if (!p) continue
      const g = leavesUnder(plan, grads)
      const b = g && buffers.map(([, x]) => leavesUnder(plan, x))
      if (g && b && b.every((x) => x !== undefined)) return { plan, p, g, b: b as Tensor[][] }
    }
    // a new structure, or something wrong: the full checks throw the unfused errors
    checkUpdates('compileStep', grads)
    const plan = buildPlan([['params', params], ['grads', grads], ...buffers])
    plans = [plan, ...plans].slice(0, 8)
    return { plan, p: leavesUnder(plan, params)!, g: leavesUnder(plan, grads)!, b: buffers.map(([, x]) => leavesUnder(plan, x)!) }
  }

  const hasGlobalNorm = items.some((i) => i.kind === 'stage' && i.stage.reductions?.some((r) => r.scope === 'global'))
  const step = <P extends Params>(params: P, grads: Params, state: S, extra?: UpdateExtras): readonly [P, S] => {
    if (params === undefined) throw new MissingParamsError(paramsNeededBy(optimizer) ?? 'compileStep')
    const itemStates: unknown[] = []
    collectStates(root, state, itemStates)
    // the buffers of every fused stage, named as the unfused errors name them
    const bufferTrees: (readonly [string, Params])[] = []
    const bufferIndex: number[][] = []
    for (const item of items) {
      if (item.kind !== 'stage') continue
      bufferIndex[item.id] = item.stage.buffers.map((name) => {
        bufferTrees.push([`state.${name}`, (itemStates[item.id] as Record<string, Params>)[name]!])
        return bufferTrees.length - 1
      })
    }
    const { plan, p: paramLeaves, g: gradLeaves, b: bufferLeaves } = planFor(params, grads, bufferTrees)
    // a global norm adds every leaf's sum on one backend, empty leaves included (as unfused)
    if (hasGlobalNorm) {
      const j = plan.backends.findIndex((b) => b !== plan.backends[0])
      if (j >= 0) throw new BackendError(plan.paths[j]!, backendMismatch(plan.backends[j]!, plan.backends[0]!))
    }
    // host work of every stage before any device work: counters, schedules, masks, their errors
    const hostSteps = items.map((item) => (item.kind === 'stage' ? item.stage.host(itemStates[item.id] as Record<string, unknown>, grads, params, extra) : undefined))
    // donation: a tensor that appears twice among the inputs is released at the end, never overwritten
    let aliased: Set<Tensor> | undefined
    if (donate) {
      const seen = new Set<Tensor>()
      for (const list of [paramLeaves, gradLeaves, ...bufferLeaves]) {
        for (const x of list) {
          if (seen.has(x)) (aliased ??= new Set()).add(x)
          seen.add(x)
        }
      }
    }
    const nextItemStates: unknown[] = []
    const donatedState = donate ? collectTensors(state, []) : []

    const { result, created } = runInScope(() => {
      let u: Tensor[] = gradLeaves
      let outParams: Tensor[] | undefined
      segments.forEach((seg, si) => {
        if (seg.kind === 'opaque') {
          const incoming = u === gradLeaves ? grads : (build(plan.structure, u) as Params)
          const [u2, s2] = seg.item.t.update(incoming, itemStates[seg.item.id], params, extra)
          const leaves = leavesUnder(plan, u2)
          if (!leaves) {
            leafRows([['grads', grads], ['updates', u2]]) // names the difference
            throw new ShapeError('', `compileStep: ${transformationName(seg.item.t)} returned updates unlike the params`)
          }
          u = leaves
          nextItemStates[seg.item.id] = s2
          // a tensor an unfused member handed on (in its updates or its state, e.g. a param it keeps)
          // must not be overwritten by a later in-place kernel
          if (donate) for (const x of collectTensors([u2, s2], [])) (aliased ??= new Set()).add(x)
          return
        }
        const stages = seg.items.map((i) => i.stage)
        const steps = seg.items.map((i) => hostSteps[i.id]!)
        const inPlace = donate && si > lastOpaque
        const out = runGroup(si, plan, stages, steps, seg.items.map((i) => bufferIndex[i.id]!.map((b) => bufferLeaves[b]!)), u, paramLeaves, seg.last, inPlace, aliased)
        seg.items.forEach((item, k) => {
          const st = item.stage
          const fields: Record<string, unknown> = { ...steps[k]!.hostState }
          st.buffers.forEach((name, slot) => (fields[name] = build(plan.structure, out.buffers[k]![slot]!)))
          nextItemStates[item.id] = st.buffers.length === 0 && Object.keys(fields).length === 0 ? deepFreeze(itemStates[item.id]) : Object.freeze(fields)
        })
        if (seg.last) outParams = out.updates
        else u = out.updates
      })
      return [build(plan.structure, outParams!) as P, assembleState(root, state, nextItemStates) as S] as const
    })
    // keep the results (they join the enclosing scope), release every intermediate
    const [newParams, newState] = result
    const kept = new Set<Tensor>(collectTensors(result, []))
    for (const x of created) if (!kept.has(x) && x.backend.isLive(x)) x.backend.release(x)
    adoptIntoParentScope([...kept].filter((x) => created.has(x)))
    if (donate) {
      for (const x of paramLeaves) if (!kept.has(x) && x.backend.isLive(x)) x.backend.release(x)
      for (const x of donatedState) if (!kept.has(x) && x.backend.isLive(x)) x.backend.release(x)
    }
    return [newParams, newState] as const
  }

  /** One fused group over every leaf: its reductions, then the kernel; returns the new updates (or params) and buffers per stage. */
  const runGroup = (
    si: number,
    plan: Plan,
    stages: readonly FusionStage[],
    steps: readonly { readonly scalars: readonly number[]; readonly active?: readonly boolean[] }[],
    buffers: readonly (readonly Tensor[][])[],
    u: readonly Tensor[],
    params: readonly Tensor[],
    apply: boolean,
    inPlace: boolean,
    aliased: Set<Tensor> | undefined,
  ): { updates: Tensor[]; buffers: Tensor[][][] } => {
    const n = plan.paths.length
    const outBuffers = stages.map((st) => st.buffers.map(() => new Array<Tensor>(n)))
    const outUpdates = new Array<Tensor>(n)
    const reductions = stages.map((st) => (st.reductions ?? []).map(() => new Array<Tensor>(n)))
    const families = new Map<Backend, { constants: readonly (readonly (number | undefined)[])[]; byVariant: Map<string, Kernel[]> }>()
    // constants: inlined only where the kernel is JavaScript (cpu); checked against the built ones
    const familyOf = (b: Backend) => {
      let f = families.get(b)
      if (f) return f
      const exact = b.float64Intermediates === true
      const key = exact ? 'exact' : 'device'
      const cache = kernelCache[si]!
      const constants = stages.map((st, k) =>
        st.op.scalars.map((name, i) => {
          const v = steps[k]!.scalars[i]!
          return exact && st.constants?.includes(name) && Number.isFinite(v) ? v : undefined
        }),
      )
      let entry = cache.get(key)
      const stale = entry && entry.constants.some((cs, k) => cs.some((c, i) => c !== undefined && !Object.is(c, constants[k]![i])))
      if (!entry || stale) cache.set(key, (entry = { constants, byVariant: new Map() }))
      families.set(b, entry)
      return entry
    }
    const masked = steps.some((st) => st.active !== undefined)
    const allActive = stages.map(() => true)
    const activeOf = (j: number) => (masked ? stages.map((_, k) => steps[k]!.active?.[j] ?? true) : allActive)
    const variantKey = (active: readonly boolean[]) => (masked ? active.map((a) => (a ? '1' : '0')).join('') : '')
    let lastBackend: Backend | undefined
    let lastKernels: Kernel[] | undefined
    const kernelsFor = (b: Backend, j: number): Kernel[] => {
      if (!masked && b === lastBackend) return lastKernels!
      const fam = familyOf(b)
      const active = activeOf(j)
      const key = variantKey(active)
      let ks = fam.byVariant.get(key)
      if (!ks) {
        const exact = b.float64Intermediates === true
        ks = stages.map((st, k) => (st.reductions?.length ? buildKernel(stages, active, fam.constants, k, 'reduce', false, exact) : undefined)) as Kernel[]
        ks.push(buildKernel(stages, active, fam.constants, stages.length, 'final', apply, exact))
        fam.byVariant.set(key, ks)
      }
      lastBackend = b
      lastKernels = ks
      return ks
    }
    const inputOf = (k: Kernel, j: number): Tensor[] =>
      k.inputs.map((r) =>
        r.kind === 'grads' ? u[j]! : r.kind === 'params' ? params[j]! : r.kind === 'buffer' ? buffers[r.stage]![r.slot]![j]! : reductions[r.stage]![r.index]![j]!,
      )
    const scalarCache = new Map<Kernel, number[]>()
    const scalarsOf = (k: Kernel): number[] => {
      let v = scalarCache.get(k)
      if (!v) scalarCache.set(k, (v = k.scalars.map(([s, i]) => steps[s]!.scalars[i]!)))
      return v
    }
    // reductions, stage by stage (a later one may read an earlier one's value through its prefix)
    stages.forEach((st, k) => {
      ;(st.reductions ?? []).forEach((red, r) => {
        const partial = new Array<Tensor | undefined>(n)
        for (let j = 0; j < n; j++) {
          if (plan.sizes[j] === 0 || !activeOf(j)[k]) continue
          const b = plan.backends[j]!
          const kern = kernelsFor(b, j)[k]!
          partial[j] = reduceSum(b, kern.op, inputOf(kern, j), scalarsOf(kern), layoutsOf(plan, kern)[j]!)
        }
        const finish = (b: Backend, x: Tensor) => (red.finish ? b.elementwise(red.finish, [x], red.finishScalars ?? [], layout1)[0]! : x)
        if (red.scope === 'leaf') {
          for (let j = 0; j < n; j++) if (partial[j]) reductions[k]![r]![j] = finish(plan.backends[j]!, partial[j]!)
          return
        }
        // one total per backend, summed in leaf order as the unfused global norm sums
        const totals = new Map<Backend, Tensor>()
        for (let j = 0; j < n; j++) {
          const x = partial[j]
          if (!x) continue
          const b = plan.backends[j]!
          const acc = totals.get(b)
          if (acc && acc.backend !== b) throw new BackendError(plan.paths[j]!, backendMismatch(acc.backend, b))
          totals.set(b, acc ? b.elementwise(addOp, [acc, x], [], layout2)[0]! : x)
        }
        if (totals.size > 1) throw new BackendError('', 'compileStep: a global norm over leaves on several backends')
        for (const [b, total] of totals) {
          const value = finish(b, total)
          for (let j = 0; j < n; j++) reductions[k]![r]![j] = value
        }
      })
    })
    for (let j = 0; j < n; j++) {
      const b = plan.backends[j]!
      const kern = kernelsFor(b, j)[stages.length]!
      const ins = inputOf(kern, j)
      let outs: Tensor[]
      if (plan.sizes[j] === 0) outs = kern.outputs.map(() => b.fill(plan.shapes[j]!, 0))
      else {
        const donation = inPlace ? (aliased ? kern.donate.map((d) => (d >= 0 && aliased.has(ins[d]!) ? -1 : d)) : kern.donate) : undefined
        outs = b.elementwise(kern.op, ins, scalarsOf(kern), layoutsOf(plan, kern)[j]!, donation)
      }
      kern.outputs.forEach((o, i) => {
        if (o.kind === 'buffer') outBuffers[o.stage]![o.slot]![j] = outs[i]!
        else outUpdates[j] = outs[i]!
      })
      // a stage masked out at this leaf leaves its (buffer-free) state alone; buffers of inactive stages cannot occur
    }
    return { updates: outUpdates, buffers: outBuffers }
  }

  return step as CompiledStep<S>
}

