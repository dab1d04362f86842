/**
 * Matrix multiply: fluxion's wasm SIMD gemm (src/tensor/wasm/gemm.ts) against tfjs-backend-wasm's
 * matMul and fluxion's JS gemm (the cpu backend's matmul), every candidate measured in the same run,
 * interleaved.
 *
 *   npx tsx bench/gemm.ts                  # the MNIST demo's products and 512³, 11 reps
 *   npx tsx bench/gemm.ts --reps=7 --json=out.json
 *
 * Method:
 *   - Shapes: the products of one training step of the MNIST demo (examples/mnist.ts: an MLP
 *     784→256→128→10, batch 128): each layer's forward x·W, its weight gradient xᵀ·dy and its input
 *     gradient dy·Wᵀ (none for the first layer), plus 128×256×10 and 512×512×512 in all four
 *     transpose variants. m×k×n means op(A) is [m, k] and op(B) [k, n]; 2·m·k·n flops.
 *   - Candidates: `fluxion wasm gemm`: createGemm(heap) on operands already in the heap;
 *     `tfjs-wasm matMul`: tf.matMul(a, b, transposeA, transposeB) on @tensorflow/tfjs-backend-wasm
 *     4.22 (XNNPACK, SIMD, 1 thread in Node), result disposed; for transposed variants also
 *     `tfjs-wasm transpose+matMul`: tf.transpose of the transposed operand(s), then a plain
 *     matMul (tfjs-wasm 4.22 runs transposed matMuls on a slow scalar path, so this is what a tfjs
 *     user would do instead); `JS gemm (cpu backend)`: matmul on createCpuBackend tensors (it
 *     materialises transposes, then runs a float64-accumulating JS loop), result disposed.
 *   - Check first: every candidate's output against a float64 reference; the error must be within
 *     the float32 bound γ_k·Σ|a||b| (γ_k = k·2⁻²⁴/(1 − k·2⁻²⁴)), a WARNING line otherwise. Operands
 *     are uniform in [−1, 1) from a seeded PRNG.
 *   - Timing: untimed warm-up rounds (fluxion's module tiers up from V8's baseline compiler to its
 *     optimising one during them), then `reps` rounds (≥ 7, default 11); in each round every
 *     candidate takes one sample, in an order rotated by one per round. One sample = `inner`
 *     back-to-back calls (inner = ⌈2·10⁷ / flops⌉, the same for all candidates of a shape) divided by
 *     inner. Reported: GFLOP/s of the median sample, min–max over the samples, and ratios of medians
 *     from the same rounds.
 *   - The 1-minute load average is printed at the start and the end: this machine is shared, so
 *     absolute numbers move with it; the ratios are what one run can compare.
 */
import * as os from 'node:os'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import * as tf from '@tensorflow/tfjs-core'
import * as tfwasm from '@tensorflow/tfjs-backend-wasm'
import { createCpuBackend } from '../src/tensor/cpu.js'
import { dispose, fromArray, matmul } from '../src/tensor/ops.js'
import { createGemm, defaultGemmConfig, gemmModuleBytes } from '../src/tensor/wasm/gemm.js'
import { createHeap } from '../src/tensor/wasm/heap.js'

const usage = `usage: npx tsx bench/gemm.ts [--reps=N] [--json=path]
  --reps   timed rounds per shape, at least 7 (default 11)
  --json   where to write raw numbers (default bench/results/gemm-<date>.json, gitignored)`
const { values: argv } = parseArgs({
  options: { reps: { type: 'string' }, json: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } },
  strict: true,
})
if (argv.help) {
  console.log(usage)
  process.exit(0)
}
const reps = argv.reps === undefined ? 11 : Number(argv.reps)
if (!(Number.isInteger(reps) && reps >= 7)) {
  console.error(`--reps: ${argv.reps} is not an integer ≥ 7\n${usage}`)
  process.exit(2)
}
const here = dirname(fileURLToPath(import.meta.url))
const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace(/-\d\d\dZ$/, 'Z')
const jsonPath = resolve(argv.json ?? `${here}/results/gemm-${stamp}.json`)
const warmRounds = 3

// ---- shapes --------------------------------------------------------------------------------------

