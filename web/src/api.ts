// The page's only door to the backend: typed wrappers around fetch and EventSource.
import { pageOrigin, services, unreachableMessage, type Service } from './config'

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

/** PlaceOrderResult is a 201: the orderId, and whether it answers an earlier attempt (a replay). */
export interface PlaceOrderResult {
  orderId: string
  replayed: boolean
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
  /**
   * failureKind says why a FAILED status failed (one of FAILURE_KINDS); absent on statuses
   * written before orders.status had it, and on a failure of neither kind. A kind a later
   * contract adds is kept as sent, so the page can say it does not know it.
   */
  failureKind?: string
  updatedAt: string
}

/** FAILURE_KINDS are the values of orders.status's failureKind (services/events.FailureKinds). */
export const FAILURE_KINDS = ['OUT_OF_STOCK', 'PAYMENT_DECLINED'] as const

/** TOPICS are the kit's topics in the order an order crosses them (services/events.Topics). */
export const TOPICS = ['orders.created', 'stock.reservations', 'orders.status', 'inventory.updated'] as const
/** DLQ_SUFFIX names a topic's dead-letter topic: orders.created -> orders.created.dlq. */
export const DLQ_SUFFIX = '.dlq'
export const DLQ_TOPICS = TOPICS.map((t) => `${t}${DLQ_SUFFIX}`)
/** PARTITIONS is every kit topic's partition count (services/events.Partitions). */
export const PARTITIONS = 3

/** isDeadLetterTopic reports whether topic is a dead-letter topic. */
export function isDeadLetterTopic(topic: string): boolean {
  return topic.endsWith(DLQ_SUFFIX)
}

/**
 * FlowRecord is one Kafka record as GET /flow relays it; headers is absent when it has none.
 * schemaId and schemaVersion say which version of its contract the writer followed (the
 * id in the record's first five bytes, and the registry's version of it); absent for a
 * record without that framing.
 */
export interface FlowRecord {
  topic: string
  partition: number
  offset: number
  key: string
  value: unknown
  timestamp: string
  headers?: Record<string, string>
  schemaId?: number
  schemaVersion?: number
}

/**
 * ApiError is every failed call. kind tells the page what to say:
 * "rejected" (4xx: the request itself is wrong, or not allowed; fields name the culprits),
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
    retryAfterSeconds: parseRetryAfter(response.headers.get('Retry-After')),
    message: apiMessage ?? `${service.label} answered ${response.status} ${response.statusText}`.trim(),
  })
}

/** IDEMPOTENCY_KEY_HEADER makes a retried POST /orders the same order (IETF httpapi draft). */
export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key'
/** MAX_ORDER_ATTEMPTS bounds the automatic tries of one order, the first included. */
export const MAX_ORDER_ATTEMPTS = 4
/** MAX_RETRY_WAIT_MS is the longest the page waits on its own; a longer Retry-After is the user's call. */
export const MAX_RETRY_WAIT_MS = 10_000
const UNREACHABLE_BACKOFF_MS = 500
const IN_FLIGHT_WAIT_MS = 1_000

/**
 * newIdempotencyKey returns a random UUID (v4). crypto.randomUUID exists only in secure
 * contexts, and the page may be opened over plain http from another host.
 */
export function newIdempotencyKey(): string {
  const bytes = new Uint8Array(16)
  crypto.getRandomValues(bytes)
  bytes[6] = (bytes[6] & 0x0f) | 0x40
  bytes[8] = (bytes[8] & 0x3f) | 0x80
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
}

/** RetryNotice tells the page that an order is tried again, and why. */
export interface RetryNotice {
  /** attempt is the try about to be made: 2 for the first retry. */
  attempt: number
  maxAttempts: number
  waitMs: number
  reason: string
}

