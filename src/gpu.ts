/**
 * fluxion/gpu: the gpu.js backend (WebGPU, WebGL2, headless GL, WebAssembly). Kept out of the main
 * entry so that a cpu-only user needs neither gpu.js nor Dawn: both are optional peer dependencies,
 * loaded when `createGpuBackend` is first called.
 *
 * @module fluxion/gpu
 */
export { createGpuBackend, gpuModes } from './tensor/gpu.js'
export type { GpuBackendOptions, GpuMode } from './tensor/gpu.js'
