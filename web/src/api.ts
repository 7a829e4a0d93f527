// The page's only door to the backend: typed wrappers around fetch and EventSource.
import { services, unreachableMessage, type Service } from './config'

export const ORDER_STATUSES = ['CREATED', 'PROCESSING', 'PAID', 'FAILED'] as const
export type OrderStatus = (typeof ORDER_STATUSES)[number]

/** isFinalStatus reports whether an order can change no more. */
export function isFinalStatus(status: OrderStatus): boolean {
  return status === 'PAID' || status === 'FAILED'
}

export interface OrderItem {
  sku: string
  qty: number
}

export interface PlaceOrderRequest {
  userId: string
  items: OrderItem[]
  total: number
  currency: string
}

export interface PlaceOrderResponse {
  orderId: string
}

/** FieldError is one entry of a 422 body's "fields", e.g. {field: "items[0].qty", ...}. */
export interface FieldError {
  field: string
  message: string
}

/** Stock maps a SKU to the quantity on hand. */
export type Stock = Record<string, number>

/** StatusEvent is one event of GET /events: the data plus its per-order SSE id (1, 2, 3...). */
export interface StatusEvent {
  id: number
  orderId: string
  status: OrderStatus
  reason?: string
  updatedAt: string
}

export const TOPICS = ['orders.created', 'orders.status', 'inventory.updated'] as const

/** FlowRecord is one Kafka record as GET /flow relays it. */
export interface FlowRecord {
  topic: string
  partition: number
  offset: number
  key: string
  value: unknown
  timestamp: string
}

/**
 * ApiError is every failed call. kind tells the page what to say:
 * "rejected" (4xx: the request itself is wrong; fields name the culprits),
 * "unavailable" (503: the service is up but cannot take the write now; retryAfterSeconds),
 * "unreachable" (no HTTP answer at all), "server" (anything else).
 */
export class ApiError extends Error {
  readonly kind: 'rejected' | 'unavailable' | 'unreachable' | 'server'
  readonly status: number
  readonly fields: FieldError[]
  readonly retryAfterSeconds?: number
  readonly service: Service

  constructor(init: {
    kind: ApiError['kind']
    message: string
    service: Service
    status?: number
    fields?: FieldError[]
    retryAfterSeconds?: number
  }) {
    super(init.message)
    this.name = 'ApiError'
    this.kind = init.kind
    this.service = init.service
    this.status = init.status ?? 0
    this.fields = init.fields ?? []
    this.retryAfterSeconds = init.retryAfterSeconds
  }
}

async function request(service: Service, path: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(service.url + path, init)
  } catch (cause) {
    if (init?.signal?.aborted) throw cause
    throw new ApiError({ kind: 'unreachable', message: unreachableMessage(service), service })
  }
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text()
  if (text.trim() === '') return undefined
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

function parseRetryAfter(header: string | null): number | undefined {
  if (header === null) return undefined
  const seconds = Number(header)
  if (Number.isFinite(seconds) && seconds >= 0) return seconds
  const date = Date.parse(header)
  if (Number.isNaN(date)) return undefined
  return Math.max(0, Math.ceil((date - Date.now()) / 1000))
}

async function failure(service: Service, response: Response): Promise<ApiError> {
  const body = await readJson(response).catch(() => undefined)
  const record = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {}
  const apiMessage =
    typeof record.error === 'string' && record.error !== ''
      ? record.error
      : typeof body === 'string' && body.trim() !== ''
        ? body.trim()
        : undefined
  const fields = Array.isArray(record.fields)
    ? record.fields.filter(
        (f): f is FieldError =>
          typeof f === 'object' && f !== null && typeof f.field === 'string' && typeof f.message === 'string',
      )
    : []
  if (response.status === 503) {
    const retryAfterSeconds = parseRetryAfter(response.headers.get('Retry-After'))
    const wait = retryAfterSeconds === undefined ? 'in a moment' : `in ${retryAfterSeconds} s`
    return new ApiError({
      kind: 'unavailable',
      status: 503,
      service,
      retryAfterSeconds,
      message: `${apiMessage ?? `${service.label} is temporarily unavailable`} — please retry ${wait}.`,
    })
  }
  const kind = response.status >= 400 && response.status < 500 ? 'rejected' : 'server'
  return new ApiError({
    kind,
    status: response.status,
    service,
    fields,
    message: apiMessage ?? `${service.label} answered ${response.status} ${response.statusText}`.trim(),
  })
}

