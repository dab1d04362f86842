/**
 * fluxion in the browser: a 2 → 16 → 16 → 1 ReLU network learns two interleaved half-moons, with the
 * optimizer and the backend picked in the page, and its loss curve drawn as it trains.
 *
 *   npm run demo:browser     # bundles this file with esbuild, serves the folder, prints the URL
 *
 * `?optimizer=sgd&backend=webgl2&steps=200` in the URL preselects the controls. The training history
 * is on `globalThis.fluxionDemo` (the browser test reads it there).
 */
import {
  type AnyTransformation,
  type Backend,
  type Key,
  type Tensor,
  adagrad,
  adam,
  adamw,
  applyUpdates,
  binaryCrossEntropyFromLogits,
  cpu,
  dense,
  dispose,
  foldIn,
  fromArray,
  key,
  lion,
  normalValues,
  read,
  readTree,
  relu,
  rmsprop,
  scope,
  sequential,
  sgd,
  uniformValues,
} from '../../src/index.js'
import { createGpuBackend } from '../../src/gpu.js'

// ---- data: two half-moons with Gaussian noise, from fluxion's counter-based random numbers -------
const points = 256
const makeMoons = (k: Key, n: number, noise: number) => {
  const angle = uniformValues(foldIn(k, 0), n)
  const jitter = normalValues(foldIn(k, 1), 2 * n)
  const x = new Float32Array(2 * n)
  const y = new Float32Array(n)
  for (let i = 0; i < n; i++) {
    const lower = i % 2
    const t = Math.PI * angle[i]!
    x[2 * i] = (lower ? 1 - Math.cos(t) : Math.cos(t)) + noise * jitter[2 * i]!
    x[2 * i + 1] = (lower ? 0.5 - Math.sin(t) : Math.sin(t)) + noise * jitter[2 * i + 1]!
    y[i] = lower
  }
  return { x, y }
}
const data = makeMoons(key(0), points, 0.12)
const view = { xMin: -1.6, xMax: 2.6, yMin: -1.1, yMax: 1.6 }

// ---- model, optimizers, backends ----------------------------------------------------------------
const model = sequential([dense(16), relu(), dense(16), relu(), dense(1)])

const optimizers: Record<string, { readonly learningRate: number; readonly make: (learningRate: number) => AnyTransformation }> = {
  adam: { learningRate: 0.01, make: (learningRate) => adam({ learningRate }) },
  adamw: { learningRate: 0.01, make: (learningRate) => adamw({ learningRate, weightDecay: 1e-3 }) },
  sgd: { learningRate: 0.1, make: (learningRate) => sgd({ learningRate }) },
  momentum: { learningRate: 0.05, make: (learningRate) => sgd({ learningRate, momentum: 0.9 }) },
  nesterov: { learningRate: 0.05, make: (learningRate) => sgd({ learningRate, momentum: 0.9, nesterov: true }) },
  rmsprop: { learningRate: 0.003, make: (learningRate) => rmsprop({ learningRate }) },
  adagrad: { learningRate: 0.1, make: (learningRate) => adagrad({ learningRate }) },
  lion: { learningRate: 0.001, make: (learningRate) => lion({ learningRate }) },
}

type Mode = 'cpu' | 'webasm' | 'webgl2' | 'webgpu'
const backends = new Map<Mode, Promise<Backend>>([['cpu', Promise.resolve(cpu)]])
// gpu.js backends are created once and kept: switching back and forth costs nothing
const backendFor = (mode: Mode): Promise<Backend> => {
  let b = backends.get(mode)
  if (!b) {
    b = createGpuBackend({ mode: mode as Exclude<Mode, 'cpu'> })
    backends.set(mode, b)
    b.catch(() => backends.delete(mode))
  }
  return b
}

