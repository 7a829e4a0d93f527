import { describe, expect, it } from 'vitest'
import { shortTraceId, traceHue, traceIdOf } from './trace'

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'

describe('traceIdOf', () => {
  it.each([
    ['a W3C traceparent', `00-${TRACE}-00f067aa0ba902b7-01`, TRACE],
    ['surrounding spaces', ` 00-${TRACE}-00f067aa0ba902b7-00 `, TRACE],
    ['a future version with more fields', `01-${TRACE}-00f067aa0ba902b7-01-extra`, TRACE],
    ['version 00 with extra fields', `00-${TRACE}-00f067aa0ba902b7-01-extra`, undefined],
    ['version ff', `ff-${TRACE}-00f067aa0ba902b7-01`, undefined],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, undefined],
    ['an all-zero span id', `00-${TRACE}-${'0'.repeat(16)}-01`, undefined],
    ['upper-case hex', `00-${TRACE.toUpperCase()}-00f067aa0ba902b7-01`, undefined],
    ['a short trace id', `00-${TRACE.slice(1)}-00f067aa0ba902b7-01`, undefined],
    ['no header', undefined, undefined],
  ])('%s', (_, header, want) => {
    expect(traceIdOf(header)).toBe(want)
  })
})

describe('shortTraceId and traceHue', () => {
  it('shorten to 8 hex digits and give one trace one hue', () => {
    expect(shortTraceId(TRACE)).toBe('4bf92f35')
    expect(traceHue(TRACE)).toBe(traceHue(`${TRACE.slice(0, 6)}${'1'.repeat(26)}`))
    expect(traceHue(TRACE)).toBeGreaterThanOrEqual(0)
    expect(traceHue(TRACE)).toBeLessThan(360)
  })
})
