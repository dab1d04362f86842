/**
 * One optimizer step (update + apply), every candidate measured in the same run, interleaved.
 *
 *   npm run bench                          # 1e5, 1e6, 1e7 parameters; 1 leaf and 50 leaves
 *   npm run bench -- --quick               # 1e5, 1e6 only, 7 reps
 *   npm run bench -- --sizes=1e5,1e6 --reps=9 --gpu=webasm --json=out.json
 *
 * Method (bench/README.md has the long form):
 *   - For each (size, layout) every candidate is built from the same start (params, grads, fresh
 *     optimizer state), run 3 steps, and its params compared with the hand-written loop of its
 *     group (a warning line when the relative error exceeds 1e-4), so no wrong computation is timed.
 *   - Then untimed warm-up rounds (8 below 1e6, 3 at 1e6, 1 at 1e7) and `reps` timed rounds (default
 *     15, 7 at 1e7). In each round every candidate takes one step,
 *     in an order rotated by one per round (round r starts at candidate r mod k), so slow drifts of
 *     the machine (thermal, other load) spread over all candidates alike. One sample = one step.
 *   - Reported: median ms per step and min–max; ratios are of medians measured in the same block.
 *     The 50-leaves/1-leaf ratio is the one ratio across two consecutive blocks (not interleaved).
 *   - Layouts: "1 leaf" is one Float32 leaf of n elements; "50 leaves" is 50 leaves of
 *     geometrically growing size (ratio 1000 between largest and smallest, see `leafSizes`),
 *     summing to the same n, like a model's mix of biases and weight matrices.
 *   - The roofline is `Float32Array.prototype.set` of a 2n-float buffer (16 B/param moved: read 8,
 *     write 8), timed as a candidate in the same rounds, scaled by 28/16 to the 28 B/param an Adam
 *     step must move (read p, g, m, v; write p, m, v).
 */
import * as os from 'node:os'
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import * as tf from '@tensorflow/tfjs-core'
import '@tensorflow/tfjs-backend-cpu'
import * as tfwasm from '@tensorflow/tfjs-backend-wasm'
import * as fluxion from '../src/index.js'
import {
  type Backend,
  type GradientTransformation,
  type Params,
  type Tensor,
  adam,
  addDecayedWeights,
  applyUpdates,
  chain,
  clipByGlobalNorm,
  createCpuBackend,
  createWasmBackend,
  dispose,
  fromArray,
  read,
  scaleByAdam,
  scaleByLearningRate,
  scope,
  sum,
} from '../src/index.js'
import { createGpuBackend } from '../src/gpu.js'
import { wasmApi } from '../src/tensor/wasm/api.js'
import { handAdamModule } from './hand-wasm.js'

// ---- settings ------------------------------------------------------------------------------------

const usage = `usage: npm run bench -- [--quick] [--sizes=1e5,1e6,1e7] [--reps=N] [--gpu=webasm|webgpu] [--json=path]
  --quick        sizes 1e5,1e6 and 7 reps
  --sizes        comma-separated parameter counts (default 1e5,1e6,1e7)
  --reps         timed rounds per (size, layout), at least 7 (default 15 below 1e7, 7 at 1e7 and above)
  --gpu          also time fluxion on the gpu.js backend in this mode
  --json         where to write raw numbers (default bench/results/step-<date>.json, gitignored)`

const { values: argv } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    sizes: { type: 'string' },
    reps: { type: 'string' },
    gpu: { type: 'string' },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  strict: true,
})
if (argv.help) {
  console.log(usage)
  process.exit(0)
}
const fail = (msg: string): never => {
  console.error(`${msg}\n${usage}`)
  process.exit(2)
}
const sizes = (argv.sizes ?? (argv.quick ? '1e5,1e6' : '1e5,1e6,1e7')).split(',').map((s) => {
  const n = Number(s)
  if (!Number.isInteger(n) || n < 50) fail(`--sizes: ${s} is not an integer ≥ 50`)
  return n
})
const repsOverride = argv.reps === undefined ? (argv.quick ? 7 : undefined) : Number(argv.reps)
if (repsOverride !== undefined && !(Number.isInteger(repsOverride) && repsOverride >= 7)) fail(`--reps: ${argv.reps} is not an integer ≥ 7`)
const repsFor = (n: number): number => repsOverride ?? (n >= 1e7 ? 7 : 15)
const gpuMode = argv.gpu as 'webasm' | 'webgpu' | undefined
if (gpuMode !== undefined && gpuMode !== 'webasm' && gpuMode !== 'webgpu') fail(`--gpu: ${argv.gpu} is not webasm or webgpu`)
const here = dirname(fileURLToPath(import.meta.url))
const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace(/-\d\d\dZ$/, 'Z')
const jsonPath = resolve(argv.json ?? `${here}/results/step-${stamp}.json`)

