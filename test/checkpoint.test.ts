/**
 * Checkpoints that cannot be half-written (issue 12, item 4): the versioned, checksummed state
 * envelope, the transformation's identity, the domain of every state field, the shapes against
 * the params, and the checkpoint files of `fluxion/node` (numbered, kept, torn ones skipped). Every
 * refusal is checked to allocate nothing (the live tensors before and after).
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, describe, expect, it, vi } from 'vitest'
import {
  type StateEnvelope,
  StateDecodeError,
  canonicalJson,
  crc32,
  decodeCheckpoint,
  encodeCheckpoint,
  loadState,
  saveState,
  withIdentity,
} from '../src/core/state.js'
import { CheckpointError, HyperparameterError, ShapeError, StructureError } from '../src/errors.js'
import * as f from '../src/index.js'
import { type AnyTransformation, type Backend, type Params, chain, cpu, dispose, fromArray, liveTensors, readTree, scope } from '../src/index.js'
import { listCheckpoints, loadCheckpoint, saveCheckpoint } from '../src/node.js'
import { propertyParameters } from '../laws/runners.js'
import { caught } from './helpers.js'

const utf8 = (s: string) => new TextEncoder().encode(s)
const quiet = { onWarning: () => undefined }
const params = (): { w: f.Tensor; b: f.Tensor } => ({ w: fromArray([1, -2, 3]), b: fromArray([0.5, 0.25, -1], [3, 1]) })

/** JSON text and back, as a file would. */
const throughJson = <T>(x: T): T => JSON.parse(JSON.stringify(x))

/** The envelope with its checksum recomputed, so that a test reaches the checks after the checksum. */
const reseal = (e: StateEnvelope): StateEnvelope => ({
  ...e,
  checksum: `crc32:${crc32(utf8(canonicalJson({ format: e.format, version: e.version, transform: e.transform, state: e.state }))).toString(16).padStart(8, '0')}`,
})

/** The saved state of `opt` after `steps` updates on `p` (JSON data). */
const savedAfter = async (opt: AnyTransformation, p: Params, steps = 1, extra?: f.UpdateExtras): Promise<StateEnvelope> => {
  let s = opt.init(p)
  for (let i = 0; i < steps; i++) {
    const next = scope(() => opt.update(p, s, p, extra)[1])
    dispose(s, next)
    s = next
  }
  const json = throughJson(await saveState(opt, s))
  dispose(s)
  return json
}

/** What `fn` throws, checking that it allocated nothing on `backend`. */
const refusedWithoutAllocating = (fn: () => unknown, backend: Backend = cpu): Error => {
  const live = liveTensors(backend)
  const e = caught(fn)
  expect(liveTensors(backend)).toBe(live)
  return e
}

