/**
 * The demo's learning-curve plot: a chart.js line chart drawn on a skia canvas (@napi-rs/canvas)
 * and written as a PNG. The x axis is a count (epochs): every integer gets a tick as long as the
 * labels fit. An optional marker (e.g. the early-stopping point) is a dashed vertical line whose
 * label stays inside the plot frame.
 */
import { writeFileSync } from 'node:fs'
import { createCanvas } from '@napi-rs/canvas'
import { Chart, type ChartConfiguration, type Plugin, type Scale, registerables } from 'chart.js'

Chart.register(...registerables)

/** A series of a line plot; `color` is any CSS color. */
export interface Series {
  readonly label: string
  readonly x: readonly number[]
  readonly y: readonly number[]
  readonly color: string
}

/** Options of `renderLinePlot`; `width` and `height` are in CSS pixels, the PNG has `pixelRatio` times as many. */
export interface LinePlotOptions {
  readonly title: string
  readonly xLabel: string
  readonly yLabel: string
  readonly markX?: { readonly x: number; readonly label: string }
  /** Default 800. */
  readonly width?: number
  /** Default 450. */
  readonly height?: number
  /** Default 2, sharp on high-density screens. */
  readonly pixelRatio?: number
}

// DejaVu first: the fonts present on a bare Debian; chart.js' own list after it
const fontFamily = "'DejaVu Sans', 'Helvetica Neue', Helvetica, Arial, sans-serif"
const markColor = '#2a9d3c'
// the narrowest spacing of x labels, in CSS pixels, before every second one is dropped
const minLabelSpacing = 22

// a white page: chart.js leaves the canvas transparent
const whiteBackground: Plugin<'line'> = {
  id: 'whiteBackground',
  beforeDraw: ({ ctx, width, height }) => {
    ctx.save()
    ctx.fillStyle = 'white'
    ctx.fillRect(0, 0, width, height)
    ctx.restore()
  },
}

// integer ticks from the first to the last integer in range, one per integer while they fit
const integerTicks = (scale: Scale) => {
  const first = Math.ceil(scale.min)
  const last = Math.floor(scale.max)
  const count = last - first + 1
  const step = Math.max(1, Math.ceil(count / Math.max(1, Math.floor(scale.width / minLabelSpacing))))
  scale.ticks = Array.from({ length: Math.floor((last - first) / step) + 1 }, (_, i) => ({ value: first + i * step }))
}

// the y extent, in pixels, of the polyline through `points` over the pixel columns [x0, x1]
const yRange = (points: readonly { x: number; y: number }[], x0: number, x1: number): [number, number] | undefined => {
  const ys: number[] = []
  const at = (x: number) => {
    for (let i = 1; i < points.length; i++) {
      const [a, b] = [points[i - 1]!, points[i]!]
      if (a.x <= x && x <= b.x) ys.push(a.y + ((b.y - a.y) * (x - a.x)) / Math.max(b.x - a.x, 1e-9))
    }
  }
  at(x0)
  at(x1)
  for (const p of points) if (p.x >= x0 && p.x <= x1) ys.push(p.y)
  return ys.length === 0 ? undefined : [Math.min(...ys), Math.max(...ys)]
}

