/**
 * Float64 references of Adafactor, SM3, Fromage and Polyak SGD (src/optimizers/factored.ts),
 * written naively, element by element over multi-indices, from each paper's update as Optax 0.2.8
 * states it (optax/_src/factorized.py, transform.py, alias.py). A leaf is `{ shape, data }` with
 * row-major data; `grads[k]` holds the gradient of every leaf at step k; `alpha(k)` is the learning
 * rate of step k; t = k + 1.
 */
import type { Rate } from './seed000.js'

/** A leaf with its shape (row-major data). */
export interface ReferenceLeaf {
  readonly shape: readonly number[]
  readonly data: Float64Array
}

const clone = (x: readonly ReferenceLeaf[]): ReferenceLeaf[] => x.map((l) => ({ shape: l.shape, data: Float64Array.from(l.data) }))

/** The multi-index of flat index i in `shape`. */
const multiIndex = (shape: readonly number[], i: number): number[] => {
  const out = new Array<number>(shape.length)
  for (let a = shape.length - 1; a >= 0; a--) {
    out[a] = i % shape[a]!
    i = Math.floor(i / shape[a]!)
  }
  return out
}

/** A key of the multi-index of flat index i with the axes `drop` left out. */
const keyWithout = (shape: readonly number[], i: number, ...drop: number[]): string =>
  multiIndex(shape, i).filter((_, a) => !drop.includes(a)).join(',')

const rms = (x: ArrayLike<number>): number => {
  let s = 0
  for (let i = 0; i < x.length; i++) s += x[i]! * x[i]!
  return x.length === 0 ? 0 : Math.sqrt(s / x.length)
}

/** Optax `_factored_dims`: [second largest axis, largest axis] (ties: the later axis is the larger), or undefined. */
export const factoredAxesReference = (shape: readonly number[], factored: boolean, minDim: number): [number, number] | undefined => {
  if (!factored || shape.length < 2) return undefined
  const order = shape.map((_, i) => i).sort((i, j) => shape[i]! - shape[j]! || i - j)
  const d1 = order[order.length - 2]!
  return shape[d1]! < minDim ? undefined : [d1, order[order.length - 1]!]
}

/** Means of `values` grouped by key. */
const groupMean = (n: number, key: (i: number) => string, value: (i: number) => number): Map<string, number> => {
  const sums = new Map<string, [number, number]>()
  for (let i = 0; i < n; i++) {
    const k = key(i)
    const s = sums.get(k) ?? [0, 0]
    sums.set(k, [s[0] + value(i), s[1] + 1])
  }
  return new Map([...sums].map(([k, [s, c]]) => [k, s / c]))
}

/** Options of the Adafactor reference (see `adafactor`). */
export interface AdafactorReferenceOptions {
  readonly alpha?: Rate
  readonly minDimSizeToFactor: number
  readonly decayRate: number
  readonly decayOffset: number
  readonly multiplyByParameterScale: boolean
  readonly clippingThreshold: number | null
  readonly momentum?: number
  readonly weightDecayRate?: number
  readonly eps: number
  readonly factored: boolean
}

/**
 * Adafactor, Shazeer & Stern 2018 Algorithms 4–5 with Optax's chain: ρ_t = 1 − t^(−c)
 * (t = k + 1 − offset), G = g² + ε₁; factored: R ← ρR + (1 − ρ) mean_{d₀} G, C ← ρC + (1 − ρ) mean_{d₁} G,
 * V̂ = R·C / mean_{d₁} R, else V ← ρV + (1 − ρ)G, V̂ = V; u = g/√V̂; u ← u / max(1, rms(u)/d);
 * u ← α u; u ← u · max(rms(θ), 10⁻³); m ← β m + (1 − β) u; u ← m + λθ; θ ← θ − u.
 */
