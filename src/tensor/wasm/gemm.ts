/**
 * @internal The wasm engine's matrix multiply: a packed, cache-blocked float32 GEMM whose
 * register-blocked micro-kernel runs in 128-bit SIMD (f32x4), generated at run time with
 * ./encode.ts and compiled once per heap.
 *
 * Structure (the GotoBLAS/BLIS loop nest, Goto & van de Geijn, "Anatomy of high-performance matrix
 * multiplication", ACM TOMS 34(3), 2008):
 *
 *   for jc over n in blocks of ≤ nc columns
 *     for pc over k in blocks of ≤ kc (k split evenly: ⌈k / ⌈k/kc⌉⌉)
 *       pack op(B)[pc.., jc..] into panels of NR columns, laid out [panel][p][NR]   (packB)
 *       for ic over m in blocks of ≤ mc rows
 *         pack op(A)[ic.., pc..] into panels of MR rows, laid out [panel][p][MR]    (packA)
 *         for each NR-column panel, for each MR-row panel: the micro-kernel        (kernel)
 *
 * The packing routines read the operands in place with a row and a column stride, so the four
 * transpose variants differ only in those strides (no transposed copy of an operand is made); the
 * panels of the last rows/columns are zero-padded. The micro-kernel keeps an MR×NR tile of C in
 * MR·NR/4 v128 locals and, per k step, loads NR/4 vectors of B, splats MR values of A
 * (v128.load32_splat) and does f32x4.mul + f32x4.add (standard wasm SIMD has no FMA). Full tiles
 * are stored (or, after the first k block, added) with v128 stores; edge tiles go through a small
 * scratch tile and a scalar copy of their valid part, so nothing outside `out` is written.
 *
 * The zero padding only feeds tile lanes that are never stored; it keeps stale NaNs and subnormals
 * of earlier calls out of the arithmetic (x86 handles subnormal operands slowly).
 *
 * Scratch: one block from the heap (the edge tile, the packed A block and the packed B block), kept
 * for the life of the gemm and replaced by a larger one when a call needs more (at most
 * 4·(MR·NR + mc·kc + kc·nc) bytes: 2.5 MiB with the default blocks). No Float32Array view of the
 * memory is held across `heap.alloc` (which may grow the memory and detach old views).
 *
 * Module: 1335 bytes with the default 4×8 kernel (test/wasm-gemm.test.ts checks < 4 KB): under the
 * 4 KB above which Chrome has refused synchronous `new WebAssembly.Module` on the main thread.
 */
import { Code, type FunctionDef, encodeModule, f32, i32, v128 } from './encode.js'
import type { Heap } from './heap.js'

/** @internal Kernel shape and block sizes (exported for the benchmarks' tuning runs). */
export interface GemmConfig {
  /** Micro-tile rows (A values splatted per k step). */
  readonly mr: number
  /** Micro-tile columns, a multiple of 4 (B vectors loaded per k step: nr/4). */
  readonly nr: number
  /** Largest k block. */
  readonly kc: number
  /** Largest m block (rows of packed A). */
  readonly mc: number
  /** Largest n block (columns of packed B). */
  readonly nc: number
}

export const defaultGemmConfig: GemmConfig = { mr: 4, nr: 8, kc: 256, mc: 512, nc: 2048 }

/**
 * `pack`: copies a rows×kc block (element (r, p) at src + r·rs + p·cs bytes) into panels of W rows,
 * each laid out [p][W] (W floats per k step), the last panel zero-padded to W rows.
 * Params: src, rs, cs, rows, kc, dst.
 */
