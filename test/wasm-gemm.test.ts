/**
 * The wasm SIMD gemm (src/tensor/wasm/gemm.ts) against a float64 reference written here from the
 * definition of the matrix product, out[i][j] = Σ_p op(A)[i][p] · op(B)[p][j] with op(A)[i][p] =
 * A[p][i] when transposeA (A stored [k, m]) else A[i][p] (A stored [m, k]), and likewise for B
 * (stored [n, k] when transposeB, else [k, n]); all row-major.
 *
 * Tolerance: the float32 inner-product bound the gemm documents, |computed − exact| ≤ γ_k·Σ_p|a||b|,
 * γ_k = k·u / (1 − k·u), u = 2⁻²⁴ (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed.,
 * §3.1, eq. 3.5). The float64 reference's own error (≈ k·2⁻⁵³·Σ|a||b|) is far below it.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { propertyParameters } from '../laws/runners.js'
import { type GemmConfig, createGemm, defaultGemmConfig, gemmModuleBytes } from '../src/tensor/wasm/gemm.js'
import { type Heap, createHeap, sizeClass } from '../src/tensor/wasm/heap.js'

type Gemm = ReturnType<typeof createGemm>
const variants = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
] as const
const variantName = (ta: boolean, tb: boolean) => `${ta ? 'Aᵀ' : 'A'}·${tb ? 'Bᵀ' : 'B'}`

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
const rng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const randomArray = (length: number, seed: number): Float32Array => {
  const next = rng(seed)
  return Float32Array.from({ length }, () => next() * 2 - 1)
}

/** The float64 product from the definition, and Σ_p |op(A)[i][p]|·|op(B)[p][j]| per entry. */
const reference = (A: Float32Array, B: Float32Array, m: number, k: number, n: number, ta: boolean, tb: boolean) => {
  const value = new Float64Array(m * n)
  const magnitude = new Float64Array(m * n)
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0
      let t = 0
      for (let p = 0; p < k; p++) {
        const a = A[ta ? p * m + i : i * k + p]!
        const b = B[tb ? j * k + p : p * n + j]!
        s += a * b
        t += Math.abs(a) * Math.abs(b)
      }
      value[i * n + j] = s
      magnitude[i * n + j] = t
    }
  }
  return { value, magnitude }
}

const u = 2 ** -24
const gamma = (k: number) => (k * u) / (1 - k * u)

/** Guard floats written on each side of `out`, and the bit pattern they hold (a signalling-ish NaN). */
const guard = 37
const guardBits = 0x7fa5a5a5

interface Case {
  readonly A: Float32Array
  readonly B: Float32Array
  /** The floats of out after the call, guards excluded. */
  readonly out: Float32Array
  /** Every word of the guards held its pattern, and A and B were not written. */
  readonly intact: boolean
}

/**
 * Copies A and B into the heap (at `misalign` bytes past a 16-byte boundary), fills out and its
 * guards with the guard pattern, runs the gemm, and reads everything back.
 */
const run = (heap: Heap, gemm: Gemm, A: Float32Array, B: Float32Array, m: number, k: number, n: number, ta: boolean, tb: boolean, misalign = 0, beforeCall?: () => void): Case => {
  const aBytes = A.length * 4 + misalign
  const bBytes = B.length * 4 + misalign
  const oBytes = (m * n + 2 * guard) * 4 + misalign
  const pa = heap.alloc(aBytes) + misalign
  const pb = heap.alloc(bBytes) + misalign
  const po = heap.alloc(oBytes) + misalign
  new Float32Array(heap.memory.buffer, pa, A.length).set(A)
  new Float32Array(heap.memory.buffer, pb, B.length).set(B)
  new Uint32Array(heap.memory.buffer, po, m * n + 2 * guard).fill(guardBits)
  beforeCall?.()
  gemm(pa, pb, po + guard * 4, m, k, n, ta, tb)
  const words = new Uint32Array(heap.memory.buffer, po, m * n + 2 * guard)
  let intact = true
  for (let g = 0; g < guard; g++) if (words[g] !== guardBits || words[guard + m * n + g] !== guardBits) intact = false
  const sameA = new Uint32Array(heap.memory.buffer, pa, A.length).every((x, i) => x === new Uint32Array(A.buffer)[i])
  const sameB = new Uint32Array(heap.memory.buffer, pb, B.length).every((x, i) => x === new Uint32Array(B.buffer)[i])
  const out = new Float32Array(heap.memory.buffer, po + guard * 4, m * n).slice()
  heap.free(pa - misalign, aBytes)
  heap.free(pb - misalign, bBytes)
  heap.free(po - misalign, oBytes)
  return { A, B, out, intact: intact && sameA && sameB }
}

/**
 * The first entry where `got` differs from the reference by more than the float32 bound (NaN and
 * ±Infinity must match exactly), as a message; undefined when all agree.
 */
