/**
 * What the browser test needs from Node: an esbuild bundle for the browser (in memory), a static
 * server on 127.0.0.1 (an ephemeral port), and headless Chromium through playwright-core with the
 * flags that give WebGL2 and WebGPU on SwiftShader. Nothing here stubs or shims the library: a
 * bundle that needs Node fails to build.
 */
import { existsSync } from 'node:fs'
import { type Server, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import * as esbuild from 'esbuild'
import { type Browser, chromium } from 'playwright-core'

/** Debian's chromium (`apt-get install chromium`); `FLUXION_CHROMIUM` names another binary. */
export const chromiumPath = process.env.FLUXION_CHROMIUM ?? '/usr/bin/chromium'

export const haveChromium = (): boolean => existsSync(chromiumPath)

/**
 * The machines have no network: without the first five flags Chromium stalls on refused
 * connections. `--enable-unsafe-webgpu` exposes `navigator.gpu` on Linux; on a machine without a GPU
 * both WebGPU and WebGL2 (through ANGLE) then run on SwiftShader's Vulkan. Playwright adds
 * `--headless` and a fresh temporary profile.
 */
export const chromiumFlags: readonly string[] = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--enable-unsafe-webgpu',
]

export const launchChromium = (timeoutMs: number): Promise<Browser> =>
  chromium.launch({ executablePath: chromiumPath, headless: true, args: [...chromiumFlags], timeout: timeoutMs })

/** A file served from memory. */
export interface Served {
  readonly body: string | Uint8Array
  readonly type: string
}

/** A browser bundle: its text and the files it was built from (paths relative to the repository). */
export interface Bundle {
  readonly text: string
  readonly inputs: readonly string[]
}

/** Bundles `entry` for the browser (ESM, in memory); esbuild refuses Node built-ins on this platform. */
export const bundleForBrowser = async (entry: string): Promise<Bundle> => {
  const r = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    metafile: true,
    logLevel: 'silent',
  })
  return { text: r.outputFiles[0]!.text, inputs: Object.keys(r.metafile.inputs) }
}

/** Serves `files` (path → content) on 127.0.0.1 at an ephemeral port; anything else is a 404. */
export const serve = async (files: ReadonlyMap<string, Served>): Promise<{ readonly origin: string; close(): Promise<void> }> => {
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname
    const f = files.get(path)
    if (path === '/favicon.ico') {
      res.writeHead(204).end()
    } else if (f) {
      res.writeHead(200, { 'content-type': f.type, 'cache-control': 'no-store' }).end(f.body)
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`not found: ${path}`)
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', resolve)
  })
  const { port } = server.address() as AddressInfo
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** Rejects with a message naming `what` unless `p` settles within `ms`. */
export const within = <T>(ms: number, what: string, p: Promise<T>): Promise<T> => {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}
