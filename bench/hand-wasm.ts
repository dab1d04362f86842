/**
 * The benchmarks' practical floor: a hand-written WebAssembly SIMD (f32x4) in-place Adam loop,
 * written directly with fluxion's binary writer (not generated from fluxion's expressions):
 *
 *   m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  p ← p − a·m / (√(c·v) + ε)
 *
 * with a = lr/(1 − β₁ᵗ) and c = 1/(1 − β₂ᵗ) passed per call, 4 elements per iteration and a scalar
 * tail. The exported `adam(p, g, m, v, n, a, c)` takes byte pointers into the imported memory.
 */
import { Code, encodeModule, f32, i32, v128 } from '../src/tensor/wasm/encode.js'

export const handAdamModule = (h: { readonly b1: number; readonly b2: number; readonly eps: number }, memory?: { readonly minPages: number; readonly maxPages: number; readonly shared: boolean }): Uint8Array => {
  const { b1, b2, eps } = h
  const code = new Code(7)
  const i = code.local(i32)
  const end4 = code.local(i32)
  const [gv, mv, vv] = [code.local(v128), code.local(v128), code.local(v128)]
  const [sa, sc] = [code.local(v128), code.local(v128)]
  const [gs, ms, vs] = [code.local(f32), code.local(f32), code.local(f32)]
  code.get(5).f32x4Splat().set(sa).get(6).f32x4Splat().set(sc)
  code.get(4).i32c(-4).i32And().i32c(2).i32Shl().set(end4)
  code.block().loop().get(i).get(end4).i32GeU().brIf(1)
  code.get(1).get(i).i32Add().v128Load().set(gv)
  code.f32x4Const(b1).get(2).get(i).i32Add().v128Load().f32x4Mul().f32x4Const(1 - b1).get(gv).f32x4Mul().f32x4Add().set(mv)
  code.f32x4Const(b2).get(3).get(i).i32Add().v128Load().f32x4Mul().f32x4Const(1 - b2).get(gv).f32x4Mul().get(gv).f32x4Mul().f32x4Add().set(vv)
  code.get(2).get(i).i32Add().get(mv).v128Store()
  code.get(3).get(i).i32Add().get(vv).v128Store()
  code.get(0).get(i).i32Add().get(0).get(i).i32Add().v128Load().get(sa).get(mv).f32x4Mul().get(vv).get(sc).f32x4Mul().f32x4Sqrt().f32x4Const(eps).f32x4Add().f32x4Div().f32x4Sub().v128Store()
  code.get(i).i32c(16).i32Add().set(i).br(0).end().end()
  code.block().loop().get(i).get(4).i32c(2).i32Shl().i32GeU().brIf(1)
  code.get(1).get(i).i32Add().f32Load().set(gs)
  code.f32c(b1).get(2).get(i).i32Add().f32Load().f32Mul().f32c(1 - b1).get(gs).f32Mul().f32Add().set(ms)
  code.f32c(b2).get(3).get(i).i32Add().f32Load().f32Mul().f32c(1 - b2).get(gs).f32Mul().get(gs).f32Mul().f32Add().set(vs)
  code.get(2).get(i).i32Add().get(ms).f32Store()
  code.get(3).get(i).i32Add().get(vs).f32Store()
  code.get(0).get(i).i32Add().get(0).get(i).i32Add().f32Load().get(5).get(ms).f32Mul().get(vs).get(6).f32Mul().f32Sqrt().f32c(eps).f32Add().f32Div().f32Sub().f32Store()
  code.get(i).i32c(4).i32Add().set(i).br(0).end().end()
  return encodeModule([{ params: [i32, i32, i32, i32, i32, f32, f32], results: [], code, export: 'adam' }], [], memory ?? 1)
}
