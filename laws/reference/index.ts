export * from './seed000.js'
export * from './optimizers.js'
export * from './transforms.js'
export * from './schedules.js'
