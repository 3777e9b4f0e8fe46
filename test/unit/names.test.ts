import {describe, expect, it} from 'vitest'
import {isDns1123Label, KIND_CLUSTER_NAME, toDns1123Label} from '../../src/lib/names.js'

describe('toDns1123Label', () => {
  it.each([
    ['My App_2', 'my-app-2'],
    ['hello', 'hello'],
    ['Hello.World', 'hello-world'],
    ['  spaced  out  ', 'spaced-out'],
    ['Café Crème', 'cafe-creme'],
    ['__init__', 'init'],
    ['123', '123'],
  ])('turns %j into %j', (raw, expected) => {
    expect(toDns1123Label(raw)).toBe(expected)
  })

  it('returns "" when nothing usable is left, so the caller can say so', () => {
    expect(toDns1123Label('___')).toBe('')
    expect(toDns1123Label('日本語')).toBe('')
  })

  it('cuts long names to 63 characters without a trailing "-"', () => {
    const label = toDns1123Label(`${'a'.repeat(62)}-bcd`)
    expect(label).toBe('a'.repeat(62))
    expect(isDns1123Label(label)).toBe(true)
  })

  it('always produces a valid label or ""', () => {
    for (const raw of ['x-', '-x', 'A--B', 'ÄÖÜ', `${'z'.repeat(100)}`, 'a b c', '.hidden']) {
      const label = toDns1123Label(raw)
      expect(label === '' || isDns1123Label(label), `${raw} -> ${label}`).toBe(true)
    }
  })
})

describe('isDns1123Label', () => {
  it.each(['a', 'hello', 'my-app-2', '0abc', 'a'.repeat(63)])('accepts %j', (value) => {
    expect(isDns1123Label(value)).toBe(true)
  })

  it.each(['', 'Hello', 'my_app', '-app', 'app-', 'a.b', 'a'.repeat(64)])('rejects %j', (value) => {
    expect(isDns1123Label(value)).toBe(false)
  })
})

describe('KIND_CLUSTER_NAME', () => {
  it('allows dots, unlike a DNS label, and rejects capitals and "_"', () => {
    expect(KIND_CLUSTER_NAME.test('devkube.local')).toBe(true)
    expect(KIND_CLUSTER_NAME.test('Devkube')).toBe(false)
    expect(KIND_CLUSTER_NAME.test('dev_kube')).toBe(false)
  })
})
