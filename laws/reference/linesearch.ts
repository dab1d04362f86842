/**
 * Float64 references of the line searches, written naively from the published algorithms on plain
 * vectors: φ(η) = f(θ + ηd) and φ'(η) = ∇f(θ + ηd)ᵀd are evaluated in float64, and the search is
 * written as the textbook's procedures (a loop that returns, and `zoom` as its own loop), not as
 * the transformations' state machine.
 *
 * - Backtracking: Nocedal & Wright 2006, Algorithm 3.1, with the sufficient decrease condition of
 *   Optax `scale_by_backtracking_linesearch` (relative and absolute tolerances, the first trial
 *   min(γ·η_prev, η_max), a step of 0 when the last trial is not finite).
 * - Zoom: Nocedal & Wright 2006, Algorithm 3.5 (bracketing) and Algorithm 3.6 (zoom), with the
 *   choices of Optax `scale_by_zoom_linesearch` (optax/_src/linesearch.py, 0.2.8): Hager & Zhang's
 *   (2006, eq. 23) approximate decrease condition near the minimizer, SciPy's cubic and quadratic
 *   interpolation with its 0.2 / 0.1 safeguards and bisection, the step count, and the fallback on
 *   the best step with sufficient decrease when the search fails.
 */

/** A point of the search: η, φ(η), φ'(η) and ∇f(θ + ηd). */
export interface LinePoint {
  readonly stepsize: number
  readonly value: number
  readonly slope: number
  readonly gradient: Float64Array
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!
  return s
}

const along = (theta: ArrayLike<number>, d: ArrayLike<number>, eta: number): Float64Array => Float64Array.from(theta, (x, i) => x + eta * d[i]!)

/** max(x, 0), NaN counted as +∞: how far a condition is violated. */
const violation = (x: number): number => (Number.isNaN(x) ? Infinity : Math.max(x, 0))

/** Options of `backtrackingLinesearchReference` (defaults as `scaleByBacktrackingLinesearch`). */
export interface BacktrackingReferenceOptions {
  readonly maxBacktrackingSteps: number
  readonly slopeRtol?: number
  readonly decreaseFactor?: number
  readonly increaseFactor?: number
  readonly maxLearningRate?: number
  readonly atol?: number
  readonly rtol?: number
}

/**
 * One backtracking search along d from θ (f(θ) = `value`, ∇f(θ) = `gradient`), after a search that
 * took `previousLearningRate`: the step, f at the last trial, the number of evaluations and the
 * violation of f(θ + ηd) ≤ (1 + δ)f(θ) + cη∇f(θ)ᵀd + ε at the last trial.
 */
export const backtrackingLinesearchReference = (
  f: (theta: Float64Array) => number,
  theta: ArrayLike<number>,
  d: ArrayLike<number>,
  value: number,
  gradient: ArrayLike<number>,
  previousLearningRate: number,
  options: BacktrackingReferenceOptions,
): { readonly learningRate: number; readonly value: number; readonly steps: number; readonly decreaseError: number } => {
  const { maxBacktrackingSteps, slopeRtol = 1e-4, decreaseFactor = 0.8, increaseFactor = 1.5, maxLearningRate = 1, atol = 0, rtol = 0 } = options
  const slope = dot(gradient, d)
  let eta = Math.min(increaseFactor * previousLearningRate, maxLearningRate)
  let last = value
  let error = Infinity
  let steps = 0
  // Algorithm 3.1: η ← βη until the sufficient decrease condition holds (at most max + 1 trials)
  for (; steps <= maxBacktrackingSteps; steps++) {
    if (steps > 0) eta *= decreaseFactor
    last = f(along(theta, d, eta))
    error = violation(last - (1 + rtol) * value - eta * slopeRtol * slope)
    if (error <= atol) {
      steps++
      break
    }
  }
  return { learningRate: error === Infinity ? 0 : eta, value: last, steps, decreaseError: error }
}

/** Options of `zoomLinesearchReference` (defaults as `scaleByZoomLinesearch`). */
export interface ZoomReferenceOptions {
  readonly maxLinesearchSteps: number
  readonly maxLearningRate?: number
  readonly tol?: number
  readonly increaseFactor?: number
  readonly slopeRtol?: number
  readonly curvRtol?: number
  readonly approxDecRtol?: number | null
  readonly stepsizePrecision?: number
}

/** What one zoom search found. */
export interface ZoomReferenceResult {
  /** The step taken, with φ, φ' and ∇f there. */
  readonly point: LinePoint
  /** Evaluations of f and ∇f. */
  readonly steps: number
  /** The conditions' violations at the last trial. */
  readonly decreaseError: number
  readonly curvatureError: number
}

/**
 * One zoom search along d from θ (f(θ) = `value`, ∇f(θ) = `gradient`) with first trial `guess`:
 * a step meeting the strong Wolfe conditions f(θ + ηd) ≤ f(θ) + c₁η∇f(θ)ᵀd (or the approximate
 * condition) and |∇f(θ + ηd)ᵀd| ≤ c₂|∇f(θ)ᵀd|, both within `tol`. `fg(θ)` gives [f(θ), ∇f(θ)].
 */
