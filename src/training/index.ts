export * from './earlyStopping.js'
export * from './gradcheck.js'
export * from './fit.js'
