/**
 * Crash safety of `saveCheckpoint` (issue 12, item 4): a child process writes checkpoints of a few
 * MB in a loop (test/fixtures/checkpoint-writer.ts) and is killed with SIGKILL at random moments;
 * after every kill, `loadCheckpoint` must return the last checkpoint the child reported saved, or
 * the one it was writing (renamed into place before it could report it), whole: every value is
 * checked, and no file may be torn (none skipped). The kill times are seeded: the seed is printed,
 * and `FLUXION_CRASH_SEED=<seed>` replays the same fractions of the write time (the write time
 * itself is measured, so the moments are the same only on an equally loaded machine).
 * `FLUXION_CRASH_KILLS` sets the number of kills (default 50).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as esbuild from 'esbuild'
import { afterAll, describe, expect, it } from 'vitest'
import { cpu, dispose, liveTensors, readTree } from '../src/index.js'
import { listCheckpoints, loadCheckpoint } from '../src/node.js'
import { checkpointContent, writerKeep, writerOptimizer } from './fixtures/checkpoint-writer.js'

const kills = Number(process.env.FLUXION_CRASH_KILLS ?? 50)
const seed = Number(process.env.FLUXION_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31))
// 2^18 float32 per tensor: params, μ and ν are 3 MB, about 4 MB of JSON per checkpoint
const elements = 2 ** 18

/** mulberry32: a small seeded generator of numbers in [0, 1). */
const random = (s: number) => () => {
  s = (s + 0x6d2b79f5) | 0
  let x = Math.imul(s ^ (s >>> 15), 1 | s)
  x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x
  return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32
}

const median = (xs: readonly number[]): number | undefined => [...xs].sort((a, b) => a - b)[xs.length >> 1]

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Resolves when the child prints a line matching `test`. */
const lineFrom = (child: ChildProcess, lines: string[], test: (line: string) => boolean) =>
  new Promise<void>((resolve, reject) => {
    const check = () => (lines.some(test) ? resolve() : undefined)
    child.stdout!.on('data', check)
    child.on('exit', (code, signal) => reject(new Error(`the writer exited (${code ?? signal}) before it was ready`)))
    check()
  })

const sameValues = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((x, i) => Object.is(x, b[i]))