const checkSteps = 3
// untimed rounds after the checked steps: enough for V8 to optimise the small-size loops
const warmRoundsFor = (n: number): number => (n >= 1e7 ? 1 : n >= 1e6 ? 3 : 8)
const tolerance = 1e-4
const leafCount = 50
// hyperparameters shared by every candidate (Optax defaults; tfjs is given eps explicitly, its
// default 1e-7 would be a different computation)
const lr = 1e-3
const b1 = 0.9
const b2 = 0.999
const eps = 1e-8
const maxNorm = 1
const wd = 1e-2

// ---- compileStep: written against its announced API, skipped while src/index.ts lacks it ----------

type Step<S> = (params: Params, grads: Params, state: S) => readonly [Params, S]
type CompileStep = <S>(optimizer: GradientTransformation<S>, options?: { readonly donate?: boolean }) => Step<S>
const compileStep = (fluxion as unknown as { compileStep?: CompileStep }).compileStep
const notes: string[] = []
if (typeof compileStep !== 'function') notes.push('compileStep is not exported from src/index.ts yet: the "fused" candidates are skipped.')

// ---- data ----------------------------------------------------------------------------------------

/**
 * The leaf sizes of a layout summing to n. 'mixed': 50 leaves with sizes ∝ r^k, k = 0..49,
 * r = 1000^(1/49) (the largest leaf 1000× the smallest), each floored and at least 1, the remainder
 * added to the largest. At n = 1e6: 131, 151, 174, 200, …, 99 269, 114 298, 131 627 elements; at
 * 1e5: 13 … 13 184; at 1e7: 1 316 … 1 316 053.
 */
const leafSizes = (n: number, layout: Layout): number[] => {
  if (layout === 'one') return [n]
  const r = 1000 ** (1 / (leafCount - 1))
  const w = Array.from({ length: leafCount }, (_, k) => r ** k)
  const total = w.reduce((a, b) => a + b, 0)
  const s = w.map((x) => Math.max(1, Math.floor((n * x) / total)))
  s[leafCount - 1]! += n - s.reduce((a, b) => a + b, 0)
  return s
}
type Layout = 'one' | 'mixed'
const layoutName = (l: Layout) => (l === 'one' ? '1 leaf' : `${leafCount} leaves`)

/** mulberry32: a small deterministic PRNG, so every run starts from the same numbers. */
const rng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

interface Data {
  readonly sizes: readonly number[]
  /** Starting params, uniform in [−0.1, 0.1). Never written. */
  readonly p0: readonly Float32Array[]
  /** Gradients, uniform in [−0.02, 0.02) (global norm ≈ 0.0115·√n > 1, so the clip acts). Never written. */
  readonly g: readonly Float32Array[]
}
const makeData = (n: number, layout: Layout): Data => {
  const sizes = leafSizes(n, layout)
  const next = rng(n * 7 + sizes.length)
  const p0 = sizes.map((m) => Float32Array.from({ length: m }, () => (next() - 0.5) * 0.2))
  const g = sizes.map((m) => Float32Array.from({ length: m }, () => (next() - 0.5) * 0.04))
  return { sizes, p0, g }
}

// ---- candidates ----------------------------------------------------------------------------------

type Group = 'adam' | 'chain' | 'copy'

interface Instance {
  /** One step; a returned promise is awaited inside the timing. */
  step(): void | Promise<void>
  /** Untimed, before each step (tfjs: make its backend the active one). */
  before?(): Promise<void>
  /** A host copy of the current params, leaf by leaf. */
  params(): Promise<Float32Array[]>
  dispose(): void | Promise<void>
}

interface Candidate {
  readonly name: string
  readonly group: Group
  /** Reported times are measured times × scale (the roofline's 28/16). */
  readonly scale?: number
  /** Why it is not run, shown in its row (compileStep not exported yet). */
  readonly skip?: string
  readonly make: () => Instance | Promise<Instance>
}

const leafKey = (i: number) => `l${String(i).padStart(2, '0')}`
const toTree = (arrays: readonly Float32Array[], backend: Backend): Params =>
  Object.fromEntries(arrays.map((a, i) => [leafKey(i), fromArray(a, [a.length], backend)]))
const leavesOf = (t: Params, count: number): Tensor[] => Array.from({ length: count }, (_, i) => (t as Record<string, Tensor>)[leafKey(i)]!)
const hostParams = async (t: Params, count: number): Promise<Float32Array[]> =>
  Promise.all(leavesOf(t, count).map((x) => x.backend.readSync?.(x) ?? read(x)))

