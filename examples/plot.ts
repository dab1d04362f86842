/**
 * A small line-plot renderer that writes PNG files with no dependency beyond Node's zlib: used by
 * the demo for its learning curve. Lines, dashed markers, axes with tick labels, a legend, in a
 * 3×5 bitmap font.
 */
import { writeFileSync } from 'node:fs'
import { deflateSync } from 'node:zlib'

type RGB = readonly [number, number, number]

const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})
const crc32 = (buf: Uint8Array) => {
  let c = 0xffffffff
  for (const b of buf) c = crcTable[(c ^ b) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}
const chunk = (type: string, data: Uint8Array) => {
  const out = Buffer.alloc(12 + data.length)
  out.writeUInt32BE(data.length, 0)
  out.write(type, 4, 'ascii')
  Buffer.from(data).copy(out, 8)
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length)
  return out
}

/** Encodes RGB pixels (row-major, 3 bytes each) as a PNG file. */
export const encodePng = (width: number, height: number, rgb: Uint8Array): Buffer => {
  const raw = Buffer.alloc((width * 3 + 1) * height)
  for (let y = 0; y < height; y++) Buffer.from(rgb.subarray(y * width * 3, (y + 1) * width * 3)).copy(raw, y * (width * 3 + 1) + 1)
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr.set([8, 2, 0, 0, 0], 8)
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))])
}

// 3×5 glyphs, five rows of three bits (left bit first)
const glyphs: Record<string, number[]> = {
  '0': [7, 5, 5, 5, 7], '1': [2, 6, 2, 2, 7], '2': [7, 1, 7, 4, 7], '3': [7, 1, 7, 1, 7], '4': [5, 5, 7, 1, 1],
  '5': [7, 4, 7, 1, 7], '6': [7, 4, 7, 5, 7], '7': [7, 1, 1, 1, 1], '8': [7, 5, 7, 5, 7], '9': [7, 5, 7, 1, 7],
  a: [2, 5, 7, 5, 5], b: [6, 5, 6, 5, 6], c: [7, 4, 4, 4, 7], d: [6, 5, 5, 5, 6], e: [7, 4, 6, 4, 7], f: [7, 4, 6, 4, 4],
  g: [7, 4, 5, 5, 7], h: [5, 5, 7, 5, 5], i: [7, 2, 2, 2, 7], k: [5, 5, 6, 5, 5], l: [4, 4, 4, 4, 7], m: [5, 7, 7, 5, 5],
  n: [5, 7, 7, 7, 5], o: [7, 5, 5, 5, 7], p: [7, 5, 7, 4, 4], r: [6, 5, 6, 5, 5], s: [7, 4, 7, 1, 7], t: [7, 2, 2, 2, 2],
  u: [5, 5, 5, 5, 7], v: [5, 5, 5, 5, 2], w: [5, 5, 7, 7, 5], x: [5, 5, 2, 5, 5], y: [5, 5, 2, 2, 2],
  '.': [0, 0, 0, 0, 2], '-': [0, 0, 7, 0, 0], ':': [0, 2, 0, 2, 0], '(': [1, 2, 2, 2, 1], ')': [4, 2, 2, 2, 4], '%': [5, 1, 2, 4, 5], ' ': [0, 0, 0, 0, 0],
}

/** A series of a line plot. */
export interface Series {
  readonly label: string
  readonly x: readonly number[]
  readonly y: readonly number[]
  readonly color: RGB
}

/**
 * Renders series as a line plot and writes it as a PNG; `markX` draws a dashed vertical line
 * (e.g. the early-stopping point) with its label.
 */
