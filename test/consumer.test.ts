/**
 * fluxion as a user installs it: `npm pack`, then the tarball installed into an empty project with
 * only its declared dependencies (and fast-check, the peer dependency of fluxion/laws). A plain
 * `.mjs` imports `fluxion` and `fluxion/laws`, trains 100 steps of a chain with a schedule through a
 * save/load round trip and must exit by itself; a strict TypeScript consumer type-checks with
 * `skipLibCheck: false` under `moduleResolution` node16 and bundler; the installed package bundles
 * for the browser with esbuild. Needs the npm registry (for fp-ts, io-ts, ...), as CI has.
 */
import { execFile, spawnSync } from 'node:child_process'
import { promisify } from 'node:util'
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import vm from 'node:vm'
import * as esbuild from 'esbuild'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { allClose } from '../laws/allclose.js'

const execFileAsync = promisify(execFile)
const repo = resolve(import.meta.dirname, '..')
const project = mkdtempSync(join(tmpdir(), 'fluxion-consumer-'))
// asynchronous, so that the event loop keeps turning (the test watchdog kills a blocked one)
const npm = async (args: string[], cwd: string): Promise<string> => (await execFileAsync('npm', args, { cwd, encoding: 'utf8', timeout: 240_000 })).stdout
const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string }> }
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string>; peerDependencies: Record<string, string> }

