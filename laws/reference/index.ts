export * from './seed000.js'
