// Sizes in GPU messages follow the one rule of src/format.ts (decimal GB, see there why). The name
// stays for the modules that still import it from here (detect.ts, tuning.ts); new code imports
// formatBytes from ../format.js.
export { formatBytes as formatMemory } from '../format.js'
