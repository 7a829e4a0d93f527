import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  ApiError,
  getStock,
  placeOrder,
  recordOrderId,
  subscribeFlow,
  subscribeOrderStatus,
  type FlowRecord,
  type StatusEvent,
} from './api'
import { FakeEventSource, jsonResponse } from './test/fakeEventSource'

const order = { userId: 'user-1', items: [{ sku: 'BOOK-42', qty: 2 }], total: 42.5, currency: 'EUR' }

beforeEach(() => {
  FakeEventSource.reset()
  vi.stubGlobal('EventSource', FakeEventSource)
})

afterEach(() => {
  vi.unstubAllGlobals()
  vi.useRealTimers()
})

describe('placeOrder', () => {
  it('POSTs the order as JSON and returns the orderId', async () => {
    const fetchMock = vi.fn().mockResolvedValue(jsonResponse(201, { orderId: 'o-1' }))
    vi.stubGlobal('fetch', fetchMock)

    await expect(placeOrder(order)).resolves.toEqual({ orderId: 'o-1' })

    const [url, init] = fetchMock.mock.calls[0]
    expect(url).toBe('http://localhost:8081/orders')
    expect(init.method).toBe('POST')
    expect(init.headers).toEqual({ 'Content-Type': 'application/json' })
    expect(JSON.parse(init.body)).toEqual(order)
  })

  const failures: {
    name: string
    response: () => Response | Promise<never>
    want: Partial<ApiError>
    message: RegExp
  }[] = [
    {
      name: '422 carries the field errors',
      response: () =>
        jsonResponse(422, {
          error: 'the order is invalid',
          fields: [{ field: 'items[0].qty', message: 'must be a whole number >= 1' }],
        }),
      want: { kind: 'rejected', status: 422, fields: [{ field: 'items[0].qty', message: 'must be a whole number >= 1' }] },
      message: /the order is invalid/,
    },
    {
      name: '415 keeps the API message',
      response: () => jsonResponse(415, { error: 'Content-Type must be application/json' }),
      want: { kind: 'rejected', status: 415, fields: [] },
      message: /Content-Type must be application\/json/,
    },
    {
      name: '503 says when to retry',
      response: () => jsonResponse(503, { error: 'Kafka is unavailable' }, { 'Retry-After': '5' }),
      want: { kind: 'unavailable', status: 503, retryAfterSeconds: 5 },
      message: /Kafka is unavailable — please retry in 5 s/,
    },
    {
      name: '500 without a body names the status',
      response: () => new Response(null, { status: 500, statusText: 'Internal Server Error' }),
      want: { kind: 'server', status: 500 },
      message: /Orders API answered 500/,
    },
    {
      name: 'no answer at all means unreachable',
      response: () => Promise.reject(new TypeError('Failed to fetch')),
      want: { kind: 'unreachable', status: 0 },
      message: /Orders API unreachable at http:\/\/localhost:8081/,
    },
  ]

  it.each(failures)('$name', async ({ response, want, message }) => {
    vi.stubGlobal('fetch', vi.fn().mockImplementation(response))
    const err = await placeOrder(order).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect(err).toMatchObject(want)
    expect((err as ApiError).message).toMatch(message)
  })
})

describe('getStock', () => {
  it('returns the quantity per SKU', async () => {
    vi.stubGlobal('fetch', vi.fn().mockResolvedValue(jsonResponse(200, { 'BOOK-42': 3, 'MUG-7': 0 })))
    await expect(getStock()).resolves.toEqual({ 'BOOK-42': 3, 'MUG-7': 0 })
  })

  it('reports an unreachable stock service with its URL', async () => {
    vi.stubGlobal('fetch', vi.fn().mockRejectedValue(new TypeError('Failed to fetch')))
    await expect(getStock()).rejects.toThrow('Stock service unreachable at http://localhost:8084')
  })
})

