// placeholder, filled in by its owner this session
import type { CatalogEntry } from './catalog.js'

export const catalogContrib: readonly CatalogEntry[] = []