const adamOpt = (): GradientTransformation<unknown> => adam({ learningRate: lr, b1, b2, eps }) as GradientTransformation<unknown>
const chainOpt = (): GradientTransformation<unknown> =>
  chain(clipByGlobalNorm(maxNorm), scaleByAdam({ b1, b2, eps }), addDecayedWeights({ weightDecay: wd }), scaleByLearningRate(lr)) as unknown as GradientTransformation<unknown>

/** webgpu queues work: end a step by reading back one value computed from its last leaf. */
const settle = async (backend: Backend, params: Params, count: number): Promise<void> => {
  if (backend.name !== 'gpu:webgpu') return
  const probe = scope(() => sum(leavesOf(params, count)[count - 1]!))
  await read(probe)
  dispose(probe)
}

const fusedCandidate = (name: string, group: Group, makeOpt: () => GradientTransformation<unknown>, donate: boolean, backend: Backend, data: Data, grads: Params): Candidate => ({
  name,
  group,
  ...(typeof compileStep === 'function' ? {} : { skip: 'skipped: compileStep not exported' }),
  make: () => {
    const opt = makeOpt()
    const step = compileStep!(opt, { donate })
    let params = toTree(data.p0, backend)
    let state = opt.init(params)
    const count = data.sizes.length
    return {
      step: () => {
        const [p, s] = step(params, grads, state)
        // donated params and state are disposed handles now; kept ones are the caller's to release
        if (!donate) dispose([params, state], [p, s])
        params = p
        state = s
        return settle(backend, params, count)
      },
      params: () => hostParams(params, count),
      dispose: () => dispose([params, state]),
    }
  },
})

const unfusedCandidate = (name: string, group: Group, makeOpt: () => GradientTransformation<unknown>, backend: Backend, data: Data, grads: Params): Candidate => ({
  name,
  group,
  make: () => {
    const opt = makeOpt()
    let params = toTree(data.p0, backend)
    let state = opt.init(params)
    const count = data.sizes.length
    return {
      step: () => {
        // the updates u (and a chain's intermediates) are released by the scope
        const [p, s] = scope(() => {
          const [u, s2] = opt.update(grads, state, params)
          return [applyUpdates(params, u), s2] as const
        })
        dispose([params, state], [p, s])
        params = p
        state = s
        return settle(backend, params, count)
      },
      params: () => hostParams(params, count),
      dispose: () => dispose([params, state]),
    }
  },
})

/** The hand-written in-place Adam loop over one leaf (a = lr / (1 − β₁ᵗ), c = 1 / (1 − β₂ᵗ)). */
const adamLeaf = (p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, a: number, c: number): void => {
  const n = p.length
  const ob1 = 1 - b1
  const ob2 = 1 - b2
  for (let i = 0; i < n; i++) {
    const gi = g[i]!
    const mi = (m[i] = b1 * m[i]! + ob1 * gi)
    const vi = (v[i] = b2 * v[i]! + ob2 * gi * gi)
    p[i] = p[i]! - (a * mi) / (Math.sqrt(vi * c) + eps)
  }
}

/**
 * The hand-written fused chain over one leaf: clip by the global factor f, Adam, u += wd·p,
 * p += −lr·u (bc1 = 1 − β₁ᵗ, c = 1 / (1 − β₂ᵗ)).
 */
const chainLeaf = (p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, f: number, bc1: number, c: number): void => {
  const n = p.length
  const ob1 = 1 - b1
  const ob2 = 1 - b2
  for (let i = 0; i < n; i++) {
    const gi = g[i]! * f
    const mi = (m[i] = b1 * m[i]! + ob1 * gi)
    const vi = (v[i] = b2 * v[i]! + ob2 * gi * gi)
    const pi = p[i]!
    p[i] = pi - lr * (mi / bc1 / (Math.sqrt(vi * c) + eps) + wd * pi)
  }
}

const sumSquares = (g: Float32Array): number => {
  let s = 0
  for (let i = 0; i < g.length; i++) s += g[i]! * g[i]!
  return s
}

const handCandidate = (name: string, group: 'adam' | 'chain', data: Data): Candidate => ({
  name,
  group,
  make: () => {
    const p = data.p0.map((x) => x.slice())
    const m = data.sizes.map((k) => new Float32Array(k))
    const v = data.sizes.map((k) => new Float32Array(k))
    const g = data.g
    let t = 0
    const step =
      group === 'adam'
        ? () => {
            t++
            const a = lr / (1 - b1 ** t)
            const c = 1 / (1 - b2 ** t)
            for (let k = 0; k < p.length; k++) adamLeaf(p[k]!, g[k]!, m[k]!, v[k]!, a, c)
          }
        : () => {
            t++
            let s = 0
            for (let k = 0; k < g.length; k++) s += sumSquares(g[k]!)
            const norm = Math.sqrt(s)
            const f = Math.min(1, maxNorm / norm) // Optax clip_by_global_norm: g·maxNorm/‖g‖ when ‖g‖ > maxNorm
            const bc1 = 1 - b1 ** t
            const c = 1 / (1 - b2 ** t)
            for (let k = 0; k < p.length; k++) chainLeaf(p[k]!, g[k]!, m[k]!, v[k]!, f, bc1, c)
          }
    return { step, params: async () => p.map((x) => x.slice()), dispose: () => undefined }
  },
})

