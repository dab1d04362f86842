/**
 * fluxion/node: checkpoint files, for Node only (the main entry stays free of `node:*` imports).
 *
 * `saveCheckpoint('run/model.json', …)` writes `run/model.000001.json`, `run/model.000002.json`, …
 * (a sequence number per save, not the step) and keeps the newest `keep` (default 3). Each file is
 * written whole or not at all: to a temporary file in the same directory, which is fsync'ed, then
 * renamed over its name, then the directory is fsync'ed; a crash at any moment leaves the previous
 * checkpoints intact and at most a stray temporary file, which the next save removes.
 * `loadCheckpoint` reads the newest file whose checksum verifies, and falls back to the one before
 * when the newest is torn or damaged, saying so. See docs/state.md.
 *
 * One writer per checkpoint name: saves from this process are queued, saves from two processes to
 * one name are not coordinated.
 *
 * @module fluxion/node
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, readFile, readdir, rename, unlink } from 'node:fs/promises'
import { basename, dirname, extname, join } from 'node:path'
import { type Checkpoint, type LoadStateOptions, decodeCheckpoint, encodeCheckpoint } from './core/state.js'
import type { GradientTransformation } from './core/types.js'
import { ranges, validate } from './core/validate.js'
import { CheckpointError, FluxionError } from './errors.js'
import { cpu } from './tensor/cpu.js'
import type { Backend } from './tensor/tensor.js'

export { type Checkpoint, type CheckpointJson, decodeCheckpoint, encodeCheckpoint } from './core/state.js'

/** What `saveCheckpoint` writes: a checkpoint and the transformation whose state it holds. */
export interface CheckpointToSave<S> extends Checkpoint<S> {
  readonly transform: GradientTransformation<S>
}

/** Options of `saveCheckpoint`. */
export interface SaveCheckpointOptions {
  /** How many checkpoint files to keep, newest first, an integer ≥ 1. Default 3. */
  readonly keep?: number
}

/** A checkpoint file on disk. */
export interface CheckpointFile {
  readonly file: string
  /** Its sequence number: the newest file has the largest. */
  readonly sequence: number
}

