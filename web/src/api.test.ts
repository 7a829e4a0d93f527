import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  ApiError,
  getConsumers,
  getStock,
  MAX_ORDER_ATTEMPTS,
  newIdempotencyKey,
  parseConsumers,
  placeOrder,
  recordOrderId,
  retryWaitMs,
  seedStock,
  sendMalformedRecord,
  subscribeFlow,
  subscribeOrderStatus,
  type FlowRecord,
  type RetryNotice,
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

const KEY = '0b7c9a52-3f1e-4d2a-9c4b-5e6f7a8b9c0d'

describe('newIdempotencyKey', () => {
  it('is a fresh version 4 UUID each time', () => {
    const keys = new Set(Array.from({ length: 50 }, newIdempotencyKey))
    expect(keys.size).toBe(50)
    for (const key of keys) expect(key).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
  })
})

describe('placeOrder', () => {
  const noWait = async () => {}

  it('POSTs the order as JSON with its Idempotency-Key and returns the orderId', async () => {
    const fetchMock = vi.fn().mockResolvedValue(jsonResponse(201, { orderId: 'o-1' }))
    vi.stubGlobal('fetch', fetchMock)

    await expect(placeOrder(order, { idempotencyKey: KEY })).resolves.toEqual({ orderId: 'o-1', replayed: false })

    const [url, init] = fetchMock.mock.calls[0]
    expect(url).toBe('http://localhost:8081/orders')
    expect(init.method).toBe('POST')
    expect(init.headers).toEqual({ 'Content-Type': 'application/json', 'Idempotency-Key': KEY })
    expect(JSON.parse(init.body)).toEqual(order)
  })

  it('says when the answer replays an earlier try', async () => {
    vi.stubGlobal('fetch', vi.fn().mockResolvedValue(jsonResponse(201, { orderId: 'o-1' }, { 'Idempotent-Replayed': 'true' })))
    await expect(placeOrder(order, { idempotencyKey: KEY })).resolves.toEqual({ orderId: 'o-1', replayed: true })
  })

  it('retries a network error, a 503 with Retry-After and a 409 with the same key', async () => {
    const fetchMock = vi
      .fn()
      .mockRejectedValueOnce(new TypeError('Failed to fetch'))
      .mockResolvedValueOnce(jsonResponse(503, { error: 'database busy' }, { 'Retry-After': '2' }))
      .mockResolvedValueOnce(jsonResponse(409, { error: 'a request with this Idempotency-Key is in flight' }))
      .mockResolvedValueOnce(jsonResponse(201, { orderId: 'o-1' }, { 'Idempotent-Replayed': 'true' }))
    vi.stubGlobal('fetch', fetchMock)
    const waits: number[] = []
    const notices: RetryNotice[] = []

    const got = await placeOrder(order, {
      idempotencyKey: KEY,
      sleep: async (ms) => void waits.push(ms),
      onRetry: (n) => notices.push(n),
    })

    expect(got).toEqual({ orderId: 'o-1', replayed: true })
    expect(fetchMock.mock.calls.map(([, init]) => init.headers['Idempotency-Key'])).toEqual([KEY, KEY, KEY, KEY])
    expect(fetchMock.mock.calls.map(([, init]) => init.body)).toEqual(Array(4).fill(JSON.stringify(order)))
    expect(waits).toEqual([500, 2000, 1000])
    expect(notices.map((n) => [n.attempt, n.maxAttempts])).toEqual([
      [2, MAX_ORDER_ATTEMPTS],
      [3, MAX_ORDER_ATTEMPTS],
      [4, MAX_ORDER_ATTEMPTS],
    ])
    expect(notices[1].reason).toMatch(/database busy/)
  })

  it(`gives up after ${MAX_ORDER_ATTEMPTS} tries with the last error`, async () => {
    const fetchMock = vi.fn().mockRejectedValue(new TypeError('Failed to fetch'))
    vi.stubGlobal('fetch', fetchMock)
    const err = await placeOrder(order, { idempotencyKey: KEY, sleep: noWait }).catch((e: unknown) => e)
    expect(err).toMatchObject({ kind: 'unreachable' })
    expect(fetchMock).toHaveBeenCalledTimes(MAX_ORDER_ATTEMPTS)
  })

  it('stops waiting when aborted', async () => {
    vi.useFakeTimers()
    vi.stubGlobal('fetch', vi.fn().mockRejectedValue(new TypeError('Failed to fetch')))
    const controller = new AbortController()
    const notices: RetryNotice[] = []
    const placing = placeOrder(order, { idempotencyKey: KEY, signal: controller.signal, onRetry: (n) => notices.push(n) })
    const settled = placing.catch((e: unknown) => e)
    await vi.advanceTimersByTimeAsync(0)
    expect(notices).toHaveLength(1) // waiting for the second try now
    controller.abort()
    expect(await settled).toMatchObject({ name: 'AbortError' })
    await vi.advanceTimersByTimeAsync(10_000)
    expect(fetch).toHaveBeenCalledTimes(1)
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
      name: '422 for a key reused with another body',
      response: () => jsonResponse(422, { error: 'Idempotency-Key was used with a different request' }),
      want: { kind: 'rejected', status: 422 },
      message: /different request/,
    },
    {
      name: '415 keeps the API message',
      response: () => jsonResponse(415, { error: 'Content-Type must be application/json' }),
      want: { kind: 'rejected', status: 415, fields: [] },
      message: /Content-Type must be application\/json/,
    },
    {
      name: '503 without Retry-After',
      response: () => jsonResponse(503, { error: 'shutting down' }),
      want: { kind: 'unavailable', status: 503, retryAfterSeconds: undefined },
      message: /shutting down — please retry in a moment/,
    },
    {
      name: '503 asking for a longer wait than the page makes on its own',
      response: () => jsonResponse(503, { error: 'database busy' }, { 'Retry-After': '60' }),
      want: { kind: 'unavailable', status: 503, retryAfterSeconds: 60 },
      message: /database busy — please retry in 60 s/,
    },
    {
      name: '500 without a body names the status',
      response: () => new Response(null, { status: 500, statusText: 'Internal Server Error' }),
      want: { kind: 'server', status: 500 },
      message: /Orders API answered 500/,
    },
  ]

  it.each(failures)('does not retry: $name', async ({ response, want, message }) => {
    const fetchMock = vi.fn().mockImplementation(response)
    vi.stubGlobal('fetch', fetchMock)
    const err = await placeOrder(order, { idempotencyKey: KEY, sleep: noWait }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect(err).toMatchObject(want)
    expect((err as ApiError).message).toMatch(message)
    expect(fetchMock).toHaveBeenCalledTimes(1)
  })

  it('names an unreachable orders-api with its URL', async () => {
    vi.stubGlobal('fetch', vi.fn().mockRejectedValue(new TypeError('Failed to fetch')))
    const err = await placeOrder(order, { idempotencyKey: KEY, maxAttempts: 1 }).catch((e: unknown) => e)
    expect(err).toMatchObject({ kind: 'unreachable', status: 0 })
    expect((err as ApiError).message).toMatch(/Orders API unreachable at http:\/\/localhost:8081/)
  })
})

describe('retryWaitMs', () => {
  const err = (init: Partial<ConstructorParameters<typeof ApiError>[0]>) =>
    new ApiError({ kind: 'rejected', message: '', service: { name: 'orders', label: 'Orders API', url: '' }, ...init })
  it.each([
    ['unreachable, first retry', err({ kind: 'unreachable' }), 1, 500],
    ['unreachable, third retry', err({ kind: 'unreachable' }), 3, 2000],
    ['503 Retry-After 3', err({ kind: 'unavailable', status: 503, retryAfterSeconds: 3 }), 1, 3000],
    ['503 Retry-After 0', err({ kind: 'unavailable', status: 503, retryAfterSeconds: 0 }), 1, 0],
    ['503 Retry-After over the cap', err({ kind: 'unavailable', status: 503, retryAfterSeconds: 11 }), 1, undefined],
    ['503 without Retry-After', err({ kind: 'unavailable', status: 503 }), 1, undefined],
    ['409', err({ status: 409 }), 1, 1000],
    ['409 Retry-After 2', err({ status: 409, retryAfterSeconds: 2 }), 1, 2000],
    ['422', err({ status: 422 }), 1, undefined],
    ['500', err({ kind: 'server', status: 500 }), 1, undefined],
  ])('%s -> %s ms', (_, error, attempt, want) => {
    expect(retryWaitMs(error, attempt)).toBe(want)
  })
  it('never retries what is not an ApiError', () => {
    expect(retryWaitMs(new Error('boom'), 1)).toBeUndefined()
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

describe('seedStock', () => {
  it('POSTs the quantities to /seed as JSON', async () => {
    const fetchMock = vi.fn().mockResolvedValue(jsonResponse(200, { 'BOOK-42': 20 }))
    vi.stubGlobal('fetch', fetchMock)
    await seedStock({ 'BOOK-42': 20 })
    const [url, init] = fetchMock.mock.calls[0]
    expect(url).toBe('http://localhost:8084/seed')
    expect(init.method).toBe('POST')
    expect(init.headers).toEqual({ 'Content-Type': 'application/json' })
    expect(JSON.parse(init.body)).toEqual({ 'BOOK-42': 20 })
  })

  it('rejects with the status when stock-service refuses an admin call', async () => {
    vi.stubGlobal('fetch', vi.fn().mockResolvedValue(jsonResponse(403, { error: 'admin endpoints answer loopback callers only' })))
    await expect(seedStock({ 'BOOK-42': 20 })).rejects.toMatchObject({ kind: 'rejected', status: 403 })
  })
})

const consumersBody = {
  at: '2026-11-29T12:00:00Z',
  groups: [
    {
      groupId: 'orders-processor-cg',
      state: 'Stable',
      members: [
        { memberId: 'm-1', clientId: 'orders-processor', host: '/127.0.0.1', assignments: [{ topic: 'stock.reservations', partitions: [0, 1, 2] }] },
      ],
      partitions: [
        { topic: 'stock.reservations', partition: 0, committed: 12, end: 12, lag: 0, memberId: 'm-1' },
        { topic: 'stock.reservations', partition: 1, committed: -1, end: 3, lag: 3, memberId: 'm-1' },
      ],
    },
  ],
}

describe('getConsumers', () => {
  it('reads every group with its members and partition offsets', async () => {
    const fetchMock = vi.fn().mockResolvedValue(jsonResponse(200, consumersBody))
    vi.stubGlobal('fetch', fetchMock)
    await expect(getConsumers()).resolves.toEqual(consumersBody)
    expect(fetchMock.mock.calls[0][0]).toBe('http://localhost:8083/consumers')
  })

  it('keeps the status of a missing route for the page to tell apart', async () => {
    vi.stubGlobal('fetch', vi.fn().mockResolvedValue(jsonResponse(404, { error: 'not found' })))
    await expect(getConsumers()).rejects.toMatchObject({ kind: 'rejected', status: 404 })
  })

  it('refuses a body that is not of the shape', async () => {
    vi.stubGlobal('fetch', vi.fn().mockResolvedValue(jsonResponse(200, ['nope'])))
    await expect(getConsumers()).rejects.toMatchObject({ kind: 'server' })
  })
})

describe('parseConsumers', () => {
  it("keeps a group's rebalance time and the errors notifications-api reports", () => {
    const got = parseConsumers({
      at: '2026-11-29T12:00:09Z',
      error: 'cannot read the consumer groups since 2026-11-29T12:00:10Z',
      groups: [
        { groupId: 'a', state: 'Stable', members: [], partitions: [], rebalancedAt: '2026-11-29T12:00:03Z' },
        { groupId: 'b', state: 'Dead', members: [], partitions: [], error: 'coordinator not available', rebalancedAt: '' },
      ],
    })
    expect(got?.error).toBe('cannot read the consumer groups since 2026-11-29T12:00:10Z')
    expect(got?.groups[0].rebalancedAt).toBe('2026-11-29T12:00:03Z')
    expect(got?.groups[1]).toEqual({ groupId: 'b', state: 'Dead', members: [], partitions: [], error: 'coordinator not available' })
  })

  it('drops entries that are not of the shape and works out a missing lag', () => {
    const got = parseConsumers({
      at: '2026-11-29T12:00:00Z',
      groups: [
        'junk',
        { state: 'Stable' },
        {
          groupId: 'g',
          state: 'Stable',
          members: [{ clientId: 'no member id' }, { memberId: 'm', assignments: [{ topic: 't', partitions: [0, 'x', 2] }, { partitions: [1] }] }],
          partitions: [
            { topic: 't', partition: 0, committed: 5, end: 9 },
            { topic: 't', partition: 1, committed: -1, end: 4 },
            { topic: 't', partition: 'x', committed: 1, end: 1 },
          ],
        },
      ],
    })
    expect(got).toEqual({
      at: '2026-11-29T12:00:00Z',
      groups: [
        {
          groupId: 'g',
          state: 'Stable',
          members: [{ memberId: 'm', clientId: '', host: '', assignments: [{ topic: 't', partitions: [0, 2] }] }],
          partitions: [
            { topic: 't', partition: 0, committed: 5, end: 9, lag: 4, memberId: undefined },
            { topic: 't', partition: 1, committed: -1, end: 4, lag: 4, memberId: undefined },
          ],
        },
      ],
    })
  })
})

describe('sendMalformedRecord', () => {
  it('tells where kit up put the record', async () => {
    const fetchMock = vi.fn().mockResolvedValue(jsonResponse(202, { topic: 'orders.created', partition: 1, offset: 7, key: 'malformed-0a1b' }))
    vi.stubGlobal('fetch', fetchMock)
    await expect(sendMalformedRecord()).resolves.toEqual({
      available: true,
      topic: 'orders.created',
      partition: 1,
      offset: 7,
      key: 'malformed-0a1b',
    })
    const [url, init] = fetchMock.mock.calls[0]
    expect(url).toBe(`${window.location.origin}/kit/demo/malformed`)
    expect(init.method).toBe('POST')
  })

  it.each([
    ['404', () => jsonResponse(404, { error: 'not found' })],
    ['405', () => new Response('method not allowed', { status: 405 })],
    ['a page instead of JSON', () => new Response('<!doctype html>', { status: 200, headers: { 'Content-Type': 'text/html' } })],
  ])('is not available when the server answers %s', async (_, response) => {
    vi.stubGlobal('fetch', vi.fn().mockResolvedValue(response()))
    await expect(sendMalformedRecord()).resolves.toEqual({ available: false })
  })

  it('reports a failure of the route', async () => {
    vi.stubGlobal('fetch', vi.fn().mockResolvedValue(jsonResponse(500, { error: 'broker unreachable' })))
    await expect(sendMalformedRecord()).rejects.toThrow('broker unreachable')
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

  it("passes a FAILED status's failureKind on, and none when the record has none", () => {
    const got: StatusEvent[] = []
    subscribeOrderStatus('o-1', { onStatus: (e) => got.push(e) })
    const source = FakeEventSource.latest('/events')
    source.open()
    source.emit(...status(1, 'CREATED'))
    source.emit(...status(2, 'FAILED', { reason: 'out of stock: A has 0 left', failureKind: 'OUT_OF_STOCK' }))
    expect(got.map((e) => e.failureKind)).toEqual([undefined, 'OUT_OF_STOCK'])

    const older: StatusEvent[] = []
    subscribeOrderStatus('o-2', { onStatus: (e) => older.push(e) })
    const again = FakeEventSource.latest('/events')
    again.open()
    again.emit('status', { orderId: 'o-2', status: 'FAILED', reason: 'out of stock: A has 0 left', failureKind: 7, updatedAt: '' }, '1')
    expect(older).toHaveLength(1)
    expect(older[0].failureKind).toBeUndefined()
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

  it('keeps string headers and leaves them out when there are none', () => {
    const got: FlowRecord[] = []
    subscribeFlow(undefined, { onRecord: (r) => got.push(r) })
    const source = FakeEventSource.latest('/flow')
    source.emit('record', { ...record(1), headers: { 'dlq.error': 'bad JSON', 'dlq.source.offset': '7', odd: 3 } })
    source.emit('record', { ...record(2), headers: {} })
    source.emit('record', record(3))
    expect(got[0].headers).toEqual({ 'dlq.error': 'bad JSON', 'dlq.source.offset': '7' })
    expect(got[1]).not.toHaveProperty('headers')
    expect(got[2]).not.toHaveProperty('headers')
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
    ['stock.reservations', 'o-4', { orderId: 'o-4', result: 'RESERVED' }, 'o-4'],
    ['orders.created.dlq', 'o-5', 'not an order', 'o-5'],
    ['inventory.updated.dlq', 'BOOK-42', { sku: 'BOOK-42', orderId: 'o-6' }, 'o-6'],
    ['inventory.updated', 'BOOK-42', { sku: 'BOOK-42', orderId: 'o-3' }, 'o-3'],
    ['inventory.updated', 'BOOK-42', null, undefined],
  ])('%s keyed %s belongs to %s', (topic, key, value, want) => {
    expect(recordOrderId({ topic, key, value, partition: 0, offset: 0, timestamp: '' })).toBe(want)
  })
})