interface Shape {
  readonly m: number
  readonly k: number
  readonly n: number
  readonly ta: boolean
  readonly tb: boolean
  readonly what: string
}
const shape = (m: number, k: number, n: number, ta: boolean, tb: boolean, what: string): Shape => ({ m, k, n, ta, tb, what })
const shapes: Shape[] = [
  shape(128, 784, 256, false, false, 'layer 1 forward x·W'),
  shape(784, 128, 256, true, false, 'layer 1 weight grad xᵀ·dy'),
  shape(128, 256, 128, false, false, 'layer 2 forward'),
  shape(256, 128, 128, true, false, 'layer 2 weight grad'),
  shape(128, 128, 256, false, true, 'layer 2 input grad dy·Wᵀ'),
  shape(128, 128, 10, false, false, 'layer 3 forward'),
  shape(128, 128, 10, true, false, 'layer 3 weight grad'),
  shape(128, 10, 128, false, true, 'layer 3 input grad'),
  shape(128, 256, 10, false, false, '784→256→10 net, layer 2 forward'),
  shape(512, 512, 512, false, false, 'square'),
  shape(512, 512, 512, true, false, 'square'),
  shape(512, 512, 512, false, true, 'square'),
  shape(512, 512, 512, true, true, 'square'),
]
const variant = (s: Shape) => `${s.ta ? 'Aᵀ' : 'A'}·${s.tb ? 'Bᵀ' : 'B'}`
const shapeName = (s: Shape) => `${s.m}×${s.k}×${s.n}`
const flops = (s: Shape) => 2 * s.m * s.k * s.n

/** mulberry32: a small deterministic PRNG. */
const rng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const uniform = (length: number, seed: number) => {
  const next = rng(seed)
  return Float32Array.from({ length }, () => next() * 2 - 1)
}

/** max over entries of |got − exact| / (γ_k·Σ|a||b|): at most 1 within the float32 bound. */
const boundRatio = (got: Float32Array, A: Float32Array, B: Float32Array, s: Shape): number => {
  const { m, k, n, ta, tb } = s
  const g = (k * 2 ** -24) / (1 - k * 2 ** -24)
  let worst = 0
  const row = new Float64Array(k)
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) row[p] = A[ta ? p * m + i : i * k + p]!
    for (let j = 0; j < n; j++) {
      let v = 0
      let mag = 0
      for (let p = 0; p < k; p++) {
        const b = B[tb ? j * k + p : p * n + j]!
        v += row[p]! * b
        mag += Math.abs(row[p]! * b)
      }
      const r = Math.abs(got[i * n + j]! - v) / (g * mag)
      if (!(r <= worst)) worst = Number.isNaN(r) ? Infinity : r
    }
  }
  return worst
}

// ---- candidates ----------------------------------------------------------------------------------

interface Instance {
  run(): void
  output(): Float32Array
  dispose(): void
}
interface Candidate {
  readonly name: string
  readonly make: (s: Shape, A: Float32Array, B: Float32Array) => Instance
}

const heap = createHeap()
const gemm = createGemm(heap)
const cpuB = createCpuBackend('cpu')

const fluxionWasm: Candidate = {
  name: 'fluxion wasm gemm',
  make: (s, A, B) => {
    const pa = heap.alloc(A.length * 4)
    const pb = heap.alloc(B.length * 4)
    const po = heap.alloc(s.m * s.n * 4)
    new Float32Array(heap.memory.buffer, pa, A.length).set(A)
    new Float32Array(heap.memory.buffer, pb, B.length).set(B)
    return {
      run: () => gemm(pa, pb, po, s.m, s.k, s.n, s.ta, s.tb),
      output: () => new Float32Array(heap.memory.buffer, po, s.m * s.n).slice(),
      dispose: () => {
        heap.free(pa, A.length * 4)
        heap.free(pb, B.length * 4)
        heap.free(po, s.m * s.n * 4)
      },
    }
  },
}

const tfjsOperands = (s: Shape, A: Float32Array, B: Float32Array) =>
  [tf.tensor2d(A, s.ta ? [s.k, s.m] : [s.m, s.k]), tf.tensor2d(B, s.tb ? [s.n, s.k] : [s.k, s.n])] as const

const tfjsMatMul: Candidate = {
  name: 'tfjs-wasm matMul',
  make: (s, A, B) => {
    const [a, b] = tfjsOperands(s, A, B)
    return {
      run: () => tf.matMul(a, b, s.ta, s.tb).dispose(),
      output: () => tf.tidy(() => tf.matMul(a, b, s.ta, s.tb)).dataSync() as Float32Array,
      dispose: () => tf.dispose([a, b]),
    }
  },
}

