/**
 * Serves the browser example (examples/browser): esbuild bundles main.ts for the browser and serves
 * the folder on localhost, rebuilding on a request after a change; open the printed URL.
 *
 *   npm run demo:browser                 # http://127.0.0.1:8000/ (or the next free port)
 *   npm run demo:browser -- --port 8080  # that port, or an error if it is taken
 *
 * WebGPU needs a browser that exposes it (Chrome / Edge; Chromium on Linux: --enable-unsafe-webgpu).
 */
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import * as esbuild from 'esbuild'

const usage = 'usage: npm run demo:browser -- [--port N]   (N an integer in [1, 65535]; default: 8000 or the next free port)'
const fail = (message: string): never => {
  console.error(`demo:browser: ${message}\n${usage}`)
  process.exit(2)
}
let flags: { port?: string; help?: boolean }
try {
  flags = parseArgs({ options: { port: { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true }).values
} catch (e) {
  fail((e as Error).message)
}
if (flags!.help) {
  console.log(usage)
  process.exit(0)
}
const asked = flags!.port === undefined ? undefined : Number(flags!.port)
if (asked !== undefined && !(Number.isInteger(asked) && asked >= 1 && asked <= 65535)) fail(`--port must be an integer in [1, 65535], not '${flags!.port}'`)

const folder = fileURLToPath(new URL('../examples/browser/', import.meta.url))

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
// an explicit port must be free; by default the first free port from 8000 on
const serve = async (): Promise<{ hosts: string[]; port: number }> => {
  for (let port = asked ?? 8000; port <= (asked ?? 8020); port++) {
    try {
      return await ctx.serve({ servedir: folder, host: '127.0.0.1', port })
    } catch (e) {
      if (!/address already in use/.test((e as Error).message)) throw e
    }
  }
  await ctx.dispose()
  return fail(asked === undefined ? 'ports 8000 to 8020 are all taken: pass --port N' : `port ${asked} is taken`)
}
const { hosts, port: actual } = await serve()
console.log(`fluxion browser example: http://${hosts[0] ?? '127.0.0.1'}:${actual}/  (Ctrl-C to stop)`)

const stop = async () => {
  await ctx.dispose()
  process.exit(0)
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
