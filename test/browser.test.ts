/**
 * The library in a real browser: `src/index.ts` and `src/gpu.ts`, bundled by esbuild for the browser
 * exactly as published (no stubs, no shims), run in headless Chromium on fluxion's cpu and wasm backends and on
 * gpu.js webgl2, webgpu (both on SwiftShader when there is no GPU) and webasm. The page runs the same
 * Adam trajectory on each, with a saveState / loadState round trip in the middle; Node checks every
 * backend against cpu and against a float64 Adam written here from the paper. The same page takes
 * one `applyIfFinite(adam)` step with a NaN gradient on each backend (where the skip is decided, and
 * what happens to Adam's host step count), and overfills each gpu backend's kernel cache while an
 * output of an evicted kernel stays live. A second page trains the browser example
 * (examples/browser) and must lower its loss.
 *
 * Without Chromium (`apt-get install chromium` on Debian) the tests are skipped and reported as such,
 * unless FLUXION_REQUIRE_BROWSER=1 (CI), which turns that, and any backend the page cannot run, into
 * a failure.
 */
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Tolerance, allClose, float32Tolerance } from '../laws/allclose.js'
import { kernelCacheCapacity } from '../src/tensor/gpu.js'
import { reportBackend } from './backend-report.js'
import { type Bundle, type Served, bundleForBrowser, chromiumFlags, chromiumPath, haveChromium, launchChromium, serve, within } from './browser/harness.js'
import type { BackendResult, BrowserTestApi, TfjsPageResult, Trajectory, TrajectoryRequest } from './browser/protocol.js'

const required = process.env.FLUXION_REQUIRE_BROWSER === '1'
const pageBackends = ['cpu', 'wasm', 'webgl2', 'webgpu', 'webasm'] as const
const exampleBackends = ['cpu', 'webgl2', 'webgpu'] as const
const exampleSteps = 100
const noChromium = haveChromium()
  ? undefined
  : `no Chromium at ${chromiumPath}: install it (Debian: apt-get install chromium) or set FLUXION_CHROMIUM to a Chromium binary`
if (noChromium) for (const b of pageBackends) reportBackend(`browser:${b}`, false, noChromium)

// f(θ) = ½ Σ aᵢ (θᵢ − cᵢ)² over two leaves; every number is exact in float32, so float32 and float64
// start from the same point. b[3] starts at its minimum (gradient exactly 0: the update must be 0).
const request: TrajectoryRequest = {
  backends: pageBackends,
  learningRate: 0.1,
  steps: 20,
  saveAt: 8,
  leaves: {
    w: { shape: [2, 2], init: [1.5, -2, 3, -0.75], curvature: [1, 4, 0.25, 2], centre: [0.5, -1, 0, 0.25] },
    b: { shape: [4], init: [0.5, -0.5, 2, 0.125], curvature: [8, 0.5, 1, 3], centre: [-0.25, 0.5, 1.5, 0.125] },
  },
}

/**
 * Adam in float64, written from Kingma & Ba 2015 ("Adam: a method for stochastic optimization",
 * Algorithm 1), in the form fluxion's default (Optax) convention uses, ε outside the root:
 *   g ← ∇f(θ);  m ← β₁m + (1 − β₁)g;  v ← β₂v + (1 − β₂)g²;
 *   m̂ ← m / (1 − β₁ᵗ);  v̂ ← v / (1 − β₂ᵗ);  θ ← θ − α m̂ / (√v̂ + ε)
 * with β₁ = 0.9, β₂ = 0.999, ε = 1e-8.
 */
