/**
 * Serves the browser example (examples/browser): esbuild bundles main.ts for the browser and serves
 * the folder on localhost, rebuilding on a request after a change; open the printed URL.
 *
 *   npm run demo:browser                 # http://127.0.0.1:8000/ (or the next free port)
 *   npm run demo:browser -- --port=8080
 *
 * WebGPU needs a browser that exposes it (Chrome / Edge; Chromium on Linux: --enable-unsafe-webgpu).
 */
import { fileURLToPath } from 'node:url'
import * as esbuild from 'esbuild'

const folder = fileURLToPath(new URL('../examples/browser/', import.meta.url))
const port = Number(process.argv.find((a) => a.startsWith('--port='))?.split('=')[1] ?? 8000)

const ctx = await esbuild.context({
  entryPoints: [`${folder}main.ts`],
  bundle: true,
  platform: 'browser',
  format: 'esm',
  target: 'es2022',
  sourcemap: true,
  // serve mode keeps the bundle in memory, served next to index.html as ./main.js: nothing is written
  outdir: folder,
  write: false,
  logLevel: 'warning',
})
const { hosts, port: actual } = await ctx.serve({ servedir: folder, host: '127.0.0.1', port })
console.log(`fluxion browser example: http://${hosts[0] ?? '127.0.0.1'}:${actual}/  (Ctrl-C to stop)`)

const stop = async () => {
  await ctx.dispose()
  process.exit(0)
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