/** placeOrder POSTs an order; it resolves only once the broker has the record (201). */
export async function placeOrder(order: PlaceOrderRequest, signal?: AbortSignal): Promise<PlaceOrderResponse> {
  const service = services.orders
  const response = await request(service, '/orders', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(order),
    signal,
  })
  if (!response.ok) throw await failure(service, response)
  const body = (await readJson(response)) as Partial<PlaceOrderResponse> | undefined
  if (!body || typeof body.orderId !== 'string') {
    throw new ApiError({ kind: 'server', status: response.status, service, message: 'Orders API answered without an orderId' })
  }
  return { orderId: body.orderId }
}

/** getStock returns the quantity on hand per SKU. */
export async function getStock(signal?: AbortSignal): Promise<Stock> {
  const service = services.stock
  const response = await request(service, '/stock', { signal })
  if (!response.ok) throw await failure(service, response)
  const body = await readJson(response)
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ApiError({ kind: 'server', status: response.status, service, message: 'Stock service answered an unexpected body' })
  }
  const stock: Stock = {}
  for (const [sku, qty] of Object.entries(body)) {
    if (typeof qty === 'number') stock[sku] = qty
  }
  return stock
}

/**
 * isAlive asks GET /healthz. It uses a no-cors request on purpose: the question is only
 * "does something answer at this address", which must not depend on CORS headers.
 */
export async function isAlive(service: Service, signal?: AbortSignal): Promise<boolean> {
  try {
    const response = await fetch(service.url + '/healthz', { mode: 'no-cors', cache: 'no-store', signal })
    return response.type === 'opaque' || response.ok
  } catch {
    return false
  }
}

/** StreamState is what a subscription reports about its connection. */
export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'closed'

interface StreamOptions<T> {
  url: string
  eventName: string
  parse: (data: string, lastEventId: string) => T | undefined
  onMessage: (message: T) => void
  onState?: (state: StreamState) => void
}

interface Stream {
  close(): void
}

const RECONNECT_MIN_MS = 1000
const RECONNECT_MAX_MS = 15000

/**
 * openStream keeps one EventSource open. EventSource reconnects by itself after a network
 * drop (sending Last-Event-ID); when the browser gives up instead (readyState CLOSED, e.g.
 * after an HTTP error), a new EventSource is opened with backoff. Callers dedupe, because a
 * fresh EventSource starts without Last-Event-ID and the server replays its history.
 */
function openStream<T>(options: StreamOptions<T>): Stream {
  let source: EventSource | undefined
  let retryTimer: ReturnType<typeof setTimeout> | undefined
  let delay = RECONNECT_MIN_MS
  let closed = false

  const setState = (state: StreamState) => options.onState?.(state)

  const onEvent = (event: Event) => {
    const message = event as MessageEvent<string>
    const parsed = options.parse(message.data, message.lastEventId)
    if (parsed !== undefined) options.onMessage(parsed)
  }

  const connect = () => {
    if (closed) return
    setState(source ? 'reconnecting' : 'connecting')
    const es = new EventSource(options.url)
    source = es
    es.addEventListener('open', () => {
      delay = RECONNECT_MIN_MS
      setState('live')
    })
    es.addEventListener(options.eventName, onEvent)
    es.addEventListener('error', () => {
      if (closed) return
      if (es.readyState === EventSource.CLOSED) {
        es.close()
        setState('reconnecting')
        retryTimer = setTimeout(connect, delay)
        delay = Math.min(delay * 2, RECONNECT_MAX_MS)
      } else {
        setState('reconnecting')
      }
    })
  }

  connect()
  return {
    close() {
      if (closed) return
      closed = true
      clearTimeout(retryTimer)
      source?.close()
      setState('closed')
    },
  }
}