export interface PlaceOrderOptions {
  /** idempotencyKey is sent with every attempt, so a retry can never become a second order. */
  idempotencyKey: string
  signal?: AbortSignal
  maxAttempts?: number
  onRetry?: (notice: RetryNotice) => void
  /** sleep waits between attempts; tests replace it. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason)
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/**
 * retryWaitMs is how long to wait before trying an order again after err, or undefined when
 * err is final: only "no answer at all", 503 with Retry-After and 409 (the same key is still
 * being recorded) are worth another try with the same key.
 */
export function retryWaitMs(err: unknown, attempt: number): number | undefined {
  if (!(err instanceof ApiError)) return undefined
  if (err.kind === 'unreachable') return UNREACHABLE_BACKOFF_MS * 2 ** (attempt - 1)
  if (err.kind === 'unavailable' && err.retryAfterSeconds !== undefined) {
    const ms = err.retryAfterSeconds * 1000
    return ms <= MAX_RETRY_WAIT_MS ? ms : undefined
  }
  if (err.status === 409) {
    const ms = err.retryAfterSeconds === undefined ? IN_FLIGHT_WAIT_MS : err.retryAfterSeconds * 1000
    return ms <= MAX_RETRY_WAIT_MS ? ms : undefined
  }
  return undefined
}

async function placeOrderOnce(order: PlaceOrderRequest, idempotencyKey: string, signal?: AbortSignal): Promise<PlaceOrderResult> {
  const service = services.orders
  const response = await request(service, '/orders', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', [IDEMPOTENCY_KEY_HEADER]: idempotencyKey },
    body: JSON.stringify(order),
    signal,
  })
  if (!response.ok) throw await failure(service, response)
  const body = (await readJson(response)) as { orderId?: unknown } | undefined
  if (!body || typeof body.orderId !== 'string') {
    throw new ApiError({ kind: 'server', status: response.status, service, message: 'Orders API answered without an orderId' })
  }
  return { orderId: body.orderId, replayed: response.headers.get('Idempotent-Replayed') === 'true' }
}

/**
 * placeOrder POSTs an order with its Idempotency-Key and resolves once orders-api has
 * recorded it (201). A network error, a 503 with Retry-After or a 409 (that key still in
 * flight) is retried with the same key, at most maxAttempts tries in all; the last error is
 * thrown. The caller keeps the key for a later manual retry of the same order.
 */
export async function placeOrder(order: PlaceOrderRequest, options: PlaceOrderOptions): Promise<PlaceOrderResult> {
  const maxAttempts = options.maxAttempts ?? MAX_ORDER_ATTEMPTS
  const sleep = options.sleep ?? abortableSleep
  for (let attempt = 1; ; attempt++) {
    try {
      return await placeOrderOnce(order, options.idempotencyKey, options.signal)
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason ?? err
      const waitMs = retryWaitMs(err, attempt)
      if (waitMs === undefined || attempt >= maxAttempts) throw err
      options.onRetry?.({ attempt: attempt + 1, maxAttempts, waitMs, reason: (err as ApiError).message })
      await sleep(waitMs, options.signal)
    }
  }
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
 * seedStock sets the quantity on hand of each SKU given (POST /seed, an admin endpoint:
 * stock-service answers 401/403 to a caller off its machine without ADMIN_TOKEN).
 */
export async function seedStock(quantities: Stock, signal?: AbortSignal): Promise<void> {
  const service = services.stock
  const response = await request(service, '/seed', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(quantities),
    signal,
  })
  if (!response.ok) throw await failure(service, response)
}

/** ConsumerAssignment is the partitions of one topic a group member owns. */
export interface ConsumerAssignment {
  topic: string
  partitions: number[]
}

/** ConsumerMember is one member of a consumer group, as the group coordinator knows it. */
export interface ConsumerMember {
  memberId: string
  clientId: string
  host: string
  assignments: ConsumerAssignment[]
}

/** PartitionOffsets is a group's progress on one partition; committed is -1 before any commit. */
export interface PartitionOffsets {
  topic: string
  partition: number
  committed: number
  end: number
  lag: number
  memberId?: string
}

/** ConsumerGroup is one group of GET /consumers. */
export interface ConsumerGroup {
  groupId: string
  state: string
  members: ConsumerMember[]
  partitions: PartitionOffsets[]
  /** rebalancedAt is when notifications-api saw the members or assignments change last, if it did. */
  rebalancedAt?: string
  /** error says what could not be read of this group. */
  error?: string
}

/** ConsumersSnapshot is GET /consumers: every consumer group at one moment. */
export interface ConsumersSnapshot {
  at: string
  groups: ConsumerGroup[]
  /** error is set while notifications-api cannot read the groups: these are the last it read, at "at". */
  error?: string
}

type Json = Record<string, unknown>

const isRecord = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v)
const str = (v: unknown): string => (typeof v === 'string' ? v : '')
const int = (v: unknown): number | undefined => (typeof v === 'number' && Number.isInteger(v) ? v : undefined)
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : [])

function parseMember(v: unknown): ConsumerMember | undefined {
  if (!isRecord(v) || typeof v.memberId !== 'string') return undefined
  return {
    memberId: v.memberId,
    clientId: str(v.clientId),
    host: str(v.host),
    assignments: list(v.assignments)
      .filter(isRecord)
      .filter((a) => typeof a.topic === 'string')
      .map((a) => ({
        topic: str(a.topic),
        partitions: list(a.partitions).filter((p): p is number => int(p) !== undefined),
      })),
  }
}

