/**
 * What the Node side of the browser test sends to the page and what comes back: plain JSON, so it
 * crosses `page.evaluate` unchanged.
 */

/** One leaf of the quadratic f(θ) = ½ Σᵢ aᵢ (θᵢ − cᵢ)², whose gradient is a ⊙ (θ − c). */
export interface QuadraticLeaf {
  readonly shape: readonly number[]
  readonly init: readonly number[]
  readonly curvature: readonly number[]
  readonly centre: readonly number[]
}

/** The run asked of every backend: `steps` Adam steps, and the same interrupted after `saveAt`. */
export interface TrajectoryRequest {
  readonly backends: readonly string[]
  readonly learningRate: number
  readonly steps: number
  readonly saveAt: number
  readonly leaves: Readonly<Record<string, QuadraticLeaf>>
}

/** Parameters after each step, leaf name → flat values (float32 values as JS numbers). */
export type Trajectory = readonly Readonly<Record<string, readonly number[]>>[]

/**
 * One `applyIfFinite(adam)` step with a NaN gradient entry, after one finite step: what it kept.
 * Adam's step counter is a host number (`state.inner[0].count`); the moments are tensors.
 */
export interface SkippedStep {
  /** Whether `backend.readSync` returned the data of a settled tensor. */
  readonly readSync: boolean
  readonly countBefore: number
  readonly countAfter: number
  readonly totalNotfinite: number
  /** The skipped step's updates (all 0 when skipped). */
  readonly updates: readonly number[]
  /** Every tensor of the inner state, flattened in leaf order, before and after the skipped step. */
  readonly innerBefore: readonly number[]
  readonly innerAfter: readonly number[]
}

/**
 * A gpu backend's kernel cache under more new kernels than it holds, while a tensor made by one of
 * the first kernels stays live (a GL texture reads back through the kernel that made it).
 */
export interface KernelCacheCheck {
  readonly capacity: number
  /** The most kernels the cache held at any point. */
  readonly maxCached: number
  /** Evicted kernels left waiting while the tensor was live, and after it was released and settled. */
  readonly waitingWhileLive: number
  readonly waitingAfter: number
  /** The live tensor's data after the churn: what it should hold, `read`, and `readSync` (null when undefined). */
  readonly expected: readonly number[]
  readonly read: readonly number[]
  readonly readSync: readonly number[] | null
}

export type BackendResult =
  | {
      readonly backend: string
      readonly ran: true
      /** θ₁ … θ_steps without interruption. */
      readonly trajectory: Trajectory
      /** θ_{saveAt+1} … θ_steps after saving at `saveAt`, loading the state again and continuing. */
      readonly resumed: Trajectory
      /** `JSON.stringify(saveState(...))` at `saveAt`, and again right after `loadState` of it. */
      readonly saved: string
      readonly resaved: string
      /** Live tensors on the backend before and after both runs (everything disposed). */
      readonly liveBefore: number
      readonly liveAfter: number
      readonly skipped: SkippedStep
      /** Absent on the cpu backend, which has no kernels. */
      readonly kernelCache?: KernelCacheCheck
      readonly ms: number
    }
  | { readonly backend: string; readonly ran: false; readonly unsupported: boolean; readonly why: string }

/** The page's entry point, installed on `globalThis` once the bundle has loaded. */
export interface BrowserTestApi {
  readonly run: (request: TrajectoryRequest) => Promise<BackendResult[]>
}

/**
 * What the fluxion/tfjs page returns: `tfjsOptimizer(adam)` on tfjs-backend-webgl (its weights moved
 * to a new optimizer at `saveAt`), fluxion's own Adam on its cpu backend, and the live counts of
 * both libraries before and after.
 */
export type TfjsPageResult =
  | {
      readonly ran: true
      readonly backend: string
      /** WEBGL_RENDER_FLOAT32_ENABLED: whether webgl stores float32 (else float16). */
      readonly float32: boolean
      readonly trajectory: Trajectory
      readonly reference: Trajectory
      readonly numTensorsBefore: number
      readonly numTensorsAfter: number
      readonly liveBefore: number
      readonly liveAfter: number
    }
  | { readonly ran: false; readonly why: string }
