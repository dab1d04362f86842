/**
 * @internal The part of the WebAssembly JavaScript API the engine uses, declared here because the
 * library's type-checking configurations (Node types without DOM, and DOM without Node) do not
 * both declare it, and a consumer's `skipLibCheck: false` build must not depend on either.
 */
export interface WasmMemory {
  readonly buffer: ArrayBuffer
  grow(pages: number): number
}
export interface WasmInstance {
  readonly exports: Record<string, unknown>
}
export interface WasmApi {
  readonly Memory: new (descriptor: { initial: number; maximum?: number }) => WasmMemory
  readonly Module: new (bytes: Uint8Array) => object
  readonly Instance: new (module: object, imports: object) => WasmInstance
  validate(bytes: Uint8Array): boolean
}

/** The engine's WebAssembly, or undefined where the JavaScript engine has none. */
export const wasmApi = (): WasmApi | undefined => (globalThis as { WebAssembly?: WasmApi }).WebAssembly
