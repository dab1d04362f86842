/**
 * @internal A small WebAssembly binary writer: the module sections fluxion's generated kernels need
 * (types, one imported memory, imported host functions, functions with locals, exports) and the
 * instruction encodings, scalar and 128-bit SIMD. Kernels are generated at run time from the
 * elementwise expressions, so no toolchain is needed at install or run time.
 *
 * Reference: the WebAssembly core specification 2.0, §5 (binary format), and the fixed-width SIMD
 * proposal's opcode table (https://github.com/WebAssembly/simd/blob/main/proposals/simd/BinarySIMD.md).
 */

/** Value types. */
export const i32 = 0x7f
export const i64 = 0x7e
export const f32 = 0x7d
export const f64 = 0x7c
export const v128 = 0x7b
export type ValType = typeof i32 | typeof i64 | typeof f32 | typeof f64 | typeof v128

/** Unsigned LEB128. */
export const uleb = (n: number): number[] => {
  const out: number[] = []
  let v = n >>> 0
  do {
    let byte = v & 0x7f
    v >>>= 7
    if (v !== 0) byte |= 0x80
    out.push(byte)
  } while (v !== 0)
  return out
}

/** Signed LEB128 of a 32-bit integer. */
export const sleb = (n: number): number[] => {
  const out: number[] = []
  let v = n | 0
  for (;;) {
    const byte = v & 0x7f
    v >>= 7
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) {
      out.push(byte)
      return out
    }
    out.push(byte | 0x80)
  }
}

const utf8 = (s: string): number[] => [...new TextEncoder().encode(s)]
const name = (s: string): number[] => {
  const b = utf8(s)
  return [...uleb(b.length), ...b]
}
const vec = (items: readonly number[][]): number[] => [...uleb(items.length), ...items.flat()]
const section = (id: number, body: number[]): number[] => (body.length === 0 ? [] : [id, ...uleb(body.length), ...body])

const f32Bytes = (x: number): number[] => [...new Uint8Array(Float32Array.of(x).buffer)]
const f64Bytes = (x: number): number[] => [...new Uint8Array(Float64Array.of(x).buffer)]

/**
 * A function body under construction: `local` declares a local (parameters come first and are
 * numbered from 0), the instruction methods append code. Every method returns `this`.
 */
export class Code {
  readonly bytes: number[] = []
  private readonly locals: ValType[] = []
  constructor(private readonly paramCount: number) {}

  /** Declares a local of type t and returns its index. */
  local(t: ValType): number {
    this.locals.push(t)
    return this.paramCount + this.locals.length - 1
  }

  /** The body's bytes: local declarations, code, `end`. */
  body(): number[] {
    const groups: number[][] = []
    for (const t of this.locals) {
      const last = groups[groups.length - 1]
      if (last && last[1] === t) last[0]!++
      else groups.push([1, t])
    }
    const inner = [...uleb(groups.length), ...groups.flatMap(([n, t]) => [...uleb(n!), t!]), ...this.bytes, 0x0b]
    return [...uleb(inner.length), ...inner]
  }

  op(...b: number[]): this {
    for (const x of b) this.bytes.push(x)
    return this
  }
  /** A SIMD instruction (prefix 0xfd) with its LEB128 opcode and immediates. */
  simd(opcode: number, ...imm: number[]): this {
    return this.op(0xfd, ...uleb(opcode), ...imm)
  }

  // control
  block(): this { return this.op(0x02, 0x40) }
  loop(): this { return this.op(0x03, 0x40) }
  if_(): this { return this.op(0x04, 0x40) }
  /** An `if` whose branches each leave one v128. */
  ifV128(): this { return this.op(0x04, 0x7b) }
  else_(): this { return this.op(0x05) }
  end(): this { return this.op(0x0b) }
  br(depth: number): this { return this.op(0x0c, ...uleb(depth)) }
  brIf(depth: number): this { return this.op(0x0d, ...uleb(depth)) }
  ret(): this { return this.op(0x0f) }
  call(fn: number): this { return this.op(0x10, ...uleb(fn)) }
  drop(): this { return this.op(0x1a) }
  select(): this { return this.op(0x1b) }

  // locals and constants
  get(l: number): this { return this.op(0x20, ...uleb(l)) }
  set(l: number): this { return this.op(0x21, ...uleb(l)) }
  tee(l: number): this { return this.op(0x22, ...uleb(l)) }
  i32c(v: number): this { return this.op(0x41, ...sleb(v)) }
  f32c(v: number): this { return this.op(0x43, ...f32Bytes(v)) }
  f64c(v: number): this { return this.op(0x44, ...f64Bytes(v)) }

