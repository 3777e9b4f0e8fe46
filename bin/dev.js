#!/usr/bin/env -S node --import tsx --disable-warning=ExperimentalWarning
// Runs the TypeScript in src/ directly (no build). The built oclif.manifest.json is ignored: it
// describes dist/, and would hide a flag added since the last build.
import {execute} from '@oclif/core'
import {fileURLToPath} from 'node:url'

await execute({development: true, loadOptions: {root: fileURLToPath(new URL('..', import.meta.url)), ignoreManifest: true}})
