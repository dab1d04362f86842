/**
 * fluxion/laws: algebraic laws of gradient transformations as pure predicates, fast-check runners
 * (fast-check only), arbitraries, and float64 reference implementations of the lecture formulas.
 * The vitest suites are in `fluxion/laws/vitest`.
 *
 * @module fluxion/laws
 */
export * from './allclose.js'
export * from './host.js'
export * from './arbitraries.js'
export * from './run.js'
export * as predicates from './predicates/index.js'
export * as reference from './reference/index.js'
export * from './runners.js'
export * as problems from './problems.js'
export * from './catalog.js'
export * from './arbitraries-keys.js'