const tfjsTransposeMatMul: Candidate = {
  name: 'tfjs-wasm transpose+matMul',
  make: (s, A, B) => {
    const [a, b] = tfjsOperands(s, A, B)
    const f = () => tf.tidy(() => tf.matMul(s.ta ? tf.transpose(a) : a, s.tb ? tf.transpose(b) : b))
    return {
      run: () => f().dispose(),
      output: () => {
        const o = f()
        const d = o.dataSync() as Float32Array
        o.dispose()
        return d
      },
      dispose: () => tf.dispose([a, b]),
    }
  },
}

const jsGemm: Candidate = {
  name: 'JS gemm (cpu backend)',
  make: (s, A, B) => {
    const a = fromArray(A, s.ta ? [s.k, s.m] : [s.m, s.k], cpuB)
    const b = fromArray(B, s.tb ? [s.n, s.k] : [s.k, s.n], cpuB)
    const f = () => matmul(a, b, { transposeA: s.ta, transposeB: s.tb })
    return {
      run: () => dispose(f()),
      output: () => {
        const o = f()
        const d = cpuB.readSync!(o)!.slice()
        dispose(o)
        return d
      },
      dispose: () => dispose([a, b]),
    }
  },
}

// ---- timing --------------------------------------------------------------------------------------

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const h = s.length >> 1
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2
}

interface Result {
  readonly name: string
  samplesMs: number[]
  /** Max error over the float32 bound (≤ 1 is within it). */
  boundRatio?: number
  medianGflops?: number
  minGflops?: number
  maxGflops?: number
}
interface CaseResult {
  readonly shape: Shape
  readonly inner: number
  readonly results: Result[]
  readonly ratios: Record<string, number>
}

const timeCase = (s: Shape, seed: number): CaseResult => {
  const A = uniform(s.m * s.k, seed)
  const B = uniform(s.k * s.n, seed + 1)
  const cands = [fluxionWasm, tfjsMatMul, ...(s.ta || s.tb ? [tfjsTransposeMatMul] : []), jsGemm]
  const inner = Math.max(1, Math.ceil(2e7 / flops(s)))
  const results: Result[] = cands.map((c) => ({ name: c.name, samplesMs: [] }))
  const insts = cands.map((c) => c.make(s, A, B))
  insts.forEach((inst, c) => {
    inst.run()
    const r = boundRatio(inst.output(), A, B, s)
    results[c]!.boundRatio = r
    if (!(r <= 1)) console.log(`  WARNING: ${cands[c]!.name} is outside the float32 error bound at ${shapeName(s)} ${variant(s)}: ${r.toFixed(2)}× the bound`)
  })
  for (let round = 0; round < warmRounds + reps; round++) {
    for (let j = 0; j < insts.length; j++) {
      const c = (round + j) % insts.length
      const inst = insts[c]!
      const t0 = performance.now()
      for (let i = 0; i < inner; i++) inst.run()
      const dt = (performance.now() - t0) / inner
      if (round >= warmRounds) results[c]!.samplesMs.push(dt)
    }
  }
  for (const inst of insts) inst.dispose()
  const gf = (ms: number) => flops(s) / ms / 1e6
  for (const r of results) {
    r.medianGflops = gf(median(r.samplesMs))
    r.minGflops = gf(Math.max(...r.samplesMs))
    r.maxGflops = gf(Math.min(...r.samplesMs))
  }
  const get = (name: string) => results.find((r) => r.name === name)?.medianGflops
  const ratios: Record<string, number> = {}
  const f = get(fluxionWasm.name)!
  ratios['fluxion/tfjs-wasm matMul'] = f / get(tfjsMatMul.name)!
  const tt = get(tfjsTransposeMatMul.name)
  if (tt !== undefined) ratios['fluxion/tfjs-wasm transpose+matMul'] = f / tt
  ratios['fluxion/JS gemm'] = f / get(jsGemm.name)!
  return { shape: s, inner, results, ratios }
}

// ---- main ----------------------------------------------------------------------------------------