export const adafactorReference = (theta0: readonly ReferenceLeaf[], grads: readonly Float64Array[][], o: AdafactorReferenceOptions): ReferenceLeaf[] => {
  const theta = clone(theta0)
  const stats = theta0.map(() => ({ row: new Map<string, number>(), col: new Map<string, number>(), v: new Float64Array(0) }))
  const mom = theta0.map((l) => new Float64Array(l.data.length))
  grads.forEach((g, k) => {
    const t = k + 1 - o.decayOffset
    const rho = 1 - t ** -o.decayRate
    theta.forEach((leaf, j) => {
      const { shape, data } = leaf
      const n = data.length
      const gj = g[j]!
      const G = (i: number) => gj[i]! * gj[i]! + o.eps
      const dims = factoredAxesReference(shape, o.factored, o.minDimSizeToFactor)
      const s = stats[j]!
      const u = new Float64Array(n)
      if (dims === undefined) {
        if (s.v.length !== n) s.v = new Float64Array(n)
        for (let i = 0; i < n; i++) {
          s.v[i] = rho * s.v[i]! + (1 - rho) * G(i)
          u[i] = gj[i]! / Math.sqrt(s.v[i]!)
        }
      } else {
        const [d1, d0] = dims
        const rowMean = groupMean(n, (i) => keyWithout(shape, i, d0), G)
        const colMean = groupMean(n, (i) => keyWithout(shape, i, d1), G)
        for (const [key, m] of rowMean) s.row.set(key, rho * (s.row.get(key) ?? 0) + (1 - rho) * m)
        for (const [key, m] of colMean) s.col.set(key, rho * (s.col.get(key) ?? 0) + (1 - rho) * m)
        // mean over d₁ of R, by the indices of neither d₀ nor d₁
        const rowOfRows = groupMean(n, (i) => keyWithout(shape, i, d0, d1), (i) => s.row.get(keyWithout(shape, i, d0))!)
        for (let i = 0; i < n; i++) {
          const vHat = (s.row.get(keyWithout(shape, i, d0))! * s.col.get(keyWithout(shape, i, d1))!) / rowOfRows.get(keyWithout(shape, i, d0, d1))!
          u[i] = gj[i]! / Math.sqrt(vHat)
        }
      }
      if (o.clippingThreshold !== null) {
        const c = Math.max(1, rms(u) / o.clippingThreshold)
        for (let i = 0; i < n; i++) u[i] = u[i]! / c
      }
      const a = o.alpha === undefined ? 1 : o.alpha(k)
      const scale = o.multiplyByParameterScale ? Math.max(rms(data), 1e-3) : 1
      for (let i = 0; i < n; i++) {
        let x = u[i]! * a * scale
        if (o.momentum !== undefined) x = mom[j]![i] = o.momentum * mom[j]![i]! + (1 - o.momentum) * x
        data[i] = data[i]! - (x + (o.weightDecayRate ?? 0) * data[i]!)
      }
    })
  })
  return theta
}

/**
 * SM3-II, Anil et al. 2019 (Optax `scale_by_sm3`, `sm3`): for a leaf of rank ≥ 2 with one
 * accumulator μᵢ[j] per index j of each axis i, ν(x) = c₀g(x)² + c₁ minᵢ μᵢ[xᵢ] ((c₀, c₁) = (1, 1)
 * for β₂ = 1, else (1 − β₂, β₂)), then μᵢ[j] = max over x with xᵢ = j of ν(x); rank ≤ 1:
 * ν ← c₀g² + c₁ν. m ← β₁m + (1 − β₁) g/√(ν + ε) (0 where ν = 0); θ ← θ − α m.
 */