  // memory (align is log2 of the byte alignment)
  f32Load(offset = 0): this { return this.op(0x2a, 2, ...uleb(offset)) }
  f32Store(offset = 0): this { return this.op(0x38, 2, ...uleb(offset)) }
  f64Load(offset = 0): this { return this.op(0x2b, 3, ...uleb(offset)) }
  f64Store(offset = 0): this { return this.op(0x39, 3, ...uleb(offset)) }
  i32Load(offset = 0): this { return this.op(0x28, 2, ...uleb(offset)) }
  i32Store(offset = 0): this { return this.op(0x36, 2, ...uleb(offset)) }
  v128Load(offset = 0): this { return this.simd(0x00, 4, ...uleb(offset)) }
  v128Store(offset = 0): this { return this.simd(0x0b, 4, ...uleb(offset)) }
  /** Loads one f32 and splats it to four lanes. */
  load32Splat(offset = 0): this { return this.simd(0x09, 2, ...uleb(offset)) }
  memorySize(): this { return this.op(0x3f, 0x00) }

  // i32
  i32Add(): this { return this.op(0x6a) }
  i32Sub(): this { return this.op(0x6b) }
  i32Mul(): this { return this.op(0x6c) }
  i32DivU(): this { return this.op(0x6e) }
  i32RemU(): this { return this.op(0x70) }
  i32And(): this { return this.op(0x71) }
  i32Or(): this { return this.op(0x72) }
  i32Shl(): this { return this.op(0x74) }
  i32ShrU(): this { return this.op(0x76) }
  i32Eqz(): this { return this.op(0x45) }
  i32Eq(): this { return this.op(0x46) }
  i32Ne(): this { return this.op(0x47) }
  i32LtU(): this { return this.op(0x49) }
  i32GtU(): this { return this.op(0x4b) }
  i32LeU(): this { return this.op(0x4d) }
  i32GeU(): this { return this.op(0x4f) }
  i32LtS(): this { return this.op(0x48) }
  i32GeS(): this { return this.op(0x4e) }

  // f32 scalar
  f32Abs(): this { return this.op(0x8b) }
  f32Neg(): this { return this.op(0x8c) }
  f32Ceil(): this { return this.op(0x8d) }
  f32Floor(): this { return this.op(0x8e) }
  f32Trunc(): this { return this.op(0x8f) }
  f32Sqrt(): this { return this.op(0x91) }
  f32Add(): this { return this.op(0x92) }
  f32Sub(): this { return this.op(0x93) }
  f32Mul(): this { return this.op(0x94) }
  f32Div(): this { return this.op(0x95) }
  f32Min(): this { return this.op(0x96) }
  f32Max(): this { return this.op(0x97) }
  f32Eq(): this { return this.op(0x5b) }
  f32Ne(): this { return this.op(0x5c) }
  f32Lt(): this { return this.op(0x5d) }
  f32Gt(): this { return this.op(0x5e) }
  f32Le(): this { return this.op(0x5f) }
  f32Ge(): this { return this.op(0x60) }
  f32DemoteF64(): this { return this.op(0xb6) }
  f64PromoteF32(): this { return this.op(0xbb) }
  f64Add(): this { return this.op(0xa0) }
  f64Mul(): this { return this.op(0xa2) }
  f64Max(): this { return this.op(0xa5) }
  f64Gt(): this { return this.op(0x64) }
  f64Ne(): this { return this.op(0x62) }
  i32ReinterpretF32(): this { return this.op(0xbc) }
  f32ReinterpretI32(): this { return this.op(0xbe) }
  f32ConvertI32S(): this { return this.op(0xb2) }
  i32TruncSatF32S(): this { return this.op(0xfc, 0x00) }