/**
 * The practical floor: a hand-written WebAssembly SIMD (f32x4) in-place Adam loop, written directly
 * with the binary writer (not generated from fluxion's expressions), over p, g, m, v in its own
 * memory: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², p ← p − a·m / (√(c·v) + ε), 4 elements per
 * iteration (the sizes here are multiples of 4 only at 1 leaf; a scalar tail does the rest).
 */
const handWasmCandidate = (data: Data): Candidate => ({
  name: 'hand WASM SIMD in-place',
  group: 'adam',
  make: () => {
    const bytes = handAdamModule({ b1, b2, eps })
    const total = data.sizes.reduce((x, y) => x + y, 0)
    const api = wasmApi()!
    const memory = new api.Memory({ initial: Math.ceil((16 * total + 16 * 4 * data.sizes.length) / 65536) + 1 })
    const kernel = new api.Instance(new api.Module(bytes), { m: { memory } }).exports.adam as (p: number, g: number, m: number, v: number, n: number, a: number, c: number) => void
    // four arrays per leaf, each 16-byte aligned
    let at = 16
    const leaves = data.sizes.map((n, k) => {
      const ptrs = [0, 1, 2, 3].map(() => {
        const ptr = at
        at += Math.ceil((4 * n) / 16) * 16
        return ptr
      })
      new Float32Array(memory.buffer, ptrs[0]!, n).set(data.p0[k]!)
      new Float32Array(memory.buffer, ptrs[1]!, n).set(data.g[k]!)
      return { n, ptrs }
    })
    let t = 0
    return {
      step: () => {
        t++
        const a = lr / (1 - b1 ** t)
        const c = 1 / (1 - b2 ** t)
        for (const { n, ptrs } of leaves) kernel(ptrs[0]!, ptrs[1]!, ptrs[2]!, ptrs[3]!, n, a, c)
      },
      params: async () => leaves.map(({ n, ptrs }) => new Float32Array(memory.buffer, ptrs[0]!, n).slice()),
      dispose: () => undefined,
    }
  },
})

/** The tfjs backends that started (a note says why one did not). */
const tfjsBackends = new Set<'cpu' | 'wasm'>()
const useTfBackend = async (name: 'cpu' | 'wasm') => {
  if (tf.getBackend() !== name) {
    if (!(await tf.setBackend(name))) throw new Error(`tf.setBackend('${name}') failed`)
    await tf.ready()
  }
}

const tfjsCandidate = (name: string, backend: 'cpu' | 'wasm', data: Data): Candidate => ({
  name,
  group: 'adam',
  make: async () => {
    await useTfBackend(backend)
    const vars = data.p0.map((a) => tf.tidy(() => tf.variable(tf.tensor1d(a))))
    const grads = data.g.map((a, i) => ({ name: vars[i]!.name, tensor: tf.tensor1d(a) }))
    const opt = tf.train.adam(lr, b1, b2, eps)
    return {
      before: () => useTfBackend(backend),
      // both backends compute synchronously: the values are final when applyGradients returns
      step: () => opt.applyGradients(grads),
      params: async () => {
        await useTfBackend(backend)
        return vars.map((x) => (x.dataSync() as Float32Array).slice())
      },
      dispose: async () => {
        await useTfBackend(backend)
        opt.dispose()
        for (const x of vars) x.dispose()
        for (const g of grads) g.tensor.dispose()
      },
    }
  },
})

const rooflineCandidate = (n: number): Candidate => ({
  name: 'roofline (28 B/param copy)',
  group: 'copy',
  scale: 28 / 16,
  make: () => {
    const src = new Float32Array(2 * n).fill(1)
    const dst = new Float32Array(2 * n)
    return { step: () => dst.set(src), params: async () => [], dispose: () => undefined }
  },
})

// ---- timing --------------------------------------------------------------------------------------

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  const h = s.length >> 1
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2
}

interface Result {
  readonly name: string
  readonly group: Group
  samplesMs: number[]
  median?: number
  min?: number
  max?: number
  check?: { readonly relErr: number; readonly ok: boolean }
  skipped?: string
}