export const writeLinePlot = (
  path: string,
  series: readonly Series[],
  options: { readonly title: string; readonly xLabel: string; readonly yLabel: string; readonly markX?: { readonly x: number; readonly label: string }; readonly width?: number; readonly height?: number },
): void => {
  const W = options.width ?? 720
  const H = options.height ?? 440
  const px = new Uint8Array(W * H * 3).fill(255)
  const set = (x: number, y: number, c: RGB) => {
    if (x < 0 || y < 0 || x >= W || y >= H) return
    const o = (Math.round(y) * W + Math.round(x)) * 3
    px[o] = c[0]
    px[o + 1] = c[1]
    px[o + 2] = c[2]
  }
  const text = (s: string, x: number, y: number, c: RGB, scale = 2) => {
    ;[...s.toLowerCase()].forEach((ch, i) => {
      const g = glyphs[ch] ?? glyphs[' ']!
      g.forEach((row, r) => {
        for (let b = 0; b < 3; b++) if (row & (4 >> b)) for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++) set(x + (i * 4 + b) * scale + dx, y + r * scale + dy, c)
      })
    })
  }
  const line = (x0: number, y0: number, x1: number, y1: number, c: RGB, dashed = false, width = 2) => {
    const n = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1)
    for (let i = 0; i <= n; i++) {
      if (dashed && Math.floor(i / 6) % 2 === 1) continue
      for (let w = 0; w < width; w++) set(x0 + ((x1 - x0) * i) / n + (Math.abs(y1 - y0) > Math.abs(x1 - x0) ? w : 0), y0 + ((y1 - y0) * i) / n + (Math.abs(y1 - y0) > Math.abs(x1 - x0) ? 0 : w), c)
    }
  }
  const left = 70
  const right = W - 20
  const top = 50
  const bottom = H - 60
  const xs = series.flatMap((s) => s.x)
  const ys = series.flatMap((s) => s.y).filter(Number.isFinite)
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)]
  const [y0, y1] = [0, Math.max(...ys) * 1.05]
  const sx = (x: number) => left + ((x - x0) / Math.max(x1 - x0, 1e-12)) * (right - left)
  const sy = (y: number) => bottom - ((y - y0) / Math.max(y1 - y0, 1e-12)) * (bottom - top)
  const grey: RGB = [120, 120, 120]
  line(left, bottom, right, bottom, [0, 0, 0], false, 1)
  line(left, top, left, bottom, [0, 0, 0], false, 1)
  for (let i = 0; i <= 5; i++) {
    const v = y0 + ((y1 - y0) * i) / 5
    line(left - 5, sy(v), left, sy(v), [0, 0, 0], false, 1)
    text(v.toFixed(2), 8, sy(v) - 5, grey)
  }
  const step = Math.max(1, Math.ceil((x1 - x0) / 10))
  for (let v = x0; v <= x1; v += step) {
    line(sx(v), bottom, sx(v), bottom + 5, [0, 0, 0], false, 1)
    text(String(v), sx(v) - 4, bottom + 10, grey)
  }
  text(options.title, left, 15, [0, 0, 0], 3)
  text(options.xLabel, (left + right) / 2 - 20, H - 25, [0, 0, 0])
  text(options.yLabel, 8, top - 25, [0, 0, 0])
  if (options.markX) {
    line(sx(options.markX.x), top, sx(options.markX.x), bottom, [40, 160, 60], true)
    text(options.markX.label, Math.min(sx(options.markX.x) + 6, right - 140), top + 4, [40, 160, 60])
  }
  series.forEach((s, k) => {
    for (let i = 1; i < s.x.length; i++) line(sx(s.x[i - 1]!), sy(s.y[i - 1]!), sx(s.x[i]!), sy(s.y[i]!), s.color)
    s.x.forEach((x, i) => {
      for (let dx = -3; dx <= 3; dx++) for (let dy = -3; dy <= 3; dy++) set(sx(x) + dx, sy(s.y[i]!) + dy, s.color)
    })
    line(right - 190, top + 30 + k * 20, right - 165, top + 30 + k * 20, s.color)
    text(s.label, right - 158, top + 25 + k * 20, [0, 0, 0])
  })
  writeFileSync(path, encodePng(W, H, px))
}