const adamFloat64 = (r: TrajectoryRequest): Trajectory => {
  const [b1, b2, eps] = [0.9, 0.999, 1e-8]
  const names = Object.keys(r.leaves)
  const theta = names.map((n) => [...r.leaves[n]!.init])
  const m = theta.map((t) => t.map(() => 0))
  const v = theta.map((t) => t.map(() => 0))
  const out: Record<string, number[]>[] = []
  for (let t = 1; t <= r.steps; t++) {
    names.forEach((n, j) => {
      const { curvature: a, centre: c } = r.leaves[n]!
      for (let i = 0; i < theta[j]!.length; i++) {
        const g = a[i]! * (theta[j]![i]! - c[i]!)
        m[j]![i] = b1 * m[j]![i]! + (1 - b1) * g
        v[j]![i] = b2 * v[j]![i]! + (1 - b2) * g * g
        const mHat = m[j]![i]! / (1 - b1 ** t)
        const vHat = v[j]![i]! / (1 - b2 ** t)
        theta[j]![i] = theta[j]![i]! - (r.learningRate * mHat) / (Math.sqrt(vHat) + eps)
      }
    })
    out.push(Object.fromEntries(names.map((n, j) => [n, [...theta[j]!]])))
  }
  return out
}

/** A trajectory as a tree for `allClose`: step number → leaf name → values, so paths read `step3.b[0]`. */
const byStep = (t: Trajectory, firstStep = 1) =>
  Object.fromEntries(t.map((step, k) => [`step${firstStep + k}`, Object.fromEntries(Object.entries(step).map(([n, v]) => [n, Float64Array.from(v)]))]))

const compare = (actual: Trajectory, expected: Trajectory, tol: Tolerance, firstStep = 1): string => {
  const c = allClose(byStep(actual, firstStep), byStep(expected, firstStep), tol)
  return c.ok ? 'ok' : c.message
}

const maxAbsDifference = (a: Trajectory, b: Trajectory): number => {
  let max = 0
  a.forEach((step, k) => {
    for (const [n, xs] of Object.entries(step)) xs.forEach((x, i) => (max = Math.max(max, Math.abs(x - b[k]![n]![i]!))))
  })
  return max
}

const exact = { rtol: 0, atol: 0 }

/** What examples/browser/main.ts keeps on `globalThis.fluxionDemo`. */
interface ExampleProgress {
  readonly losses: readonly number[]
  readonly backend: string
  readonly done: boolean
  readonly error?: string
}
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url))
const browserTimeoutMs = 60_000

/** Listens to a page: uncaught errors, console errors, failed requests and crashes all count. */
const watch = (page: Page, label: string, errors: string[]): Page => {
  page.on('pageerror', (e) => errors.push(`${label}: uncaught ${e.name}: ${e.message}`))
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`${label}: console.error: ${m.text()}`)
  })
  page.on('requestfailed', (r) => errors.push(`${label}: request failed: ${r.url()} (${r.failure()?.errorText})`))
  page.on('crash', () => errors.push(`${label}: the page crashed`))
  page.setDefaultTimeout(browserTimeoutMs)
  return page
}

