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
      readonly ms: number
    }
  | { readonly backend: string; readonly ran: false; readonly unsupported: boolean; readonly why: string }

/** The page's entry point, installed on `globalThis` once the bundle has loaded. */
export interface BrowserTestApi {
  readonly run: (request: TrajectoryRequest) => Promise<BackendResult[]>
}
