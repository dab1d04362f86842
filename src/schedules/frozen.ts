import type { Schedule } from '../core/types.js'

/**
 * @internal A built-in schedule: frozen, and holding its step-0 value before step 0 (a negative
 * step is evaluated as step 0), so every schedule's formula sees k ≥ 0.
 */
export const frozenSchedule = (f: Schedule): Schedule => Object.freeze((step: number) => f(Math.max(step, 0)))
