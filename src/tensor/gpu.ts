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
 * Kernels are compiled per size and per elementwise op and layout, and kept in a least-recently-used
 * cache of `kernelCacheCapacity[mode]` entries per backend. An evicted kernel is destroyed once no call
 * queued on it is pending and no live tensor holds an output of it (a GL texture reads back through
 * the kernel that made it); needed again, it is compiled again.
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
  /** The kernel whose output `value` is, held until the value is freed (absent for host arrays). */
  readonly producer: CachedKernel | undefined
}

// a gpu.js kernel run shortcut; `kernel` is the kernel object gpu.js lists in `GPU.kernels`
type Kernel = ((...args: unknown[]) => DeviceValue | Promise<DeviceValue>) & { destroy?(): void; readonly kernel?: unknown }

/**
 * One compiled kernel in a backend's cache. `holds` counts what still needs the kernel alive: calls
 * launched but not yet run (a webgpu call may wait behind pending inputs) and live outputs whose
 * device value belongs to it (a GL texture reads back through the kernel that made it). An evicted
 * kernel is destroyed when its holds reach 0.
 */
interface CachedKernel {
  readonly run: Kernel
  holds: number
  evicted: boolean
}

interface GpuJs {
  GPU: {
    new (settings: { mode: string }): {
      createKernel(source: string, settings: Record<string, unknown>): Kernel
      destroy(): Promise<void> | void
      readonly kernels?: unknown[]
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

// kernels compute in float32 already: rounding to float32 (the cpu loop's Math.fround) is the identity
const float32 = (e: string): string => e.replace(/Math\.fround\(/g, '(')

const kernelSource = (op: ElementwiseOp, output: number, reads: readonly Read[]): string => {
  const params = [...op.inputs.map((n) => `in_${n}`), ...op.scalars].join(', ')
  const body = [
    ...op.inputs.map((n, k) => `const ${n} = ${readExpr(n, reads[k]!)};`),
    ...op.lets.map(([n, e]) => `const ${n} = ${float32(e)};`),
    `return ${float32(op.outputs[output]!)};`,
  ]
  return `function kernel(${params}) { ${body.join(' ')} }`
}

/**
 * The first stage of `reduceElementwise`: thread x evaluates output `output` of `op` at the indices
 * of its chunk and returns their sum (the second stage sums the chunks, as `sum` does). Loop names
 * use the `out_` prefix, which op names cannot take.
 */
const reduceSource = (op: ElementwiseOp, output: number, reads: readonly Read[]): string => {
  const params = [...op.inputs.map((n) => `in_${n}`), ...op.scalars].join(', ')
  const at = (name: string, r: Read): string =>
    r.kind === 'same' ? `in_${name}[out_i]` : r.kind === 'mod' ? (r.size === 1 ? `in_${name}[0]` : `in_${name}[out_i % ${r.size}]`) : `in_${name}[Math.floor(out_i / ${r.inner})]`
  const body = [
    ...op.inputs.map((n, k) => `const ${n} = ${at(n, reads[k]!)};`),
    ...op.lets.map(([n, e]) => `const ${n} = ${float32(e)};`),
    `out_acc += ${float32(op.outputs[output]!)};`,
  ]
  return (
    `function kernel(${params}) { let out_acc = 0.0; const out_start = this.thread.x * this.constants.chunk; ` +
    `for (let out_j = 0; out_j < this.constants.chunk; out_j++) { const out_i = out_start + out_j; if (out_i < this.constants.n) { ${body.join(' ')} } } return out_acc; }`
  )
}

const argumentTypes = (op: ElementwiseOp): Record<string, string> => {
  const types: Record<string, string> = {}
  for (const n of op.inputs) types[`in_${n}`] = 'Array'
  for (const n of op.scalars) types[n] = 'Float'
  return types
}

let webgpuInstalledByUs = 0

/**
 * @internal The most compiled kernels one gpu backend keeps, by mode. Kernels are specialised per
 * size and per elementwise op and layout, so an unbounded cache would grow with every distinct leaf
 * size (each kernel holds a compiled shader or WebAssembly module and its buffers); past this many
 * the least recently used one is dropped, destroyed once nothing pending or live needs it, and
 * compiled again if it is needed again. 256 holds the kernels of an optimizer step over a model with
 * a few dozen distinct leaf sizes; a model with more keeps correct results and bounded memory, but
 * recompiles kernels on every step. `webasm` keeps 96: every webasm kernel owns a
 * `WebAssembly.Memory`, and Chromium fits about 125 of them in a page (the 126th fails with "could
 * not allocate memory"; a destroyed kernel's memory is reclaimed).
 */
export const kernelCacheCapacity: Readonly<Record<GpuMode, number>> = Object.freeze({ webgpu: 256, webgl2: 256, headlessgl: 256, webasm: 96, cpu: 256 })

/** @internal What a gpu backend's kernel cache holds (see `kernelCacheStats`). */
export interface KernelCacheStats {
  /** The most kernels the cache holds (`kernelCacheCapacity` of the backend's mode). */
  readonly capacity: number
  /** Kernels in the cache, at most `capacity`. */
  readonly cached: number
  /** Evicted kernels not destroyed yet: a pending call or a live output still needs them. */
  readonly waiting: number
  /** Evicted kernels destroyed so far. */
  readonly destroyed: number
}

const cacheStats = new WeakMap<Backend, () => KernelCacheStats>()

/**
 * @internal The kernel cache of a gpu backend, or undefined for a backend that is not a gpu.js
 * backend. For tests; not part of the public API (not exported from `fluxion/gpu`).
 */
export const kernelCacheStats = (backend: Backend): KernelCacheStats | undefined => cacheStats.get(backend)?.()

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
  const glMode = mode === 'webgl2' || mode === 'headlessgl'
  const capacity = kernelCacheCapacity[mode]
  const live = new Set<number>()
  // least recently used first: a hit moves its entry to the end
  const kernels = new Map<string, CachedKernel>()
  const elementwiseIds = new WeakMap<ElementwiseOp, number>()
  let nextOpId = 0
  let destroyed = false
  let waiting = 0
  let destroyedKernels = 0

  const destroyKernel = (entry: CachedKernel) => {
    waiting--
    destroyedKernels++
    entry.run.destroy?.()
    // gpu.js's cpu-mode kernels do not leave the GPU's list of kernels when destroyed
    const list = gpu.kernels
    const i = list ? list.indexOf(entry.run.kernel) : -1
    if (i !== -1) list!.splice(i, 1)
  }
  // gpu.destroy() destroys every kernel it still knows of, so none is destroyed after it
  const letGo = (entry: CachedKernel) => {
    if (--entry.holds === 0 && entry.evicted && !destroyed) destroyKernel(entry)
  }

  const kernel = (key: string, source: string, settings: Record<string, unknown>): CachedKernel => {
    let entry = kernels.get(key)
    if (entry) {
      kernels.delete(key)
    } else {
      entry = { run: gpu.createKernel(source, { pipeline: true, immutable: true, tactic: 'precision', ...settings }), holds: 0, evicted: false }
      if (kernels.size >= capacity) {
        const [oldestKey, oldest] = kernels.entries().next().value!
        kernels.delete(oldestKey)
        oldest.evicted = true
        waiting++
        if (oldest.holds === 0) destroyKernel(oldest)
      }
    }
    kernels.set(key, entry)
    return entry
  }

  const make = (shape: readonly number[], value: DeviceValue | Promise<DeviceValue>, producer?: CachedKernel): Tensor => {
    if (isPromise(value)) value.catch(() => undefined) // surfaced by read(); avoid unhandled rejections
    // a host array (webasm, cpu modes) does not need the kernel that made it
    const holder = producer && (isPromise(value) || !(value instanceof Float32Array)) ? producer : undefined
    if (holder) holder.holds++
    const storage: GpuStorage = { value, readers: undefined, producer: holder }
    const t = new Tensor(backend, shape, storage)
    live.add(t.id)
    return track(t)
  }
  const storageOf = (t: Tensor): GpuStorage => t.storage as GpuStorage

  /**
   * Runs `entry`'s kernel once every input is available and returns the output as a tensor;
   * registers the call as a reader of each input, and holds the kernel until the call has run.
   */
  const launch = (shape: readonly number[], entry: CachedKernel, inputs: readonly Tensor[], args: readonly unknown[]): Tensor => {
    const values = inputs.map((t) => storageOf(t).value)
    const k = entry.run
    let result: DeviceValue | Promise<DeviceValue>
    entry.holds++
    try {
      if (values.some(isPromise)) result = Promise.all(values).then((vs) => k(...vs, ...args))
      else result = k(...values, ...args)
    } catch (e) {
      letGo(entry)
      throw e
    }
    const out = make(shape, result, entry)
    if (isPromise(result)) {
      const settled = result.then(() => undefined, () => undefined)
      void settled.then(() => letGo(entry))
      for (const t of inputs) {
        const s = storageOf(t)
        s.readers = s.readers ? Promise.all([s.readers, settled]).then(() => undefined) : settled
      }
    } else {
      letGo(entry)
    }
    return out
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
    return launch(shape, k, [t], [])
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
      return launch(shape, k, [], [copy])
    },
    fill: (shape, value) => {
      checkAlive()
      return emptyOr(shape, () => {
        const n = shapeSize(shape)
        const k = kernel(`fill#${n}`, 'function kernel(v) { return v; }', { output: [n], argumentTypes: { v: 'Float' } })
        return launch(shape, k, [], [value])
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
        return launch(shape, k, inputs, scalars)
      })
    },
    reduceElementwise: (op, inputs, scalars, layout) => {
      checkAlive()
      const { size: n, reads } = layout
      if (n === 0) return op.outputs.map(() => backend.fill([], 0))
      let opId = elementwiseIds.get(op)
      if (opId === undefined) elementwiseIds.set(op, (opId = nextOpId++))
      const readKey = JSON.stringify(reads)
      const chunk = Math.max(1, Math.ceil(Math.sqrt(n)))
      const parts = Math.ceil(n / chunk)
      const total =
        'function kernel(a) { let s = 0.0; const start = this.thread.x * this.constants.chunk; ' +
        'for (let j = 0; j < this.constants.chunk; j++) { const i = start + j; if (i < this.constants.n) { s += a[i]; } } return s; }'
      return op.outputs.map((_, i) => {
        const stage1 = kernel(`reduce:${op.name}/${opId}/${i}#${n}/${readKey}`, reduceSource(op, i, reads), { output: [parts], constants: { chunk, n }, argumentTypes: argumentTypes(op) })
        const partial = launch([parts], stage1, inputs, scalars)
        const stage2 = kernel(`sum2#${parts}`, total, { output: [1], constants: { chunk: parts, n: parts }, argumentTypes: { a: 'Array' } })
        const sum = launch([], stage2, [partial], [])
        backend.release(partial)
        return sum
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
      return launch([m, n], kern, [a, b], [])
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
      const partialTensor = launch([parts], stage1, [t], [])
      const stage2 = kernel(`sum2#${parts}`, source, { output: [1], constants: { chunk: parts, n: parts }, argumentTypes: { a: 'Array' } })
      const total = launch([], stage2, [partialTensor], [])
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
      if (v instanceof Float32Array) return v.slice()
      // a settled GL texture reads back synchronously (readPixels); webgpu's toArray is a Promise
      if (!glMode || isPromise(v)) return undefined
      const arr = v.toArray() as Float32Array
      return arr instanceof Float32Array ? arr.slice() : Float32Array.from(arr as ArrayLike<number>)
    },
    release: (t) => {
      checkAlive()
      if (!live.delete(t.id)) throw new DisposedTensorError('', t.id)
      const s = storageOf(t)
      const free = (v: DeviceValue) => {
        if (!(v instanceof Float32Array)) v.delete?.()
      }
      const { producer } = s
      if (!isPromise(s.value) && s.readers === undefined) {
        free(s.value)
        if (producer) letGo(producer)
      } else {
        void Promise.all([s.value, s.readers])
          .then(([v]) => free(v), () => undefined)
          .then(() => producer && letGo(producer))
      }
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
      kernels.clear()
      await gpu.destroy()
      teardownNavigator()
    },
  }
  Object.freeze(backend)
  cacheStats.set(backend, () => ({ capacity, cached: kernels.size, waiting: destroyed ? 0 : waiting, destroyed: destroyedKernels }))
  return backend
}
