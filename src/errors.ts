/**
 * Typed errors. Every error fluxion throws on bad input is one of these, so callers can branch on
 * `instanceof` and messages always name what was wrong: the field and its allowed range, or the
 * tree path where two structures, shapes or backends differ.
 */

/** Base class of every error fluxion throws on purpose. */
export class FluxionError extends Error {
  constructor(message: string) {
    super(message)
    this.name = new.target.name
  }
}

/**
 * A hyperparameter outside its allowed range, raised when a transform is built.
 *
 * @example
 * ```ts
 * try { sgd({ learningRate: -1 }) } catch (e) { (e as HyperparameterError).field === 'learningRate' }
 * ```
 */
export class HyperparameterError extends FluxionError {
  constructor(
    readonly transform: string,
    readonly field: string,
    readonly value: unknown,
    readonly expected: string,
  ) {
    super(`${transform}: ${field} = ${describeValue(value)} is invalid; expected ${expected}`)
  }
}

/** Two trees whose structures differ; `path` is the first path (in leaf order) where they do. */
export class StructureError extends FluxionError {
  constructor(
    readonly path: string,
    readonly detail: string,
  ) {
    super(`tree structures differ at ${path === '' ? '<root>' : path}: ${detail}`)
  }
}

/**
 * A tree nested deeper than the tree functions accept (`tree.maxDepth`, 1,000 levels), refused
 * before anything is computed; `path` is where the limit was reached (the message shows its start).
 */
export class TreeDepthError extends StructureError {
  constructor(
    path: string,
    readonly limit: number,
  ) {
    super(path, `nested deeper than ${limit} levels`)
    const shown = path.length > 80 ? `${path.slice(0, 80)}…` : path === '' ? '<root>' : path
    this.message = `tree nested deeper than ${limit} levels at ${shown}`
  }
}

/**
 * Why a saved state or checkpoint was refused as a whole: `'format'` (not a fluxion state, or an
 * unknown format or version), `'legacy'` (a state saved before the versioned envelope),
 * `'checksum'` (changed or damaged after it was saved), `'transform'` (written by another
 * transformation), `'hyperparameters'` (same transformation, other hyperparameters, when asked to
 * refuse those) or `'missing'` (no checkpoint file that is whole).
 */
export type CheckpointProblem = 'format' | 'legacy' | 'checksum' | 'transform' | 'hyperparameters' | 'missing' | 'io'

/** A saved state or checkpoint refused before anything was allocated; `problem` says why. */
export class CheckpointError extends FluxionError {
  constructor(
    readonly problem: CheckpointProblem,
    detail: string,
    readonly file?: string,
  ) {
    super(file === undefined ? detail : `${file}: ${detail}`)
  }
}

/** Two tensors that must have equal shapes do not; `path` names the leaf. */
export class ShapeError extends FluxionError {
  constructor(
    readonly path: string,
    readonly detail: string,
  ) {
    super(`shape mismatch at ${path === '' ? '<root>' : path}: ${detail}`)
  }
}

/** Tensors from different backends (or a released tensor) met in one operation. */
export class BackendError extends FluxionError {
  constructor(
    readonly path: string,
    readonly detail: string,
  ) {
    super(`backend mismatch at ${path === '' ? '<root>' : path}: ${detail}`)
  }
}

/** A tensor used after it was released with `dispose` or by a `scope`. */
export class DisposedTensorError extends FluxionError {
  constructor(
    readonly path: string,
    readonly tensorId: number,
  ) {
    super(`tensor #${tensorId}${path === '' ? '' : ` at ${path}`} was already disposed`)
  }
}

/** A transformation that needs the params (e.g. weight decay) was updated without them. */
export class MissingParamsError extends FluxionError {
  constructor(readonly transform: string) {
    super(`${transform}: update needs the current params; call update(updates, state, params)`)
  }
}

/** A backend that cannot run in this environment, or an operation a backend does not provide. */
export class UnsupportedError extends FluxionError {}

export const describeValue = (value: unknown): string => {
  if (typeof value === 'function') return `<function ${value.name || 'anonymous'}>`
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value)
  if (typeof value === 'string') return JSON.stringify(value)
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}