function parsePartition(v: unknown): PartitionOffsets | undefined {
  if (!isRecord(v) || typeof v.topic !== 'string') return undefined
  const partition = int(v.partition)
  const committed = int(v.committed)
  const end = int(v.end)
  if (partition === undefined || committed === undefined || end === undefined) return undefined
  return {
    topic: v.topic,
    partition,
    committed,
    end,
    lag: int(v.lag) ?? (committed < 0 ? end : Math.max(0, end - committed)),
    memberId: typeof v.memberId === 'string' && v.memberId !== '' ? v.memberId : undefined,
  }
}

function optionalText<K extends string>(name: K, value: unknown): Partial<Record<K, string>> {
  return typeof value === 'string' && value !== '' ? ({ [name]: value } as Record<K, string>) : {}
}

/** parseConsumers reads a GET /consumers body, dropping entries that are not of its shape. */
export function parseConsumers(body: unknown): ConsumersSnapshot | undefined {
  if (!isRecord(body) || !Array.isArray(body.groups)) return undefined
  const groups: ConsumerGroup[] = []
  for (const g of body.groups) {
    if (!isRecord(g) || typeof g.groupId !== 'string') continue
    groups.push({
      groupId: g.groupId,
      state: str(g.state),
      members: list(g.members).map(parseMember).filter((m): m is ConsumerMember => m !== undefined),
      partitions: list(g.partitions).map(parsePartition).filter((p): p is PartitionOffsets => p !== undefined),
      ...optionalText('rebalancedAt', g.rebalancedAt),
      ...optionalText('error', g.error),
    })
  }
  return { at: str(body.at), groups, ...optionalText('error', body.error) }
}

/** getConsumers asks notifications-api for every consumer group's members, partitions and lag. */
export async function getConsumers(signal?: AbortSignal): Promise<ConsumersSnapshot> {
  const service = services.notifications
  const response = await request(service, '/consumers', { signal, cache: 'no-store' })
  if (!response.ok) throw await failure(service, response)
  const snapshot = parseConsumers(await readJson(response))
  if (!snapshot) {
    throw new ApiError({ kind: 'server', status: response.status, service, message: 'Notifications API answered GET /consumers with an unexpected body' })
  }
  return snapshot
}

/** MALFORMED_RECORD_COMMAND does by hand what POST /kit/demo/malformed does. */
export const MALFORMED_RECORD_COMMAND = "go run ./harness/cmd/kit produce orders.created 'not an order'"

/** MalformedRecordResult says where the record went, or that this page's server cannot send one. */
export type MalformedRecordResult =
  | { available: true; topic?: string; partition?: number; offset?: number; key?: string }
  | { available: false }

/**
 * sendMalformedRecord asks `kit up` (the page's own origin) to produce a record that is not
 * an order. A server without that route (404, 405, or a static server answering HTML) is
 * "not available": the page then shows MALFORMED_RECORD_COMMAND instead.
 */
export async function sendMalformedRecord(signal?: AbortSignal): Promise<MalformedRecordResult> {
  const service = pageOrigin
  const response = await request(service, '/kit/demo/malformed', { method: 'POST', signal })
  if (response.status === 404 || response.status === 405) return { available: false }
  if (!response.ok) throw await failure(service, response)
  if (!(response.headers.get('Content-Type') ?? '').includes('application/json')) return { available: false }
  const body = await readJson(response)
  const record = isRecord(body) ? body : {}
  return {
    available: true,
    topic: typeof record.topic === 'string' ? record.topic : undefined,
    partition: int(record.partition),
    offset: int(record.offset),
    key: typeof record.key === 'string' && record.key !== '' ? record.key : undefined,
  }
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
        failureKind: typeof body.failureKind === 'string' && body.failureKind !== '' ? body.failureKind : undefined,
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

function parseHeaders(value: unknown): { headers?: Record<string, string> } {
  if (!isRecord(value)) return {}
  const headers: Record<string, string> = {}
  for (const [name, v] of Object.entries(value)) if (typeof v === 'string') headers[name] = v
  return Object.keys(headers).length > 0 ? { headers } : {}
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
        ...parseHeaders(body.headers),
        ...(typeof body.schemaId === 'number' ? { schemaId: body.schemaId } : {}),
        ...(typeof body.version === 'number' ? { schemaVersion: body.version } : {}),
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

const ORDER_KEYED_TOPICS: readonly string[] = ['orders.created', 'stock.reservations', 'orders.status']

/** recordOrderId is the orderId a flow record belongs to, if any (dead letters included). */
export function recordOrderId(record: FlowRecord): string | undefined {
  const source = isDeadLetterTopic(record.topic) ? record.topic.slice(0, -DLQ_SUFFIX.length) : record.topic
  if (ORDER_KEYED_TOPICS.includes(source)) return record.key
  const value = record.value as { orderId?: unknown } | null
  return value && typeof value.orderId === 'string' ? value.orderId : undefined
}
