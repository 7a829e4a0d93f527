// W3C Trace Context: the trace id a record carries in its traceparent header.

/** TRACEPARENT_HEADER is the record header that carries an order's trace across Kafka hops. */
export const TRACEPARENT_HEADER = 'traceparent'

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/

/**
 * traceIdOf returns the 32-hex trace id of a traceparent header ("00-<trace id>-<span id>-<flags>"),
 * or undefined when the value is not one (version ff and all-zero ids are invalid by the spec).
 */
export function traceIdOf(traceparent: string | undefined): string | undefined {
  if (traceparent === undefined) return undefined
  const match = TRACEPARENT.exec(traceparent.trim())
  if (!match) return undefined
  const [, version, traceId, spanId] = match
  if (version === 'ff' || /^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined
  if (version === '00' && traceparent.trim().length !== 55) return undefined
  return traceId
}

/** shortTraceId is the first 8 hex digits: enough to tell a page's worth of traces apart. */
export function shortTraceId(traceId: string): string {
  return traceId.slice(0, 8)
}

/** traceHue gives every trace its own colour (0-359), so one order's records match at a glance. */
export function traceHue(traceId: string): number {
  return parseInt(traceId.slice(0, 6), 16) % 360
}