// ---- the page ---------------------------------------------------------------------------------
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T
const form = $<HTMLFormElement>('controls')
const optimizerSelect = $<HTMLSelectElement>('optimizer')
const learningRateInput = $<HTMLInputElement>('learningRate')
const backendSelect = $<HTMLSelectElement>('backend')
const stepsInput = $<HTMLInputElement>('steps')
const status = $<HTMLDivElement>('status')
const lossCanvas = $<HTMLCanvasElement>('loss')
const boundaryCanvas = $<HTMLCanvasElement>('boundary')

const say = (text: string, error = false) => {
  status.textContent = text
  status.classList.toggle('error', error)
}

if (!('gpu' in navigator)) disable('webgpu', 'no navigator.gpu in this browser')
if (!document.createElement('canvas').getContext('webgl2')) disable('webgl2', 'no WebGL2 context')
function disable(mode: Mode, why: string) {
  const option = Array.from(backendSelect.options).find((o) => o.value === mode)!
  option.disabled = true
  option.textContent += ` (unavailable: ${why})`
}

const query = new URLSearchParams(location.search)
if (query.get('optimizer') && query.get('optimizer')! in optimizers) optimizerSelect.value = query.get('optimizer')!
if (query.get('backend')) backendSelect.value = query.get('backend')!
if (query.get('steps')) stepsInput.value = query.get('steps')!
learningRateInput.value = String(query.get('lr') ?? optimizers[optimizerSelect.value]!.learningRate)
optimizerSelect.addEventListener('change', () => (learningRateInput.value = String(optimizers[optimizerSelect.value]!.learningRate)))

// ---- drawing ------------------------------------------------------------------------------------
interface Run {
  readonly label: string
  readonly color: string
  readonly losses: number[]
}
const palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf']
const runs: Run[] = []

/** A canvas context drawn in CSS pixels at the screen's resolution. */
const context2d = (canvas: HTMLCanvasElement) => {
  const ratio = window.devicePixelRatio || 1
  const { width, height } = canvas.getBoundingClientRect()
  if (canvas.width !== Math.round(width * ratio)) {
    canvas.width = Math.round(width * ratio)
    canvas.height = Math.round(height * ratio)
  }
  const g = canvas.getContext('2d')!
  g.setTransform(ratio, 0, 0, ratio, 0, 0)
  return { g, width, height }
}

const niceStep = (range: number, ticks: number) => {
  const raw = range / ticks
  const p = 10 ** Math.floor(Math.log10(raw))
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw)!
}

const drawLosses = (maxSteps: number) => {
  const { g, width, height } = context2d(lossCanvas)
  const pad = { left: 52, right: 14, top: 26, bottom: 36 }
  const w = width - pad.left - pad.right
  const h = height - pad.top - pad.bottom
  const all = runs.flatMap((r) => r.losses)
  const yMax = Math.max(0.1, ...all.filter(Number.isFinite)) * 1.05
  const xMax = Math.max(maxSteps, ...runs.map((r) => r.losses.length))
  const px = (step: number) => pad.left + (step / xMax) * w
  const py = (loss: number) => pad.top + h - (Math.min(loss, yMax) / yMax) * h
  g.clearRect(0, 0, width, height)
  g.font = '12px system-ui, sans-serif'
  g.strokeStyle = '#eee'
  g.fillStyle = '#666'
  g.lineWidth = 1
  g.textAlign = 'right'
  g.textBaseline = 'middle'
  const dy = niceStep(yMax, 5)
  for (let v = 0; v <= yMax + 1e-12; v += dy) {
    g.beginPath()
    g.moveTo(pad.left, py(v))
    g.lineTo(pad.left + w, py(v))
    g.stroke()
    g.fillText(v.toFixed(dy < 0.1 ? 2 : 1), pad.left - 6, py(v))
  }
  g.textAlign = 'center'
  g.textBaseline = 'top'
  const dx = niceStep(xMax, 8)
  for (let s = 0; s <= xMax; s += dx) g.fillText(String(s), px(s), pad.top + h + 6)
  g.fillText('step', pad.left + w / 2, pad.top + h + 20)
  g.save()
  g.translate(14, pad.top + h / 2)
  g.rotate(-Math.PI / 2)
  g.fillText('training loss', 0, -6)
  g.restore()
  g.strokeStyle = '#999'
  g.strokeRect(pad.left, pad.top, w, h)
  runs.forEach((r, i) => {
    const current = i === runs.length - 1
    g.globalAlpha = current ? 1 : 0.35
    g.strokeStyle = r.color
    g.lineWidth = current ? 2 : 1.5
    g.beginPath()
    r.losses.forEach((l, s) => (s === 0 ? g.moveTo(px(s + 1), py(l)) : g.lineTo(px(s + 1), py(l))))
    g.stroke()
  })
  g.globalAlpha = 1
  // legend, newest first
  g.textAlign = 'left'
  g.textBaseline = 'middle'
  let y = pad.top + 12
  for (const r of [...runs].reverse().slice(0, 8)) {
    const last = r.losses[r.losses.length - 1]
    const text = `${r.label}${last === undefined ? '' : `: ${last.toFixed(4)}`}`
    const x = pad.left + w - 8 - g.measureText(text).width
    g.fillStyle = r.color
    g.fillRect(x - 18, y - 1.5, 12, 3)
    g.fillStyle = '#333'
    g.fillText(text, x, y)
    y += 16
  }
}

