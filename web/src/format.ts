// Display helpers shared by the panels.

/** formatTime renders an RFC3339 time as local HH:MM:SS.mmm (or the input if unparsable). */
export function formatTime(rfc3339: string): string {
  const date = new Date(rfc3339)
  if (Number.isNaN(date.getTime())) return rfc3339
  const pad = (n: number, width = 2) => String(n).padStart(width, '0')
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`
}

/** elapsedMs is the milliseconds from one RFC3339 time to another, if both parse. */
export function elapsedMs(from: string, to: string): number | undefined {
  const a = Date.parse(from)
  const b = Date.parse(to)
  return Number.isNaN(a) || Number.isNaN(b) ? undefined : b - a
}

/** shortId shortens a UUID for tight spaces; the full id stays in a title attribute. */
export function shortId(id: string): string {
  return id.length > 13 ? `${id.slice(0, 8)}…` : id
}

/** compactJson renders a record value on one line. */
export function compactJson(value: unknown): string {
  if (value === undefined) return ''
  try {
    return JSON.stringify(value)
  } catch {
    return String(value)
  }
}

/** formatClock renders an RFC3339 time as local HH:MM:SS (or the input if unparsable). */
export function formatClock(rfc3339: string): string {
  const full = formatTime(rfc3339)
  return full === rfc3339 ? full : full.slice(0, 8)
}
