/**
 * The backends every tensor test runs on: `cpu` (the float64-inside reference), `wasm` (the
 * WebAssembly SIMD engine), gpu.js `webasm`, and gpu.js `webgpu` when a WebGPU adapter answers.
 * `FLUXION_REQUIRE_WEBGPU=1` (set by .ci/run) turns a missing adapter into a failure instead of a
 * printed notice, so CI cannot silently drop the WebGPU path.
 *
 * `FLUXION_BACKENDS` restricts a run: `cpu` runs the cpu backend only (mutation testing, which
 * reruns the suite thousands of times); a comma-separated list (`cpu,wasm`) runs those.
 */
import { afterAll } from 'vitest'
import { type Backend, UnsupportedError, cpu, createCpuBackend, createWasmBackend } from '../src/index.js'
import { createGpuBackend } from '../src/gpu.js'
import { reportBackend } from './backend-report.js'

const requested = process.env.FLUXION_BACKENDS?.split(',').map((s) => s.trim()).filter((s) => s !== '')
const wanted = (name: string) => requested === undefined || requested.includes(name)
const skippedByRequest = `FLUXION_BACKENDS=${process.env.FLUXION_BACKENDS ?? ''} was set`

const wasmBackends: Backend[] = wanted('wasm') ? [createWasmBackend()] : []
const gpuBackends: Backend[] = wanted('gpu:webasm') ? [await createGpuBackend({ mode: 'webasm' })] : []
if (wanted('gpu:webgpu')) {
  try {
    gpuBackends.push(await createGpuBackend({ mode: 'webgpu' }))
  } catch (e) {
    if (!(e instanceof UnsupportedError) || process.env.FLUXION_REQUIRE_WEBGPU === '1') throw e
    console.warn(`[fluxion tests] webgpu backend not tested here: ${e.message}`)
    reportBackend('gpu:webgpu', false, 'no WebGPU adapter in Node: apt-get install chromium-common libvulkan1 and export VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json (SwiftShader), or use a machine with a Vulkan driver')
  }
}
for (const name of ['wasm', 'gpu:webasm', 'gpu:webgpu']) if (!wanted(name)) reportBackend(name, false, skippedByRequest)
for (const b of [cpu, ...wasmBackends, ...gpuBackends]) reportBackend(b.name, true)

afterAll(async () => {
  for (const b of [...wasmBackends, ...gpuBackends]) await b.destroy()
})

/** Every backend available in this run; the first is `cpu`. */
export const backends: readonly Backend[] = [cpu, ...wasmBackends, ...gpuBackends]

/** A backend other than `b`: another one of this run, or an independent cpu backend when only cpu runs. */
export const otherThan = (b: Backend): Backend => backends.find((x) => x !== b) ?? spareCpu

const spareCpu = createCpuBackend('cpu:spare')

/** The gpu.js backends of this run. */
export const gpus: readonly Backend[] = gpuBackends
