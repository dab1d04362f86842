/**
 * Regression tests for the smaller reproductions of the hostile-user probe (issue 12, item 10) that
 * have no home of their own: each failed before its fix. Also guards for fixes of other items that
 * the item's own tests do not pin down (item 4: an upload failing part-way through loading).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { type AnyTransformation, type Backend, BackendError, CheckpointError, HyperparameterError, Tensor, UnsupportedError, adam, adamw, add, chain, clipByGlobalNorm, createCpuBackend, decodeCheckpoint, dense, dispose, earlyStopping, earlyStoppingMonitor, encodeCheckpoint, evaluate, fit, fromArray, gradCheck, hostMatrix, huber, injectHyperparams, key, liveTensors, loadState, lookahead, meanSquaredError, read, saveState, scope, sequential, sgd, softmaxCrossEntropy } from '../src/index.js'
import { createGpuBackend } from '../src/gpu.js'
import { kernelCacheStats } from '../src/tensor/gpu.js'
import { listCheckpoints, loadCheckpoint, saveCheckpoint } from '../src/node.js'
import { allClose, float32Tolerance } from '../laws/allclose.js'
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

  it('huber compiles one kernel for every delta: a new delta adds nothing to a gpu backend\'s kernel cache, and the values are Huber\'s', async () => {
    const gpu = await createGpuBackend({ mode: 'webasm' })
    try {
      // residuals r = p − y = [−3, −1.75, 0.5, −0.2, −0.25, 0.3, 0.25, 2, 3]: both branches for most δ, and |r| = δ
      const ps = [-3, -1.25, -0.5, -0.2, 0, 0.3, 0.75, 1.5, 4]
      const ys = [0, 0.5, -1, 0, 0.25, 0, 0.5, -0.5, 1]
      const p = fromArray(ps, [3, 3], gpu)
      const y = fromArray(ys, [3, 3], gpu)
      // Huber 1964 in float64: ℓ(r) = ½r² for |r| ≤ δ, else δ(|r| − ½δ); ∂ℓ/∂p = r, else δ·sign(r); both over N = 9
      const reference = (delta: number) => {
        const r = ps.map((v, i) => v - ys[i]!)
        return {
          loss: Float64Array.of(r.reduce((sum, x) => sum + (Math.abs(x) <= delta ? 0.5 * x * x : delta * (Math.abs(x) - 0.5 * delta)), 0) / r.length),
          grad: Float64Array.from(r, (x) => (Math.abs(x) <= delta ? x : delta * Math.sign(x)) / r.length),
        }
      }
      const check = async (delta: number) => {
        const { loss, grad } = huber({ delta })(p, y)
        const got = { loss: await read(loss), grad: await read(grad) }
        dispose([loss, grad])
        const c = allClose(got, reference(delta), float32Tolerance)
        expect(c.ok ? 'ok' : c.message, `huber({ delta: ${delta} })`).toBe('ok')
      }
      await check(0.5)
      const afterFirst = kernelCacheStats(gpu)!
      for (const delta of [2, 1, 0.1, 3.5, 1e-3]) {
        await check(delta)
        expect(kernelCacheStats(gpu), `kernels after huber({ delta: ${delta} })`).toEqual(afterFirst)
      }
      // the count does see a new op: another loss over the same shapes compiles its own kernels
      dispose(meanSquaredError(p, y))
      expect(kernelCacheStats(gpu)!.cached).toBeGreaterThan(afterFirst.cached)
      dispose([p, y])
      expect(liveTensors(gpu)).toBe(0)
    } finally {
      await gpu.destroy()
    }
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

describe('an upload that fails part-way releases everything uploaded before it (issue 12, item 4)', () => {
  /** A fresh cpu backend whose `at`-th upload (`fromData`) throws `error`; everything else is the cpu backend's. */
  const failingUpload = (at: number) => {
    const base = createCpuBackend('cpu:uploads')
    const error = new RangeError(`upload ${at}: out of device memory`)
    let uploads = 0
    const backend: Backend = {
      ...base,
      fromData: (data, shape) => {
        if (++uploads === at) throw error
        return base.fromData(data, shape)
      },
    }
    return { backend, error, uploads: () => uploads }
  }
  const opt = adam({ learningRate: 0.1 })
  /** Three params leaves and one Adam step on the cpu: the state holds μ and ν of each, 6 tensors. */
  const trained = () => {
    const params = { w: fromArray([1, -2, 3, 0.5], [2, 2]), b: fromArray([0.25, -1], [2]), s: fromArray([4], []) }
    const [updates, state] = scope(() => opt.update(params, opt.init(params), params))
    dispose(updates)
    return { params, state }
  }
  const throughJson = <T>(x: T): unknown => JSON.parse(JSON.stringify(x))

  /** Loads with an upload failing at each position in turn; each must rethrow it and leave nothing live. */
  const failEverywhere = (uploadsNeeded: number, load: (b: Backend) => unknown) => {
    const whole = failingUpload(Infinity)
    dispose(load(whole.backend))
    // the fixture uploads at least 4 tensors, so a failure at the 4th is part-way
    expect(whole.uploads()).toBe(uploadsNeeded)
    for (let at = 1; at <= uploadsNeeded; at++) {
      const f = failingUpload(at)
      const live = liveTensors(f.backend)
      let thrown: unknown
      try {
        load(f.backend)
      } catch (e) {
        thrown = e
      }
      expect(thrown, `failing at upload ${at}`).toBe(f.error)
      expect(f.uploads(), `no upload after the failing one (${at})`).toBe(at)
      expect(liveTensors(f.backend), `tensors left live after failing at upload ${at}`).toBe(live)
    }
  }

  it('loadState rethrows the upload\'s error and releases the tensors it had uploaded', async () => {
    const { params, state } = trained()
    const json = throughJson(await saveState(opt, state))
    failEverywhere(6, (b) => loadState(opt, json, b))
    dispose([params, state])
  })

  it('decodeCheckpoint does the same, across the params and the state (the 4th upload is the state\'s first)', async () => {
    const { params, state } = trained()
    const json = throughJson(await encodeCheckpoint(opt, { params, state, step: 1 }))
    failEverywhere(9, (b) => {
      const c = decodeCheckpoint(opt, json, b)
      return [c.params, c.state]
    })
    dispose([params, state])
  })

  it('loadCheckpoint rethrows it too, without trying an older file, and leaves nothing live', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fluxion-ckpt-'))
    try {
      const { params, state } = trained()
      await saveCheckpoint(join(dir, 'model.json'), { params, state, step: 1, transform: opt })
      await saveCheckpoint(join(dir, 'model.json'), { params, state, step: 2, transform: opt })
      dispose([params, state])
      const f = failingUpload(4)
      await expect(loadCheckpoint(join(dir, 'model.json'), opt, f.backend)).rejects.toBe(f.error)
      expect(f.uploads()).toBe(4)
      expect(liveTensors(f.backend)).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