// The decision regions: the model's probability on a grid, then the points on top.
const grid = 60
const gridPoints = (() => {
  const xs = new Float32Array(2 * grid * grid)
  for (let r = 0; r < grid; r++) {
    for (let c = 0; c < grid; c++) {
      xs[2 * (r * grid + c)] = view.xMin + ((c + 0.5) / grid) * (view.xMax - view.xMin)
      xs[2 * (r * grid + c) + 1] = view.yMax - ((r + 0.5) / grid) * (view.yMax - view.yMin)
    }
  }
  return xs
})()

const regions = Object.assign(document.createElement('canvas'), { width: grid, height: grid })
const drawBoundary = (probabilities?: Float32Array) => {
  const { g, width, height } = context2d(boundaryCanvas)
  g.clearRect(0, 0, width, height)
  if (probabilities) {
    // one pixel per grid cell, blue (class 0) through white (p = ½) to orange (class 1), scaled up smoothly
    const r = regions.getContext('2d')!
    const image = r.createImageData(grid, grid)
    probabilities.forEach((p, i) => {
      const [R, G, B] = p < 0.5 ? [31, 119, 180] : [255, 127, 14]
      const a = Math.abs(p - 0.5) * 0.8
      image.data.set([255 + (R - 255) * a, 255 + (G - 255) * a, 255 + (B - 255) * a, 255], 4 * i)
    })
    r.putImageData(image, 0, 0)
    g.imageSmoothingEnabled = true
    g.drawImage(regions, 0, 0, width, height)
  }
  for (let i = 0; i < points; i++) {
    const x = ((data.x[2 * i]! - view.xMin) / (view.xMax - view.xMin)) * width
    const y = ((view.yMax - data.x[2 * i + 1]!) / (view.yMax - view.yMin)) * height
    g.beginPath()
    g.arc(x, y, 3.2, 0, 2 * Math.PI)
    g.fillStyle = data.y[i] ? '#ff7f0e' : '#1f77b4'
    g.fill()
    g.strokeStyle = '#fff'
    g.lineWidth = 1
    g.stroke()
  }
}

// ---- training -----------------------------------------------------------------------------------
/** What the page has done so far, for the console and the browser test. */
const demo = { losses: [] as number[], backend: '', optimizer: '', step: 0, done: false, error: undefined as string | undefined }
;(globalThis as { fluxionDemo?: typeof demo }).fluxionDemo = demo

let generation = 0
const nextFrame = () => new Promise<void>((resolve) => requestAnimationFrame(() => resolve()))

