/**
 * Float64 references of the wrappers of src/transforms/{conditional,monitoring,inject,microbatch}.ts,
 * written naively from Optax 0.2.8's definitions (transforms/_conditionality.py,
 * transforms/_monitoring.py, transforms/_accumulation.py `ema`, schedules/_inject.py,
 * microbatching/_microbatching.py). Leaves are Float64Arrays, one per parameter leaf.
 */

type Leaves = Float64Array[]

/** A reference inner transformation: its initial state and one step g ↦ (u, state). */
export interface ReferenceStep<S> {
  readonly init: () => S
  readonly step: (g: Leaves, state: S) => readonly [Leaves, S]
}

/** Optax `ema(decay, debias)`: e ← βe + (1 − β)g, u = e/(1 − βᵗ) (debiased) or e. */
export const emaStep = (leaves: number[], decay: number, debias = true): ReferenceStep<{ t: number; e: Leaves }> => ({
  init: () => ({ t: 0, e: leaves.map((n) => new Float64Array(n)) }),
  step: (g, s) => {
    const t = s.t + 1
    const e = g.map((gi, i) => gi.map((x, j) => decay * s.e[i]![j]! + (1 - decay) * x))
    const c = debias ? 1 - decay ** t : 1
    return [e.map((ei) => ei.map((x) => x / c)), { t, e }] as const
  },
})

/** SGD with heavy-ball momentum (Optax `sgd(lr, momentum)`): m ← g + βm, u = −η m. */
export const sgdMomentumStep = (leaves: number[], learningRate: number, momentum: number): ReferenceStep<Leaves> => ({
  init: () => leaves.map((n) => new Float64Array(n)),
  step: (g, m) => {
    const next = g.map((gi, i) => gi.map((x, j) => x + momentum * m[i]![j]!))
    return [next.map((mi) => mi.map((x) => -learningRate * x)), next] as const
  },
})

/**
 * Optax `conditionally_transform` (mask = false) / `conditionally_mask` (mask = true): at call k
 * (0-based) the inner step runs when `should(k)`; otherwise the updates pass unchanged (or are 0)
 * and the inner state is kept. Returns the updates of every step.
 */
export const conditionalReference = <S>(grads: readonly Leaves[], should: (k: number) => boolean, inner: ReferenceStep<S>, mask: boolean): Leaves[] => {
  let s = inner.init()
  return grads.map((g, k) => {
    if (!should(k)) return g.map((x) => (mask ? new Float64Array(x.length) : Float64Array.from(x)))
    const [u, next] = inner.step(g, s)
    s = next
    return u
  })
}

/** ‖x‖₂ over every leaf (Optax `optax.tree.norm`). */
export const globalNormReference = (x: Leaves): number => Math.sqrt(x.reduce((acc, l) => acc + l.reduce((a, v) => a + v * v, 0), 0))

/** Optax `measure_with_ema(measure, decay, debias)` over a sequence of scalar measurements. */
export const measureWithEmaReference = (measurements: readonly number[], decay: number, debias = true): number[] => {
  let e = 0
  return measurements.map((m, k) => {
    e = decay * e + (1 - decay) * m
    return debias ? e / (1 - decay ** (k + 1)) : e
  })
}

/** A stateful schedule on the host (Optax `base.StatefulSchedule`). */
export interface ReferenceSchedule<S> {
  readonly init: () => S
  readonly value: (state: S, extra: number | undefined) => number
  readonly update: (state: S, extra: number | undefined) => S
}

/**
 * The hyperparameter that Optax `inject_hyperparams` hands the inner optimizer at each step:
 * hₖ = value(σₖ, extraₖ), σₖ₊₁ = update(σₖ, extraₖ), from σ₀ = init().
 */
export const injectedValuesReference = <S>(schedule: ReferenceSchedule<S>, extras: readonly (number | undefined)[]): number[] => {
  let s = schedule.init()
  return extras.map((e) => {
    const h = schedule.value(s, e)
    s = schedule.update(s, e)
    return h
  })
}

/**
 * SGD with momentum whose learning rate at step k is `learningRates[k]` (Optax `inject_hyperparams(sgd)`
 * builds sgd anew with that value, keeping the trace): the params after every step.
 */
export const scheduledSgdReference = (theta0: Leaves, grads: readonly Leaves[], learningRates: readonly number[], momentum: number): Leaves[] => {
  let m = theta0.map((x) => new Float64Array(x.length))
  let theta = theta0.map((x) => Float64Array.from(x))
  return grads.map((g, k) => {
    m = g.map((gi, i) => gi.map((x, j) => x + momentum * m[i]![j]!))
    theta = theta.map((ti, i) => ti.map((x, j) => x - learningRates[k]! * m[i]![j]!))
    return theta
  })
}

/** How Optax's microbatching combines outputs (`AccumulationType`). */
export type ReferenceAccumulation = 'sum' | 'mean' | 'runningMean' | 'concat'

/**
 * Optax `microbatch`'s accumulation, over the outputs of the microbatches run (each a flat array,
 * the rows of a concatenated leaf first): SUM Σᵢ yᵢ, MEAN Σᵢ yᵢ / n (n every microbatch, run or
 * not), RUNNING_MEAN cᵢ = cᵢ₋₁ · i/(i+1) + yᵢ · (1 − i/(i+1)), CONCAT the outputs one after the
 * other, zeros for the microbatches not run.
 */
export const microbatchReference = (outputs: readonly Float64Array[], n: number, type: ReferenceAccumulation): Float64Array => {
  const size = outputs[0]!.length
  if (type === 'concat') {
    const out = new Float64Array(n * size)
    outputs.forEach((y, i) => out.set(y, i * size))
    return out
  }
  const c = new Float64Array(size)
  outputs.forEach((y, i) => {
    const p = i / (i + 1)
    for (let j = 0; j < size; j++) c[j] = type === 'runningMean' ? c[j]! * p + y[j]! * (1 - p) : c[j]! + y[j]!
  })
  return type === 'mean' ? c.map((x) => x / n) : c
}