/** What `loadCheckpoint` returns. */
export interface LoadedCheckpoint<S> extends Checkpoint<S> {
  /** The file it was read from. */
  readonly file: string
  /** Newer files that were torn or damaged and skipped, with the reason, newest first. */
  readonly skipped: readonly { readonly file: string; readonly reason: string }[]
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** `run/model.json` → the directory, and the pattern of `model.<n>.json` and of its temporary files. */
const naming = (file: string) => {
  if (typeof file !== 'string' || file === '' || basename(file) === '' || /[\\/]$/.test(file)) throw new FluxionError(`checkpoint name must be a file path, got ${JSON.stringify(file)}`)
  const dir = dirname(file)
  const ext = extname(file)
  const stem = basename(file, ext)
  const name = (sequence: number) => join(dir, `${stem}.${String(sequence).padStart(6, '0')}${ext}`)
  const numbered = new RegExp(`^${escapeRegExp(stem)}\\.(\\d+)${escapeRegExp(ext)}$`)
  const temporary = new RegExp(`^${escapeRegExp(stem)}\\.\\d+${escapeRegExp(ext)}\\.tmp-[0-9a-f]+$`)
  return { dir, name, numbered, temporary }
}

/** A file-system failure as a typed error naming the folder and Node's code (the original is its cause). */
const ioError = (dir: string, what: string, e: unknown): CheckpointError => {
  const code = (e as NodeJS.ErrnoException).code ?? 'an error'
  const error = new CheckpointError('io', `cannot ${what} the checkpoint folder (${code}: ${(e as Error).message})`, dir)
  Object.defineProperty(error, 'cause', { value: e })
  return error
}

const entriesOf = async (dir: string): Promise<string[]> => {
  try {
    return await readdir(dir)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw ioError(dir, 'read', e)
  }
}

/**
 * The checkpoint files of a name, newest first (temporary files are not listed).
 *
 * @example
 * ```ts
 * const files = await listCheckpoints('run/model.json') // [{ file: 'run/model.000002.json', sequence: 2 }, …]
 * ```
 */
export const listCheckpoints = async (file: string): Promise<CheckpointFile[]> => {
  const { dir, numbered } = naming(file)
  return (await entriesOf(dir))
    .flatMap((entry) => {
      const m = numbered.exec(entry)
      // a sequence number past 2^53 is no name fluxion wrote: leave such a file alone
      return m && Number.isSafeInteger(Number(m[1])) ? [{ file: join(dir, entry), sequence: Number(m[1]) }] : []
    })
    .sort((a, b) => b.sequence - a.sequence)
}

/** fsync of a directory, so a rename or unlink in it is durable; Windows cannot open directories. */
const syncDirectory = async (dir: string): Promise<void> => {
  let handle
  try {
    handle = await open(dir, 'r')
  } catch (e) {
    if (process.platform === 'win32') return
    throw e
  }
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

const writeDurably = async (target: string, text: string): Promise<void> => {
  const temporary = `${target}.tmp-${randomBytes(6).toString('hex')}`
  const handle = await open(temporary, 'wx')
  try {
    try {
      await handle.writeFile(text, 'utf8')
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(temporary, target)
  } catch (e) {
    await unlink(temporary).catch(() => undefined)
    throw e
  }
  await syncDirectory(dirname(target))
}

// saves of one name from this process, in order
const queues = new Map<string, Promise<unknown>>()

/**
 * Writes a checkpoint (params, state, step) as the next numbered file of `file` and deletes all
 * but the newest `keep`; returns the file written. The file appears whole or not at all (temporary
 * file, fsync, rename, directory fsync). Creates the directory if needed.
 *
 * @example
 * ```ts
 * const params = { w: fromArray([1, -2]) }
 * const opt = adam({ learningRate: 0.1 })
 * const written = await saveCheckpoint('run/model.json', { params, state: opt.init(params), step: 0, transform: opt })
 * ```
 */
export const saveCheckpoint = async <S>(file: string, checkpoint: CheckpointToSave<S>, options: SaveCheckpointOptions = {}): Promise<string> => {
  const { keep } = validate('saveCheckpoint', { keep: ranges.positiveInteger }, options, { keep: 3 })
  const { dir, name, temporary } = naming(file)
  const json = await encodeCheckpoint(checkpoint.transform, checkpoint)
  const text = JSON.stringify(json)
  const key = join(dir, basename(file))
  const run = async (): Promise<string> => {
    await mkdir(dir, { recursive: true }).catch((e: unknown) => {
      throw ioError(dir, 'create', e)
    })
    const existing = await listCheckpoints(file)
    const target = name((existing[0]?.sequence ?? 0) + 1)
    await writeDurably(target, text)
    // the new file is durable: now drop the oldest, and temporary files of interrupted saves
    const stale = [...existing.slice(Math.max(0, keep - 1)).map((x) => x.file), ...(await entriesOf(dir)).filter((e) => temporary.test(e)).map((e) => join(dir, e))]
    await Promise.all(stale.map((f) => unlink(f).catch(() => undefined)))
    if (stale.length > 0) await syncDirectory(dir)
    return target
  }
  const previous = queues.get(key) ?? Promise.resolve()
  const next = previous.then(run, run)
  queues.set(key, next)
  try {
    return await next
  } finally {
    if (queues.get(key) === next) queues.delete(key)
  }
}

/** Options of `loadCheckpoint`: `loadState`'s, less `params` (the checkpoint holds them). */
export type LoadCheckpointOptions = Omit<LoadStateOptions, 'params'>

/** A file that is not whole: unreadable JSON, or a checkpoint whose checksum or format fails. */
const isTorn = (e: unknown): boolean => e instanceof SyntaxError || (e instanceof CheckpointError && (e.problem === 'checksum' || e.problem === 'format'))

/**
 * Reads the newest intact checkpoint of `file` and uploads its params and state to `backend`
 * (default cpu); `undefined` when there is no checkpoint file at all. A newer file that is torn or
 * damaged (its JSON or checksum fails) is skipped, listed in `skipped` and reported through
 * `onWarning` (default `console.warn`); when no file is intact, a CheckpointError (`problem:
 * 'missing'`) lists why. Any other refusal (another transformation's state, a value outside its
 * domain, a shape that differs from the params) throws at once: the file is whole, and an older
 * one would hide the problem.
 *
 * @example
 * ```ts
 * const opt = adam({ learningRate: 0.1 })
 * const resumed = await loadCheckpoint('run/model.json', opt)
 * const step = resumed ? resumed.step + 1 : 0
 * ```
 */
export const loadCheckpoint = async <S>(
  file: string,
  transform: GradientTransformation<S>,
  backend: Backend = cpu,
  options: LoadCheckpointOptions = {},
): Promise<LoadedCheckpoint<S> | undefined> => {
  const files = await listCheckpoints(file)
  if (files.length === 0) return undefined
  const warn = options.onWarning ?? ((m: string) => console.warn(m))
  const skipped: { file: string; reason: string }[] = []
  for (const { file: f } of files) {
    let loaded: Checkpoint<S>
    try {
      loaded = decodeCheckpoint(transform, JSON.parse(await readFile(f, 'utf8')), backend, options)
    } catch (e) {
      // a file deleted since the listing (by a concurrent save's clean-up) is skipped too
      if (!isTorn(e) && (e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
      skipped.push({ file: f, reason: (e as Error).message })
      continue
    }
    if (skipped.length > 0) warn(`loaded ${f} (step ${loaded.step}); skipped ${skipped.map((s) => `${s.file} (${s.reason})`).join(', ')}`)
    return { ...loaded, file: f, skipped }
  }
  throw new CheckpointError('missing', `no intact checkpoint: ${skipped.map((s) => `${s.file}: ${s.reason}`).join('; ')}`, file)
}
