import { propertySeed } from '../laws/runners.js'
import './watchdog.js'

// Report the fast-check seed of this worker up front so any failure can be replayed.
propertySeed()
