import { afterEach, describe, expect, it } from 'vitest'
import { propertyParameters, runScale } from '../laws/runners.js'

const saved = { scale: process.env.FLUXION_RUN_SCALE, runs: process.env.FC_NUM_RUNS }
afterEach(() => {
  for (const [k, v] of [['FLUXION_RUN_SCALE', saved.scale], ['FC_NUM_RUNS', saved.runs]] as const) {
    if (v === undefined) delete process.env[k]
    else process.env[k] = v
  }
})

describe('run counts per backend (FLUXION_RUN_SCALE)', () => {
  it('scales the runs of the backends it lists, and only those, keeping at least one run', () => {
    delete process.env.FC_NUM_RUNS
    process.env.FLUXION_RUN_SCALE = 'gpu:webgpu=0.5, gpu:webasm = 2, wasm=0.25'
    expect(runScale('gpu:webgpu')).toBe(0.5)
    expect(runScale('wasm')).toBe(0.25)
    expect(runScale('gpu:webasm')).toBe(2)
    expect(runScale('cpu')).toBe(1)
    expect(runScale()).toBe(1)
    expect(propertyParameters(20, {}, 'gpu:webgpu').numRuns).toBe(10)
    expect(propertyParameters(20, {}, 'cpu').numRuns).toBe(20)
    expect(propertyParameters(1, {}, 'gpu:webgpu').numRuns).toBe(1)
    expect(propertyParameters(3, {}, 'gpu:webasm').numRuns).toBe(6)
  })

  it('FC_NUM_RUNS still sets the exact count', () => {
    process.env.FLUXION_RUN_SCALE = 'gpu:webgpu=0.5'
    process.env.FC_NUM_RUNS = '7'
    expect(propertyParameters(20, {}, 'gpu:webgpu').numRuns).toBe(7)
  })

  it.each(['webgpu=0.5', 'gpu:cuda=0.5'])('rejects an unknown backend name (%s)', (spec) => {
    process.env.FLUXION_RUN_SCALE = spec
    expect(() => runScale('gpu:webgpu')).toThrow(/FLUXION_RUN_SCALE names an unknown backend/)
  })

  it.each(['gpu:webgpu', 'gpu:webgpu=0', 'gpu:webgpu=-1', 'gpu:webgpu=half', '=0.5'])('rejects a malformed list (%s), naming it', (spec) => {
    process.env.FLUXION_RUN_SCALE = spec
    expect(() => runScale('gpu:webgpu')).toThrow(`FLUXION_RUN_SCALE must be a list of backend=factor with factors > 0 (e.g. gpu:webgpu=0.5), got ${JSON.stringify(spec)}`)
  })
})