const packFunction = (W: number, exportName: string): FunctionDef => {
  const c = new Code(6)
  const [src, rs, cs, rows, kc, dst] = [0, 1, 2, 3, 4, 5]
  const i0 = c.local(i32), w = c.local(i32), r = c.local(i32), p = c.local(i32), s = c.local(i32), d = c.local(i32)
  c.loop()
  // w = min(W, rows − i0)
  c.get(rows).get(i0).i32Sub().tee(w).i32c(W).get(w).i32c(W).i32LtU().select().set(w)
  // a partial panel: zero it first
  c.get(w).i32c(W).i32Ne().if_()
  c.get(dst).i32c(0).get(kc).i32c(W * 4).i32Mul().memoryFill()
  c.end()
  const scalar = () => {
    c.i32c(0).set(r)
    c.loop()
    c.get(src).get(r).get(rs).i32Mul().i32Add().set(s)
    c.get(dst).get(r).i32c(2).i32Shl().i32Add().set(d)
    c.get(kc).set(p)
    c.loop()
    c.get(d).get(s).f32Load().f32Store()
    c.get(s).get(cs).i32Add().set(s)
    c.get(d).i32c(W * 4).i32Add().set(d)
    c.get(p).i32c(1).i32Sub().tee(p).brIf(0)
    c.end()
    c.get(r).i32c(1).i32Add().tee(r).get(w).i32LtU().brIf(0)
    c.end()
  }
  if (W % 4 === 0) {
    // full panel whose rows are adjacent floats (rs = 4): W/4 vector copies per k step
    c.get(w).i32c(W).i32Eq().get(rs).i32c(4).i32Eq().i32And().if_()
    c.get(src).set(s).get(dst).set(d).get(kc).set(p)
    c.loop()
    for (let v = 0; v < W / 4; v++) c.get(d).get(s).v128Load(16 * v).v128Store(16 * v)
    c.get(s).get(cs).i32Add().set(s)
    c.get(d).i32c(W * 4).i32Add().set(d)
    c.get(p).i32c(1).i32Sub().tee(p).brIf(0)
    c.end()
    c.else_()
    scalar()
    c.end()
  } else scalar()
  c.get(src).get(rs).i32c(W).i32Mul().i32Add().set(src)
  c.get(dst).get(kc).i32c(W * 4).i32Mul().i32Add().set(dst)
  c.get(i0).i32c(W).i32Add().tee(i0).get(rows).i32LtU().brIf(0)
  c.end()
  return { params: [i32, i32, i32, i32, i32, i32], results: [], code: c, export: exportName }
}

/**
 * `kernel`: C[mc×nc] (row stride ldc bytes) = (accumulate ? C : 0) + packedA·packedB over kc.
 * Params: pa, pb, c, mc, nc, kc, ldc, accumulate, tile (an MR·NR-float scratch tile).
 */
