/**
 * Drives a transformation over a host-side gradient sequence on a backend and reads the results
 * back, releasing every device tensor it made.
 */
import { type Backend, type GradientTransformation, type Params, applyUpdates, dispose, scope } from '../src/index.js'
import { type HostTree, toDevice, toHost } from './host.js'

/** What a run produced, on the host. */
export interface RunResult {
  /** The updates emitted at each step. */
  readonly updates: readonly HostTree[]
  /** The parameters after each step (θ + u applied cumulatively). */
  readonly params: readonly HostTree[]
}

/**
 * Runs `t` from `t.init(params)` over `grads`, applying each update to the params (which are passed
 * to `update`), and returns updates and params per step.
 */
export const runTransform = async <S>(
  t: GradientTransformation<S>,
  params0: HostTree,
  grads: readonly HostTree[],
  backend: Backend,
): Promise<RunResult> => {
  let params: Params = toDevice(params0, backend)
  let state = t.init(params)
  const updates: HostTree[] = []
  const trajectory: HostTree[] = []
  try {
    for (const g of grads) {
      const gd = toDevice(g, backend)
      const [u, next, p2] = scope(() => {
        const [u, next] = t.update(gd, state, params)
        return [u, next, applyUpdates(params, u)] as const
      })
      updates.push(await toHost(u))
      trajectory.push(await toHost(p2))
      dispose([gd, u, state, params], [next, p2])
      state = next
      params = p2
    }
  } finally {
    dispose([params, state])
  }
  return { updates, params: trajectory }
}

/** Runs `t` with gradients computed from the current params by `gradient` (host float64 in, out). */
export const runOnObjective = async <S>(
  t: GradientTransformation<S>,
  params0: HostTree,
  gradient: (params: HostTree, k: number) => HostTree,
  steps: number,
  backend: Backend,
): Promise<readonly HostTree[]> => {
  let params: Params = toDevice(params0, backend)
  let state = t.init(params)
  const trajectory: HostTree[] = []
  try {
    for (let k = 0; k < steps; k++) {
      const gd = toDevice(gradient(await toHost(params), k), backend)
      const [u, next, p2] = scope(() => {
        const [u, next] = t.update(gd, state, params)
        return [u, next, applyUpdates(params, u)] as const
      })
      trajectory.push(await toHost(p2))
      dispose([gd, u, state, params], [next, p2])
      state = next
      params = p2
    }
  } finally {
    dispose([params, state])
  }
  return trajectory
}