let tarball = ''
beforeAll(async () => {
  const packed = JSON.parse(await npm(['pack', '--json', '--pack-destination', project], repo)) as { filename: string; files: { path: string }[] }[]
  tarball = join(project, packed[0]!.filename)
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
  await npm(['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, `fast-check@${lock.packages['node_modules/fast-check']!.version}`], project)
  for (const f of ['consumer.mjs', 'consumer.ts']) cpSync(join(repo, 'test/consumer', f), join(project, f))
}, 300_000)

afterAll(() => rmSync(project, { recursive: true, force: true }))

describe('the packed package in an empty project', () => {
  it('ships dist, the license and the changelog, and no tests', () => {
    const installed = join(project, 'node_modules/fluxion')
    for (const f of ['dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/gpu.js', 'dist/src/node.js', 'dist/src/tfjs.js', 'dist/src/tfjs.d.ts', 'dist/laws/index.js', 'dist/laws/vitest.js', 'LICENSE', 'CHANGELOG.md', 'README.md']) {
      expect(existsSync(join(installed, f)), f).toBe(true)
    }
    expect(existsSync(join(installed, 'test'))).toBe(false)
    expect(readFileSync(join(installed, 'LICENSE'), 'utf8')).toContain('MIT License')
  })

  it('installs only the declared dependencies: no gpu.js, no Dawn, no vitest, no TensorFlow.js', () => {
    const modules = readdirSync(join(project, 'node_modules'))
    for (const dep of Object.keys(pkg.dependencies)) expect(modules).toContain(dep)
    for (const optionalPeer of ['gpu.js', 'webgpu', 'vitest', '@tensorflow']) expect(modules).not.toContain(optionalPeer)
  })

  it('a plain .mjs trains 100 steps through a save/load round trip, writes and reads a checkpoint file, and exits by itself', () => {
    const r = spawnSync(process.execPath, ['consumer.mjs'], { cwd: project, encoding: 'utf8', timeout: 60_000 })
    expect(r.signal, 'the process did not exit by itself').toBeNull()
    expect(r.status, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as { leaves: number[][]; roundTripExact: boolean; compiledExact: boolean; checkpointOk: boolean; referenceExported: string; gpuError: string; tfjsError: string }
    expect(out.roundTripExact).toBe(true)
    expect(out.compiledExact).toBe(true)
    expect(out.checkpointOk).toBe(true)
    expect(out.referenceExported).toBe('object')
    // ½‖θ‖² from ‖θ‖ ≈ 5.5: 100 clipped Adam steps with a peak rate of 0.1 end near 0
    for (const x of out.leaves.flat()) expect(Math.abs(x)).toBeLessThan(0.5)
    expect(out.leaves.flat().some((x) => x !== 0)).toBe(true)
    // without the optional peer, fluxion/gpu says what to install instead of failing on import
    expect(out.gpuError).toMatch(/^UnsupportedError: createGpuBackend needs the optional peer dependency 'gpu\.js' \(npm install gpu\.js\)/)
    expect(out.tfjsError).toMatch(/^ERR_MODULE_NOT_FOUND: Cannot find package '@tensorflow\/tfjs-core'/)
  })

  it('CommonJS can require it (require(esm), Node ≥ 20.19)', () => {
    writeFileSync(join(project, 'consumer.cjs'), "const { adam, fromArray } = require('fluxion')\nconst { allClose } = require('fluxion/laws')\nconsole.log(typeof adam, typeof fromArray, typeof allClose)\n")
    const r = spawnSync(process.execPath, ['--no-warnings', 'consumer.cjs'], { cwd: project, encoding: 'utf8', timeout: 60_000 })
    expect(r.status, r.stderr).toBe(0)
    expect(r.stdout.trim()).toBe('function function function')
  })

  it('with TensorFlow.js installed beside it, fluxion/tfjs trains a tfjs-layers model in model.fit and resumes it exactly from model.save', async () => {
    const withTfjs = mkdtempSync(join(tmpdir(), 'fluxion-consumer-tfjs-'))
    try {
      writeFileSync(join(withTfjs, 'package.json'), JSON.stringify({ name: 'consumer-tfjs', private: true, type: 'module' }))
      const tfjs = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-layers'].map((p) => `${p}@${lock.packages[`node_modules/${p}`]!.version}`)
      await npm(['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, ...tfjs], withTfjs)
      cpSync(join(repo, 'test/consumer/consumer-tfjs.mjs'), join(withTfjs, 'consumer-tfjs.mjs'))
      const r = spawnSync(process.execPath, ['consumer-tfjs.mjs'], { cwd: withTfjs, encoding: 'utf8', timeout: 60_000 })
      expect(r.status, r.stderr).toBe(0)
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { firstLoss: number; lastLoss: number; restored: boolean; resumedExact: boolean }
      expect(out.lastLoss).toBeLessThan(out.firstLoss / 2)
      expect(out.restored).toBe(true)
      expect(out.resumedExact).toBe(true)
    } finally {
      rmSync(withTfjs, { recursive: true, force: true })
    }
  }, 300_000)

  it.each(['node16', 'nodenext', 'bundler'])('a strict TypeScript consumer type-checks with skipLibCheck false (moduleResolution %s)', (resolution) => {
    const compilerOptions = {
      strict: true,
      skipLibCheck: false,
      noEmit: true,
      target: 'ES2022',
      lib: ['ES2022'],
      types: [],
      module: resolution === 'bundler' ? 'esnext' : resolution,
      moduleResolution: resolution,
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
    }
    writeFileSync(join(project, `tsconfig.${resolution}.json`), JSON.stringify({ compilerOptions, files: ['consumer.ts'] }))
    const r = spawnSync(process.execPath, [join(repo, 'node_modules/typescript/bin/tsc'), '-p', `tsconfig.${resolution}.json`], { cwd: project, encoding: 'utf8', timeout: 120_000 })
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0)
  })

  it('the installed package bundles for the browser (esbuild, platform browser) and runs without Node globals', async () => {
    // a cpu training step and a save/load round trip, bundled as a browser script and run in a
    // context that has only what browsers have: no process, no Buffer, no require
    writeFileSync(
      join(project, 'browser.mjs'),
      [
        "import { adam, applyUpdates, cpu, fromArray, loadState, readTree, saveState } from 'fluxion'",
        "import { allClose } from 'fluxion/laws'",
        'globalThis.run = async () => {',
        'const opt = adam({ learningRate: 0.1 })',
        'const params = { w: fromArray([1, -2, 3], [3]) }',
        'const [updates, state] = opt.update(params, opt.init(params), params)',
        'const json = JSON.parse(JSON.stringify(await saveState(opt, state)))',
        'const restored = allClose(await readTree(loadState(opt, json, cpu)), await readTree(state), { rtol: 0, atol: 0 }).ok',
        'return { w: Array.from((await readTree(applyUpdates(params, updates))).w), restored }',
        '}',
      ].join('\n'),
    )
    const built = await esbuild.build({ absWorkingDir: project, entryPoints: ['browser.mjs'], bundle: true, platform: 'browser', format: 'iife', write: false, logLevel: 'silent' })
    expect(built.errors).toEqual([])
    expect(built.outputFiles[0]!.text).not.toMatch(/from ["']node:|require\(["']node:/)
    const context = vm.createContext({ console, atob, btoa, TextEncoder, TextDecoder, setTimeout, clearTimeout, queueMicrotask, performance })
    vm.runInContext(built.outputFiles[0]!.text, context)
    const result = await (context as { run: () => Promise<{ w: number[]; restored: boolean }> }).run()
    // Adam's first step is −lr·sign(g) up to ε: θ = [1, −2, 3] − 0.1·[1, −1, 1]
    expect(result.restored).toBe(true)
    expect(allClose(result.w, [0.9, -1.9, 2.9], { rtol: 0, atol: 1e-6 }).ok).toBe(true)
  })
})
