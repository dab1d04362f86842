/**
 * The gpu.js backend. Tensors are device-resident gpu.js pipeline results (WebGPU storage buffers,
 * GL textures, or WebAssembly/cpu typed arrays, depending on the mode) and stay on the device between
 * operations. The mode is always chosen explicitly; nothing is auto-selected.
 *
 * gpu.js WebGPU kernels return Promises. A tensor handle hides that: its storage holds the pending
 * result, later operations queue behind it, and only `read` is asynchronous. Every kernel runs with
 * `pipeline: true, immutable: true`, so each call owns a fresh output; releasing a tensor deletes its
 * buffer once every operation that reads it has been submitted.
 *
 * Nothing here is loaded until `createGpuBackend` is called: gpu.js (an optional peer dependency)
 * through a dynamic `import()` that bundlers resolve as usual, and Dawn (the optional `webgpu`
 * package) only in Node, only for `webgpu` mode, only when `navigator.gpu` is absent, through an
 * import that bundlers leave alone, so a browser bundle never contains it.
 */
import { DisposedTensorError, UnsupportedError } from '../errors.js'
import { type Backend, type ElementwiseOp, type Read, Tensor, readOf, shapeSize, track } from './tensor.js'

/** The gpu.js modes fluxion accepts. `webgl2` and `headlessgl` need a GL context (a browser or the `gl` package). */
export type GpuMode = 'webgpu' | 'webgl2' | 'headlessgl' | 'webasm' | 'cpu'

export const gpuModes: readonly GpuMode[] = ['webgpu', 'webgl2', 'headlessgl', 'webasm', 'cpu']

/** Options of `createGpuBackend`. */
export interface GpuBackendOptions {
  /** The gpu.js mode, required: no silent auto-selection. */
  readonly mode: GpuMode
}

// A gpu.js pipeline result: a typed array (webasm, cpu) or a device object with toArray/delete.
type DeviceValue = Float32Array | { toArray(): Float32Array | Promise<Float32Array>; delete?(): void }

interface GpuStorage {
  readonly value: DeviceValue | Promise<DeviceValue>
  /** Settles once every operation queued so far that reads this tensor has been submitted. */
  readers: Promise<unknown> | undefined
}

type Kernel = (...args: unknown[]) => DeviceValue | Promise<DeviceValue>

interface GpuJs {
  GPU: {
    new (settings: { mode: string }): {
      createKernel(source: string, settings: Record<string, unknown>): Kernel
      destroy(): Promise<void> | void
    }
    isWebGPUAvailable(): Promise<boolean>
    isHeadlessGLSupported: boolean
    isWebGL2Supported: boolean
    isWebAssemblySupported: boolean
  }
  WebGPUContext?: { destroy(): void }
}

const isPromise = <T>(v: unknown): v is Promise<T> => typeof (v as { then?: unknown })?.then === 'function'

const readExpr = (name: string, r: Read): string =>
  r.kind === 'same'
    ? `in_${name}[this.thread.x]`
    : r.kind === 'mod'
      ? r.size === 1 ? `in_${name}[0]` : `in_${name}[this.thread.x % ${r.size}]`
      : `in_${name}[Math.floor(this.thread.x / ${r.inner})]`

const kernelSource = (op: ElementwiseOp, output: number, reads: readonly Read[]): string => {
  const params = [...op.inputs.map((n) => `in_${n}`), ...op.scalars].join(', ')
  const body = [
    ...op.inputs.map((n, k) => `const ${n} = ${readExpr(n, reads[k]!)};`),
    ...op.lets.map(([n, e]) => `const ${n} = ${e};`),
    `return ${op.outputs[output]};`,
  ]
  return `function kernel(${params}) { ${body.join(' ')} }`
}

const argumentTypes = (op: ElementwiseOp): Record<string, string> => {
  const types: Record<string, string> = {}
  for (const n of op.inputs) types[`in_${n}`] = 'Array'
  for (const n of op.scalars) types[n] = 'Float'
  return types
}

let webgpuInstalledByUs = 0

const runsInNode = (): boolean => typeof (globalThis as { process?: { versions?: { node?: unknown } } }).process?.versions?.node === 'string'