const train = async () => {
  const mine = ++generation
  const mode = backendSelect.value as Mode
  const name = optimizerSelect.value
  const learningRate = Number(learningRateInput.value)
  const steps = Math.max(1, Math.floor(Number(stepsInput.value)))
  Object.assign(demo, { losses: [], backend: mode, optimizer: name, step: 0, done: false, error: undefined })
  say(`starting ${name} on ${mode}…`)
  let backend: Backend
  let optimizer: AnyTransformation
  try {
    optimizer = optimizers[name]!.make(learningRate)
    backend = await backendFor(mode)
  } catch (e) {
    demo.error = (e as Error).message
    say((e as Error).message, true)
    return
  }
  if (mine !== generation) return
  const run: Run = { label: `${name} ${learningRate} (${mode})`, color: palette[runs.length % palette.length]!, losses: demo.losses }
  runs.push(run)
  if (runs.length > 8) runs.shift()

  const x = fromArray(data.x, [points, 2], backend)
  const y = fromArray(data.y, [points, 1], backend)
  const xGrid = fromArray(gridPoints, [grid * grid, 2], backend)
  let { params, state } = model.init(key(1), [2], backend)
  let optState = optimizer.init(params)
  const started = performance.now()
  const probabilities = async () => {
    const logits = scope(() => model.apply(params, state, xGrid, { training: false }).y)
    const z = await read(logits)
    dispose(logits)
    return z.map((v) => 1 / (1 + Math.exp(-v)))
  }
  try {
    drawBoundary(await probabilities())
    while (demo.step < steps && mine === generation) {
      // a few steps per frame; their losses are read back together
      const losses: Tensor[] = []
      const frameStart = performance.now()
      while (demo.step + losses.length < steps && losses.length < 10 && performance.now() - frameStart < 12) {
        const [p, s, o, l] = scope(() => {
          const out = model.apply(params, state, x, { training: true })
          const { loss, grad } = binaryCrossEntropyFromLogits(out.y, y)
          const { dparams } = out.backward(grad)
          const [updates, nextOpt] = optimizer.update(dparams, optState, params)
          return [applyUpdates(params, updates), out.state, nextOpt, loss] as const
        })
        dispose([params, state, optState], [p, s, o])
        ;[params, state, optState] = [p, s, o]
        losses.push(l)
      }
      const values = (await readTree(losses)) as Float32Array[]
      dispose(losses)
      for (const v of values) demo.losses.push(v[0]!)
      demo.step += values.length
      if (demo.step % 20 < values.length || demo.step >= steps) drawBoundary(await probabilities())
      drawLosses(steps)
      const ms = (performance.now() - started) / demo.step
      say(`${name} on ${backend.name}: step ${demo.step}/${steps}, loss ${demo.losses[demo.losses.length - 1]!.toFixed(4)}, ${ms.toFixed(1)} ms/step`)
      await nextFrame()
    }
    if (mine === generation) {
      demo.done = true
      say(`${status.textContent} (done; accuracy ${(100 * (await accuracy(params, state, x))).toFixed(1)}%)`)
    }
  } catch (e) {
    demo.error = (e as Error).message
    say(`${name} on ${mode} failed: ${(e as Error).message}`, true)
    throw e
  } finally {
    dispose([params, state, optState, x, y, xGrid])
  }
}

const accuracy = async (params: unknown, state: unknown, x: Tensor) => {
  const logits = scope(() => model.apply(params as never, state as never, x, { training: false }).y)
  const z = await read(logits)
  dispose(logits)
  let right = 0
  z.forEach((v, i) => (right += Number((v > 0) === (data.y[i] === 1))))
  return right / points
}

form.addEventListener('submit', (e) => {
  e.preventDefault()
  void train()
})
$<HTMLButtonElement>('clear').addEventListener('click', () => {
  runs.splice(0, runs.length - 1)
  drawLosses(Number(stepsInput.value))
})
window.addEventListener('resize', () => drawLosses(Number(stepsInput.value)))

drawBoundary()
void train()
