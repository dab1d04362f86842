import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { type AnyTransformation, type Params, adam, applyUpdates, dispose, fromArray, liveTensors, read, scope, sgd } from '../src/index.js'
import { backends, gpus } from './backends.js'

describe.each(backends)('no leaks on $name', (backend) => {
  const cases: [string, () => AnyTransformation][] = [
    ['adam', () => adam({ learningRate: 0.01 })],
    ['sgd with Nesterov momentum', () => sgd({ learningRate: 0.01, momentum: 0.9, nesterov: true })],
  ]
  it.each(cases)('%s: the live-handle count after 1,000 steps equals the count after 10', async (_n, make) => {
    const opt = make()
    const initial = liveTensors(backend)
    let params: Params = { w: fromArray(Array.from({ length: 64 }, (_, i) => i / 64), [8, 8], backend), b: fromArray([0, 1], [2], backend) }
    let state = opt.init(params)
    const base = liveTensors(backend)
    let after10 = -1
    for (let step = 1; step <= 1000; step++) {
      // gradient of ½‖θ‖²
      const grads: Params = params
      const [p2, s2] = scope((): readonly [Params, unknown] => {
        const [u, s] = opt.update(grads, state, params)
        return [applyUpdates(params, u), s] as const
      })
      dispose([params, state], [p2, s2])
      params = p2
      state = s2
      if (step === 10) after10 = liveTensors(backend)
    }
    expect(after10).toBe(base)
    expect(liveTensors(backend)).toBe(after10)
    const w = await read((params as { w: never }).w)
    expect(Math.abs(w[63]!)).toBeLessThan(63 / 64) // it did optimise
    dispose([params, state])
    expect(liveTensors(backend)).toBe(initial)
  })
})

describe.each(gpus.map((g) => g.name.replace('gpu:', '')))('process lifecycle with gpu:%s', (mode) => {
  it('a process that destroys its backend exits by itself', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/fixtures/exit.ts', mode], { timeout: 60_000, encoding: 'utf8', env: process.env })
    expect(r.error).toBeUndefined()
    expect(r.signal).toBeNull()
    expect(r.status).toBe(0)
    expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toHaveLength(3)
  })

  it('survives garbage collections after destroy, and a second backend after the first (three runs)', () => {
    for (let run = 0; run < 3; run++) {
      const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', 'test/fixtures/exit.ts', mode, mode === 'webgpu' ? 'webasm' : 'webgpu', mode], { timeout: 90_000, encoding: 'utf8', env: process.env })
      expect(r.signal, `run ${run}: ${r.stderr}`).toBeNull()
      expect(r.status, `run ${run}: ${r.stderr}`).toBe(0)
      expect(r.stdout.trim().split('\n')).toHaveLength(3)
    }
  }, 300_000)
})
