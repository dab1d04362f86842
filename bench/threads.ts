/**
 * Do worker threads pay for a memory-bound optimizer step on this machine? One in-place Adam step
 * (the hand-written SIMD kernel of hand-wasm.ts) over a shared WebAssembly.Memory, run by the main
 * thread alone and split in halves between the main thread and one worker (which waits on an
 * Atomics flag, so a step costs one notify and one wait, no message passing), interleaved A B A B,
 * medians of ≥ 7 after warm-up, min–max, the ratio from the same run; load printed.
 *
 *   npx tsx bench/threads.ts [--sizes=1e6,1e7] [--reps=15]
 */
import * as os from 'node:os'
import { parseArgs } from 'node:util'
import { Worker } from 'node:worker_threads'
import { wasmApi } from '../src/tensor/wasm/api.js'
import { handAdamModule } from './hand-wasm.js'

const { values: argv } = parseArgs({ options: { sizes: { type: 'string', default: '1e6,1e7' }, reps: { type: 'string', default: '15' } } })
const sizes = argv.sizes!.split(',').map(Number)
const reps = Math.max(7, Number(argv.reps))
const h = { b1: 0.9, b2: 0.999, eps: 1e-8 }
const maxPages = 16384 // 1 GiB
const bytes = handAdamModule(h, { minPages: 1, maxPages, shared: true })
const api = wasmApi()!
type Adam = (p: number, g: number, m: number, v: number, n: number, a: number, c: number) => void

const workerSource = `
const { parentPort, workerData } = require('node:worker_threads')
const { memory, bytes, flags } = workerData
const adam = new WebAssembly.Instance(new WebAssembly.Module(bytes), { m: { memory } }).exports.adam
const f = new Int32Array(flags)
const args = new Float64Array(flags, 16)
parentPort.postMessage('ready')
for (;;) {
  Atomics.wait(f, 0, 0)
  if (Atomics.load(f, 0) === 2) break
  adam(args[0], args[1], args[2], args[3], args[4], args[5], args[6])
  Atomics.store(f, 0, 0)
  Atomics.store(f, 1, 1)
  Atomics.notify(f, 1)
}
`

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

console.log(`threads for an in-place SIMD Adam step; ${os.cpus()[0]?.model} ×${os.cpus().length}, node ${process.version}, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`)
for (const n of sizes) {
  const memory = new api.Memory({ initial: Math.ceil((16 * n + 256) / 65536) + 1, maximum: maxPages, shared: true } as never)
  const adam = new api.Instance(new api.Module(bytes), { m: { memory } }).exports['adam'] as Adam
  const [p, g, m, v] = [0, 1, 2, 3].map((k) => 64 + k * Math.ceil((4 * n) / 64) * 64)
  const f32 = new Float32Array(memory.buffer)
  for (let i = 0; i < n; i++) {
    f32[p! / 4 + i] = Math.sin(i) * 0.1
    f32[g! / 4 + i] = Math.cos(i) * 0.02
  }
  const flags = new SharedArrayBuffer(16 + 8 * 8)
  const fl = new Int32Array(flags)
  const args = new Float64Array(flags, 16)
  const worker = new Worker(workerSource, { eval: true, workerData: { memory, bytes, flags } })
  await new Promise((r) => worker.once('message', r))
  let t = 0
  const scalars = () => {
    t++
    return [1e-3 / (1 - h.b1 ** t), 1 / (1 - h.b2 ** t)] as const
  }
  const one = () => {
    const [a, c] = scalars()
    adam(p!, g!, m!, v!, n, a, c)
  }
  const two = () => {
    const [a, c] = scalars()
    const half = Math.floor(n / 8) * 4 // a multiple of 4 elements
    const off = 4 * half
    args.set([p! + off, g! + off, m! + off, v! + off, n - half, a, c])
    Atomics.store(fl, 1, 0)
    Atomics.store(fl, 0, 1)
    Atomics.notify(fl, 0)
    adam(p!, g!, m!, v!, half, a, c)
    Atomics.wait(fl, 1, 0)
  }
  // check: one step split in two equals one step on one thread, bit for bit
  {
    const snap = () => [p!, m!, v!].map((ptr) => new Float32Array(memory.buffer, ptr, n).slice())
    const restore = (s: Float32Array[]) => [p!, m!, v!].forEach((ptr, k) => new Float32Array(memory.buffer, ptr, n).set(s[k]!))
    const start = snap()
    one()
    const a = snap()
    restore(start)
    t = 0
    two()
    const b = snap()
    restore(start)
    t = 0
    const same = a.every((x, k) => x.every((y, i) => Object.is(y, b[k]![i])))
    if (!same) throw new Error('the two-thread step differs from the one-thread step')
  }
  const cands = [
    { name: '1 thread', run: one, ms: [] as number[] },
    { name: '2 threads (main + 1 worker)', run: two, ms: [] as number[] },
  ]
  const warm = n >= 1e7 ? 3 : 10
  for (let r = 0; r < warm + reps; r++) {
    for (let j = 0; j < cands.length; j++) {
      const c = cands[(r + j) % cands.length]!
      const t0 = performance.now()
      c.run()
      const dt = performance.now() - t0
      if (r >= warm) c.ms.push(dt)
    }
  }
  Atomics.store(fl, 0, 2)
  Atomics.notify(fl, 0)
  await worker.terminate()
  console.log(`\nn = ${n.toExponential(0)}: median of ${reps} interleaved steps after ${warm} warm-up`)
  for (const c of cands) console.log(`  ${c.name.padEnd(28)} ${median(c.ms).toFixed(2).padStart(7)} ms  (${Math.min(...c.ms).toFixed(2)}–${Math.max(...c.ms).toFixed(2)})`)
  console.log(`  ratio 2 threads / 1 thread: ${(median(cands[1]!.ms) / median(cands[0]!.ms)).toFixed(2)}×`)
}
console.log(`\nload at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`)
