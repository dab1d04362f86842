/**
 * Float64 reference implementations written naively, line by line, from the pseudocode of seed
 * `000_33f4fbf331723dec.txt` (lecture "Neural Networks and Deep Learning: Regularization &
 * Optimization", see docs/references.md). θ is the lectures' flat parameter vector; `grads[k]` is
 * the minibatch gradient g of iteration k (for the Nesterov interim form, the gradient evaluated at
 * the interim point θ̃ of that iteration). A learning rate is a function of the iteration k = 0, 1, …
 */

export type Vector = Float64Array
export type Rate = (k: number) => number

const copy = (x: ArrayLike<number>): Vector => Float64Array.from(x)

/**
 * "Stochastic Gradient Descent (SGD) at epoch k": θ ← θ − α_k g.
 */
export const sgdReference = (theta0: ArrayLike<number>, grads: readonly ArrayLike<number>[], alpha: Rate): Vector => {
  const theta = copy(theta0)
  grads.forEach((g, k) => {
    for (let i = 0; i < theta.length; i++) theta[i] = theta[i]! - alpha(k) * g[i]!
  })
  return theta
}

/**
 * "Stochastic Gradient Descent (SGD) with momentum": v ← βv − α_k g; θ ← θ + v. Returns θ and v.
 */
export const momentumReference = (
  theta0: ArrayLike<number>,
  grads: readonly ArrayLike<number>[],
  alpha: Rate,
  beta: number,
): { theta: Vector; v: Vector } => {
  const theta = copy(theta0)
  const v = new Float64Array(theta.length)
  grads.forEach((g, k) => {
    for (let i = 0; i < theta.length; i++) {
      v[i] = beta * v[i]! - alpha(k) * g[i]!
      theta[i] = theta[i]! + v[i]!
    }
  })
  return { theta, v }
}

/**
 * "Stochastic Gradient Descent (SGD) with Nesterov momentum":
 *   θ̃ ← θ + βv;  g ← ∇J(θ̃);  v ← βv − α_k g;  θ ← θ + v.
 * `gradient(θ̃, k)` supplies g at the interim point. Returns θ, v and the final interim point
 * θ̃ = θ + βv, the point at which the next gradient would be taken.
 */
export const nesterovReference = (
  theta0: ArrayLike<number>,
  gradient: (thetaTilde: Vector, k: number) => ArrayLike<number>,
  steps: number,
  alpha: Rate,
  beta: number,
): { theta: Vector; v: Vector; thetaTilde: Vector } => {
  const theta = copy(theta0)
  const v = new Float64Array(theta.length)
  const interim = () => theta.map((t, i) => t + beta * v[i]!)
  for (let k = 0; k < steps; k++) {
    const thetaTilde = interim()
    const g = gradient(thetaTilde, k)
    for (let i = 0; i < theta.length; i++) {
      v[i] = beta * v[i]! - alpha(k) * g[i]!
      theta[i] = theta[i]! + v[i]!
    }
  }
  return { theta, v, thetaTilde: interim() }
}

/**
 * "Adam: Algorithm":
 *   t ← t + 1;  v ← β₁v + (1 − β₁)g;  r ← β₂r + (1 − β₂)g⊙g;
 *   v̂ ← v / (1 − β₁ᵗ);  r̂ ← r / (1 − β₂ᵗ);  θ ← θ − α v̂ / √(r̂ + δ).
 * `eps` adds Kingma & Ba's ε outside the root, θ ← θ − α v̂ / (√(r̂ + δ) + ε); eps = 0 is the
 * lecture's formula exactly.
 */
export const adamReference = (
  theta0: ArrayLike<number>,
  grads: readonly ArrayLike<number>[],
  alpha: Rate,
  beta1: number,
  beta2: number,
  delta: number,
  eps = 0,
): { theta: Vector; v: Vector; r: Vector } => {
  const theta = copy(theta0)
  const v = new Float64Array(theta.length)
  const r = new Float64Array(theta.length)
  let t = 0
  grads.forEach((g, k) => {
    t = t + 1
    for (let i = 0; i < theta.length; i++) {
      v[i] = beta1 * v[i]! + (1 - beta1) * g[i]!
      r[i] = beta2 * r[i]! + (1 - beta2) * g[i]! * g[i]!
      const vHat = v[i]! / (1 - beta1 ** t)
      const rHat = r[i]! / (1 - beta2 ** t)
      theta[i] = theta[i]! - (alpha(k) * vHat) / (Math.sqrt(rHat + delta) + eps)
    }
  })
  return { theta, v, r }
}