describe('in headless Chromium', () => {
  const errors: string[] = []
  const started = performance.now()
  let browser: Browser | undefined
  let server: Awaited<ReturnType<typeof serve>> | undefined
  let results = new Map<string, BackendResult>()
  let bundled: { readonly testPage: Bundle; readonly example: Bundle } | undefined
  let tfjsPage: Bundle | undefined
  const reference = adamFloat64(request)
  const report: string[] = []

  if (noChromium && required) {
    it('has Chromium (FLUXION_REQUIRE_BROWSER=1)', () => {
      throw new Error(`${noChromium}; FLUXION_REQUIRE_BROWSER=1 makes the browser tests mandatory`)
    })
  }

  beforeAll(async () => {
    if (noChromium) return
    const [testPage, example, tfjs] = await Promise.all([bundleForBrowser(here('./browser/page.ts')), bundleForBrowser(here('../examples/browser/main.ts')), bundleForBrowser(here('./browser/tfjs-page.ts'))])
    bundled = { testPage, example }
    tfjsPage = tfjs
    const html = (script: string) => `<!doctype html><meta charset="utf-8"><title>fluxion browser test</title><script type="module" src="${script}"></script>`
    const files = new Map<string, Served>([
      ['/', { body: html('/page.js'), type: 'text/html' }],
      ['/page.js', { body: testPage.text, type: 'text/javascript' }],
      ['/example/', { body: readFileSync(here('../examples/browser/index.html'), 'utf8'), type: 'text/html' }],
      ['/example/main.js', { body: example.text, type: 'text/javascript' }],
      ['/tfjs/', { body: html('/tfjs/page.js'), type: 'text/html' }],
      ['/tfjs/page.js', { body: tfjs.text, type: 'text/javascript' }],
    ])
    server = await serve(files)
    browser = await launchChromium(browserTimeoutMs)
    const page = watch(await browser.newPage(), 'test page', errors)
    await page.goto(`${server.origin}/`, { timeout: browserTimeoutMs })
    await page.waitForFunction(() => 'fluxionBrowserTest' in globalThis, undefined, { timeout: browserTimeoutMs })
    const t0 = performance.now()
    const out = await within(
      browserTimeoutMs,
      'the page running the trajectories',
      page.evaluate((r) => (globalThis as unknown as { fluxionBrowserTest: BrowserTestApi }).fluxionBrowserTest.run(r), request),
    )
    report.push(`trajectories on ${out.length} backends in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    results = new Map(out.map((r) => [r.backend, r]))
    await within(10_000, 'closing the test page', page.close())
  }, 120_000)

  afterAll(async () => {
    await browser?.close().catch(() => undefined)
    await server?.close()
    if (!noChromium) console.info(`[browser] ${[...report, `browser test file ${((performance.now() - started) / 1000).toFixed(1)} s`].join('\n[browser] ')}`)
  }, 30_000)

  it.skipIf(noChromium).for(pageBackends)('browser:%s runs the Adam trajectory of cpu and of the float64 reference, and resumes it exactly from saved state', (name, ctx) => {
    const r = results.get(name)
    if (!r) throw new Error(`the page returned no result for ${name}`)
    if (!r.ran) {
      reportBackend(`browser:${name}`, false, r.why)
      const hint = name === 'webgpu' ? ' (Chromium on Linux exposes WebGPU only with --enable-unsafe-webgpu; without a GPU it runs on SwiftShader)' : ''
      if (required || !r.unsupported) throw new Error(`browser:${name} did not run in the page: ${r.why}${hint}`)
      ctx.skip(`browser:${name}: ${r.why}`)
      return
    }
    reportBackend(`browser:${name}`, true)
    const cpuRun = results.get('cpu')
    if (!cpuRun?.ran) throw new Error('the cpu backend did not run in the page, so nothing can be compared with it')
    expect(r.trajectory).toHaveLength(request.steps)
    expect(compare(r.trajectory, reference, float32Tolerance), `${name} vs float64 Adam`).toBe('ok')
    expect(compare(r.trajectory, cpuRun.trajectory, float32Tolerance), `${name} vs cpu`).toBe('ok')
    // zero gradient from the first step: m = v = 0, so the update is 0/(0 + ε) = 0 exactly, never NaN
    const atMinimum = request.leaves.b!.init[3]!
    expect(r.trajectory.map((step) => step.b![3]), `${name}: b[3] starts at its minimum and stays there`).toEqual(r.trajectory.map(() => atMinimum))
    // the saved state decodes to the same bits, and the continued run is the uninterrupted one
    expect(r.resaved).toBe(r.saved)
    expect(r.resumed).toHaveLength(request.steps - request.saveAt)
    expect(compare(r.resumed, r.trajectory.slice(request.saveAt), exact, request.saveAt + 1), `${name}: resumed vs uninterrupted`).toBe('ok')
    expect(r.liveAfter, `${name}: tensors leaked in the page`).toBe(r.liveBefore)
    report.push(
      `${name.padEnd(6)} ran in ${r.ms.toFixed(0).padStart(5)} ms; max |Δ| vs cpu ${maxAbsDifference(r.trajectory, cpuRun.trajectory).toExponential(2)}, ` +
        `vs float64 ${maxAbsDifference(r.trajectory, reference).toExponential(2)}; save/load round trip exact`,
    )
  })

  /** The page's result for a backend that ran; skips (or fails, when the browser is required) otherwise. */
  const ranOn = (name: string, ctx: { skip: (note?: string) => never }): Extract<BackendResult, { ran: true }> => {
    const r = results.get(name)
    if (r?.ran) return r
    const why = r ? r.why : 'no result from the page'
    if (required || (r && !r.unsupported)) throw new Error(`browser:${name} did not run in the page: ${why}`)
    return ctx.skip(`browser:${name}: ${why}`)
  }

  // applyIfFinite decides a step on the host wherever readSync answers (cpu, webasm, and webgl2,
  // whose textures read back synchronously); on webgpu only the device knows, and `update` is
  // synchronous, so Adam's host counter advances on a skipped step there (docs/nonfinite.md)
  const decidedOnDevice = (name: string) => name === 'webgpu'

  it.skipIf(noChromium).for(pageBackends)('browser:%s: a skipped applyIfFinite(adam) step zeroes the updates and keeps the moments; the host step count stays, except on webgpu', (name, ctx) => {
    const { skipped: s } = ranOn(name, ctx)
    expect(s.readSync, `${name}: readSync answers`).toBe(!decidedOnDevice(name))
    expect(s.totalNotfinite).toBe(1)
    expect(s.updates.length).toBeGreaterThan(0)
    expect(s.updates).toEqual(s.updates.map(() => 0))
    expect(s.innerAfter.length).toBeGreaterThan(0)
    expect(s.innerAfter, `${name}: μ and ν bit for bit`).toEqual(s.innerBefore)
    expect(s.countBefore).toBe(1)
    expect(s.countAfter, `${name}: Adam's count after the skipped step`).toBe(decidedOnDevice(name) ? s.countBefore + 1 : s.countBefore)
  })

  it.skipIf(noChromium).for(pageBackends.filter((b) => b !== 'cpu' && b !== 'wasm'))('browser:%s: the kernel cache stays bounded, and a live output of an evicted kernel still reads back', (name, ctx) => {
    const k = ranOn(name, ctx).kernelCache
    if (!k) throw new Error(`browser:${name} returned no kernel cache check`)
    expect(k.capacity).toBe(kernelCacheCapacity[name])
    expect(k.maxCached, 'the cache filled up and no further').toBe(k.capacity)
    expect(k.read).toEqual(k.expected)
    expect(k.readSync).toEqual(decidedOnDevice(name) ? null : k.expected)
    // a device output (GL texture, WebGPU buffer) holds the kernel that made it; a host array does not
    if (name === 'webasm') expect(k.waitingWhileLive).toBe(0)
    else expect(k.waitingWhileLive).toBeGreaterThan(0)
    expect(k.waitingAfter, 'evicted kernels destroyed once nothing needs them').toBe(0)
  })

  it.skipIf(noChromium)('the pages bundle the real src/index.ts and src/gpu.ts with gpu.js\'s browser build and without Dawn', () => {
    for (const [name, b] of Object.entries(bundled!)) {
      expect(b.inputs, name).toEqual(expect.arrayContaining(['src/index.ts', 'src/gpu.ts', 'node_modules/gpu.js/dist/gpu-browser.js']))
      expect(b.inputs.filter((f) => f.startsWith('node_modules/webgpu/')), `${name}: Dawn in a browser bundle`).toEqual([])
    }
  })

  it.skipIf(noChromium).for(exampleBackends)('the browser example trains on %s and lowers its loss', async (mode, ctx) => {
    const r = results.get(mode)
    if (r && !r.ran) ctx.skip(`example on ${mode}: ${r.why}`)
    const page = watch(await browser!.newPage(), `example on ${mode}`, errors)
    try {
      await page.goto(`${server!.origin}/example/?backend=${mode}&optimizer=adam&steps=${exampleSteps}`, { timeout: browserTimeoutMs })
      const handle = await page.waitForFunction(
        () => {
          const demo = (globalThis as { fluxionDemo?: ExampleProgress }).fluxionDemo
          return demo && (demo.done || demo.error !== undefined) ? demo : undefined
        },
        undefined,
        { timeout: browserTimeoutMs, polling: 100 },
      )
      const demo = (await handle.jsonValue()) as ExampleProgress
      expect(demo.error, 'the example reported an error').toBeUndefined()
      expect(demo.backend).toBe(mode)
      const { losses } = demo
      expect(losses).toHaveLength(exampleSteps)
      expect(losses.every(Number.isFinite), 'every loss is finite').toBe(true)
      const tail = losses.slice(-10).reduce((sum, x) => sum + x, 0) / 10
      expect(tail, `mean of the last 10 losses vs the first (${losses[0]})`).toBeLessThan(losses[0]! / 2)
      report.push(`example on ${mode.padEnd(6)}: loss ${losses[0]!.toFixed(4)} → ${tail.toFixed(4)} (mean of the last 10) over ${losses.length} Adam steps`)
    } finally {
      await within(10_000, 'closing the example page', page.close())
    }
  })

  it.skipIf(noChromium)('fluxion/tfjs on tfjs-backend-webgl: tfjsOptimizer(adam) through minimize follows fluxion\'s own Adam, survives getWeights / setWeights and leaks nothing', async (ctx) => {
    expect(tfjsPage!.inputs).toEqual(expect.arrayContaining(['src/tfjs.ts', 'node_modules/@tensorflow/tfjs-backend-webgl/dist/index.js']))
    const page = watch(await browser!.newPage(), 'fluxion/tfjs page', errors)
    try {
      await page.goto(`${server!.origin}/tfjs/`, { timeout: browserTimeoutMs })
      await page.waitForFunction(() => 'fluxionTfjsTest' in globalThis, undefined, { timeout: browserTimeoutMs })
      const r = await within(
        browserTimeoutMs,
        'the fluxion/tfjs page',
        page.evaluate((q) => (globalThis as unknown as { fluxionTfjsTest: { run: (q: TrajectoryRequest) => Promise<TfjsPageResult> } }).fluxionTfjsTest.run(q), request),
      )
      if (!r.ran) {
        if (required) throw new Error(`tfjs-backend-webgl did not start in the page: ${r.why}`)
        ctx.skip(`tfjs-backend-webgl: ${r.why}`)
        return
      }
      expect(r.backend).toBe('webgl')
      expect(r.trajectory).toHaveLength(request.steps)
      // webgl computes the gradients in float32 (float16 where it cannot render float32)
      const tol = r.float32 ? float32Tolerance : { rtol: 2e-3, atol: 2e-3 }
      expect(compare(r.trajectory, r.reference, tol), 'webgl through the adapter vs fluxion on cpu').toBe('ok')
      expect(compare(r.trajectory, reference, tol), 'webgl through the adapter vs float64 Adam').toBe('ok')
      expect(r.numTensorsAfter, 'tfjs tensors left in the page').toBe(r.numTensorsBefore)
      expect(r.liveAfter, 'fluxion tensors left in the page').toBe(r.liveBefore)
      report.push(`fluxion/tfjs on webgl (float32 ${r.float32}): max |Δ| vs fluxion cpu ${maxAbsDifference(r.trajectory, r.reference).toExponential(2)}`)
    } finally {
      await within(10_000, 'closing the fluxion/tfjs page', page.close())
    }
  })

  it.skipIf(noChromium)('reports no page errors, console errors or failed requests', () => {
    expect(errors).toEqual([])
    report.push(`chromium flags: ${chromiumFlags.join(' ')}`)
  })
})