describe('checkpoint files survive SIGKILL at any moment', () => {
  const dirs: string[] = []
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  })

  it(`${kills} kills while writing: every load is the previous or the new checkpoint, whole`, async () => {
    console.log(`checkpoint crash test: seed ${seed} (FLUXION_CRASH_SEED=${seed} replays it), ${kills} kills`)
    const started = performance.now()
    const dir = await mkdtemp(join(tmpdir(), 'fluxion-crash-'))
    dirs.push(dir)
    const writer = join(dir, 'writer.mjs')
    await esbuild.build({
      entryPoints: [fileURLToPath(new URL('./fixtures/checkpoint-writer.ts', import.meta.url))],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      outfile: writer,
      logLevel: 'silent',
    })
    const file = join(dir, 'ckpt', 'model.json')
    const opt = writerOptimizer()
    const next = random(seed)
    const live = liveTensors(cpu)
    const outcomes = { previous: 0, unreported: 0, none: 0, midWrite: 0, savesSeen: 0 }
    const saveTimes: number[] = []
    const firstSaveTimes: number[] = []
    let verified = -1
    let runsWithoutCompletedSave = 0
    for (let k = 0; k < kills; k++) {
      const first = verified + 1
      const lines: string[] = []
      const child = spawn(process.execPath, [writer, file, String(first), String(elements)], { stdio: ['ignore', 'pipe', 'inherit'] })
      let buffered = ''
      let lastSaveAt = 0
      child.stdout!.on('data', (chunk: Buffer) => {
        buffered += chunk.toString()
        const parts = buffered.split('\n')
        buffered = parts.pop()!
        for (const line of parts) {
          const now = performance.now()
          if (line.startsWith('saved ')) (lines.some((l) => l.startsWith('saved ')) ? saveTimes : firstSaveTimes).push(now - lastSaveAt)
          if (line === 'ready' || line.startsWith('saved ')) lastSaveAt = now
          lines.push(line)
        }
      })
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
      await lineFrom(child, lines, (l) => l === 'ready')
      // Half the kills land anywhere in the next ~2.5 saves; the other half just before the
      // predicted end of the first or second save, where the file is written, synced and renamed
      // (a window of a few milliseconds that uniform kills would rarely hit).
      const save = median(saveTimes) ?? 400
      const firstSave = median(firstSaveTimes) ?? save
      const delay =
        next() < 0.5 || saveTimes.length === 0
          ? next() * Math.min(3000, Math.max(100, 2.5 * save))
          : Math.max(0, firstSave + (next() < 0.5 ? 0 : save) - next() * 0.4 * save)
      await sleep(delay)
      child.kill('SIGKILL')
      await exited
      const saved = lines.filter((l) => l.startsWith('saved ')).map((l) => Number(l.slice(6)))
      outcomes.savesSeen += saved.length
      const reported = saved.length > 0 ? saved[saved.length - 1]! : first - 1
      const entries = await readdir(join(dir, 'ckpt')).catch(() => [] as string[])
      if (entries.some((e) => e.includes('.tmp-'))) outcomes.midWrite++
      // a completed save leaves `keep` files; each later kill between a rename and the clean-up after
      // it can leave one more, until a save completes again
      runsWithoutCompletedSave = saved.length > 0 ? 0 : runsWithoutCompletedSave + 1
      expect(entries.filter((e) => /^model\.\d+\.json$/.test(e)).length).toBeLessThanOrEqual(writerKeep + 1 + runsWithoutCompletedSave)
      const loaded = await loadCheckpoint(file, opt, cpu, { onWarning: (m) => expect.fail(`no checkpoint may be torn, but: ${m}`) })
      if (loaded === undefined) {
        // killed before the very first checkpoint was renamed into place
        expect([verified, reported]).toEqual([-1, -1])
        expect(await listCheckpoints(file)).toEqual([])
        outcomes.none++
        continue
      }
      expect(loaded.skipped).toEqual([])
      expect([reported, reported + 1]).toContain(loaded.step)
      expect(loaded.step).toBeGreaterThanOrEqual(verified)
      if (loaded.step === reported) outcomes.previous++
      else outcomes.unreported++
      const want = checkpointContent(loaded.step, elements)
      const params = (await readTree(loaded.params)) as { w: Float32Array }
      const state = (await readTree(loaded.state)) as unknown as [{ count: number; mu: { w: Float32Array }; nu: { w: Float32Array } }, { count: number }]
      expect(sameValues(params.w, want.w)).toBe(true)
      expect(sameValues(state[0].mu.w, want.mu)).toBe(true)
      expect(sameValues(state[0].nu.w, want.nu)).toBe(true)
      expect([state[0].count, state[1].count]).toEqual([loaded.step, loaded.step])
      dispose([loaded.params, loaded.state])
      verified = loaded.step
    }
    expect(liveTensors(cpu)).toBe(live)
    const seconds = ((performance.now() - started) / 1000).toFixed(1)
    console.log(
      `checkpoint crash test: ${kills} kills in ${seconds} s (seed ${seed}); loaded the last reported checkpoint ${outcomes.previous} times, ` +
        `the unreported new one ${outcomes.unreported} times, none yet ${outcomes.none} times; ${outcomes.midWrite} kills left a temporary file (killed mid-write); ` +
        `${outcomes.savesSeen} saves reported, median save ${median(saveTimes)?.toFixed(0) ?? '?'} ms; last step ${verified}`,
    )
    // the kills must have landed in different phases, or the test proved little
    expect(outcomes.previous).toBeGreaterThan(0)
    expect(outcomes.midWrite).toBeGreaterThan(0)
  }, 180_000)
})
