// FakeEventSource stands in for the browser's EventSource in unit tests.
export class FakeEventSource {
  static readonly CONNECTING = 0
  static readonly OPEN = 1
  static readonly CLOSED = 2
  static instances: FakeEventSource[] = []

  readonly url: string
  readyState = FakeEventSource.CONNECTING
  private listeners = new Map<string, Set<(event: Event) => void>>()

  constructor(url: string) {
    this.url = url
    FakeEventSource.instances.push(this)
  }

  addEventListener(type: string, listener: (event: Event) => void) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set())
    this.listeners.get(type)!.add(listener)
  }

  removeEventListener(type: string, listener: (event: Event) => void) {
    this.listeners.get(type)?.delete(listener)
  }

  close() {
    this.readyState = FakeEventSource.CLOSED
  }

  get closed() {
    return this.readyState === FakeEventSource.CLOSED
  }

  private dispatch(type: string, event: Event) {
    for (const listener of this.listeners.get(type) ?? []) listener(event)
  }

  open() {
    this.readyState = FakeEventSource.OPEN
    this.dispatch('open', new Event('open'))
  }

  emit(type: string, data: unknown, lastEventId = '') {
    const payload = typeof data === 'string' ? data : JSON.stringify(data)
    this.dispatch(type, new MessageEvent(type, { data: payload, lastEventId }))
  }

  /** fail simulates a dropped connection; giveUp means the browser will not retry by itself. */
  fail(giveUp = false) {
    this.readyState = giveUp ? FakeEventSource.CLOSED : FakeEventSource.CONNECTING
    this.dispatch('error', new Event('error'))
  }

  static reset() {
    FakeEventSource.instances = []
  }

  static latest(urlPart = ''): FakeEventSource {
    const found = [...FakeEventSource.instances].reverse().find((s) => s.url.includes(urlPart))
    if (!found) throw new Error(`no EventSource for ${urlPart}`)
    return found
  }
}

/** jsonResponse builds a fetch Response with a JSON body. */
export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json', ...headers },
  })
}