export const zoomLinesearchReference = (
  fg: (theta: Float64Array) => readonly [number, Float64Array],
  theta: ArrayLike<number>,
  d: ArrayLike<number>,
  value: number,
  gradient: ArrayLike<number>,
  guess: number,
  options: ZoomReferenceOptions,
): ZoomReferenceResult => {
  const {
    maxLinesearchSteps,
    maxLearningRate = Infinity,
    tol = 0,
    increaseFactor = 2,
    slopeRtol: c1 = 1e-4,
    curvRtol: c2 = 0.9,
    approxDecRtol: c3 = 1e-6,
    stepsizePrecision = 1e-5,
  } = options
  const slope0 = dot(gradient, d)
  const phi = (eta: number): LinePoint => {
    const [v, g] = fg(along(theta, d, eta))
    return { stepsize: eta, value: v, slope: dot(g, d), gradient: g }
  }
  // (3.7a), or Hager & Zhang's approximate condition (2c₁ − 1)φ'(0) ≥ φ'(η) once φ(η) ≤ φ(0) + c₃|φ(0)|
  const decreaseError = (p: LinePoint): number => {
    const armijo = p.value - value - c1 * p.stepsize * slope0
    if (c3 === null) return violation(armijo)
    return violation(Math.min(armijo, Math.max(p.slope - (2 * c1 - 1) * slope0, p.value - value - c3 * Math.abs(value))))
  }
  // (3.7b), the strong Wolfe curvature condition
  const curvatureError = (p: LinePoint): number => violation(Math.abs(p.slope) - c2 * Math.abs(slope0))

  const start: LinePoint = { stepsize: 0, value, slope: slope0, gradient: Float64Array.from(gradient) }
  let steps = 0
  let last = start
  let lastDecrease = Infinity
  let lastCurvature = Infinity
  // the best trial with sufficient decrease (any such trial while bracketing, a lower one while zooming)
  let safe = start
  const trial = (eta: number): { readonly p: LinePoint; readonly good: boolean } => {
    const p = phi(eta)
    steps++
    last = p
    lastDecrease = decreaseError(p)
    lastCurvature = curvatureError(p)
    return { p, good: Math.max(lastDecrease, lastCurvature) <= tol }
  }
  const result = (point: LinePoint): ZoomReferenceResult => ({ point, steps, decreaseError: lastDecrease, curvatureError: lastCurvature })
  // Optax's fallback: the safe step if there is one (or if the last trial left f's domain), else the last trial
  const failed = (): ZoomReferenceResult => result(safe.stepsize > 0 || lastDecrease === Infinity ? safe : last)

  // Algorithm 3.5: bracketing
  let previous = start
  let lo: LinePoint
  let hi: LinePoint
  for (let i = 0; ; i++) {
    const wanted = i === 0 ? guess : increaseFactor * previous.stepsize
    const { p, good } = trial(Math.min(wanted, maxLearningRate))
    if (lastDecrease <= tol) safe = p
    if (good) return result(p)
    if (lastDecrease > 0 || (i > 0 && p.value >= previous.value)) {
      ;[lo, hi] = [previous, p]
      break
    }
    if (p.slope >= 0) {
      ;[lo, hi] = [p, previous]
      break
    }
    // the largest step has sufficient decrease and still a steep slope: take it
    if (wanted >= maxLearningRate) return result(p)
    if (steps >= maxLinesearchSteps) return failed()
    previous = p
  }
  if (steps >= maxLinesearchSteps) return failed()

  // Algorithm 3.6: zoom into [lo, hi] (φ(lo) ≤ φ(hi), not ordered by η)
  let ref = lo
  for (;;) {
    const delta = Math.abs(hi.stepsize - lo.stepsize)
    const left = Math.min(lo.stepsize, hi.stepsize)
    const right = Math.max(lo.stepsize, hi.stepsize)
    const cubic = cubicMinimizer(lo, hi, ref)
    const quad = quadraticMinimizer(lo, hi)
    const eta =
      cubic > left + 0.2 * delta && cubic < right - 0.2 * delta
        ? cubic
        : quad > left + 0.1 * delta && quad < right - 0.1 * delta
          ? quad
          : (lo.stepsize + hi.stepsize) / 2
    const { p, good } = trial(eta)
    if (lastDecrease <= tol && p.value < safe.value) safe = p
    if (good) return result(p)
    if (lastDecrease > 0 || p.value >= lo.value) {
      ref = hi
      hi = p
    } else {
      if (p.slope * (hi.stepsize - lo.stepsize) >= 0) {
        ref = hi
        hi = lo
      } else ref = lo
      lo = p
    }
    if (steps >= maxLinesearchSteps || (delta <= stepsizePrecision && safe.stepsize > 0)) return failed()
  }
}

/** The critical point of the cubic through lo (value and slope), hi and ref (values); NaN if none (SciPy `_cubicmin`). */
const cubicMinimizer = (lo: LinePoint, hi: LinePoint, ref: LinePoint): number => {
  const a = lo.stepsize
  const C = lo.slope
  const db = hi.stepsize - a
  const dc = ref.stepsize - a
  const eb = hi.value - lo.value - C * db
  const ec = ref.value - lo.value - C * dc
  const denom = db * db * dc * dc * (db - dc)
  const A = (dc * dc * eb - db * db * ec) / denom
  const B = (-dc * dc * dc * eb + db * db * db * ec) / denom
  return a + (-B + Math.sqrt(B * B - 3 * A * C)) / (3 * A)
}

/** The critical point of the quadratic through lo (value and slope) and hi (value) (SciPy `_quadmin`). */
const quadraticMinimizer = (lo: LinePoint, hi: LinePoint): number => {
  const db = hi.stepsize - lo.stepsize
  const B = (hi.value - lo.value - lo.slope * db) / (db * db)
  return lo.stepsize - lo.slope / (2 * B)
}
