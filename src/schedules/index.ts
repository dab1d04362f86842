export * from './basic.js'
export * from './cosine.js'
export * from './warmup.js'