const loadGpuJs = async (): Promise<GpuJs> => {
  try {
    const m = (await import('gpu.js')) as unknown as GpuJs & { default?: GpuJs }
    return m.default?.GPU ? m.default : m
  } catch (e) {
    throw new UnsupportedError(`createGpuBackend needs the optional peer dependency 'gpu.js' (npm install gpu.js): ${(e as Error).message}`)
  }
}

// A specifier held in a variable: bundlers leave this import alone, so browser bundles never
// contain Dawn's native addon; Node resolves it from the caller's node_modules.
const dawnPackage = 'webgpu'
// One Dawn instance per process, created on first use and never dropped: Dawn 0.4.0 crashes or
// hangs in a later garbage collection when an instance whose device was destroyed is collected.
let dawnInstance: unknown
const loadDawn = async (): Promise<{ create(flags: string[]): unknown; globals: object }> => {
  try {
    return (await import(/* @vite-ignore */ /* webpackIgnore: true */ dawnPackage)) as { create(flags: string[]): unknown; globals: object }
  } catch (e) {
    throw new UnsupportedError(`createGpuBackend: webgpu mode in Node needs the optional peer dependency 'webgpu' (Dawn; npm install webgpu@0.4.0): ${(e as Error).message}`)
  }
}

/**
 * Creates a gpu.js backend in the given mode (import it from `fluxion/gpu`). Throws
 * `UnsupportedError` when the mode cannot run here (no WebGPU adapter, no GL context, `gpu.js` not
 * installed). In Node, `webgpu` mode loads Dawn from the optional `webgpu` package; call
 * `await backend.destroy()` when done so the process can exit.
 *
 * @example
 * ```ts
 * const gpu = await createGpuBackend({ mode: 'webasm' })
 * const t = fromArray([1, 2, 3], [3], gpu)
 * await read(t) // Float32Array [1, 2, 3]
 * await gpu.destroy()
 * ```
 */