const mismatch = (got: Float32Array, A: Float32Array, B: Float32Array, m: number, k: number, n: number, ta: boolean, tb: boolean): string | undefined => {
  const { value, magnitude } = reference(A, B, m, k, n, ta, tb)
  const g = gamma(k)
  for (let x = 0; x < m * n; x++) {
    const want = value[x]!
    const have = got[x]!
    const ok = Number.isFinite(want) ? Math.abs(have - want) <= g * magnitude[x]! : Object.is(have, want) || (Number.isNaN(want) && Number.isNaN(have))
    if (!ok) return `out[${Math.floor(x / n)}][${x % n}] = ${have}, want ${want} ± ${g * magnitude[x]!}`
  }
  return undefined
}

const check = (heap: Heap, gemm: Gemm, m: number, k: number, n: number, ta: boolean, tb: boolean, seed: number, misalign = 0, beforeCall?: () => void): string | undefined => {
  const A = randomArray(m * k, seed)
  const B = randomArray(k * n, seed + 1)
  const r = run(heap, gemm, A, B, m, k, n, ta, tb, misalign, beforeCall)
  const where = `${variantName(ta, tb)} m=${m} k=${k} n=${n}${misalign ? ` misaligned by ${misalign}` : ''}`
  if (!r.intact) return `${where}: wrote outside out, or into A or B`
  const bad = mismatch(r.out, A, B, m, k, n, ta, tb)
  return bad === undefined ? undefined : `${where}: ${bad}`
}

/** Every combination of the sizes; the failures (at most 5) as messages. */
const sweep = (heap: Heap, gemm: Gemm, ms: readonly number[], ks: readonly number[], ns: readonly number[], ta: boolean, tb: boolean): string[] => {
  const failures: string[] = []
  let seed = 1
  for (const m of ms) for (const k of ks) for (const n of ns) {
    const f = check(heap, gemm, m, k, n, ta, tb, seed++)
    if (f !== undefined && failures.push(f) >= 5) return failures
  }
  return failures
}

// the default kernel is 4×8 with blocks kc 256, mc 512, nc 2048: sizes on both sides of 4, 8 and
// their multiples
const small = [0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33, 65]
const depths = [0, 1, 2, 3, 5, 8, 17, 64]

