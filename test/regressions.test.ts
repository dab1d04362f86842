/**
 * Regression tests for the smaller reproductions of the hostile-user probe (issue 12, item 10) that
 * have no home of their own: each failed before its fix.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { type AnyTransformation, BackendError, CheckpointError, HyperparameterError, Tensor, UnsupportedError, adam, adamw, add, chain, clipByGlobalNorm, createCpuBackend, dense, dispose, earlyStopping, earlyStoppingMonitor, evaluate, fit, fromArray, gradCheck, hostMatrix, injectHyperparams, key, loadState, lookahead, read, saveState, scope, sequential, sgd, softmaxCrossEntropy } from '../src/index.js'
import { createGpuBackend } from '../src/gpu.js'
import { listCheckpoints, loadCheckpoint, saveCheckpoint } from '../src/node.js'
import { allClose } from '../laws/allclose.js'
import { caught } from './helpers.js'

describe('smaller reproductions of the probe', () => {
  it('hostMatrix copies its data: writing to the caller\'s array later does not change the matrix', () => {
    const data = new Float32Array([1, 2, 3, 4])
    const m = hostMatrix(data, 2, 2)
    data[0] = 99
    expect(Array.from(m.data)).toEqual([1, 2, 3, 4])
  })

  it.each([
    ['earlyStopping', () => earlyStopping({ evaluateEvery: 1, patience: 2, baseline: NaN }, { initial: 0, train: (x: number) => x, validationError: () => 1 })],
    ['earlyStoppingMonitor', () => earlyStoppingMonitor({ patience: 2, baseline: NaN })],
  ])('%s refuses baseline NaN (it used to run and never improve)', async (name, run) => {
    let error: unknown
    try {
      await run()
    } catch (e) {
      error = e
    }
    expect(error).toBeInstanceOf(HyperparameterError)
    expect((error as HyperparameterError).message).toBe(`${name}: baseline = NaN is invalid; expected a number, not NaN (±∞ allowed)`)
  })

  it('tensors of two distinct backends with one name: the message says they are two backends', () => {
    const a = createCpuBackend('cpu')
    const b = createCpuBackend('cpu')
    const e = caught(() => add(fromArray([1], [1], a), fromArray([2], [1], b)))
    expect(e).toBeInstanceOf(BackendError)
    expect(e.message).toContain('tensor on one cpu backend combined with a tensor on another cpu backend (two backends created separately; move one with toBackend)')
  })

  it('reading from a destroyed gpu backend says it was destroyed, not that the tensor was disposed', async () => {
    const gpu = await createGpuBackend({ mode: 'webasm' })
    const t = fromArray([1, 2], [2], gpu)
    await gpu.destroy()
    await expect(read(t)).rejects.toBeInstanceOf(UnsupportedError)
    await expect(read(t)).rejects.toThrow('backend gpu:webasm was destroyed')
  })
})

describe('fit and evaluate (issue 12, item 10)', () => {
  const data = (n: number) => ({ x: hostMatrix(Array.from({ length: 2 * n }, (_, i) => (i % 3) - 1), n, 2), y: hostMatrix(Array.from({ length: 2 * n }, (_, i) => (i % 2 === Math.floor(i / 2) % 2 ? 1 : 0)), n, 2) })

  it('refuses empty training, validation or evaluation data instead of returning NaN', async () => {
    const model = sequential([dense(2)])
    const base = { model, loss: softmaxCrossEntropy, optimizer: adam({ learningRate: 0.01 }), epochs: 1, batchSize: 4, key: key(0) }
    await expect(fit({ ...base, train: data(0) })).rejects.toThrow('fit: train = "0 rows" is invalid; expected at least one row')
    await expect(fit({ ...base, train: data(8), validation: data(0) })).rejects.toThrow('fit: validation = "0 rows" is invalid; expected at least one row')
    const { params, state } = model.init(key(1), [2])
    await expect(evaluate(model, params, state, data(0), softmaxCrossEntropy)).rejects.toThrow('evaluate: data = "0 rows" is invalid; expected at least one row')
    dispose([params, state])
  })

  it('feeds reduceOnPlateau the previous epoch\'s validation loss, once per epoch', async () => {
    const seen: (number | undefined)[] = []
    const inner = sgd({ learningRate: 0.01 })
    const spy: AnyTransformation = { init: inner.init, update: (u, s, p, extra) => (seen.push(extra?.value), inner.update(u, s as never, p, extra)) }
    const result = await fit({ model: sequential([dense(2)]), loss: softmaxCrossEntropy, optimizer: spy, train: data(8), validation: data(4), epochs: 3, batchSize: 4, key: key(0) })
    // 2 batches per epoch: nothing in epoch 1, then epoch k − 1's validation loss with epoch k's first batch
    expect(seen).toEqual([undefined, undefined, result.history[0]!.validationLoss, undefined, result.history[1]!.validationLoss, undefined])
    dispose([result.params, result.state])
  })
})

describe('scope', () => {
  it('refuses an async function without leaving an unhandled rejection behind', async () => {
    const rejections: unknown[] = []
    const onRejection = (e: unknown) => rejections.push(e)
    process.on('unhandledRejection', onRejection)
    try {
      expect(() => scope((async () => {
        throw new Error('late')
      }) as never)).toThrow(UnsupportedError)
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(rejections).toEqual([])
    } finally {
      process.off('unhandledRejection', onRejection)
    }
  })
})

describe('state is frozen all the way down (issue 12, item 10)', () => {
  const frozenThroughout = (x: unknown): boolean =>
    x === null || typeof x !== 'object' || x instanceof Tensor || ArrayBuffer.isView(x) || (Object.isFrozen(x) && Object.values(x).every(frozenThroughout))

  it.each([
    ['adam', () => adam({ learningRate: 0.1 })],
    ['a chain with lookahead and masks', () => chain(clipByGlobalNorm(1), lookahead(adamw({ learningRate: 0.1, weightDecay: 1e-2 })))],
    ['injectHyperparams', () => injectHyperparams(sgd)({ learningRate: 0.1, momentum: 0.9 })],
  ])('%s: init and update return deeply frozen state', (_name, make) => {
    const opt = make() as AnyTransformation
    const params = { w: fromArray([1, -2, 3], [3]), b: { c: fromArray([0.5], [1]) } }
    const s0 = opt.init(params)
    const [u, s1] = opt.update(params, s0, params)
    expect(frozenThroughout(s0)).toBe(true)
    expect(frozenThroughout(s1)).toBe(true)
    dispose([params, s0, u, s1])
  })
})

describe('fit, evaluate and gradCheck refuse unknown or mistyped options', () => {
  const data = { x: hostMatrix([1, 0, 0, 1], 2, 2), y: hostMatrix([1, 0, 0, 1], 2, 2) }
  const base = { model: sequential([dense(2)]), loss: softmaxCrossEntropy, optimizer: sgd({ learningRate: 0.1 }), train: data, epochs: 1, batchSize: 2, key: key(0) }
  it.each([
    [{ ...base, epoch: 3 }, 'fit: epoch = 3 is invalid; expected no such option; known options are model, loss, optimizer, train, validation, epochs, batchSize, key, backend, earlyStopping, onBatch, onEpoch, initial'],
    [{ ...base, onBatch: 5 }, 'fit: onBatch = 5 is invalid; expected a function'],
    [{ ...base, optimizer: 0.1 }, 'fit: optimizer = 0.1 is invalid; expected a GradientTransformation { init, update }'],
    [{ ...base, model: dense }, 'fit: model = '],
  ])('fit(%#)', async (options, message) => {
    await expect(fit(options as never)).rejects.toThrow(message)
  })

  it('evaluate and gradCheck', async () => {
    const model = sequential([dense(2)])
    const { params, state } = model.init(key(1), [2])
    await expect(evaluate(model, params, state, data, softmaxCrossEntropy, { batchsize: 10 } as never)).rejects.toThrow('evaluate: batchsize = 10 is invalid; expected no such option; known options are batchSize, backend')
    const p = { w: fromArray([1, 2], [2]) }
    await expect(gradCheck(() => fromArray([0], []), (x) => x, p, { step: 0.1 } as never)).rejects.toThrow('gradCheck: step = 0.1 is invalid; expected no such option; known options are h, samples, key, floor')
    dispose([params, state, p])
  })
})

describe('second review of the trust work', () => {
  it('allClose completes a partial tolerance and refuses unknown or mistyped fields', () => {
    expect(allClose([1], [1], { atol: 1e-3 }).ok).toBe(true)
    // rtol 2e-4 is kept: |Δ| = 3e-4 ≤ 0 + 2e-4·2, but 5e-4 is not
    expect(allClose([1, 2.0003], [1, 2], { atol: 0 }).ok).toBe(true)
    expect(allClose([1, 2.0005], [1, 2], { atol: 0 }).ok).toBe(false)
    expect(() => allClose([1], [1], { atoll: 1 } as never)).toThrow('allClose: unknown tolerance field "atoll"; the fields are rtol, atol, nanEqual')
    expect(() => allClose([1], [1], { rtol: 'x' } as never)).toThrow('allClose: rtol must be a number ≥ 0, got x')
    expect(allClose({ a: 1 }, { a: 2 })).toMatchObject({ ok: false, message: expect.stringMatching(/^a: 1 vs expected 2 /) })
  })

  it('chain refuses what is not a transformation when it is built', () => {
    const e = caught(() => chain(sgd({ learningRate: 0.1 }), 5 as never))
    expect(e).toBeInstanceOf(HyperparameterError)
    expect(e.message).toBe('chain: transforms[1] = 5 is invalid; expected a GradientTransformation { init, update }')
  })

  it('checkpoint names: a folder-like name is refused, a sequence number past 2^53 is left alone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fluxion-ckpt-'))
    try {
      const opt = sgd({ learningRate: 0.1 })
      const params = { w: fromArray([1], [1]) }
      const state = opt.init(params)
      await expect(saveCheckpoint(join(dir, 'o') + '/', { params, state, step: 1, transform: opt })).rejects.toThrow('checkpoint name must be a file path')
      // a folder that is a file: a typed error naming it, Node's error as the cause
      writeFileSync(join(dir, 'plain'), 'x')
      const io = await saveCheckpoint(join(dir, 'plain', 'model.json'), { params, state, step: 1, transform: opt }).catch((e: unknown) => e)
      expect(io).toBeInstanceOf(CheckpointError)
      expect(io).toMatchObject({ problem: 'io', message: expect.stringMatching(/plain: cannot create the checkpoint folder \((EEXIST|ENOTDIR): /) })
      await expect(loadCheckpoint(join(dir, 'plain', 'model.json'), opt)).rejects.toMatchObject({ problem: 'io', message: expect.stringMatching(/cannot read the checkpoint folder \(ENOTDIR: /) })
      writeFileSync(join(dir, 'model.999999999999999999999.json'), 'not fluxion')
      await saveCheckpoint(join(dir, 'model.json'), { params, state, step: 1, transform: opt })
      await saveCheckpoint(join(dir, 'model.json'), { params, state, step: 2, transform: opt })
      expect((await listCheckpoints(join(dir, 'model.json'))).map((c) => c.sequence)).toEqual([2, 1])
      const loaded = await loadCheckpoint(join(dir, 'model.json'), opt)
      expect(loaded?.step).toBe(2)
      dispose([params, state, loaded?.params, loaded?.state])
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('the state envelope holds only the fields its checksum covers', () => {
  it('an extra top-level field is refused', async () => {
    const opt = sgd({ learningRate: 0.1 })
    const params = { w: fromArray([1], [1]) }
    const state = opt.init(params)
    const json = JSON.parse(JSON.stringify(await saveState(opt, state))) as Record<string, unknown>
    expect(() => loadState(opt, { ...json, note: 'x' })).toThrow('the envelope has fields it does not define ("note"); it holds format, version, transform, checksum and state')
    const loaded = loadState(opt, json)
    dispose([params, state, loaded])
  })
})
