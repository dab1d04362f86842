/**
 * The backends every tensor test runs on: `cpu`, gpu.js `webasm`, and gpu.js `webgpu` when a WebGPU
 * adapter answers. `FLUXION_REQUIRE_WEBGPU=1` (set by .ci/run) turns a missing adapter into a
 * failure instead of a printed notice, so CI cannot silently drop the WebGPU path.
 */
import { afterAll } from 'vitest'
import { type Backend, UnsupportedError, cpu, createCpuBackend } from '../src/index.js'
import { createGpuBackend } from '../src/gpu.js'
import { reportBackend } from './backend-report.js'

// FLUXION_BACKENDS=cpu restricts a run to the cpu backend (used by mutation testing, which reruns
// the suite thousands of times); CI runs every backend.
const cpuOnly = process.env.FLUXION_BACKENDS === 'cpu'
const gpuBackends: Backend[] = cpuOnly ? [] : [await createGpuBackend({ mode: 'webasm' })]
if (!cpuOnly) {
  try {
    gpuBackends.push(await createGpuBackend({ mode: 'webgpu' }))
  } catch (e) {
    if (!(e instanceof UnsupportedError) || process.env.FLUXION_REQUIRE_WEBGPU === '1') throw e
    console.warn(`[fluxion tests] webgpu backend not tested here: ${e.message}`)
    reportBackend('gpu:webgpu', false, 'no WebGPU adapter in Node: apt-get install chromium-common libvulkan1 and export VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json (SwiftShader), or use a machine with a Vulkan driver')
  }
}
const skippedByRequest = 'FLUXION_BACKENDS=cpu was set'
if (cpuOnly) for (const name of ['gpu:webasm', 'gpu:webgpu']) reportBackend(name, false, skippedByRequest)
for (const b of [cpu, ...gpuBackends]) reportBackend(b.name, true)

afterAll(async () => {
  for (const b of gpuBackends) await b.destroy()
})

/** Every backend available in this run; the first is `cpu`. */
export const backends: readonly Backend[] = [cpu, ...gpuBackends]

/** A backend other than `b`: another one of this run, or an independent cpu backend when only cpu runs. */
export const otherThan = (b: Backend): Backend => backends.find((x) => x !== b) ?? spareCpu

const spareCpu = createCpuBackend('cpu:spare')

/** The gpu.js backends of this run. */
export const gpus: readonly Backend[] = gpuBackends