const kernelFunction = (MR: number, NR: number): FunctionDef => {
  const NV = NR / 4
  const c = new Code(9)
  const [pa, pb, cc, mc, nc, kc, ldc, accum, tile] = [0, 1, 2, 3, 4, 5, 6, 7, 8]
  const j = c.local(i32), bp = c.local(i32), i = c.local(i32), ap = c.local(i32), cp = c.local(i32)
  const ak = c.local(i32), bk = c.local(i32), p = c.local(i32), q = c.local(i32), r = c.local(i32), t = c.local(i32)
  const mr = c.local(i32), nr = c.local(i32)
  const fv = c.local(f32)
  const zero = c.local(v128) // never written: locals start at zero
  const av = c.local(v128)
  const bv = Array.from({ length: NV }, () => c.local(v128))
  const acc = Array.from({ length: MR }, () => Array.from({ length: NV }, () => c.local(v128)))

  const step = () => {
    for (let v = 0; v < NV; v++) c.get(bk).v128Load(16 * v).set(bv[v]!)
    for (let row = 0; row < MR; row++) {
      c.get(ak).load32Splat(4 * row).set(av)
      for (let v = 0; v < NV; v++) c.get(acc[row]![v]!).get(av).get(bv[v]!).f32x4Mul().f32x4Add().set(acc[row]![v]!)
    }
  }
  c.get(pb).set(bp)
  c.loop() // over NR-column panels
  c.get(nc).get(j).i32Sub().tee(nr).i32c(NR).get(nr).i32c(NR).i32LtU().select().set(nr)
  c.i32c(0).set(i)
  c.get(pa).set(ap)
  c.get(cc).get(j).i32c(2).i32Shl().i32Add().set(cp)
  c.loop() // over MR-row panels
  c.get(mc).get(i).i32Sub().tee(mr).i32c(MR).get(mr).i32c(MR).i32LtU().select().set(mr)
  for (const row of acc) for (const x of row) c.get(zero).set(x)
  c.get(ap).set(ak).get(bp).set(bk)
  // the k loop (kc ≥ 1); V8's optimising tier unrolls it (a hand-unrolled body was slower)
  c.get(kc).set(p)
  c.loop()
  step()
  c.get(ak).i32c(MR * 4).i32Add().set(ak)
  c.get(bk).i32c(NR * 4).i32Add().set(bk)
  c.get(p).i32c(1).i32Sub().tee(p).brIf(0)
  c.end()
  // store the tile
  c.get(mr).i32c(MR).i32Eq().get(nr).i32c(NR).i32Eq().i32And().if_()
  c.get(cp).set(q)
  c.get(accum).if_()
  for (let row = 0; row < MR; row++) {
    for (let v = 0; v < NV; v++) c.get(q).get(q).v128Load(16 * v).get(acc[row]![v]!).f32x4Add().v128Store(16 * v)
    if (row < MR - 1) c.get(q).get(ldc).i32Add().set(q)
  }
  c.else_()
  for (let row = 0; row < MR; row++) {
    for (let v = 0; v < NV; v++) c.get(q).get(acc[row]![v]!).v128Store(16 * v)
    if (row < MR - 1) c.get(q).get(ldc).i32Add().set(q)
  }
  c.end()
  c.else_()
  // an edge tile: through the scratch tile, then its valid mr×nr part only
  for (let row = 0; row < MR; row++) for (let v = 0; v < NV; v++) c.get(tile).get(acc[row]![v]!).v128Store((row * NR + 4 * v) * 4)
  c.get(cp).set(q).get(tile).set(ak).i32c(0).set(r)
  c.loop()
  c.i32c(0).set(t)
  c.loop()
  c.get(ak).get(t).i32c(2).i32Shl().i32Add().f32Load().set(fv)
  c.get(accum).if_()
  c.get(fv).get(q).get(t).i32c(2).i32Shl().i32Add().f32Load().f32Add().set(fv)
  c.end()
  c.get(q).get(t).i32c(2).i32Shl().i32Add().get(fv).f32Store()
  c.get(t).i32c(1).i32Add().tee(t).get(nr).i32LtU().brIf(0)
  c.end()
  c.get(q).get(ldc).i32Add().set(q)
  c.get(ak).i32c(NR * 4).i32Add().set(ak)
  c.get(r).i32c(1).i32Add().tee(r).get(mr).i32LtU().brIf(0)
  c.end()
  c.end()
  // next MR rows
  c.get(ap).get(kc).i32c(MR * 4).i32Mul().i32Add().set(ap)
  c.get(cp).get(ldc).i32c(MR).i32Mul().i32Add().set(cp)
  c.get(i).i32c(MR).i32Add().tee(i).get(mc).i32LtU().brIf(0)
  c.end()
  // next NR columns
  c.get(bp).get(kc).i32c(NR * 4).i32Mul().i32Add().set(bp)
  c.get(j).i32c(NR).i32Add().tee(j).get(nc).i32LtU().brIf(0)
  c.end()
  return { params: [i32, i32, i32, i32, i32, i32, i32, i32, i32], results: [], code: c, export: 'kernel' }
}

/** @internal The module's bytes for a configuration (exports packA, packB, kernel). */
export const gemmModuleBytes = (config: GemmConfig = defaultGemmConfig): Uint8Array => {
  const { mr, nr } = config
  if (!(nr % 4 === 0 && nr > 0 && mr > 0)) throw new Error(`gemm: bad kernel shape ${mr}×${nr}`)
  return encodeModule([packFunction(mr, 'packA'), packFunction(nr, 'packB'), kernelFunction(mr, nr)])
}

/** The part of the WebAssembly JS API used here (the Node config's libs do not declare it). */
interface WasmApi {
  readonly Module: new (bytes: Uint8Array) => object
  readonly Instance: new (module: object, imports: object) => { readonly exports: Record<string, unknown> }
}
type Pack = (src: number, rs: number, cs: number, rows: number, kc: number, dst: number) => void
type Kernel = (pa: number, pb: number, c: number, mc: number, nc: number, kc: number, ldc: number, accumulate: number, tile: number) => void

const roundUp = (x: number, to: number) => Math.ceil(x / to) * to
/** An even split of `size` into blocks of at most `max`, the block a multiple of `align`. */
const blockOf = (size: number, max: number, align: number) => Math.min(roundUp(Math.ceil(size / Math.ceil(size / max)), align), roundUp(size, align))