describe('wasm gemm', () => {
  const heap = createHeap()
  const gemm = createGemm(heap)

  it('compiles to a module under 4 KB', () => {
    const bytes = gemmModuleBytes()
    expect(bytes.length).toBeLessThan(4096)
    // (the Node tsconfig's libs do not declare the WebAssembly namespace)
    expect((globalThis as unknown as { WebAssembly: { validate(b: Uint8Array): boolean } }).WebAssembly.validate(bytes)).toBe(true)
  })

  describe.each(variants)('transposeA %s, transposeB %s', (ta, tb) => {
    it('matches the float64 reference on every combination of small m, k, n (tile edges)', () => {
      expect(sweep(heap, gemm, small, depths, small, ta, tb)).toEqual([])
    })

    it('crosses the k block (kc 256: k = 255, 256, 257, 513) with tile edges', () => {
      expect(sweep(heap, gemm, [1, 5, 9], [255, 256, 257, 513], [1, 7, 17], ta, tb)).toEqual([])
    })

    it('crosses the m block (mc 512) and the n block (nc 2048)', () => {
      expect(sweep(heap, gemm, [511, 512, 513, 1029], [3], [1, 9], ta, tb)).toEqual([])
      expect(sweep(heap, gemm, [1, 6], [2, 257], [2047, 2048, 2049], ta, tb)).toEqual([])
    })

    it('reads and writes through pointers that are 4 bytes but not 16 bytes aligned', () => {
      for (const misalign of [4, 8, 12]) for (const [m, k, n] of [[5, 9, 11], [8, 8, 8], [13, 300, 17]] as const) {
        expect(check(heap, gemm, m, k, n, ta, tb, misalign, misalign)).toBeUndefined()
      }
    })
  })

  describe.each<[string, Partial<GemmConfig>]>([
    ['tiny blocks (kc 5, mc 8, nc 16): every block loop runs many times', { kc: 5, mc: 8, nc: 16 }],
    ['a 5×8 kernel with kc 7 (scalar packing of A, partial panels)', { mr: 5, kc: 7, mc: 10, nc: 24 }],
    ['a 3×12 kernel', { mr: 3, nr: 12, kc: 9, mc: 9, nc: 24 }],
  ])('%s', (_, config) => {
    const g = createGemm(heap, { ...defaultGemmConfig, ...config })
    it.each(variants)('transposeA %s, transposeB %s', (ta, tb) => {
      expect(sweep(heap, g, [1, 3, 4, 5, 8, 9, 17, 26], [1, 4, 5, 6, 11, 16, 23], [1, 7, 8, 9, 16, 17, 25, 33, 40], ta, tb)).toEqual([])
    })
  })

  it('k = 0 gives zeros; m = 0 or n = 0 writes nothing', () => {
    for (const [ta, tb] of variants) {
      for (const [m, n] of [[3, 5], [1, 1], [9, 17]] as const) {
        const r = run(heap, gemm, new Float32Array(0), new Float32Array(0), m, 0, n, ta, tb)
        expect(r.intact).toBe(true)
        expect([...r.out]).toEqual(new Array(m * n).fill(0))
      }
      for (const [m, k, n] of [[0, 4, 5], [3, 4, 0], [0, 0, 0]] as const) {
        const r = run(heap, gemm, randomArray(m * k, 1), randomArray(k * n, 2), m, k, n, ta, tb)
        expect(r.intact).toBe(true)
        expect(r.out.length).toBe(0)
      }
    }
  })

  it('a NaN in A poisons exactly its row of out, a NaN in B exactly its column; ±Infinity as in the reference', () => {
    // k = 300 crosses the k block, so the poison must survive the accumulation into out as well
    for (const [ta, tb] of variants) for (const [m, k, n] of [[5, 9, 10], [9, 300, 13], [4, 8, 8]] as const) {
      for (const [i, p, j] of [[0, 0, 0], [m - 1, k - 1, n - 1], [2, 5, 3]] as const) {
        const A = randomArray(m * k, 7)
        const B = randomArray(k * n, 8)
        A[ta ? p * m + i : i * k + p] = NaN
        const ra = run(heap, gemm, A, B, m, k, n, ta, tb)
        expect(ra.intact).toBe(true)
        for (let r = 0; r < m; r++) for (let c = 0; c < n; c++) expect(Number.isNaN(ra.out[r * n + c]!), `A NaN at (${i}, ${p}) → out[${r}][${c}]`).toBe(r === i)

        const A2 = randomArray(m * k, 7)
        const B2 = randomArray(k * n, 8)
        B2[tb ? j * k + p : p * n + j] = NaN
        const rb = run(heap, gemm, A2, B2, m, k, n, ta, tb)
        for (let r = 0; r < m; r++) for (let c = 0; c < n; c++) expect(Number.isNaN(rb.out[r * n + c]!), `B NaN at (${p}, ${j}) → out[${r}][${c}]`).toBe(c === j)

        // infinities: an Infinity row of A, a −Infinity in B and a zero beside them (∞·0 = NaN)
        const A3 = randomArray(m * k, 9)
        const B3 = randomArray(k * n, 10)
        A3[ta ? p * m + i : i * k + p] = Infinity
        B3[tb ? j * k + p : p * n + j] = -Infinity
        B3[tb ? ((j + 1) % n) * k + p : p * n + ((j + 1) % n)] = 0
        const rc = run(heap, gemm, A3, B3, m, k, n, ta, tb)
        expect(mismatch(rc.out, A3, B3, m, k, n, ta, tb)).toBeUndefined()
      }
    }
  })

  it('grows the memory for its scratch inside a call and still reads its operands (no stale views)', () => {
    const h = createHeap(65536) // one page
    const g = createGemm(h)
    const grewDuringCall = (m: number, k: number, n: number, ta: boolean, tb: boolean, seed: number) => {
      let filler = 0
      let fillerBytes = 0
      let bytesBefore = 0
      // after the operands are in place, fill the memory up to its end: the scratch must grow it
      const fill = () => {
        const { topBytes, memoryBytes } = h.stats()
        fillerBytes = memoryBytes - topBytes - 256
        while (fillerBytes > 0 && sizeClass(fillerBytes) > memoryBytes - topBytes) fillerBytes -= 16
        if (fillerBytes > 0) filler = h.alloc(fillerBytes)
        bytesBefore = h.memory.buffer.byteLength
      }
      expect(check(h, g, m, k, n, ta, tb, seed, 0, fill)).toBeUndefined()
      const grew = h.memory.buffer.byteLength > bytesBefore
      h.free(filler, fillerBytes)
      return grew
    }
    expect(grewDuringCall(9, 300, 17, false, false, 3)).toBe(true)
    // a larger call replaces the scratch (growing again), a smaller one reuses it
    expect(grewDuringCall(200, 513, 100, true, true, 4)).toBe(true)
    expect(grewDuringCall(3, 2, 1, false, true, 5)).toBe(false)
  })

  it('property: random shapes, transposes and values agree with the reference within the float32 bound', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 0, max: 300 }),
        fc.integer({ min: 0, max: 40 }),
        fc.boolean(),
        fc.boolean(),
        fc.integer(),
        fc.constantFrom(0, 4, 8, 12),
        (m, k, n, ta, tb, seed, misalign) => {
          expect(check(heap, gemm, m, k, n, ta, tb, seed, misalign)).toBeUndefined()
        },
      ),
      propertyParameters(150),
    )
  })
})