function parseJson(data: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(data)
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

function isOrderStatus(value: unknown): value is OrderStatus {
  return typeof value === 'string' && (ORDER_STATUSES as readonly string[]).includes(value)
}

export interface OrderStatusHandlers {
  onStatus: (event: StatusEvent) => void
  onState?: (state: StreamState) => void
}

/**
 * subscribeOrderStatus streams an order's statuses: its history first, then live ones.
 * Each event id is delivered once, even across reconnects, and the stream closes itself
 * after a final status (PAID or FAILED). It returns a function that closes the stream.
 */
export function subscribeOrderStatus(orderId: string, handlers: OrderStatusHandlers): () => void {
  const seen = new Set<number>()
  const stream = openStream<StatusEvent>({
    url: `${services.notifications.url}/events?orderId=${encodeURIComponent(orderId)}`,
    eventName: 'status',
    parse(data, lastEventId) {
      const body = parseJson(data)
      const id = Number(lastEventId)
      if (!body || !isOrderStatus(body.status) || !Number.isInteger(id) || lastEventId === '') return undefined
      return {
        id,
        orderId: typeof body.orderId === 'string' ? body.orderId : orderId,
        status: body.status,
        reason: typeof body.reason === 'string' && body.reason !== '' ? body.reason : undefined,
        updatedAt: typeof body.updatedAt === 'string' ? body.updatedAt : '',
      }
    },
    onMessage(event) {
      if (seen.has(event.id)) return
      seen.add(event.id)
      handlers.onStatus(event)
      if (isFinalStatus(event.status)) stream.close()
    },
    onState: handlers.onState,
  })
  return () => stream.close()
}

/**
 * flowRecordKey identifies a Kafka record: topic, partition and offset, plus the timestamp
 * because a fresh local broker (a restarted `make up`) numbers its offsets from 0 again.
 */
export function flowRecordKey(record: Pick<FlowRecord, 'topic' | 'partition' | 'offset' | 'timestamp'>): string {
  return `${record.topic}/${record.partition}/${record.offset}@${record.timestamp}`
}

export interface FlowHandlers {
  onRecord: (record: FlowRecord) => void
  onState?: (state: StreamState) => void
}

/**
 * subscribeFlow tails the kit's topics: the most recent records first, then live ones,
 * only those of one order when orderId is given. A record (topic/partition/offset) is
 * delivered once even though every reconnect replays the recent ones.
 */
export function subscribeFlow(orderId: string | undefined, handlers: FlowHandlers): () => void {
  const seen = new Set<string>()
  const query = orderId ? `?orderId=${encodeURIComponent(orderId)}` : ''
  const stream = openStream<FlowRecord>({
    url: `${services.notifications.url}/flow${query}`,
    eventName: 'record',
    parse(data) {
      const body = parseJson(data)
      if (!body || typeof body.topic !== 'string') return undefined
      return {
        topic: body.topic,
        partition: Number(body.partition),
        offset: Number(body.offset),
        key: typeof body.key === 'string' ? body.key : String(body.key ?? ''),
        value: body.value,
        timestamp: typeof body.timestamp === 'string' ? body.timestamp : '',
      }
    },
    onMessage(record) {
      const key = flowRecordKey(record)
      if (seen.has(key)) return
      seen.add(key)
      // The set only has to outlive one replay window (a few hundred records).
      if (seen.size > 5000) {
        const oldest = seen.values().next().value
        if (oldest !== undefined) seen.delete(oldest)
      }
      handlers.onRecord(record)
    },
    onState: handlers.onState,
  })
  return () => stream.close()
}

/** recordOrderId is the orderId a flow record belongs to, if any. */
export function recordOrderId(record: FlowRecord): string | undefined {
  if (record.topic.startsWith('orders.')) return record.key
  const value = record.value as { orderId?: unknown } | null
  return value && typeof value.orderId === 'string' ? value.orderId : undefined
}