/** max |a − b| over all elements, divided by max |ref − p0| (the size of the change the steps made). */
const relativeError = (got: readonly Float32Array[], ref: readonly Float32Array[], p0: readonly Float32Array[]): number => {
  let err = 0
  let scale = 0
  for (let k = 0; k < ref.length; k++) {
    const a = got[k]!
    const b = ref[k]!
    const z = p0[k]!
    if (a.length !== b.length) return Infinity
    for (let i = 0; i < b.length; i++) {
      const d = Math.abs(a[i]! - b[i]!)
      if (!(d <= err)) err = Number.isNaN(d) ? Infinity : d
      const c = Math.abs(b[i]! - z[i]!)
      if (c > scale) scale = c
    }
  }
  return err / scale
}

const runStep = async (inst: Instance): Promise<void> => {
  await inst.before?.()
  const r = inst.step()
  if (r) await r
}

interface CaseResult {
  readonly size: number
  readonly layout: Layout
  readonly leafSizes: readonly number[]
  readonly reps: number
  readonly warmRounds: number
  readonly results: Result[]
  readonly ratios: Record<string, number>
  /** Float32Array.set bandwidth (bytes read + written per second) behind the roofline. */
  readonly copyBandwidthGBps: number | undefined
  readonly memory: Record<string, number>
}

