export * from './transform.js'