export const createGpuBackend = async (options: GpuBackendOptions): Promise<Backend> => {
  const mode = options?.mode
  if (!gpuModes.includes(mode)) {
    throw new UnsupportedError(`createGpuBackend: mode = ${JSON.stringify(mode)} is invalid; expected one of ${gpuModes.join(', ')}`)
  }
  const gpujs = await loadGpuJs()
  let installedNavigator = false
  if (mode === 'webgpu') {
    const g = globalThis as { navigator?: { gpu?: unknown } }
    if (!g.navigator?.gpu) {
      if (!runsInNode()) throw new UnsupportedError(`createGpuBackend: mode 'webgpu' is not available here: this environment has no navigator.gpu (WebGPU)`)
      if (dawnInstance === undefined) {
        const dawn = await loadDawn()
        Object.assign(globalThis, dawn.globals)
        dawnInstance = dawn.create([])
      }
      Object.defineProperty(globalThis, 'navigator', { value: { gpu: dawnInstance }, configurable: true, writable: true })
      installedNavigator = true
      webgpuInstalledByUs++
    } else if (webgpuInstalledByUs > 0) {
      webgpuInstalledByUs++
      installedNavigator = true
    }
  }
  const { GPU } = gpujs
  const unavailable = (why: string) => new UnsupportedError(`createGpuBackend: mode '${mode}' is not available here: ${why}`)
  const teardownNavigator = () => {
    if (!installedNavigator) return
    installedNavigator = false
    if (--webgpuInstalledByUs === 0) {
      gpujs.WebGPUContext?.destroy()
      delete (globalThis as { navigator?: unknown }).navigator
    }
  }
  if (mode === 'webgpu' && !(await GPU.isWebGPUAvailable())) {
    teardownNavigator()
    throw unavailable(
      runsInNode()
        ? 'no WebGPU adapter answered (in Node on Linux, install a Vulkan driver, e.g. SwiftShader from Debian chromium with VK_ICD_FILENAMES)'
        : 'navigator.gpu exists but no WebGPU adapter answered (the browser may need WebGPU enabled, e.g. Chromium on Linux with --enable-unsafe-webgpu, and a secure origin)',
    )
  }
  if (mode === 'headlessgl' && !GPU.isHeadlessGLSupported) throw unavailable('the optional `gl` package is not installed')
  if (mode === 'webgl2' && !GPU.isWebGL2Supported) throw unavailable('no WebGL2 context (browsers only)')
  if (mode === 'webasm' && !GPU.isWebAssemblySupported) throw unavailable('WebAssembly is not supported')

  const gpu = new GPU({ mode })
  const live = new Set<number>()
  const kernels = new Map<string, Kernel>()
  const elementwiseIds = new WeakMap<ElementwiseOp, number>()
  let nextOpId = 0
  let destroyed = false

  const kernel = (key: string, source: string, settings: Record<string, unknown>): Kernel => {
    let k = kernels.get(key)
    if (!k) {
      k = gpu.createKernel(source, { pipeline: true, immutable: true, tactic: 'precision', ...settings })
      kernels.set(key, k)
    }
    return k
  }

  const make = (shape: readonly number[], value: DeviceValue | Promise<DeviceValue>): Tensor => {
    if (isPromise(value)) value.catch(() => undefined) // surfaced by read(); avoid unhandled rejections
    const storage: GpuStorage = { value, readers: undefined }
    const t = new Tensor(backend, shape, storage)
    live.add(t.id)
    return track(t)
  }
  const storageOf = (t: Tensor): GpuStorage => t.storage as GpuStorage

  /** Runs `k` once every input is available; registers the call as a reader of each input. */
  const launch = (k: Kernel, inputs: readonly Tensor[], scalars: readonly number[]): DeviceValue | Promise<DeviceValue> => {
    const values = inputs.map((t) => storageOf(t).value)
    let result: DeviceValue | Promise<DeviceValue>
    if (values.some(isPromise)) result = Promise.all(values).then((vs) => k(...vs, ...scalars))
    else result = k(...values, ...scalars)
    if (isPromise(result)) {
      const settled = result.then(() => undefined, () => undefined)
      for (const t of inputs) {
        const s = storageOf(t)
        s.readers = s.readers ? Promise.all([s.readers, settled]).then(() => undefined) : settled
      }
    }
    return result
  }

  const checkAlive = () => {
    if (destroyed) throw new UnsupportedError(`backend ${backend.name} was destroyed`)
  }

  const emptyOr = (shape: readonly number[], f: () => Tensor): Tensor =>
    shapeSize(shape) === 0 ? make(shape, new Float32Array(0)) : f()

  const reduceTo = (t: Tensor, shape: readonly number[], op: 'sum' | 'max'): Tensor => {
    checkAlive()
    const m = shapeSize(shape)
    if (m === 0) return make(shape, new Float32Array(0))
    if (t.size === 0) return backend.fill(shape, op === 'sum' ? 0 : -Infinity)
    const r = readOf(shape, t.shape)!
    const [init, combine] = op === 'sum' ? ['0.0', (x: string) => `s += ${x};`] : ['-3.4028234e38', (x: string) => `s = Math.max(s, ${x});`]
    const source =
      r.kind === 'div'
        ? `function kernel(a) { let s = ${init}; const start = this.thread.x * this.constants.inner; ` +
          `for (let j = 0; j < this.constants.inner; j++) { ${combine('a[start + j]')} } return s; }`
        : `function kernel(a) { let s = ${init}; ` +
          `for (let r = 0; r < this.constants.rows; r++) { ${combine('a[r * this.constants.cols + this.thread.x]')} } return s; }`
    const constants = r.kind === 'div' ? { inner: r.inner } : { rows: t.size / m, cols: m }
    const k = kernel(`${op}To/${r.kind}#${t.size}->${m}`, source, { output: [m], constants, argumentTypes: { a: 'Array' } })
    return make(shape, launch(k, [t], []))
  }

  const backend: Backend = {
    name: `gpu:${mode}`,
    fromData: (values, shape) => {
      checkAlive()
      const n = shapeSize(shape)
      if (values.length !== n) throw new RangeError(`fromData: ${values.length} values for shape [${shape.join(', ')}]`)
      const copy = Float32Array.from(values)
      if (mode === 'webasm' || mode === 'cpu' || n === 0) return make(shape, copy)
      const k = kernel(`upload#${n}`, 'function kernel(a) { return a[this.thread.x]; }', { output: [n], argumentTypes: { a: 'Array' } })
      return make(shape, k(copy))
    },
    fill: (shape, value) => {
      checkAlive()
      return emptyOr(shape, () => {
        const n = shapeSize(shape)
        const k = kernel(`fill#${n}`, 'function kernel(v) { return v; }', { output: [n], argumentTypes: { v: 'Float' } })
        return make(shape, k(value))
      })
    },
    elementwise: (op, inputs, scalars, layout) => {
      checkAlive()
      const { shape, size: n, reads } = layout
      if (n === 0) return op.outputs.map(() => make(shape, new Float32Array(0)))
      let opId = elementwiseIds.get(op)
      if (opId === undefined) elementwiseIds.set(op, (opId = nextOpId++))
      const readKey = JSON.stringify(reads)
      return op.outputs.map((_, i) => {
        const k = kernel(`${op.name}/${opId}/${i}#${n}/${readKey}`, kernelSource(op, i, reads), { output: [n], argumentTypes: argumentTypes(op) })
        return make(shape, launch(k, inputs, scalars))
      })
    },
    sumTo: (t, shape) => reduceTo(t, shape, 'sum'),
    maxTo: (t, shape) => reduceTo(t, shape, 'max'),
    matmul: (a, b, ta, tb) => {
      checkAlive()
      const [m, k] = ta ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!]
      const n = tb ? b.shape[0]! : b.shape[1]!
      if (m * n === 0) return make([m, n], new Float32Array(0))
      if (k === 0) return backend.fill([m, n], 0)
      const ai = ta ? 'p * this.constants.m + i' : 'i * this.constants.k + p'
      const bi = tb ? 'j * this.constants.k + p' : 'p * this.constants.n + j'
      const source =
        'function kernel(a, b) { const i = Math.floor(this.thread.x / this.constants.n); const j = this.thread.x % this.constants.n; let s = 0.0; ' +
        `for (let p = 0; p < this.constants.k; p++) { s += a[${ai}] * b[${bi}]; } return s; }`
      const kern = kernel(`matmul/${ta}/${tb}#${m}x${k}x${n}`, source, { output: [m * n], constants: { m, n, k }, argumentTypes: { a: 'Array', b: 'Array' } })
      return make([m, n], launch(kern, [a, b], []))
    },
    sum: (t) => {
      checkAlive()
      const n = t.size
      if (n === 0) return backend.fill([], 0)
      const chunk = Math.max(1, Math.ceil(Math.sqrt(n)))
      const parts = Math.ceil(n / chunk)
      const source =
        'function kernel(a) { let s = 0.0; const start = this.thread.x * this.constants.chunk; ' +
        'for (let j = 0; j < this.constants.chunk; j++) { const i = start + j; if (i < this.constants.n) { s += a[i]; } } return s; }'
      const stage1 = kernel(`sum1#${n}`, source, { output: [parts], constants: { chunk, n }, argumentTypes: { a: 'Array' } })
      const partial = launch(stage1, [t], [])
      const stage2 = kernel(`sum2#${parts}`, source, { output: [1], constants: { chunk: parts, n: parts }, argumentTypes: { a: 'Array' } })
      const partialTensor = make([parts], partial)
      const total = make([], launch(stage2, [partialTensor], []))
      backend.release(partialTensor)
      return total
    },
    read: async (t) => {
      checkAlive()
      if (!live.has(t.id)) throw new DisposedTensorError('', t.id)
      const v = await storageOf(t).value
      if (v instanceof Float32Array) return v.slice()
      const arr = await v.toArray()
      return arr instanceof Float32Array ? arr.slice() : Float32Array.from(arr as ArrayLike<number>)
    },
    readSync: (t) => {
      checkAlive()
      if (!live.has(t.id)) throw new DisposedTensorError('', t.id)
      const v = storageOf(t).value
      return v instanceof Float32Array ? v.slice() : undefined
    },
    release: (t) => {
      checkAlive()
      if (!live.delete(t.id)) throw new DisposedTensorError('', t.id)
      const s = storageOf(t)
      const free = (v: DeviceValue) => {
        if (!(v instanceof Float32Array)) v.delete?.()
      }
      if (!isPromise(s.value) && s.readers === undefined) free(s.value)
      else void Promise.all([s.value, s.readers]).then(([v]) => free(v), () => undefined)
    },
    isLive: (t) => {
      checkAlive() // a destroyed backend's tensors are not "disposed": say what happened
      return live.has(t.id)
    },
    liveCount: () => live.size,
    destroy: async () => {
      if (destroyed) return
      destroyed = true
      live.clear()
      await gpu.destroy()
      teardownNavigator()
    },
  }
  return Object.freeze(backend)
}