const timeCase = async (n: number, layout: Layout, gpu: Backend | undefined): Promise<CaseResult> => {
  const reps = repsFor(n)
  const warmRounds = warmRoundsFor(n)
  const data = makeData(n, layout)
  // a fresh cpu backend per case: its pool of recycled arrays goes with it
  const cpuB = createCpuBackend('cpu')
  const wasmB = createWasmBackend('wasm')
  const grads = toTree(data.g, cpuB)
  const wasmGrads = toTree(data.g, wasmB)
  const gpuGrads = gpu ? toTree(data.g, gpu) : undefined
  const cands: Candidate[] = [
    handCandidate('hand in-place JS', 'adam', data),
    fusedCandidate('fluxion fused', 'adam', adamOpt, true, cpuB, data, grads),
    fusedCandidate('fluxion fused, no donation', 'adam', adamOpt, false, cpuB, data, grads),
    unfusedCandidate('fluxion unfused', 'adam', adamOpt, cpuB, data, grads),
    handWasmCandidate(data),
    fusedCandidate('fluxion wasm fused', 'adam', adamOpt, true, wasmB, data, wasmGrads),
    fusedCandidate('fluxion wasm fused, no donation', 'adam', adamOpt, false, wasmB, data, wasmGrads),
    unfusedCandidate('fluxion wasm unfused', 'adam', adamOpt, wasmB, data, wasmGrads),
    ...(tfjsBackends.has('cpu') ? [tfjsCandidate('tfjs-cpu 4.22 train.adam', 'cpu', data)] : []),
    ...(tfjsBackends.has('wasm') ? [tfjsCandidate('tfjs-wasm 4.22 train.adam', 'wasm', data)] : []),
    handCandidate('chain: hand fused JS', 'chain', data),
    fusedCandidate('chain: fluxion fused', 'chain', chainOpt, true, cpuB, data, grads),
    unfusedCandidate('chain: fluxion unfused', 'chain', chainOpt, cpuB, data, grads),
    fusedCandidate('chain: fluxion wasm fused', 'chain', chainOpt, true, wasmB, data, wasmGrads),
    ...(gpu && gpuGrads
      ? [
          fusedCandidate(`fluxion ${gpu.name} fused`, 'adam', adamOpt, true, gpu, data, gpuGrads),
          unfusedCandidate(`fluxion ${gpu.name} unfused`, 'adam', adamOpt, gpu, data, gpuGrads),
        ]
      : []),
    rooflineCandidate(n),
  ]
  const results: Result[] = []
  const live: { inst: Instance; res: Result; scale: number }[] = []
  const refs = new Map<Group, Float32Array[]>()
  // build, then run `checkSteps` steps and compare with the group's hand loop (built first)
  for (const c of cands) {
    const res: Result = { name: c.name, group: c.group, samplesMs: [] }
    results.push(res)
    if (c.skip) {
      res.skipped = c.skip
      continue
    }
    let inst: Instance | undefined
    try {
      inst = await c.make()
      for (let i = 0; i < checkSteps; i++) await runStep(inst)
      if (c.group !== 'copy') {
        const got = await inst.params()
        const ref = refs.get(c.group)
        if (!ref) refs.set(c.group, got)
        else {
          const relErr = relativeError(got, ref, data.p0)
          res.check = { relErr, ok: relErr <= tolerance }
          if (!res.check.ok) console.log(`  WARNING: ${c.name} disagrees with the hand loop after ${checkSteps} steps: relative error ${relErr.toExponential(2)} > ${tolerance}`)
        }
      }
      live.push({ inst, res, scale: c.scale ?? 1 })
    } catch (e) {
      res.skipped = `failed: ${(e as Error).message}`
      console.log(`  SKIPPED ${c.name}: ${(e as Error).message}`)
      try {
        await inst?.dispose()
      } catch {
        // already reported
      }
    }
  }
  const gradsLive = [...leavesOf(grads, data.sizes.length), ...leavesOf(wasmGrads, data.sizes.length), ...(gpuGrads ? leavesOf(gpuGrads, data.sizes.length) : [])].every((x) => x.backend.isLive(x))
  if (!gradsLive) throw new Error('a candidate released the shared gradients')
  refs.clear()

  let before: { fluxion: number; wasm: number; gpu: number; tfjs: number } | undefined
  for (let r = 0; r < warmRounds + reps; r++) {
    if (r === warmRounds) before = { fluxion: cpuB.liveCount(), wasm: wasmB.liveCount(), gpu: gpu?.liveCount() ?? 0, tfjs: tf.memory().numTensors }
    const order = live.map((_, j) => live[(r + j) % live.length]!)
    for (const entry of order) {
      const { inst, res, scale } = entry
      try {
        await inst.before?.()
        const t0 = performance.now()
        const out = inst.step()
        if (out) await out
        const dt = performance.now() - t0
        if (r >= warmRounds) res.samplesMs.push(dt * scale)
      } catch (e) {
        // a candidate that throws mid-run is dropped (its samples too), the others go on
        res.skipped = `failed in round ${r}: ${(e as Error).message}`
        res.samplesMs = []
        console.log(`  DROPPED ${res.name}: ${res.skipped}`)
        live.splice(live.indexOf(entry), 1)
        try {
          await inst.dispose()
        } catch {
          // its handles may be half-released
        }
        if (r >= warmRounds) before = undefined
      }
    }
  }
  before ??= { fluxion: NaN, wasm: NaN, gpu: NaN, tfjs: NaN } // a dropped candidate makes the counts incomparable
  const memory = {
    fluxionLiveBefore: before.fluxion,
    fluxionLiveAfter: cpuB.liveCount(),
    wasmLiveBefore: before.wasm,
    wasmLiveAfter: wasmB.liveCount(),
    gpuLiveBefore: before.gpu,
    gpuLiveAfter: gpu?.liveCount() ?? 0,
    tfjsTensorsBefore: before.tfjs,
    tfjsTensorsAfter: tf.memory().numTensors,
    rssMB: Math.round(process.memoryUsage().rss / 2 ** 20),
  }
  const flat = memory.fluxionLiveAfter === memory.fluxionLiveBefore && memory.wasmLiveAfter === memory.wasmLiveBefore && memory.gpuLiveAfter === memory.gpuLiveBefore && memory.tfjsTensorsAfter === memory.tfjsTensorsBefore
  if (!Number.isNaN(before.fluxion) && !flat) {
    console.log(`  WARNING: live tensors changed over the timed rounds: ${JSON.stringify(memory)}`)
  }
  for (const { inst } of live) await inst.dispose()
  dispose([grads, wasmGrads, gpuGrads])
  await cpuB.destroy()
  await wasmB.destroy()
  for (const res of results) {
    if (res.samplesMs.length === 0) continue
    res.median = median(res.samplesMs)
    res.min = Math.min(...res.samplesMs)
    res.max = Math.max(...res.samplesMs)
  }
  const copy = results.find((x) => x.group === 'copy')?.median
  // the copy moved 16 B/param in (median × 16/28) ms
  const copyBandwidthGBps = copy ? (16 * n) / ((copy * 16) / 28 / 1000) / 1e9 : undefined
  return { size: n, layout, leafSizes: data.sizes, reps, warmRounds, results, ratios: caseRatios(results, gpu), copyBandwidthGBps, memory }
}

// ---- ratios and printing -------------------------------------------------------------------------

const med = (results: readonly Result[], name: string): number | undefined => results.find((r) => r.name === name)?.median