const load = () => os.loadavg().map((x) => Number(x.toFixed(2)))
const info: Record<string, unknown> = {
  date: new Date().toISOString(),
  cpu: os.cpus()[0]?.model,
  cpuCount: os.cpus().length,
  node: process.version,
  v8: process.versions.v8,
  loadavg_start: load(),
  gemmConfig: defaultGemmConfig,
  gemmModuleBytes: gemmModuleBytes().length,
}
if (!(await tf.setBackend('wasm'))) throw new Error("tf.setBackend('wasm') failed")
await tf.ready()
const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'))
const threads = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'))
info.tfjsWasm = { version: tf.version_core, simd, multithread: threads, threadsCount: tfwasm.getThreadsCount() }

console.log(`Matrix multiply, GFLOP/s (2·m·k·n / time). ${info.cpu} ×${info.cpuCount}, node ${process.version}, load ${(info.loadavg_start as number[]).join(' ')}`)
console.log(`fluxion wasm gemm: ${defaultGemmConfig.mr}×${defaultGemmConfig.nr} f32x4 micro-kernel, kc ${defaultGemmConfig.kc}, mc ${defaultGemmConfig.mc}, nc ${defaultGemmConfig.nc}; module ${info.gemmModuleBytes} bytes`)
console.log(`tfjs-wasm ${tf.version_core}: simd ${simd}, ${tfwasm.getThreadsCount()} thread(s); median of ${reps} interleaved rounds after ${warmRounds} warm-up`)

const started = performance.now()
const cases: CaseResult[] = []
const fmt = (x: number) => (x >= 10 ? x.toFixed(1) : x.toFixed(2))
shapes.forEach((s, i) => {
  const c = timeCase(s, 1000 + 10 * i)
  cases.push(c)
  console.log(`\n${shapeName(s)} ${variant(s)} (${s.what}), ${c.inner} call(s) per sample`)
  const rows = c.results.map((r) => [r.name, fmt(r.medianGflops!), `${fmt(r.minGflops!)}–${fmt(r.maxGflops!)}`, r.boundRatio! <= 1 ? `ok ${r.boundRatio!.toFixed(2)}` : `BAD ${r.boundRatio!.toFixed(2)}`])
  const head = ['candidate', 'GFLOP/s', 'min–max', 'err/bound']
  const widths = head.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j]!.length)))
  const line = (cells: readonly string[]) => cells.map((x, j) => (j === 0 ? x.padEnd(widths[j]!) : x.padStart(widths[j]!))).join('  ')
  console.log('  ' + line(head))
  for (const r of rows) console.log('  ' + line(r))
  console.log('  ratios: ' + Object.entries(c.ratios).map(([k, v]) => `${k} ${v.toFixed(2)}×`).join(' | '))
})
info.loadavg_end = load()
const seconds = (performance.now() - started) / 1000

console.log(`\nSummary (GFLOP/s, medians; ratios from the same rounds). Load ${(info.loadavg_start as number[])[0]} at the start, ${(info.loadavg_end as number[])[0]} at the end.`)
const head = ['shape', 'variant', 'fluxion', 'tfjs matMul', 'tfjs T+matMul', 'JS gemm', 'vs tfjs', 'vs tfjs T+mm', 'vs JS']
const rows = cases.map((c) => {
  const g = (name: string) => c.results.find((r) => r.name === name)?.medianGflops
  const t = g(tfjsTransposeMatMul.name)
  const rt = c.ratios['fluxion/tfjs-wasm transpose+matMul']
  return [shapeName(c.shape), variant(c.shape), fmt(g(fluxionWasm.name)!), fmt(g(tfjsMatMul.name)!), t === undefined ? '—' : fmt(t), fmt(g(jsGemm.name)!),
    `${c.ratios['fluxion/tfjs-wasm matMul']!.toFixed(2)}×`, rt === undefined ? '—' : `${rt.toFixed(2)}×`, `${c.ratios['fluxion/JS gemm']!.toFixed(1)}×`]
})
const widths = head.map((h, j) => Math.max(h.length, ...rows.map((r) => r[j]!.length)))
const line = (cells: readonly string[]) => cells.map((x, j) => (j < 2 ? x.padEnd(widths[j]!) : x.padStart(widths[j]!))).join('  ')
console.log('  ' + line(head))
for (const r of rows) console.log('  ' + line(r))

mkdirSync(dirname(jsonPath), { recursive: true })
writeFileSync(jsonPath, JSON.stringify({ machine: info, settings: { reps, warmRounds }, seconds: Number(seconds.toFixed(1)), cases }, null, 2) + '\n')
console.log(`\n${seconds.toFixed(0)} s; raw samples, ratios and machine info in ${jsonPath}`)
await cpuB.destroy()