export const sm3Reference = (theta0: readonly ReferenceLeaf[], grads: readonly Float64Array[][], alpha: Rate, o: { readonly b1: number; readonly b2: number; readonly eps: number }): ReferenceLeaf[] => {
  const theta = clone(theta0)
  const [c0, c1] = o.b2 === 1 ? [1, 1] : [1 - o.b2, o.b2]
  const m = theta0.map((l) => new Float64Array(l.data.length))
  const full = theta0.map((l) => new Float64Array(l.data.length))
  const cover = theta0.map((l) => l.shape.map((d) => new Float64Array(d)))
  grads.forEach((g, k) => {
    theta.forEach((leaf, j) => {
      const { shape, data } = leaf
      const n = data.length
      const nu = new Float64Array(n)
      for (let i = 0; i < n; i++) {
        const prev = shape.length < 2 ? full[j]![i]! : Math.min(...multiIndex(shape, i).map((x, a) => cover[j]![a]![x]!))
        nu[i] = c0 * g[j]![i]! ** 2 + c1 * prev
      }
      if (shape.length < 2) full[j] = nu
      else {
        cover[j] = shape.map((d) => new Float64Array(d).fill(-Infinity))
        for (let i = 0; i < n; i++) multiIndex(shape, i).forEach((x, a) => (cover[j]![a]![x] = Math.max(cover[j]![a]![x]!, nu[i]!)))
      }
      for (let i = 0; i < n; i++) {
        const step = nu[i] === 0 ? 0 : g[j]![i]! / Math.sqrt(nu[i]! + o.eps)
        m[j]![i] = o.b1 * m[j]![i]! + (1 - o.b1) * step
        data[i] = data[i]! - alpha(k) * m[j]![i]!
      }
    })
  })
  return theta
}

/**
 * Fromage, Bernstein et al. 2020 Algorithm 1 (Optax `fromage`): per leaf, with norms raised to
 * `minNorm` and the ratio 1 where either is 0, θ ← (θ − α (‖θ‖/‖g‖) g) / √(1 + α²).
 */
export const fromageReference = (theta0: readonly ReferenceLeaf[], grads: readonly Float64Array[][], alpha: Rate, minNorm: number): ReferenceLeaf[] => {
  const theta = clone(theta0)
  const norm = (x: ArrayLike<number>) => Math.max(Math.sqrt(Array.from(x).reduce((s, v) => s + v * v, 0)), minNorm)
  grads.forEach((g, k) => {
    const a = alpha(k)
    theta.forEach((leaf, j) => {
      const [pn, gn] = [norm(leaf.data), norm(g[j]!)]
      const ratio = pn === 0 || gn === 0 ? 1 : pn / gn
      for (let i = 0; i < leaf.data.length; i++) leaf.data[i] = (leaf.data[i]! - a * ratio * g[j]![i]!) / Math.sqrt(1 + a * a)
    })
  })
  return theta
}

/** Options of the Polyak SGD reference (see `polyakSgd`). */
export interface PolyakSgdReferenceOptions {
  readonly maxLearningRate: number
  readonly scaling: number
  readonly fMin: number
  readonly eps: number
  readonly variant: 'sps' | 'sps+'
}

/**
 * SGD with Polyak's step (Loizou et al. 2021, SPS_max, in Optax's chain `polyak_sgd`): with
 * d = −s·g, η = min((f − f*)/(‖d‖² + ε), γ_max) (gap clipped at 0 for SPS+; η = 0 where
 * ‖d‖² + ε ≤ 2⁻⁵²), θ ← θ + η d. `values[k]` is f(θ) at step k.
 */
export const polyakSgdReference = (theta0: readonly ReferenceLeaf[], grads: readonly Float64Array[][], values: readonly number[], o: PolyakSgdReferenceOptions): ReferenceLeaf[] => {
  const theta = clone(theta0)
  grads.forEach((g, k) => {
    let ss = 0
    for (const leaf of g) for (const v of leaf) ss += (o.scaling * v) ** 2
    const raw = values[k]! - o.fMin
    const gap = o.variant === 'sps+' ? Math.max(raw, 0) : raw
    const eta = ss + o.eps <= 2 ** -52 ? 0 : Math.min(gap / (ss + o.eps), o.maxLearningRate)
    theta.forEach((leaf, j) => leaf.data.forEach((x, i) => (leaf.data[i] = x - eta * o.scaling * g[j]![i]!)))
  })
  return theta
}