/**
 * out[m×n] = op(A)·op(B); pointers are byte offsets into heap.memory; A is [m,k] row-major ([k,m]
 * when transposeA), B is [k,n] ([n,k] when transposeB); out is row-major [m,n] and does not alias A
 * or B. Pointers need only be 4-byte aligned.
 *
 * Accuracy: float32 products and float32 accumulation (as tfjs-backend-wasm / XNNPACK). Each
 * out[i][j] is a sum of the k products in some order with float32 rounding after every operation,
 * so, barring underflow and overflow, |computed − exact| ≤ γ_k · Σ_p |a_ip|·|b_pj| with
 * γ_k = k·u / (1 − k·u), u = 2⁻²⁴ (Higham, "Accuracy and Stability of Numerical Algorithms", 2nd
 * ed., §3.1, eq. 3.5): a relative error of at most about k·6e-8 of Σ|a||b|, e.g. 1.5e-5 at k = 256.
 * (Each product passes through at most k roundings: one multiply, at most kc − 1 additions in its
 * k block and one addition per later block.) NaN and ±Infinity inputs propagate as in the exact
 * sum (∞·0 = NaN, ∞ − ∞ = NaN): a NaN in row i of op(A) gives NaN in all of out row i and nowhere
 * else, a NaN in column j of op(B) all of out column j. Float32 overflow of a product or partial
 * sum gives ±Infinity. k = 0 gives zeros; m = 0 or n = 0 writes nothing.
 *
 * The first call of a fresh gemm runs V8's baseline (Liftoff) code; the optimised code takes over
 * after a few calls (dynamic tier-up).
 */
export const createGemm = (
  heap: Heap,
  config: GemmConfig = defaultGemmConfig,
): ((a: number, b: number, out: number, m: number, k: number, n: number, transposeA: boolean, transposeB: boolean) => void) => {
  const { mr: MR, nr: NR } = config
  const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly
  const instance = new wasm.Instance(new wasm.Module(gemmModuleBytes(config)), { m: { memory: heap.memory } })
  const packA = instance.exports.packA as Pack
  const packB = instance.exports.packB as Pack
  const kernel = instance.exports.kernel as Kernel
  let scratch = 0
  let scratchBytes = 0
  const tileBytes = MR * NR * 4

  return (a, b, out, m, k, n, transposeA, transposeB) => {
    if (m === 0 || n === 0) return
    if (k === 0) {
      new Float32Array(heap.memory.buffer, out, m * n).fill(0)
      return
    }
    const kc = blockOf(k, config.kc, 1)
    const mc = blockOf(m, config.mc, MR)
    const nc = blockOf(n, config.nc, NR)
    const aBytes = roundUp(mc * kc * 4, 16)
    const need = tileBytes + aBytes + nc * kc * 4
    if (need > scratchBytes) {
      if (scratch !== 0) heap.free(scratch, scratchBytes)
      scratch = 0
      scratchBytes = 0
      scratch = heap.alloc(need)
      scratchBytes = need
    }
    const tile = scratch
    const pa = scratch + tileBytes
    const pb = pa + aBytes
    // element strides in bytes: op(A)[i][p] at a + i·ars + p·acs, op(B)[p][j] at b + p·brs + j·bcs
    const ars = transposeA ? 4 : 4 * k
    const acs = transposeA ? 4 * m : 4
    const brs = transposeB ? 4 : 4 * n
    const bcs = transposeB ? 4 * k : 4
    for (let jc = 0; jc < n; jc += nc) {
      const ncur = Math.min(nc, n - jc)
      for (let pc = 0; pc < k; pc += kc) {
        const kcur = Math.min(kc, k - pc)
        packB(b + pc * brs + jc * bcs, bcs, brs, ncur, kcur, pb)
        for (let ic = 0; ic < m; ic += mc) {
          const mcur = Math.min(mc, m - ic)
          packA(a + ic * ars + pc * acs, ars, acs, mcur, kcur, pa)
          kernel(pa, pb, out + (ic * n + jc) * 4, mcur, ncur, kcur, 4 * n, pc > 0 ? 1 : 0, tile)
        }
      }
    }
  }
}