describe('subscribeOrderStatus', () => {
  const status = (id: number, s: string, extra: object = {}) => [
    'status',
    { orderId: 'o-1', status: s, updatedAt: `2026-01-01T00:00:0${id}Z`, ...extra },
    String(id),
  ] as const

  it('delivers each event id once across reconnects and closes at the final status', () => {
    vi.useFakeTimers()
    const got: StatusEvent[] = []
    const states: string[] = []
    subscribeOrderStatus('o-1', { onStatus: (e) => got.push(e), onState: (s) => states.push(s) })

    const first = FakeEventSource.latest('/events')
    expect(first.url).toBe('http://localhost:8083/events?orderId=o-1')
    first.open()
    first.emit(...status(1, 'CREATED'))
    first.emit(...status(1, 'CREATED')) // a server replay
    first.fail(true) // the browser gives up: a new EventSource replays the history
    vi.advanceTimersByTime(1000)

    const second = FakeEventSource.latest('/events')
    expect(second).not.toBe(first)
    second.open()
    second.emit(...status(1, 'CREATED'))
    second.emit(...status(2, 'PROCESSING'))
    second.emit(...status(3, 'FAILED', { reason: 'total exceeds 1000' }))

    expect(got.map((e) => [e.id, e.status])).toEqual([
      [1, 'CREATED'],
      [2, 'PROCESSING'],
      [3, 'FAILED'],
    ])
    expect(got[2].reason).toBe('total exceeds 1000')
    expect(second.closed).toBe(true)
    expect(states).toEqual(['connecting', 'live', 'reconnecting', 'reconnecting', 'live', 'closed'])
  })

  it('lets EventSource retry a dropped connection by itself', () => {
    subscribeOrderStatus('o-1', { onStatus: () => {} })
    FakeEventSource.latest('/events').fail(false)
    expect(FakeEventSource.instances).toHaveLength(1)
  })

  it('ignores events without an id or with an unknown status', () => {
    const got: StatusEvent[] = []
    subscribeOrderStatus('o-1', { onStatus: (e) => got.push(e) })
    const source = FakeEventSource.latest('/events')
    source.emit('status', { orderId: 'o-1', status: 'CREATED', updatedAt: '' }, '')
    source.emit('status', { orderId: 'o-1', status: 'SHIPPED', updatedAt: '' }, '4')
    source.emit('status', 'not json', '5')
    expect(got).toEqual([])
  })

  it('stops when the caller closes it', () => {
    const close = subscribeOrderStatus('o-1', { onStatus: () => {} })
    close()
    expect(FakeEventSource.latest('/events').closed).toBe(true)
  })
})

describe('subscribeFlow', () => {
  const record = (offset: number): FlowRecord => ({
    topic: 'orders.created',
    partition: 1,
    offset,
    key: 'o-1',
    value: { orderId: 'o-1' },
    timestamp: '2026-01-01T00:00:00Z',
  })

  it('filters by orderId and drops records replayed on reconnect', () => {
    const got: FlowRecord[] = []
    subscribeFlow('o-1', { onRecord: (r) => got.push(r) })
    const source = FakeEventSource.latest('/flow')
    expect(source.url).toBe('http://localhost:8083/flow?orderId=o-1')
    source.emit('record', record(7))
    source.emit('record', record(8))
    source.emit('record', record(7))
    expect(got.map((r) => r.offset)).toEqual([7, 8])
  })

  it('keeps a record of a restarted broker that reuses an offset', () => {
    const got: FlowRecord[] = []
    subscribeFlow(undefined, { onRecord: (r) => got.push(r) })
    const source = FakeEventSource.latest('/flow')
    source.emit('record', record(0))
    source.emit('record', { ...record(0), timestamp: '2026-01-02T00:00:00Z' })
    expect(got).toHaveLength(2)
  })

  it('tails every record without an orderId', () => {
    subscribeFlow(undefined, { onRecord: () => {} })
    expect(FakeEventSource.latest('/flow').url).toBe('http://localhost:8083/flow')
  })
})

describe('recordOrderId', () => {
  it.each([
    ['orders.created', 'o-1', { orderId: 'o-1' }, 'o-1'],
    ['orders.status', 'o-2', { orderId: 'o-2' }, 'o-2'],
    ['inventory.updated', 'BOOK-42', { sku: 'BOOK-42', orderId: 'o-3' }, 'o-3'],
    ['inventory.updated', 'BOOK-42', null, undefined],
  ])('%s keyed %s belongs to %s', (topic, key, value, want) => {
    expect(recordOrderId({ topic, key, value, partition: 0, offset: 0, timestamp: '' })).toBe(want)
  })
})