const caseRatios = (results: readonly Result[], gpu: Backend | undefined): Record<string, number> => {
  const pairs: [string, string, string][] = [
    ['wasm-fused/hand-in-place', 'fluxion wasm fused', 'hand in-place JS'],
    ['wasm-fused/hand-wasm', 'fluxion wasm fused', 'hand WASM SIMD in-place'],
    ['wasm-fused-no-donation/hand-wasm', 'fluxion wasm fused, no donation', 'hand WASM SIMD in-place'],
    ['tfjs-wasm/wasm-fused', 'tfjs-wasm 4.22 train.adam', 'fluxion wasm fused'],
    ['wasm-chain-fused/wasm-fused-adam', 'chain: fluxion wasm fused', 'fluxion wasm fused'],
    ['wasm-unfused/wasm-fused', 'fluxion wasm unfused', 'fluxion wasm fused'],
    ['wasm-fused/roofline', 'fluxion wasm fused', 'roofline (28 B/param copy)'],
    ['hand-wasm/roofline', 'hand WASM SIMD in-place', 'roofline (28 B/param copy)'],
    ['fused/hand-in-place', 'fluxion fused', 'hand in-place JS'],
    ['fused-no-donation/hand-in-place', 'fluxion fused, no donation', 'hand in-place JS'],
    ['unfused/hand-in-place', 'fluxion unfused', 'hand in-place JS'],
    ['unfused/fused', 'fluxion unfused', 'fluxion fused'],
    ['chain-fused/fused-adam', 'chain: fluxion fused', 'fluxion fused'],
    ['chain-fused/chain-hand', 'chain: fluxion fused', 'chain: hand fused JS'],
    ['chain-unfused/chain-fused', 'chain: fluxion unfused', 'chain: fluxion fused'],
    ['fused/tfjs-wasm', 'fluxion fused', 'tfjs-wasm 4.22 train.adam'],
    ['fused/tfjs-cpu', 'fluxion fused', 'tfjs-cpu 4.22 train.adam'],
    ['unfused/tfjs-wasm', 'fluxion unfused', 'tfjs-wasm 4.22 train.adam'],
    ['fused/roofline', 'fluxion fused', 'roofline (28 B/param copy)'],
    ['hand-in-place/roofline', 'hand in-place JS', 'roofline (28 B/param copy)'],
    ['tfjs-wasm/roofline', 'tfjs-wasm 4.22 train.adam', 'roofline (28 B/param copy)'],
    ...(gpu
      ? ([
          [`${gpu.name}-fused/hand-in-place`, `fluxion ${gpu.name} fused`, 'hand in-place JS'],
          [`${gpu.name}-unfused/hand-in-place`, `fluxion ${gpu.name} unfused`, 'hand in-place JS'],
        ] as [string, string, string][])
      : []),
  ]
  const out: Record<string, number> = {}
  for (const [label, a, b] of pairs) {
    const x = med(results, a)
    const y = med(results, b)
    if (x !== undefined && y !== undefined && y > 0) out[label] = x / y
  }
  return out
}

const fmt = (ms: number): string => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3))
const sizeName = (n: number) => {
  const e = Math.log10(n)
  return Number.isInteger(e) ? `1e${e}` : String(n)
}

