/**
 * Host-side float64 arrays for references and comparisons: `HostTensor` is a leaf (a class, not a
 * plain object), so host trees have the same structure as the device trees they mirror.
 */
import { type Backend, type Params, Tensor, cpu, fromArray, readTree, tree } from '../src/index.js'
import type { Tree } from '../src/index.js'

/** A float64 array with a shape, used by reference implementations. */
export class HostTensor {
  readonly shape: readonly number[]
  readonly data: Float64Array
  constructor(shape: readonly number[], data: ArrayLike<number>) {
    this.shape = Object.freeze([...shape])
    this.data = Float64Array.from(data)
    Object.freeze(this)
  }
  /** A HostTensor rounded through float32, as the device would store it. */
  toFloat32(): HostTensor {
    return new HostTensor(this.shape, Float32Array.from(this.data))
  }
}

/** A tree of host tensors. */
export type HostTree = Tree<HostTensor>

/** Uploads a host tree to a backend (default cpu). */
export const toDevice = (t: HostTree, backend: Backend = cpu): Params =>
  tree.map((h: HostTensor) => fromArray(Float32Array.from(h.data), h.shape, backend))(t)

/** Reads a device tree back as host tensors. */
export const toHost = async (t: Params): Promise<HostTree> => {
  const shapeLeaves = tree.leaves(t).map((x: Tensor) => x.shape)
  const values = await readTree(t)
  const { leaves, structure } = tree.flatten(values as Tree<Float32Array>)
  return tree.unflatten(structure, leaves.map((v, i) => new HostTensor(shapeLeaves[i]!, v)))
}

/** Applies `f` to every element of the host trees (same structure), in float64. */
export const hostMap = (f: (...xs: number[]) => number, ...trees: HostTree[]): HostTree =>
  tree.zipWith((hs: readonly HostTensor[]) => {
    const n = hs[0]!.data.length
    const out = new Float64Array(n)
    for (let i = 0; i < n; i++) out[i] = f(...hs.map((h) => h.data[i]!))
    return new HostTensor(hs[0]!.shape, out)
  })(...(trees as [HostTree]))
