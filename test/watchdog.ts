/**
 * A limit that fires even when the event loop is blocked. vitest's own `testTimeout` is a timer on
 * the test's event loop, and Dawn on SwiftShader can block that loop for minutes, so a stuck WebGPU
 * test once ran 841 s past a 120 s timeout. Here the test process's event loop beats a shared
 * heartbeat every 250 ms, and a worker thread (its own event loop) watches it: when no beat has
 * come for `FLUXION_TEST_HARD_LIMIT_S` seconds (default 300), the loop is blocked; the watcher
 * names the test or hook that was running on stderr and kills the test process, so vitest reports
 * the file as failed instead of the run hanging. A slow test whose loop still turns is left to
 * vitest's timeouts, which can fire then.
 */
import { Worker } from 'node:worker_threads'
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest'

const limitSeconds = Number(process.env.FLUXION_TEST_HARD_LIMIT_S ?? 300)
if (!(limitSeconds > 0)) throw new Error(`FLUXION_TEST_HARD_LIMIT_S must be a number of seconds > 0, got ${process.env.FLUXION_TEST_HARD_LIMIT_S}`)

const nameCapacity = 2048
const memory = new SharedArrayBuffer(16 + nameCapacity)
const lastBeat = new BigInt64Array(memory, 0, 1) // ms since the epoch
const nameLength = new Int32Array(memory, 8, 1)
const nameBytes = new Uint8Array(memory, 16, nameCapacity)

const beat = () => Atomics.store(lastBeat, 0, BigInt(Date.now()))
const running = (label: string) => {
  const bytes = new TextEncoder().encode(label).subarray(0, nameCapacity)
  nameBytes.set(bytes)
  Atomics.store(nameLength, 0, bytes.length)
  beat()
}

const watcherSource = `
const { workerData } = require('node:worker_threads')
const { writeSync } = require('node:fs')
const { memory, limitMs, pid } = workerData
const lastBeat = new BigInt64Array(memory, 0, 1)
const nameLength = new Int32Array(memory, 8, 1)
const nameBytes = new Uint8Array(memory, 16)
setInterval(() => {
  const silent = Date.now() - Number(Atomics.load(lastBeat, 0))
  if (silent <= limitMs) return
  const name = new TextDecoder().decode(nameBytes.slice(0, Atomics.load(nameLength, 0)))
  writeSync(2, '\\n[fluxion watchdog] the event loop has been blocked for ' + Math.round(silent / 1000) + ' s, past the hard limit of ' + limitMs / 1000 + ' s (FLUXION_TEST_HARD_LIMIT_S), in "' + name + '"; killing test process ' + pid + '\\n')
  process.kill(pid, 'SIGKILL')
}, 500)
`

const g = globalThis as { __fluxionWatchdog?: Worker }
if (!g.__fluxionWatchdog) {
  running('loading a test file (imports and top-level awaits)')
  setInterval(beat, 250).unref()
  g.__fluxionWatchdog = new Worker(watcherSource, { eval: true, workerData: { memory, limitMs: limitSeconds * 1000, pid: process.pid } })
  g.__fluxionWatchdog.unref()
}

interface Named {
  readonly name: string
  readonly suite?: Named
}
const fullName = (t: Named): string => (t.suite && t.suite.name !== '' ? `${fullName(t.suite)} > ${t.name}` : t.name)

beforeAll(() => running('the hooks and tests of a test file'))
beforeEach((context) => running(fullName(context.task as Named)))
afterEach((context) => running(`after ${fullName(context.task as Named)} (afterEach hooks, the next describe's beforeAll)`))
afterAll(() => running('the afterAll hooks of a test file'))
