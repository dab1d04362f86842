/**
 * A per-test limit that fires even when the event loop is blocked. vitest's own `testTimeout` is a
 * timer on the test's event loop, and Dawn on SwiftShader can block that loop for minutes, so a
 * stuck WebGPU test once ran 841 s past a 120 s timeout. Here a worker thread, which has its own
 * event loop, watches the start time of the running test (shared memory); past the hard limit it
 * names the test on stderr and kills this test process, so vitest reports the file as failed
 * instead of the run hanging. `FLUXION_TEST_HARD_LIMIT_S` sets the limit (default 300 s).
 */
import { Worker } from 'node:worker_threads'
import { afterEach, beforeEach } from 'vitest'

const limitSeconds = Number(process.env.FLUXION_TEST_HARD_LIMIT_S ?? 300)
if (!(limitSeconds > 0)) throw new Error(`FLUXION_TEST_HARD_LIMIT_S must be a number of seconds > 0, got ${process.env.FLUXION_TEST_HARD_LIMIT_S}`)

const nameCapacity = 2048
const memory = new SharedArrayBuffer(16 + nameCapacity)
const startedAt = new BigInt64Array(memory, 0, 1) // ms since the epoch; 0 while no test runs
const nameLength = new Int32Array(memory, 8, 1)
const nameBytes = new Uint8Array(memory, 16, nameCapacity)

const watch = (label: string) => {
  const bytes = new TextEncoder().encode(label).subarray(0, nameCapacity)
  nameBytes.set(bytes)
  Atomics.store(nameLength, 0, bytes.length)
  Atomics.store(startedAt, 0, BigInt(Date.now()))
}

const watcherSource = `
const { workerData } = require('node:worker_threads')
const { writeSync } = require('node:fs')
const { memory, limitMs, pid } = workerData
const startedAt = new BigInt64Array(memory, 0, 1)
const nameLength = new Int32Array(memory, 8, 1)
const nameBytes = new Uint8Array(memory, 16)
setInterval(() => {
  const t = Number(Atomics.load(startedAt, 0))
  if (t === 0 || Date.now() - t <= limitMs) return
  const name = new TextDecoder().decode(nameBytes.slice(0, Atomics.load(nameLength, 0)))
  writeSync(2, '\\n[fluxion watchdog] "' + name + '" has run ' + Math.round((Date.now() - t) / 1000) + ' s, past the hard limit of ' + limitMs / 1000 + ' s (FLUXION_TEST_HARD_LIMIT_S), with its event loop blocked; killing test process ' + pid + '\\n')
  process.kill(pid, 'SIGKILL')
}, 1000)
`

const g = globalThis as { __fluxionWatchdog?: Worker }
if (!g.__fluxionWatchdog) {
  g.__fluxionWatchdog = new Worker(watcherSource, { eval: true, workerData: { memory, limitMs: limitSeconds * 1000, pid: process.pid } })
  g.__fluxionWatchdog.unref()
}
watch('loading a test file (imports and top-level awaits)')

interface Named {
  readonly name: string
  readonly suite?: Named
}
const fullName = (t: Named): string => (t.suite && t.suite.name !== '' ? `${fullName(t.suite)} > ${t.name}` : t.name)

beforeEach((context) => watch(fullName(context.task as Named)))
afterEach(() => {
  Atomics.store(startedAt, 0, 0n)
})