const marker = (mark: NonNullable<LinePlotOptions['markX']>): Plugin<'line'> => ({
  id: 'markX',
  afterDatasetsDraw: (chart) => {
    const { ctx, chartArea: area } = chart
    const x = Math.min(area.right, Math.max(area.left, chart.scales.x!.getPixelForValue(mark.x)))
    ctx.save()
    ctx.strokeStyle = markColor
    ctx.lineWidth = 1.5
    ctx.setLineDash([6, 4])
    ctx.beginPath()
    ctx.moveTo(x, area.top)
    ctx.lineTo(x, area.bottom)
    ctx.stroke()
    ctx.setLineDash([])
    ctx.font = `bold 13px ${fontFamily}`
    const width = ctx.measureText(mark.label).width
    const pad = 6
    const height = 17
    // right of the line, or left of it when that would leave the frame, never outside it
    const left = x + pad + width + pad <= area.right ? x + pad : Math.max(area.left + pad, x - pad - width)
    // the highest slot in the frame that no curve crosses over the label's width (else the top)
    const margin = 6
    const busy = chart.data.datasets.map((_, i) => yRange(chart.getDatasetMeta(i).data, left - margin, left + width + margin)).filter((r) => r !== undefined)
    const slots = Array.from({ length: Math.max(1, Math.floor((area.bottom - area.top - 2 * pad) / 4)) }, (_, k) => area.top + pad + 4 * k).filter((t) => t + height <= area.bottom - pad)
    const top = slots.find((t) => busy.every(([lo, hi]) => t > hi + margin || t + height < lo - margin)) ?? area.top + pad
    ctx.fillStyle = 'rgba(255, 255, 255, 0.85)'
    ctx.fillRect(left - 3, top, width + 6, height)
    ctx.fillStyle = markColor
    ctx.textBaseline = 'middle'
    ctx.fillText(mark.label, left, top + height / 2)
    ctx.restore()
  },
})

/**
 * Renders `series` as a line chart with a title, a legend, axis titles and, with `markX`, a dashed
 * vertical marker; returns the PNG bytes.
 */
export const renderLinePlot = (series: readonly Series[], options: LinePlotOptions): Buffer => {
  const { width = 800, height = 450, pixelRatio = 2 } = options
  const xs = series.flatMap((s) => s.x)
  const canvas = createCanvas(width, height)
  const config: ChartConfiguration<'line', { x: number; y: number }[]> = {
    type: 'line',
    data: {
      datasets: series.map((s) => ({
        label: s.label,
        data: s.x.map((x, i) => ({ x, y: s.y[i]! })),
        borderColor: s.color,
        backgroundColor: s.color,
        borderWidth: 2.5,
        pointRadius: s.x.length > 30 ? 2.5 : 4,
      })),
    },
    options: {
      animation: false,
      responsive: false,
      maintainAspectRatio: false,
      devicePixelRatio: pixelRatio,
      font: { family: fontFamily, size: 13 },
      color: '#333',
      layout: { padding: { left: 8, right: 16, top: 4, bottom: 4 } },
      plugins: {
        title: { display: true, text: options.title, font: { size: 17, weight: 'bold' }, color: '#111', padding: { top: 6, bottom: 4 } },
        legend: { position: 'top', labels: { usePointStyle: true, pointStyle: 'line', boxWidth: 28 } },
        tooltip: { enabled: false },
      },
      scales: {
        // half an integer either side, so the first and last points sit off the frame
        x: {
          type: 'linear',
          min: Math.min(...xs) - 0.5,
          max: Math.max(...xs) + 0.5,
          afterBuildTicks: integerTicks,
          ticks: { autoSkip: false, maxRotation: 0, callback: (v) => String(v) },
          grid: { color: '#eee' },
          title: { display: true, text: options.xLabel, font: { size: 14 } },
        },
        y: {
          type: 'linear',
          beginAtZero: true,
          grace: '5%',
          grid: { color: '#e4e4e4' },
          title: { display: true, text: options.yLabel, font: { size: 14 } },
        },
      },
    },
    plugins: [whiteBackground, ...(options.markX ? [marker(options.markX)] : [])],
  }
  // chart.js types its canvas as the DOM's; the skia canvas offers the same 2D API
  const chart = new Chart(canvas as unknown as ConstructorParameters<typeof Chart>[0], config)
  const png = canvas.toBuffer('image/png')
  chart.destroy()
  return png
}

/** `renderLinePlot`, written to `path`. */
export const writeLinePlot = (path: string, series: readonly Series[], options: LinePlotOptions): void => {
  writeFileSync(path, renderLinePlot(series, options))
}