const printCase = (c: CaseResult) => {
  const s = c.leafSizes
  const shape = s.length === 1 ? `[${s[0]}]` : `sizes ${s[0]}…${s[s.length - 1]}`
  console.log(`\nn = ${sizeName(c.size)}, ${layoutName(c.layout)} (${shape}); median of ${c.reps} interleaved steps after ${checkSteps} checked + ${c.warmRounds} warm-up`)
  const hand = med(c.results, 'hand in-place JS')
  const rows = c.results.map((r) => {
    if (r.median === undefined) return [r.name, '—', '—', '', r.skipped ?? 'skipped']
    const check = r.check ? (r.check.ok ? `ok ${r.check.relErr.toExponential(0)}` : `BAD ${r.check.relErr.toExponential(1)}`) : r.group === 'copy' ? '' : 'reference'
    return [r.name, fmt(r.median), `${fmt(r.min!)}–${fmt(r.max!)}`, hand ? `${(r.median / hand).toFixed(2)}×` : '', check]
  })
  const head = ['candidate', 'median ms', 'min–max ms', 'vs hand', 'check']
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  const line = (cells: readonly string[]) => cells.map((x, i) => (i === 0 || i === 4 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join('  ').trimEnd()
  console.log('  ' + line(head))
  for (const r of rows) console.log('  ' + line(r))
  const ratios = Object.entries(c.ratios).map(([k, v]) => `${k} ${v.toFixed(2)}×`)
  if (c.copyBandwidthGBps !== undefined) ratios.push(`(copy bandwidth ${c.copyBandwidthGBps.toFixed(1)} GB/s)`)
  if (ratios.length) console.log('  ratios: ' + ratios.join(' | '))
}

// ---- main ----------------------------------------------------------------------------------------

// tfjs-backend-cpu's one-time advice to install tfjs-node is noise here
const warn = console.warn
console.warn = (...a: unknown[]) => {
  if (typeof a[0] === 'string' && a[0].includes('looks like you are running TensorFlow.js in Node.js')) return
  warn(...a)
}

const machine = (phase: 'start' | 'end') => ({ [`loadavg_${phase}`]: os.loadavg().map((x) => Number(x.toFixed(2))) })
const gitCommit = (() => {
  try {
    const head = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: here, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', '.'], { cwd: resolve(here, '..'), encoding: 'utf8' }).trim() !== ''
    return `${head}${dirty ? ' (dirty)' : ''}`
  } catch {
    return undefined
  }
})()
const info: Record<string, unknown> = {
  date: new Date().toISOString(),
  cpu: os.cpus()[0]?.model,
  cpuCount: os.cpus().length,
  totalMemGB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
  os: `${os.platform()} ${os.release()} ${os.arch()}`,
  node: process.version,
  v8: process.versions.v8,
  git: gitCommit,
  ...machine('start'),
}

for (const b of ['cpu', 'wasm'] as const) {
  try {
    await useTfBackend(b)
    tfjsBackends.add(b)
  } catch (e) {
    notes.push(`tfjs-${b} unavailable, skipped: ${(e as Error).message}`)
  }
}
if (tfjsBackends.has('wasm')) {
  await useTfBackend('wasm')
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'))
  const threads = Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'))
  const binary = `tfjs-backend-wasm${threads ? '-threaded' : ''}${simd ? '-simd' : ''}.wasm`
  info.tfjsWasm = { simd, multithread: threads, threadsCount: tfwasm.getThreadsCount(), binary, paths: 'default (the package dist/ folder; no setWasmPaths needed in Node)' }
}
let gpu: Backend | undefined
if (gpuMode) {
  try {
    gpu = await createGpuBackend({ mode: gpuMode })
  } catch (e) {
    notes.push(`--gpu=${gpuMode}: ${(e as Error).message}; gpu candidates skipped`)
  }
}

console.log(`One optimizer step (update + apply), ms per step. ${info.cpu} ×${info.cpuCount}, node ${process.version}, load ${(info.loadavg_start as number[]).join(' ')}`)
if (info.tfjsWasm) {
  const w = info.tfjsWasm as { binary: string; threadsCount: number }
  console.log(`tfjs-wasm: ${w.binary}, ${w.threadsCount} thread(s)`)
}
console.log(`Adam: lr ${lr}, b1 ${b1}, b2 ${b2}, eps ${eps}; chain = clipByGlobalNorm(${maxNorm}) → scaleByAdam → addDecayedWeights(${wd}) → scaleByLearningRate(${lr})`)
const load = (info.loadavg_start as number[])[0]!
if (load > 0.5 * os.cpus().length) notes.push(`the 1-minute load average is ${load} on ${os.cpus().length} CPUs: other work is running, expect wide min–max ranges`)
for (const n of notes) console.log(`note: ${n}`)

const cases: CaseResult[] = []
const cross: Record<string, number> = {}
const started = performance.now()
for (const n of sizes) {
  for (const layout of ['one', 'mixed'] as const) {
    const c = await timeCase(n, layout, gpu)
    cases.push(c)
    printCase(c)
  }
  const [one, mixed] = cases.slice(-2)
  const xs: string[] = []
  for (const name of ['fluxion wasm fused', 'fluxion fused', 'fluxion unfused', 'hand in-place JS', 'tfjs-wasm 4.22 train.adam']) {
    const a = med(mixed!.results, name)
    const b = med(one!.results, name)
    if (a !== undefined && b !== undefined) {
      const label = `${sizeName(n)} ${name} 50-leaves/1-leaf`
      cross[label] = a / b
      xs.push(`${name} ${(a / b).toFixed(2)}×`)
    }
  }
  if (xs.length) console.log(`\nn = ${sizeName(n)}, 50 leaves / 1 leaf (consecutive blocks, not interleaved): ${xs.join(' | ')}`)
}
await gpu?.destroy()
Object.assign(info, machine('end'))
const seconds = (performance.now() - started) / 1000

const report = {
  machine: info,
  settings: { sizes, reps: sizes.map(repsFor), checkSteps, warmRounds: sizes.map(warmRoundsFor), tolerance, layouts: ['one', 'mixed'], leafCount, gpu: gpuMode ?? null, hyperparameters: { lr, b1, b2, eps, maxNorm, wd } },
  notes,
  seconds: Number(seconds.toFixed(1)),
  cases,
  crossLayoutRatios: cross,
}
mkdirSync(dirname(jsonPath), { recursive: true })
writeFileSync(jsonPath, JSON.stringify(report, null, 2) + '\n')
console.log(`\n${seconds.toFixed(0)} s; raw samples, ratios and machine info in ${jsonPath}`)