describe('the envelope', () => {
  it('saveState writes format, version, the transformation, a CRC-32 checksum and the state', async () => {
    const p = params()
    const env = await savedAfter(f.adam({ learningRate: 0.1 }), p)
    expect(Object.keys(env)).toEqual(['format', 'version', 'transform', 'checksum', 'state'])
    expect(env).toMatchObject({ format: 'fluxion-state', version: 1, transform: { name: 'adam', hyperparameters: { learningRate: 0.1, b1: 0.9, b2: 0.999, eps: 1e-8, epsRoot: 0, convention: 'optax' } } })
    expect(env.checksum).toMatch(/^crc32:[0-9a-f]{8}$/)
    expect(reseal(env).checksum).toBe(env.checksum)
    dispose(p)
  })

  it('crc32 is the IEEE CRC-32 of zlib and PNG', () => {
    expect(crc32(utf8('123456789'))).toBe(0xcbf43926)
    expect(crc32(new Uint8Array(0))).toBe(0)
    expect(crc32(utf8('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339)
  })

  it('the checksum does not depend on key order or whitespace, so a re-serialized file still loads', async () => {
    const p = params()
    const opt = f.adam({ learningRate: 0.1 })
    const env = await savedAfter(opt, p)
    const reversed = (u: unknown): unknown =>
      Array.isArray(u) ? u.map(reversed) : typeof u === 'object' && u !== null ? Object.fromEntries(Object.entries(u).reverse().map(([k, v]) => [k, reversed(v)])) : u
    const s = loadState(opt, JSON.parse(JSON.stringify(reversed(env), null, 2)), cpu, { params: p })
    dispose([p, s])
  })

  it('one flipped base64 character anywhere in a tensor is a checksum mismatch, and nothing is allocated', async () => {
    const p = params()
    const opt = f.adam({ learningRate: 0.1 })
    const env = await savedAfter(opt, p, 2)
    const data = (env.state as [{ mu: { w: { data: string } } }])[0].mu.w.data
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
    fc.assert(
      fc.property(fc.integer({ min: 0, max: data.length - 1 }), fc.integer({ min: 1, max: 63 }), (i, shift) => {
        const flipped = structuredClone(env)
        const c = alphabet[(alphabet.indexOf(data[i]!) + shift) % 64]!
        ;(flipped.state as [{ mu: { w: { data: string } } }])[0].mu.w.data = data.slice(0, i) + c + data.slice(i + 1)
        const e = refusedWithoutAllocating(() => loadState(opt, flipped, cpu, { params: p }))
        return e instanceof CheckpointError && e.problem === 'checksum' && /checksum mismatch/.test(e.message)
      }),
      propertyParameters(100),
    )
    const count = structuredClone(env)
    ;(count.state as [{ count: number }])[0].count = 3
    expect(refusedWithoutAllocating(() => loadState(opt, count))).toMatchObject({ problem: 'checksum' })
    dispose(p)
  })

  it('an unknown format or version, a malformed envelope and a pre-envelope state are refused with a clear message', async () => {
    const p = params()
    const opt = f.adam({ learningRate: 0.1 })
    const env = await savedAfter(opt, p)
    const refusal = (json: unknown, options = {}) => refusedWithoutAllocating(() => loadState(opt, json, cpu, options)) as CheckpointError
    expect(refusal({ ...env, format: 'other' })).toMatchObject({ problem: 'format', message: `expected format 'fluxion-state', got "other"` })
    expect(refusal({ ...env, version: 2 }).message).toBe('fluxion-state version 2 was written by a newer fluxion; this one reads version 1')
    expect(refusal({ ...env, version: '1' }).message).toBe('fluxion-state version "1" is unknown; this fluxion reads version 1')
    expect(refusal({ ...env, checksum: 'md5:00' }).problem).toBe('format')
    expect(refusal({ ...env, transform: 'adam' }).problem).toBe('format')
    const { state: _s, ...noState } = env
    expect(refusal(noState).problem).toBe('format')
    const legacy = refusal(env.state)
    expect(legacy.problem).toBe('legacy')
    expect(legacy.message).toMatch(/^not a saved fluxion state: expected the envelope .*acceptLegacy: true/)
    expect(refusal(null).problem).toBe('legacy')
    const s0 = opt.init(p)
    const checkpointJson = throughJson(await encodeCheckpoint(opt, { params: p, state: s0, step: 0 }))
    expect(refusal(checkpointJson).message).toMatch(/this is a checkpoint/)
    dispose([p, s0])
  })

  it('acceptLegacy loads a pre-envelope state, still checking its domain and shapes, and says so', async () => {
    const p = params()
    const opt = f.adam({ learningRate: 0.1 })
    const env = await savedAfter(opt, p)
    const warnings: string[] = []
    const s = loadState(opt, env.state, cpu, { acceptLegacy: true, params: p, onWarning: (m) => warnings.push(m) })
    expect(warnings).toEqual(['loading a state saved without an envelope (fluxion ≤ 0.2): there is no checksum or transformation to verify'])
    const bad = structuredClone(env.state) as [{ count: number }]
    bad[0].count = -1
    expect(refusedWithoutAllocating(() => loadState(opt, bad, cpu, { acceptLegacy: true, ...quiet }))).toBeInstanceOf(StateDecodeError)
    dispose([p, s])
  })

  it('loadState options are validated: a misspelt option is a HyperparameterError', () => {
    const opt = f.sgd({ learningRate: 0.1 })
    expect(caught(() => loadState(opt, {}, cpu, { acceptlegacy: true } as never))).toBeInstanceOf(HyperparameterError)
    expect(caught(() => loadState(opt, {}, cpu, { onOtherTransform: 'ignore' } as never))).toBeInstanceOf(HyperparameterError)
  })
})

const optimizers: readonly (readonly [string, () => AnyTransformation])[] = [
  ['sgd', () => f.sgd({ learningRate: 0.1 })],
  ['momentum', () => f.momentum({ learningRate: 0.1 })],
  ['noisySgd', () => f.noisySgd({ learningRate: 0.1 })],
  ['adagrad', () => f.adagrad({ learningRate: 0.1 })],
  ['rmsprop', () => f.rmsprop({ learningRate: 0.1 })],
  ['adadelta', () => f.adadelta({ learningRate: 1 })],
  ['adam', () => f.adam({ learningRate: 0.1 })],
  ['adamw', () => f.adamw({ learningRate: 0.1 })],
  ['nadam', () => f.nadam({ learningRate: 0.1 })],
  ['amsgrad', () => f.amsgrad({ learningRate: 0.1 })],
  ['adamax', () => f.adamax({ learningRate: 0.1 })],
  ['lion', () => f.lion({ learningRate: 0.1 })],
  ['lamb', () => f.lamb({ learningRate: 0.1 })],
  ['lars', () => f.lars({ learningRate: 0.1 })],
  ['radam', () => f.radam({ learningRate: 0.1 })],
  ['lbfgs', () => f.lbfgs({ linesearch: null })],
]

describe('a state belongs to the transformation that wrote it', () => {
  it('every optimizer records its name and resolved options', () => {
    for (const [name, make] of optimizers) expect([name, make().identity?.name]).toEqual([name, name])
    expect(f.sgd({ learningRate: f.constant(0.1) }).identity?.hyperparameters.learningRate).toMatch(/^<function/)
    expect(f.adamw({ learningRate: 0.1, convention: 'pytorch' }).identity?.hyperparameters).toMatchObject({ weightDecay: 0.01, convention: 'pytorch' })
  })

  it('of 16 × 15 cross loads between optimizers, every one is refused (adam into nadam, adamax, radam; amsgrad into adam; adamw into lion …), and each optimizer loads its own', async () => {
    const p = params()
    const saved = await Promise.all(optimizers.map(([, make]) => savedAfter(make(), p, 2)))
    const refused: string[] = []
    const loaded: string[] = []
    for (const [i, [from]] of optimizers.entries()) {
      for (const [into, make] of optimizers) {
        const opt = make()
        if (from === into) {
          dispose(loadState(opt, saved[i], cpu, { params: p }))
          loaded.push(into)
          continue
        }
        const e = refusedWithoutAllocating(() => loadState(opt, saved[i], cpu, { params: p }))
        expect([from, into, e instanceof CheckpointError && e.problem]).toEqual([from, into, 'transform'])
        expect(e.message).toMatch(new RegExp(`^this state was saved by ${from} \\{.*\\} and does not fit ${into} \\{`))
        refused.push(`${from}→${into}`)
      }
    }
    expect([refused.length, loaded.length]).toEqual([240, 16])
    for (const pair of ['adam→nadam', 'adam→adamax', 'adam→radam', 'amsgrad→adam', 'adamw→lion']) expect(refused).toContain(pair)
    dispose(p)
  })

  it("onOtherTransform: 'warn' loads another optimizer's state of the same form, with a warning", async () => {
    const p = params()
    const warnings: string[] = []
    const s = loadState(f.nadam({ learningRate: 0.1 }), await savedAfter(f.adam({ learningRate: 0.1 }), p), cpu, { params: p, onOtherTransform: 'warn', onWarning: (m) => warnings.push(m) })
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatch(/^this state was saved by adam .* does not fit nadam/)
    dispose([p, s])
  })

  it("other hyperparameters warn by default (console.warn), refuse with onOtherHyperparameters: 'refuse', and pass with 'ignore'", async () => {
    const p = params()
    const env = await savedAfter(f.adam({ learningRate: 0.1 }), p)
    const other = f.adam({ learningRate: 0.01, b2: 0.99 })
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined)
    try {
      dispose(loadState(other, env, cpu, { params: p }))
      expect(warn.mock.calls).toEqual([['adam: the state was saved with other hyperparameters (saved → now): b2: 0.999 → 0.99, learningRate: 0.1 → 0.01']])
      dispose(loadState(other, env, cpu, { params: p, onOtherHyperparameters: 'ignore' }))
      dispose(loadState(f.adam({ learningRate: 0.1 }), env, cpu, { params: p }))
      expect(warn).toHaveBeenCalledTimes(1)
    } finally {
      warn.mockRestore()
    }
    const e = refusedWithoutAllocating(() => loadState(other, env, cpu, { onOtherHyperparameters: 'refuse' }))
    expect(e).toMatchObject({ problem: 'hyperparameters' })
    dispose(p)
  })

  it('a chain of named transformations is named after them, so chain(adam, …) refuses chain(nadam, …)', async () => {
    const p = params()
    const withPlateau = (opt: AnyTransformation) => chain(opt, f.reduceOnPlateau())
    expect(withPlateau(f.adam({ learningRate: 0.1 })).identity?.name).toBe('chain(adam, ?)')
    expect(chain(f.scaleByAdam(), f.scaleByLearningRate(0.1)).identity).toBeUndefined()
    const env = await savedAfter(withPlateau(f.adam({ learningRate: 0.1 })), p, 1, { value: 1 })
    expect(refusedWithoutAllocating(() => loadState(withPlateau(f.nadam({ learningRate: 0.1 })), env, cpu, { params: p }))).toMatchObject({ problem: 'transform' })
    dispose(loadState(withPlateau(f.adam({ learningRate: 0.1 })), env, cpu, { params: p }))
    dispose(p)
  })

  it('withIdentity names a custom chain; a state of a transformation without one is checked by form only, with a warning', async () => {
    const p = params()
    const custom = withIdentity(chain(f.scaleByAdam(), f.scaleByLearningRate(0.1)), 'myAdam', { learningRate: 0.1, schedule: f.constant(1) })
    expect(custom.identity).toEqual({ name: 'myAdam', hyperparameters: { learningRate: 0.1, schedule: expect.stringMatching(/^<function/) } })
    expect(Object.isFrozen(custom)).toBe(true)
    const anonymous = chain(f.scaleByAdam(), f.scaleByLearningRate(0.1))
    const env = await savedAfter(custom, p)
    expect(caught(() => loadState(f.adam({ learningRate: 0.1 }), env))).toMatchObject({ problem: 'transform' })
    const warnings: string[] = []
    dispose(loadState(anonymous, env, cpu, { params: p, onWarning: (m) => warnings.push(m) }))
    expect(warnings).toEqual(['the state was saved by myAdam; this transformation has no identity, so that cannot be checked'])
    expect(caught(() => withIdentity(anonymous, ''))).toBeInstanceOf(HyperparameterError)
    dispose(p)
  })
})

describe('every state field is checked against its domain', () => {
  const decodeError = (e: Error) => [e instanceof StateDecodeError, (e as StateDecodeError).path, (e as StateDecodeError).expected]

  it('a count of 1e20, 2^53, −1 or 1.5 is refused (a count past 2^53 − 1 would never advance); 2^53 − 1 loads', async () => {
    const p = params()
    const opt = f.adam({ learningRate: 0.1 })
    const env = await savedAfter(opt, p)
    const withCount = (n: number) => {
      const e = structuredClone(env)
      ;(e.state as [{ count: number }, { count: number }])[0].count = n
      return reseal(e)
    }
    for (const n of [1e20, 2 ** 53, -1, 1.5, Number.MAX_VALUE]) {
      expect(decodeError(refusedWithoutAllocating(() => loadState(opt, withCount(n), cpu, { params: p })))).toEqual([true, '0.count', 'an integer in [0, 2^53)'])
    }
    const top = loadState(opt, withCount(2 ** 53 - 1), cpu, { params: p }) as unknown as [{ count: number }]
    expect(top[0].count).toBe(2 ** 53 - 1)
    // and the update itself refuses a count it could not advance
    const bad = [{ ...top[0], count: 1e20 }, (top as unknown as unknown[])[1]] as never
    expect(caught(() => opt.update(p, bad, p))).toBeInstanceOf(StructureError)
    dispose([p, top])
  })

  it('a reduceOnPlateau scale of −1 (descent turned into ascent), NaN, ∞ or 2 is refused; so is a count past accumulationSize', async () => {
    const p = params()
    const opt = chain(f.adam({ learningRate: 0.1 }), f.reduceOnPlateau({ accumulationSize: 3 }))
    const env = await savedAfter(opt, p, 1, { value: 1 })
    const edited = (field: string, value: unknown) => {
      const e = structuredClone(env)
      ;(e.state as [unknown, Record<string, unknown>])[1][field] = value
      return reseal(e)
    }
    for (const scale of [-1, 'NaN', 'Infinity', '-Infinity', 2]) {
      expect(decodeError(refusedWithoutAllocating(() => loadState(opt, edited('scale', scale), cpu, { params: p })))).toEqual([true, '1.scale', 'a number in [0, 1]'])
    }
    expect(decodeError(caught(() => loadState(opt, edited('count', 3))))).toEqual([true, '1.count', 'an integer in [0, 2]'])
    expect(decodeError(caught(() => loadState(opt, edited('sumValue', 'NaN'))))).toEqual([true, '1.sumValue', 'a finite number'])
    expect(decodeError(caught(() => loadState(opt, edited('bestValue', '-Infinity'))))).toEqual([true, '1.bestValue', 'a finite number or Infinity'])
    dispose(loadState(opt, edited('scale', 0.5), cpu, { params: p }))
    dispose(p)
  })

  it('a negative second moment is refused, naming the element; NaN and +∞ load (a diverged state saves and loads exactly)', async () => {
    const p = params()
    const cases: readonly (readonly [AnyTransformation, number, string])[] = [
      [f.adam({ learningRate: 0.1 }), 0, 'nu'],
      [f.amsgrad({ learningRate: 0.1 }), 0, 'nuMax'],
      [f.adagrad({ learningRate: 0.1 }), 0, 'sumOfSquares'],
      [f.rmsprop({ learningRate: 0.1 }), 0, 'nu'],
      [f.rmsprop({ learningRate: 0.1, centered: true }), 0, 'nu'],
      [f.adadelta({ learningRate: 1 }), 0, 'eX'],
      [f.adamax({ learningRate: 0.1 }), 0, 'nu'],
      [f.radam({ learningRate: 0.1 }), 0, 'nu'],
    ]
    for (const [opt, index, field] of cases) {
      const env = await savedAfter(opt, p)
      const withValues = (values: number[]) => {
        const e = structuredClone(env)
        ;(e.state as Record<string, Record<string, unknown>>[])[index]![field] = { ...(throughJson(f.paramsCodec.encode({ w: new f.StoredTensor([3], Float32Array.from(values)), b: new f.StoredTensor([3, 1], Float32Array.of(0, 0, 0)) })) as object) }
        return reseal(e)
      }
      const e = refusedWithoutAllocating(() => loadState(opt, withValues([1, 0, -0.5]), cpu, { params: p }))
      expect([field, e instanceof StateDecodeError, (e as StateDecodeError).path]).toEqual([field, true, `${index}.${field}.w`])
      expect(e.message).toMatch(/with no negative element; element 2 is -0\.5/)
      expect(caught(() => loadState(opt, withValues([1, -Infinity, 0]), cpu))).toBeInstanceOf(StateDecodeError)
      const diverged = loadState(opt, withValues([Number.NaN, Infinity, -0]), cpu, { params: p })
      const host = (await readTree(diverged)) as Record<string, Record<string, Float32Array>>[]
      expect(Array.from(host[index]![field]!.w!)).toEqual([Number.NaN, Infinity, -0])
      dispose(diverged)
    }
    dispose(p)
  })

  it('a random key with a word outside [0, 2^32) is refused', async () => {
    const p = params()
    const opt = f.noisySgd({ learningRate: 0.1 })
    const env = await savedAfter(opt, p)
    const e = structuredClone(env)
    ;(e.state as [{ key: { words: number[] } }])[0].key.words[1] = 2 ** 32
    expect(decodeError(caught(() => loadState(opt, reseal(e))))).toEqual([true, '0.key.words.1', 'an integer in [0, 2^32)'])
    dispose(p)
  })
})

describe('given the params, every shape is checked before anything is allocated', () => {
  it('a state for other shapes, a missing or an extra leaf is refused naming the path; without params it loads', async () => {
    const p = params()
    const opt = f.adam({ learningRate: 0.1 })
    const env = await savedAfter(opt, p)
    const wider = { w: fromArray([1, 2, 3, 4]), b: fromArray([0.5, 0.25, -1], [3, 1]) }
    const e1 = refusedWithoutAllocating(() => loadState(opt, env, cpu, { params: wider }))
    expect(e1).toBeInstanceOf(ShapeError)
    expect(e1.message).toBe('shape mismatch at [0].mu.w: the saved state has [3] where the params give [4]')
    const transposed = { w: fromArray([1, -2, 3]), b: fromArray([0.5, 0.25, -1], [1, 3]) }
    expect(refusedWithoutAllocating(() => loadState(opt, env, cpu, { params: transposed })).message).toBe('shape mismatch at [0].mu.b: the saved state has [3, 1] where the params give [1, 3]')
    const more = { ...p, c: fromArray([1]) }
    expect(refusedWithoutAllocating(() => loadState(opt, env, cpu, { params: more })).message).toBe('tree structures differ at [0].mu.c: missing from the saved state (the params have it)')
    const fewer = { w: p.w }
    expect(refusedWithoutAllocating(() => loadState(opt, env, cpu, { params: fewer })).message).toBe('tree structures differ at [0].mu.b: in the saved state but not in the params')
    dispose(loadState(opt, env))
    dispose([p, wider, transposed.b, more.c])
  })

  it('no false alarms: wrappers, masks, groups, L-BFGS memory and noise load with their own params after 3 steps, and refuse wider params', async () => {
    const p = params()
    const cases: readonly (readonly [string, AnyTransformation])[] = [
      ['masked', f.masked(f.adam({ learningRate: 0.1 }), { w: true, b: false })],
      ['freeze', f.freeze({ w: false, b: true })],
      ['multiTransform', f.multiTransform({ a: f.adam({ learningRate: 0.1 }), s: f.sgd({ learningRate: 0.1 }) }, { w: 'a', b: 's' })],
      ['applyIfFinite', f.applyIfFinite(f.adam({ learningRate: 0.1 }))],
      ['multiSteps', f.multiSteps(f.adam({ learningRate: 0.1 }), { everyK: 2 })],
      ['applyEvery', f.applyEvery(2)],
      ['lookahead', f.lookahead(f.adam({ learningRate: 0.1 }))],
      ['emaParams', f.emaParams()],
      ['injectHyperparams', f.injectHyperparams(f.adam)({ learningRate: 0.1 })],
      ['lbfgs', f.lbfgs({ memorySize: 2, linesearch: null })],
      ['noisySgd', f.noisySgd({ learningRate: 0.1 })],
      ['clipByGlobalNorm', f.clipByGlobalNorm(1)],
      ['reduceOnPlateau', chain(f.adam({ learningRate: 0.1 }), f.reduceOnPlateau())],
    ]
    const wider = { w: fromArray([1, 2, 3, 4]), b: fromArray([0.5, 0.25, -1], [3, 1]) }
    for (const [name, opt] of cases) {
      const env = await savedAfter(opt, p, 3, { value: 1 })
      const s = loadState(opt, env, cpu, { params: p, ...quiet })
      dispose(s)
      // these states hold no tensor shaped like the params
      if (!['clipByGlobalNorm', 'freeze', 'noisySgd'].includes(name)) {
        const e = refusedWithoutAllocating(() => loadState(opt, env, cpu, { params: wider, ...quiet }))
        expect([name, e instanceof ShapeError]).toEqual([name, true])
      }
    }
    dispose([p, wider])
  })

  it('the shapes are computed without allocating, even for a transformation whose init allocates on the cpu', async () => {
    const opt = f.applyIfFinite(f.sgd({ learningRate: 0.1 }))
    const env = await savedAfter(opt, {})
    const live = liveTensors(cpu)
    const s = loadState(opt, env, cpu, { params: {} })
    expect(liveTensors(cpu)).toBe(live + 3)
    dispose(s)
    expect(liveTensors(cpu)).toBe(live)
  })

  it('an upload that fails part-way releases what it had uploaded', async () => {
    const p = params()
    const opt = f.adam({ learningRate: 0.1 })
    const env = await savedAfter(opt, p)
    let uploads = 0
    const flaky: Backend = {
      ...cpu,
      fromData: (data, shape) => {
        if (++uploads === 3) throw new RangeError('out of memory')
        return cpu.fromData(data, shape)
      },
    }
    expect(refusedWithoutAllocating(() => loadState(opt, env, flaky))).toBeInstanceOf(RangeError)
    dispose(p)
  })
})

describe('checkpoint JSON', () => {
  it('encodeCheckpoint / decodeCheckpoint round-trip params, state and step exactly', async () => {
    const p = { w: fromArray([1, Number.NaN, -0, Infinity]) }
    const opt = f.adam({ learningRate: 0.1 })
    const s = opt.init(p)
    const json = throughJson(await encodeCheckpoint(opt, { params: p, state: s, step: 41 }))
    expect(json).toMatchObject({ format: 'fluxion-checkpoint', version: 1, step: 41, checksum: expect.stringMatching(/^crc32:[0-9a-f]{8}$/), state: { format: 'fluxion-state' } })
    const back = decodeCheckpoint(opt, json)
    expect(back.step).toBe(41)
    expect(await readTree(back.params)).toEqual(await readTree(p))
    expect(await readTree(back.state)).toEqual(await readTree(s))
    dispose([p, s, back.params, back.state])
  })

  it('a damaged checkpoint is a checksum error before anything is decoded; a bad step or params leaf is refused on encode', async () => {
    const p = { w: fromArray([1, 2, 3]) }
    const opt = f.sgd({ learningRate: 0.1 })
    const s = opt.init(p)
    const json = throughJson(await encodeCheckpoint(opt, { params: p, state: s, step: 1 }))
    const damaged = structuredClone(json) as { params: { w: { data: string } } }
    damaged.params.w.data = `B${damaged.params.w.data.slice(1)}`
    expect(refusedWithoutAllocating(() => decodeCheckpoint(opt, damaged))).toMatchObject({ problem: 'checksum' })
    expect(refusedWithoutAllocating(() => decodeCheckpoint(opt, { ...json, step: 2 }))).toMatchObject({ problem: 'checksum' })
    expect(refusedWithoutAllocating(() => decodeCheckpoint(opt, { ...json, format: 'fluxion-state' }))).toMatchObject({ problem: 'format' })
    await expect(encodeCheckpoint(opt, { params: p, state: s, step: -1 })).rejects.toBeInstanceOf(HyperparameterError)
    await expect(encodeCheckpoint(opt, { params: { w: 3 } as never, state: s, step: 0 })).rejects.toBeInstanceOf(f.BackendError)
    dispose([p, s])
  })
})

describe('checkpoint files (fluxion/node)', () => {
  const dirs: string[] = []
  const freshDir = async () => {
    const d = await mkdtemp(join(tmpdir(), 'fluxion-checkpoint-'))
    dirs.push(d)
    return d
  }
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true })
  })
  const opt = f.adam({ learningRate: 0.1 })
  /** Params whose values say the step, and the state after that many updates' worth of counts. */
  const contents = (step: number) => {
    const p = { w: fromArray([step, step + 0.5, -step]) }
    return { params: p, state: opt.init(p), step, transform: opt }
  }
  const saveSteps = async (file: string, steps: readonly number[], keep?: number) => {
    for (const step of steps) {
      const c = contents(step)
      await saveCheckpoint(file, c, keep === undefined ? {} : { keep })
      dispose([c.params, c.state])
    }
  }

  it('numbers the files, keeps the newest 3 by default (or keep), leaves no temporary file, and loads the newest', async () => {
    const dir = await freshDir()
    const file = join(dir, 'run', 'model.json')
    expect(await loadCheckpoint(file, opt)).toBeUndefined()
    await saveSteps(file, [10, 20, 30, 40, 50])
    expect((await listCheckpoints(file)).map((x) => x.file)).toEqual([50, 40, 30].map((_, i) => join(dir, 'run', `model.00000${5 - i}.json`)))
    expect((await readdir(join(dir, 'run'))).sort()).toEqual(['model.000003.json', 'model.000004.json', 'model.000005.json'])
    const live = liveTensors(cpu)
    const loaded = await loadCheckpoint(file, opt)
    expect(loaded).toMatchObject({ step: 50, file: join(dir, 'run', 'model.000005.json'), skipped: [] })
    expect(Array.from(((await readTree(loaded!.params)) as { w: Float32Array }).w)).toEqual([50, 50.5, -50])
    dispose([loaded!.params, loaded!.state])
    expect(liveTensors(cpu)).toBe(live)
    await saveSteps(file, [60], 1)
    expect((await readdir(join(dir, 'run'))).sort()).toEqual(['model.000006.json'])
    await expect(saveCheckpoint(file, contents(0), { keep: 0 })).rejects.toBeInstanceOf(HyperparameterError)
  })

  it('a torn or damaged newest file is skipped, saying so, and the previous one is loaded', async () => {
    const dir = await freshDir()
    const file = join(dir, 'model.json')
    await saveSteps(file, [1, 2, 3])
    const [newest, previous] = await listCheckpoints(file)
    const text = await readFile(newest!.file, 'utf8')
    for (const torn of [text.slice(0, text.length >> 1), text.replace('"step":3', '"step":4'), '']) {
      await writeFile(newest!.file, torn)
      const warnings: string[] = []
      const loaded = await loadCheckpoint(file, opt, cpu, { onWarning: (m) => warnings.push(m) })
      expect(loaded).toMatchObject({ step: 2, file: previous!.file, skipped: [{ file: newest!.file }] })
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toContain(`loaded ${previous!.file} (step 2); skipped ${newest!.file}`)
      dispose([loaded!.params, loaded!.state])
    }
    await writeFile(previous!.file, 'not json')
    const oldest = (await listCheckpoints(file))[2]!
    await writeFile(oldest.file, '{}')
    const e = await loadCheckpoint(file, opt, cpu, quiet).catch((x: unknown) => x)
    expect(e).toBeInstanceOf(CheckpointError)
    expect((e as CheckpointError).problem).toBe('missing')
  })

  it("another transformation's checkpoint is refused at once, not skipped for an older one", async () => {
    const dir = await freshDir()
    const file = join(dir, 'model.json')
    await saveSteps(file, [1, 2])
    const e = await loadCheckpoint(file, f.nadam({ learningRate: 0.1 })).catch((x: unknown) => x)
    expect(e).toMatchObject({ problem: 'transform' })
  })

  it('the temporary file of an interrupted save is ignored by loadCheckpoint and removed by the next save', async () => {
    const dir = await freshDir()
    const file = join(dir, 'model.json')
    await saveSteps(file, [1])
    await writeFile(join(dir, 'model.000002.json.tmp-abc123'), '{"format":"fluxion-checkpoint"')
    expect(await loadCheckpoint(file, opt).then((c) => (c && dispose([c.params, c.state]), c?.step))).toBe(1)
    await saveSteps(file, [2])
    expect((await readdir(dir)).sort()).toEqual(['model.000001.json', 'model.000002.json'])
  })

  it('saves of one name started together are written one after the other', async () => {
    const dir = await freshDir()
    const file = join(dir, 'model')
    const cs = [1, 2, 3, 4].map(contents)
    const written = await Promise.all(cs.map((c) => saveCheckpoint(file, c, { keep: 10 })))
    expect(written).toEqual([1, 2, 3, 4].map((n) => join(dir, `model.00000${n}`)))
    const loaded = await loadCheckpoint(file, opt)
    expect(loaded?.step).toBe(4)
    dispose([loaded!.params, loaded!.state, ...cs.flatMap((c) => [c.params, c.state])])
  })
})
