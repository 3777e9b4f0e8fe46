#!/usr/bin/env node
// Checked before oclif loads: on an older Node the imports below fail with a syntax or engine error
// that does not tell the user what to do.
const major = Number(process.versions.node.split('.')[0])
if (major < 22) {
  console.error(`devkube needs Node.js 22 or newer, but this is Node.js ${process.versions.node}: install Node.js 22 LTS and run it again.`)
  process.exit(1)
}

// Caches compiled code between runs (Node >= 22.1): start-up matters for a CLI run this often.
const {enableCompileCache} = await import('node:module')
enableCompileCache?.()

// A reader that stops early (`devkube init --yes | head -1`) closes the pipe: the rest of the output has
// nowhere to go, and the command finishes its work quietly instead of dying of an unhandled EPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code !== 'EPIPE') throw error
    // Later writes are dropped, but their callbacks still run: code awaiting a write must not hang.
    stream.write = (_chunk, encoding, callback) => {
      const done = typeof encoding === 'function' ? encoding : callback
      if (done) process.nextTick(done)
      return true
    }
    // Anyone waiting for the pipe to drain (oclif flushes stdout before exiting) would wait forever.
    stream.emit('drain')
  })
}

const {execute} = await import('@oclif/core')
await execute({dir: import.meta.url})
