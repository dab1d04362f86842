/**
 * The backends every tensor test runs on: `cpu`, gpu.js `webasm`, and gpu.js `webgpu` when a WebGPU
 * adapter answers. `FLUXION_REQUIRE_WEBGPU=1` (set by .ci/run) turns a missing adapter into a
 * failure instead of a printed notice, so CI cannot silently drop the WebGPU path.
 */
import { afterAll } from 'vitest'
import { type Backend, UnsupportedError, cpu, createGpuBackend } from '../src/index.js'

const gpuBackends: Backend[] = [await createGpuBackend({ mode: 'webasm' })]
try {
  gpuBackends.push(await createGpuBackend({ mode: 'webgpu' }))
} catch (e) {
  if (!(e instanceof UnsupportedError) || process.env.FLUXION_REQUIRE_WEBGPU === '1') throw e
  console.warn(`[fluxion tests] webgpu backend not tested here: ${e.message}`)
}

afterAll(async () => {
  for (const b of gpuBackends) await b.destroy()
})

/** Every backend available in this run; the first is `cpu`. */
export const backends: readonly Backend[] = [cpu, ...gpuBackends]

/** The gpu.js backends of this run. */
export const gpus: readonly Backend[] = gpuBackends
