/**
 * The MNIST demo's wall time (`npm run demo`, examples/mnist.ts: 12 epochs of the README's main job)
 * on the wasm engine against the JavaScript cpu backend, each run a fresh process, interleaved
 * (wasm, cpu, wasm, cpu, …), medians of ≥ 7 runs after one untimed warm-up run each (the first run
 * after a build pays the file-system cache), min–max, the ratio from the same run, and the test
 * accuracy of every run (the demo is seeded: it must be the same every time).
 *
 *   npx tsx bench/demo.ts [--reps=7] [--epochs=12] [--backends=wasm,cpu]
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import * as os from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

const { values: argv } = parseArgs({ options: { reps: { type: 'string', default: '7' }, epochs: { type: 'string', default: '12' }, backends: { type: 'string', default: 'wasm,cpu' } } })
const reps = Math.max(7, Number(argv.reps))
const backends = argv.backends!.split(',')
const dir = mkdtempSync(join(os.tmpdir(), 'fluxion-demo-bench-'))

interface Run { readonly seconds: number; readonly accuracy: number }
const runDemo = (backend: string): Run => {
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'examples/mnist.ts', `--backend=${backend}`, `--epochs=${argv.epochs}`, `--out=${join(dir, 'curve.png')}`], { encoding: 'utf8', env: { ...process.env, CI: '1' } })
  const seconds = Number(out.match(/\(([\d.]+) s total/)?.[1])
  const accuracy = Number(out.match(/test accuracy ([\d.]+)%/)?.[1])
  if (!Number.isFinite(seconds) || !Number.isFinite(accuracy)) throw new Error(`could not read the demo's output:\n${out}`)
  return { seconds, accuracy }
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

console.log(`MNIST demo (${argv.epochs} epochs) wall time; ${os.cpus()[0]?.model} ×${os.cpus().length}, node ${process.version}, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`)
const runs = new Map<string, Run[]>(backends.map((b) => [b, []]))
for (const b of backends) runDemo(b) // warm-up
for (let r = 0; r < reps; r++) {
  for (let j = 0; j < backends.length; j++) {
    const b = backends[(r + j) % backends.length]!
    const run = runDemo(b)
    runs.get(b)!.push(run)
    console.log(`  run ${r + 1}: ${b.padEnd(6)} ${run.seconds.toFixed(1)} s, test accuracy ${run.accuracy}%`)
  }
}
rmSync(dir, { recursive: true, force: true })
console.log(`\nmedian of ${reps} interleaved runs after one warm-up run each:`)
for (const [b, rs] of runs) {
  const s = rs.map((x) => x.seconds)
  const accs = [...new Set(rs.map((x) => x.accuracy))]
  console.log(`  ${b.padEnd(6)} ${median(s).toFixed(1)} s (${Math.min(...s).toFixed(1)}–${Math.max(...s).toFixed(1)}), test accuracy ${accs.join(', ')}%`)
}
if (backends.length > 1) {
  const [a, b] = backends.map((x) => median(runs.get(x)!.map((r) => r.seconds)))
  console.log(`  ratio ${backends[0]}/${backends[1]}: ${(a! / b!).toFixed(2)}×`)
}
console.log(`load at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`)
