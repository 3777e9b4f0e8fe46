import {describe, expect, it} from 'vitest'
import {parseEnv} from '../../src/lib/dotenv.js'
import {redact} from '../../src/lib/secrets.js'

describe('.env parsing', () => {
  it('reads KEY=value lines, export, quotes, comments and blank lines', () => {
    const values = parseEnv(['# comment', '', 'A=1', 'export B = two words ', 'C="quoted # not a comment"', "D='single'", 'E=x # trailing comment', 'F="multi\\nline"'].join('\n'))
    expect(values).toEqual({A: '1', B: 'two words', C: 'quoted # not a comment', D: 'single', E: 'x', F: 'multi\nline'})
  })

  it('registers every value as a secret so output masks it', () => {
    parseEnv('API_TOKEN=tok-123456\n')
    expect(redact('the token is tok-123456')).not.toContain('tok-123456')
  })

  it('names the file and line of a malformed line without echoing it', () => {
    let message = ''
    try {
      parseEnv('GOOD=1\nthis-line-has-password-hunter2\n', 'app/.env')
    } catch (error) {
      message = `${(error as Error).message} ${(error as {hint?: string}).hint}`
    }
    expect(message).toContain('app/.env:2: malformed line')
    expect(message).not.toContain('hunter2')
  })

  it('rejects an invalid variable name and an unclosed quote, naming the line', () => {
    expect(() => parseEnv('1BAD=x')).toThrow(/\.env:1: malformed line \(the name "1BAD"/)
    expect(() => parseEnv('A=ok\nB="open')).toThrow(/\.env:2: malformed line \(a quoted value is not closed\)/)
  })
})
