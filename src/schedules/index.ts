export * from './basic.js'
export * from './cosine.js'
