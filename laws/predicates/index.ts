export * from './transform.js'
export * from './schedule.js'
export * from './layer.js'
export * from './compile.js'