  // v128
  v128Const(bytes16: readonly number[]): this { return this.simd(0x0c, ...bytes16) }
  f32x4Const(x: number): this { return this.v128Const([0, 1, 2, 3].flatMap(() => f32Bytes(x))) }
  i32x4Const(x: number): this { return this.v128Const([...new Uint8Array(Int32Array.of(x, x, x, x).buffer)]) }
  shuffle(lanes16: readonly number[]): this { return this.simd(0x0d, ...lanes16) }
  i32x4Splat(): this { return this.simd(0x11) }
  f32x4Splat(): this { return this.simd(0x13) }
  f64x2Splat(): this { return this.simd(0x14) }
  f32x4ExtractLane(l: number): this { return this.simd(0x1f, l) }
  f32x4ReplaceLane(l: number): this { return this.simd(0x20, l) }
  f64x2ExtractLane(l: number): this { return this.simd(0x21, l) }
  i32x4Eq(): this { return this.simd(0x37) }
  i32x4GtS(): this { return this.simd(0x3b) }
  f32x4Eq(): this { return this.simd(0x41) }
  f32x4Ne(): this { return this.simd(0x42) }
  f32x4Lt(): this { return this.simd(0x43) }
  f32x4Gt(): this { return this.simd(0x44) }
  f32x4Le(): this { return this.simd(0x45) }
  f32x4Ge(): this { return this.simd(0x46) }
  v128Not(): this { return this.simd(0x4d) }
  v128And(): this { return this.simd(0x4e) }
  v128AndNot(): this { return this.simd(0x4f) }
  v128Or(): this { return this.simd(0x50) }
  v128Xor(): this { return this.simd(0x51) }
  /** bitselect(a, b, mask): bits of a where mask is 1, of b elsewhere (stack: a b mask). */
  bitselect(): this { return this.simd(0x52) }
  anyTrue(): this { return this.simd(0x53) }
  f32x4DemoteF64x2Zero(): this { return this.simd(0x5e) }
  f64x2PromoteLowF32x4(): this { return this.simd(0x5f) }
  f32x4Ceil(): this { return this.simd(0x67) }
  f32x4Floor(): this { return this.simd(0x68) }
  f32x4Trunc(): this { return this.simd(0x69) }
  f32x4Nearest(): this { return this.simd(0x6a) }
  i32x4Shl(): this { return this.simd(0xab) }
  i32x4ShrS(): this { return this.simd(0xac) }
  i32x4ShrU(): this { return this.simd(0xad) }
  i32x4Add(): this { return this.simd(0xae) }
  i32x4Sub(): this { return this.simd(0xb1) }
  i32x4Mul(): this { return this.simd(0xb5) }
  f32x4Abs(): this { return this.simd(0xe0) }
  f32x4Neg(): this { return this.simd(0xe1) }
  f32x4Sqrt(): this { return this.simd(0xe3) }
  f32x4Add(): this { return this.simd(0xe4) }
  f32x4Sub(): this { return this.simd(0xe5) }
  f32x4Mul(): this { return this.simd(0xe6) }
  f32x4Div(): this { return this.simd(0xe7) }
  f32x4Min(): this { return this.simd(0xe8) }
  f32x4Max(): this { return this.simd(0xe9) }
  f64x2Add(): this { return this.simd(0xf0) }
  f64x2Mul(): this { return this.simd(0xf2) }
  i32x4TruncSatF32x4S(): this { return this.simd(0xf8) }
  f32x4ConvertI32x4S(): this { return this.simd(0xfa) }

  // appended for src/tensor/wasm/gemm.ts
  /** memory.fill (bulk memory; stack: dst value bytes). */
  memoryFill(): this { return this.op(0xfc, 0x0b, 0x00) }
  i32GtS(): this { return this.op(0x4a) }
  i32LeS(): this { return this.op(0x4c) }
}

/** One function of a module: its signature and body. */
export interface FunctionDef {
  readonly params: readonly ValType[]
  readonly results: readonly ValType[]
  readonly code: Code
  /** Exported under this name when given. */
  readonly export?: string
}

/** An imported host function (module "h"). */
export interface ImportDef {
  readonly name: string
  readonly params: readonly ValType[]
  readonly results: readonly ValType[]
}

/**
 * A module that imports one memory (`m.memory`: at least `memory` pages, growable; or given limits,
 * shared for worker threads), the given host functions (`h.<name>`, numbered 0.. before the defined functions), and defines `functions`.
 */
export const encodeModule = (
  functions: readonly FunctionDef[],
  imports: readonly ImportDef[] = [],
  memory: number | { readonly minPages: number; readonly maxPages: number; readonly shared: boolean } = 1,
): Uint8Array => {
  const limits = typeof memory === 'number' ? [0x00, ...uleb(memory)] : [memory.shared ? 0x03 : 0x01, ...uleb(memory.minPages), ...uleb(memory.maxPages)]
  const sigs: string[] = []
  const typeIndex = (params: readonly ValType[], results: readonly ValType[]): number => {
    const key = `${params.join(',')}>${results.join(',')}`
    let i = sigs.indexOf(key)
    if (i < 0) i = sigs.push(key) - 1
    return i
  }
  const importIdx = imports.map((f) => typeIndex(f.params, f.results))
  const fnIdx = functions.map((f) => typeIndex(f.params, f.results))
  const types = sigs.map((key) => {
    const [p, r] = key.split('>') as [string, string]
    const list = (s: string) => (s === '' ? [] : s.split(',').map(Number))
    return [0x60, ...uleb(list(p).length), ...list(p), ...uleb(list(r).length), ...list(r)]
  })
  const importEntries = [
    [...name('m'), ...name('memory'), 0x02, ...limits],
    ...imports.map((f, i) => [...name('h'), ...name(f.name), 0x00, ...uleb(importIdx[i]!)]),
  ]
  const exports = functions.flatMap((f, i) => (f.export ? [[...name(f.export), 0x00, ...uleb(imports.length + i)]] : []))
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec(types)),
    ...section(2, vec(importEntries)),
    ...section(3, vec(fnIdx.map((i) => uleb(i)))),
    ...section(7, vec(exports)),
    ...section(10, vec(functions.map((f) => f.code.body()))),
  ])
}

