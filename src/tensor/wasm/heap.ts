/**
 * @internal The wasm engine's allocator over one growable `WebAssembly.Memory`: every tensor, and
 * every scratch buffer a kernel needs, is a 16-byte-aligned block of it, so kernels read and write
 * tensors in place and never copy them in or out.
 *
 * Blocks are rounded up to a size class (multiples of 16 bytes up to 1 KiB, then eight classes per
 * power of two: at most 12.5% waste). A released block goes on its class's free list and is
 * coalesced with free neighbours; an allocation takes, in order, a free block of its class, the
 * first free block large enough (split), the top of the heap, or grows the memory. Freed blocks at
 * the top lower the top again. The memory never shrinks (WebAssembly cannot), but a training loop
 * that releases what it allocated reuses the same blocks every step.
 */
import { FluxionError, UnsupportedError } from '../../errors.js'
import { type WasmMemory, wasmApi } from './api.js'

const pageBytes = 65536
/** The largest memory a wasm32 instance may address (Node 20: 65536 pages). */
const maxPages = 65536

/** The block size class of a request of `bytes` bytes. */
export const sizeClass = (bytes: number): number => {
  if (bytes <= 1024) return Math.max(16, Math.ceil(bytes / 16) * 16)
  const step = 2 ** (Math.floor(Math.log2(bytes - 1)) - 3)
  return Math.ceil(bytes / step) * step
}

export interface Heap {
  readonly memory: WasmMemory
  /** A block of at least `bytes` bytes, 16-byte aligned; 0 for 0 bytes. */
  alloc(bytes: number): number
  /** Releases a block returned by `alloc(bytes)` (the same `bytes`). */
  free(ptr: number, bytes: number): void
  /** Bytes in allocated blocks, and the heap's top (the end of the highest block ever in use). */
  stats(): { readonly allocatedBytes: number; readonly topBytes: number; readonly memoryBytes: number; readonly freeBlocks: number }
}

/** A heap over a fresh memory whose first 16 bytes stay unused (pointer 0 means "no block"). */
export const createHeap = (initialBytes = 16 * pageBytes): Heap => {
  const api = wasmApi()
  if (!api) throw new UnsupportedError('the wasm backend needs WebAssembly, which this JavaScript engine does not provide')
  const memory = new api.Memory({ initial: Math.ceil(initialBytes / pageBytes), maximum: maxPages })
  let top = 16
  let allocated = 0
  const byStart = new Map<number, number>() // free block start → size
  const byEnd = new Map<number, number>() // free block end → start
  const bins = new Map<number, Set<number>>() // size → free block starts of exactly that size

  const addFree = (start: number, size: number) => {
    byStart.set(start, size)
    byEnd.set(start + size, start)
    let bin = bins.get(size)
    if (!bin) bins.set(size, (bin = new Set()))
    bin.add(start)
  }
  const removeFree = (start: number) => {
    const size = byStart.get(start)!
    byStart.delete(start)
    byEnd.delete(start + size)
    const bin = bins.get(size)!
    bin.delete(start)
    if (bin.size === 0) bins.delete(size)
    return size
  }
  const ensure = (end: number) => {
    const have = memory.buffer.byteLength
    if (end <= have) return
    const need = Math.ceil((end - have) / pageBytes)
    const current = have / pageBytes
    const pages = Math.min(Math.max(need, Math.ceil(current / 2)), maxPages - current)
    if (pages < need) throw new FluxionError(`wasm: out of memory (${end} bytes needed, at most ${maxPages * pageBytes} addressable)`)
    memory.grow(pages)
  }

  return {
    memory,
    alloc: (bytes) => {
      if (bytes <= 0) return 0
      const size = sizeClass(bytes)
      allocated += size
      const bin = bins.get(size)
      if (bin) {
        const start = bin.values().next().value as number
        removeFree(start)
        return start
      }
      for (const [start, free] of byStart) {
        if (free >= size) {
          removeFree(start)
          if (free > size) addFree(start + size, free - size)
          return start
        }
      }
      ensure(top + size)
      const start = top
      top += size
      return start
    },
    free: (ptr, bytes) => {
      if (bytes <= 0 || ptr === 0) return
      let start = ptr
      let size = sizeClass(bytes)
      allocated -= size
      const before = byEnd.get(start)
      if (before !== undefined) {
        size += removeFree(before)
        start = before
      }
      if (byStart.has(start + size)) size += removeFree(start + size)
      if (start + size === top) top = start
      else addFree(start, size)
    },
    stats: () => ({ allocatedBytes: allocated, topBytes: top, memoryBytes: memory.buffer.byteLength, freeBlocks: byStart.size }),
  }
}
