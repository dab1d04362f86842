import { propertySeed } from '../laws/runners.js'

// Report the fast-check seed of this worker up front so any failure can be replayed.
propertySeed()
