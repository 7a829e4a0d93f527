// fake-backend.mjs — a DEV AID ONLY: a tiny in-memory stand-in for orders-api (8081),
// notifications-api (8083) and stock-service (8084), implementing the HTTP/SSE contracts the
// page uses — the saga (orders.created -> stock.reservations -> orders.status, release on a
// declined payment), Idempotency-Key, record headers (traceparent, dead-letter headers),
// GET /consumers — so the page and its browser test can be developed without Kafka or the Go
// services. The e2e uses it only when E2E_FAKE=1; the real run goes against the real stack.
//
//   node e2e/fake-backend.mjs               # services only (pair with `npm run dev`)
//   node e2e/fake-backend.mjs --serve-dist  # also serve web/dist on :5173, with POST /kit/demo/malformed
//   GET {notifications}/__fake/drop          # cut every open SSE stream (test reconnects)
//   GET {notifications}/__fake/scale?group=orders-processor-cg&members=2   # a rebalance
import { randomBytes, randomUUID } from 'node:crypto'
import { createReadStream, existsSync, statSync } from 'node:fs'
import { createServer } from 'node:http'
import { extname, join, normalize, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const PARTITIONS = 3
const FLOW_REPLAY = 300
// The demo stock `kit up` seeds (harness/cmd/kit/demo.go): a few SKUs, one nearly sold out.
const DEFAULT_STOCK = { 'BOOK-1': 25, 'MUG-1': 40, 'TSHIRT-M': 12, 'STICKER-PACK': 100, 'LAST-ONE': 1 }
const PAYMENT_LIMIT = 1000
const IDEMPOTENCY_KEY = /^[\x20-\x7e]{1,255}$/
const GROUP_STOCK = 'stock-service-cg'
const GROUP_PROCESSOR = 'orders-processor-cg'

export async function startFakeBackend({
  ordersPort = 8081,
  notificationsPort = 8083,
  stockPort = 8084,
  webPort = 5173,
  distDir,
  stepDelayMs = 120,
  log = () => {},
} = {}) {
  const stock = new Map(Object.entries(DEFAULT_STOCK))
  const records = []
  const offsets = new Map()
  const statuses = new Map() // orderId -> [{id, data}]
  const statusClients = new Set() // {orderId, res}
  const flowClients = new Set() // {orderId, res}
  const timers = new Set()
  const idempotency = new Map() // userId + key -> {body, orderId}

  const later = (ms, fn) => {
    const t = setTimeout(() => {
      timers.delete(t)
      fn()
    }, ms)
    timers.add(t)
  }

  const partitionFor = (key) => {
    let h = 0
    for (const ch of key) h = (h * 31 + ch.charCodeAt(0)) >>> 0
    return h % PARTITIONS
  }

  const flowMatches = (record, orderId) => !orderId || record.key === orderId || record.value?.orderId === orderId
  const sse = (res, lines) => res.write(lines.join('\n') + '\n\n')
  const flowEvent = (res, record) => sse(res, ['event: record', `data: ${JSON.stringify(record)}`])

  const produce = (topic, key, value, headers) => {
    const partition = partitionFor(key)
    const tp = `${topic}/${partition}`
    const offset = offsets.get(tp) ?? 0
    offsets.set(tp, offset + 1)
    const record = { topic, partition, offset, key, value, timestamp: new Date().toISOString() }
    if (headers && Object.keys(headers).length > 0) record.headers = headers
    records.push(record)
    if (records.length > 5000) records.shift()
    for (const c of flowClients) if (flowMatches(record, c.orderId)) flowEvent(c.res, record)
    return record
  }

  // Consumer groups: members with their assigned partitions, and committed offsets.
  const groups = new Map([
    [GROUP_STOCK, { topics: ['orders.created', 'orders.status'], clientId: 'stock-service', members: [], committed: new Map() }],
    [GROUP_PROCESSOR, { topics: ['stock.reservations'], clientId: 'orders-processor', members: [], committed: new Map() }],
  ])
  const scaleGroup = (groupId, count) => {
    const group = groups.get(groupId)
    if (group.members.length > 0 || count > 0) group.rebalancedAt = new Date().toISOString()
    group.members = Array.from({ length: count }, (_, i) => ({
      memberId: `${group.clientId}-${i + 1}-${randomUUID()}`,
      clientId: group.clientId,
      host: '/127.0.0.1',
      assignments: group.topics.map((topic) => ({ topic, partitions: [] })),
    }))
    for (let p = 0; p < PARTITIONS; p++) {
      const member = group.members[p % count]
      for (const a of member?.assignments ?? []) a.partitions.push(p)
    }
  }
  for (const groupId of groups.keys()) scaleGroup(groupId, 1)
  for (const group of groups.values()) delete group.rebalancedAt // the first assignment is no rebalance
  const commit = (groupId, record) => groups.get(groupId).committed.set(`${record.topic}/${record.partition}`, record.offset + 1)
  const consumersBody = () => ({
    at: new Date().toISOString(),
    groups: [...groups].map(([groupId, g]) => ({
      groupId,
      ...(g.rebalancedAt ? { rebalancedAt: g.rebalancedAt } : {}),
      state: g.members.length > 0 ? 'Stable' : 'Empty',
      members: g.members,
      partitions: g.topics.flatMap((topic) =>
        Array.from({ length: PARTITIONS }, (_, partition) => {
          const committed = g.committed.get(`${topic}/${partition}`) ?? -1
          const end = offsets.get(`${topic}/${partition}`) ?? 0
          const owner = g.members.find((m) => m.assignments.some((a) => a.topic === topic && a.partitions.includes(partition)))
          return { topic, partition, committed, end, lag: committed < 0 ? end : end - committed, ...(owner ? { memberId: owner.memberId } : {}) }
        }),
      ),
    })),
  })

  // Trace context: one trace per order, a new span per hop.
  const traces = new Map() // orderId -> trace id
  const traceparent = (orderId) => {
    if (!traces.has(orderId)) traces.set(orderId, randomBytes(16).toString('hex'))
    return { traceparent: `00-${traces.get(orderId)}-${randomBytes(8).toString('hex')}-01` }
  }

  const emitStatus = (orderId, status, reason, failureKind) => {
    const list = statuses.get(orderId) ?? []
    statuses.set(orderId, list)
    const data = { orderId, status, ...(reason ? { reason } : {}), ...(failureKind ? { failureKind } : {}), updatedAt: new Date().toISOString() }
    const event = { id: list.length + 1, data }
    list.push(event)
    const record = produce('orders.status', orderId, data, traceparent(orderId))
    for (const c of statusClients) if (c.orderId === orderId) sendStatus(c.res, event)
    later(stepDelayMs / 2, () => stockOnStatus(record))
  }
  const sendStatus = (res, event) => sse(res, [`id: ${event.id}`, 'event: status', `data: ${JSON.stringify(event.data)}`])

  // stock-service: reserve every item or none, answer on stock.reservations.
  const reserved = new Map() // orderId -> items, until released
  const reserveStock = (order, record) => {
    const short = order.items.find((i) => (stock.get(i.sku) ?? 0) < i.qty)
    const updatedAt = new Date().toISOString()
    let reservation
    if (short) {
      const left = stock.get(short.sku) ?? 0
      log(`stock: order ${order.orderId} rejected: ${short.sku} has ${left}`)
      const reason = `out of stock: ${short.sku} has ${left}, asked ${short.qty}`
      reservation = produce('stock.reservations', order.orderId, { orderId: order.orderId, result: 'REJECTED', reason, items: order.items, updatedAt }, traceparent(order.orderId))
    } else {
      for (const item of order.items) {
        const newQuantity = stock.get(item.sku) - item.qty
        stock.set(item.sku, newQuantity)
        produce('inventory.updated', item.sku, { sku: item.sku, delta: -item.qty, newQuantity, orderId: order.orderId, updatedAt }, traceparent(order.orderId))
      }
      reserved.set(order.orderId, order.items)
      reservation = produce('stock.reservations', order.orderId, { orderId: order.orderId, result: 'RESERVED', items: order.items, updatedAt }, traceparent(order.orderId))
    }
    commit(GROUP_STOCK, record)
    later(stepDelayMs, () => runProcessor(order, reservation))
  }

  // stock-service on orders.status: a FAILED order it had reserved gets its stock back, once.
  const stockOnStatus = (record) => {
    const { orderId, status } = record.value
    commit(GROUP_STOCK, record)
    const items = reserved.get(orderId)
    if (status !== 'FAILED' || !items) return
    reserved.delete(orderId)
    for (const item of items) {
      const newQuantity = (stock.get(item.sku) ?? 0) + item.qty
      stock.set(item.sku, newQuantity)
      produce('inventory.updated', item.sku, { sku: item.sku, delta: item.qty, newQuantity, orderId, updatedAt: new Date().toISOString() }, traceparent(orderId))
    }
  }

  // orders-processor on stock.reservations: CREATED, then PROCESSING and PAID|FAILED, or FAILED.
  const runProcessor = (order, reservation) => {
    const { result, reason } = reservation.value
    emitStatus(order.orderId, 'CREATED')
    commit(GROUP_PROCESSOR, reservation)
    if (result === 'REJECTED') {
      later(stepDelayMs, () => emitStatus(order.orderId, 'FAILED', reason, 'OUT_OF_STOCK'))
      return
    }
    later(stepDelayMs, () => {
      emitStatus(order.orderId, 'PROCESSING')
      later(stepDelayMs, () => {
        if (order.total > PAYMENT_LIMIT) {
          emitStatus(order.orderId, 'FAILED', `payment declined: total ${order.total} exceeds the limit of ${PAYMENT_LIMIT}`, 'PAYMENT_DECLINED')
        } else emitStatus(order.orderId, 'PAID')
      })
    })
  }

  // A record on orders.created that is not an order: stock-service dead-letters it.
  const produceMalformed = () => {
    const key = `malformed-${randomBytes(8).toString('hex')}`
    const value = `this is not an order: sent by the page's malformed-record button at ${new Date().toISOString()}`
    const record = produce('orders.created', key, value)
    later(stepDelayMs / 2, () => {
      produce('orders.created.dlq', record.key, record.value, {
        'dlq.error': 'decode orders.created: invalid character \'h\' in literal true (expecting \'r\')',
        'dlq.source.topic': record.topic,
        'dlq.source.partition': String(record.partition),
        'dlq.source.offset': String(record.offset),
        'dlq.consumer.group': GROUP_STOCK,
      })
      commit(GROUP_STOCK, record)
    })
    return record
  }

  const cors = (req, res) => {
    res.setHeader('Access-Control-Allow-Origin', req.headers.origin ?? '*')
    res.setHeader('Vary', 'Origin')
    res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS')
    res.setHeader('Access-Control-Allow-Headers', 'Content-Type, Last-Event-ID, Idempotency-Key')
    res.setHeader('Access-Control-Expose-Headers', 'Retry-After, Idempotent-Replayed')
    res.setHeader('Access-Control-Max-Age', '600')
  }
  const json = (res, status, body, headers = {}) => {
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers })
    res.end(JSON.stringify(body))
  }
  const readBody = (req, limit) =>
    new Promise((resolveBody, reject) => {
      const chunks = []
      let size = 0
      req.on('data', (c) => {
        size += c.length
        if (size > limit) reject(Object.assign(new Error('too large'), { tooLarge: true }))
        else chunks.push(c)
      })
      req.on('end', () => resolveBody(Buffer.concat(chunks).toString('utf8')))
      req.on('error', reject)
    })
  const openSse = (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' })
    res.write(': connected\n\n')
    const beat = setInterval(() => res.write(': heartbeat\n\n'), 15000)
    req.on('close', () => clearInterval(beat))
  }

  const validate = (body) => {
    const fields = []
    const add = (field, message) => fields.push({ field, message })
    if (typeof body.userId !== 'string' || body.userId.trim() === '') add('userId', 'must not be empty')
    if (!Array.isArray(body.items) || body.items.length === 0) add('items', 'must contain at least one item')
    else
      body.items.forEach((item, i) => {
        if (typeof item?.sku !== 'string' || item.sku.trim() === '') add(`items[${i}].sku`, 'must not be empty')
        if (!Number.isInteger(item?.qty) || item.qty < 1) add(`items[${i}].qty`, 'must be a whole number >= 1')
      })
    if (typeof body.total !== 'number' || !Number.isFinite(body.total) || body.total < 0) add('total', 'must be a number >= 0')
    if (typeof body.currency !== 'string' || !/^[A-Z]{3}$/.test(body.currency)) add('currency', 'must be a 3-letter ISO 4217 code')
    return fields
  }

  const orders = createServer(async (req, res) => {
    cors(req, res)
    const url = new URL(req.url, 'http://x')
    if (req.method === 'OPTIONS') return res.writeHead(204).end()
    if (url.pathname === '/healthz') return json(res, 200, { status: 'ok' })
    if (url.pathname !== '/orders' || req.method !== 'POST') return json(res, 404, { error: 'not found' })
    if (!(req.headers['content-type'] ?? '').startsWith('application/json'))
      return json(res, 415, { error: 'Content-Type must be application/json' })
    let body
    try {
      body = JSON.parse(await readBody(req, 64 * 1024))
    } catch (err) {
      if (err.tooLarge) return json(res, 413, { error: 'request body larger than 64 KiB' })
      return json(res, 400, { error: 'request body is not valid JSON' })
    }
    const fields = validate(body ?? {})
    if (fields.length > 0) return json(res, 422, { error: 'invalid order', fields })
    const key = req.headers['idempotency-key']
    if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
      return json(res, 400, { error: 'Idempotency-Key must be 1 to 255 printable ASCII characters' })
    }
    const slot = key === undefined ? undefined : `${body.userId}\u0000${key}`
    const canonical = JSON.stringify({ userId: body.userId, items: body.items, total: body.total, currency: body.currency })
    if (slot && idempotency.has(slot)) {
      const first = idempotency.get(slot)
      if (first.body !== canonical) {
        return json(res, 422, { error: 'Idempotency-Key was already used for a different order', fields: [{ field: 'Idempotency-Key', message: 'reused with another body' }] })
      }
      return json(res, 201, { orderId: first.orderId }, { 'Idempotent-Replayed': 'true' })
    }
    const order = { orderId: randomUUID(), userId: body.userId, items: body.items, total: body.total, currency: body.currency, createdAt: new Date().toISOString() }
    if (slot) idempotency.set(slot, { body: canonical, orderId: order.orderId })
    const record = produce('orders.created', order.orderId, order, traceparent(order.orderId))
    later(stepDelayMs / 2, () => reserveStock(order, record))
    log(`orders: accepted ${order.orderId}`)
    json(res, 201, { orderId: order.orderId })
  })

  const notifications = createServer((req, res) => {
    cors(req, res)
    const url = new URL(req.url, 'http://x')
    if (req.method === 'OPTIONS') return res.writeHead(204).end()
    if (url.pathname === '/healthz') return json(res, 200, { status: 'ok' })
    if (url.pathname === '/__fake/drop') {
      for (const c of [...statusClients, ...flowClients]) c.res.destroy()
      return json(res, 200, { dropped: true })
    }
    if (url.pathname === '/__fake/scale') {
      const groupId = url.searchParams.get('group') ?? GROUP_PROCESSOR
      const count = Number(url.searchParams.get('members') ?? 1)
      if (!groups.has(groupId) || !Number.isInteger(count) || count < 0) return json(res, 400, { error: 'group must be a kit group, members a whole number' })
      scaleGroup(groupId, count)
      return json(res, 200, consumersBody())
    }
    if (url.pathname === '/consumers' && req.method === 'GET') return json(res, 200, consumersBody())
    const orderId = url.searchParams.get('orderId') ?? ''
    if (url.pathname === '/events') {
      if (!orderId) return json(res, 400, { error: 'orderId is required' })
      openSse(req, res)
      const client = { orderId, res }
      statusClients.add(client)
      req.on('close', () => statusClients.delete(client))
      const after = Number(req.headers['last-event-id'] ?? 0) || 0
      for (const event of statuses.get(orderId) ?? []) if (event.id > after) sendStatus(res, event)
      return
    }
    if (url.pathname === '/flow') {
      openSse(req, res)
      const client = { orderId: orderId || undefined, res }
      flowClients.add(client)
      req.on('close', () => flowClients.delete(client))
      for (const record of records.filter((r) => flowMatches(r, client.orderId)).slice(-FLOW_REPLAY)) flowEvent(res, record)
      return
    }
    json(res, 404, { error: 'not found' })
  })

  const stockServer = createServer(async (req, res) => {
    cors(req, res)
    const url = new URL(req.url, 'http://x')
    if (req.method === 'OPTIONS') return res.writeHead(204).end()
    if (url.pathname === '/healthz') return json(res, 200, { status: 'ok' })
    if (url.pathname === '/stock' && req.method === 'GET') return json(res, 200, Object.fromEntries(stock))
    if (url.pathname === '/seed' && req.method === 'POST') {
      let body
      try {
        body = JSON.parse((await readBody(req, 64 * 1024)) || 'null')
      } catch {
        return json(res, 400, { error: 'request body is not valid JSON' })
      }
      if (typeof body !== 'object' || body === null || Array.isArray(body)) return json(res, 400, { error: 'body must be an object of SKU to quantity' })
      const fields = Object.entries(body)
        .filter(([, qty]) => !Number.isInteger(qty) || qty < 0)
        .map(([sku]) => ({ field: sku, message: 'quantity must be a whole number >= 0' }))
      if (Object.keys(body).length === 0) fields.push({ field: '', message: 'give at least one SKU' })
      if (fields.length > 0) return json(res, 422, { error: 'invalid stock', fields })
      for (const [sku, qty] of Object.entries(body)) stock.set(sku, qty)
      return json(res, 200, body)
    }
    json(res, 404, { error: 'not found' })
  })

  const servers = [
    [orders, ordersPort],
    [notifications, notificationsPort],
    [stockServer, stockPort],
  ]
  if (distDir) servers.push([staticServer(distDir, { 'POST /kit/demo/malformed': produceMalformed }), webPort])
  for (const [server, port] of servers) {
    await new Promise((ok, fail) => {
      server.once('error', fail)
      server.listen(port, ok)
    })
  }
  log(`fake backend: orders :${ordersPort}, notifications :${notificationsPort}, stock :${stockPort}${distDir ? `, web :${webPort}` : ''}`)

  const [ordersAt, notificationsAt, stockAt, webAt] = servers.map(([server]) => server.address().port)
  return {
    ports: { orders: ordersAt, notifications: notificationsAt, stock: stockAt, web: webAt },
    async close() {
      for (const t of timers) clearTimeout(t)
      for (const c of [...statusClients, ...flowClients]) c.res.destroy()
      await Promise.all(servers.map(([s]) => new Promise((ok) => (s.closeAllConnections?.(), s.close(() => ok())))))
    },
  }
}

const MIME = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.png': 'image/png', '.json': 'application/json' }

function staticServer(dir, routes) {
  const root = resolve(dir)
  return createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname))
    const route = routes[`${req.method} ${path}`]
    if (route) {
      const record = route()
      res.writeHead(202, { 'Content-Type': 'application/json' })
      return res.end(JSON.stringify({ topic: record.topic, partition: record.partition, offset: record.offset, key: record.key }))
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(404, { 'Content-Type': 'application/json' })
      return res.end(JSON.stringify({ error: 'not found' }))
    }
    let file = join(root, path)
    if (!file.startsWith(root) || !existsSync(file) || statSync(file).isDirectory()) file = join(root, 'index.html')
    res.writeHead(200, { 'Content-Type': MIME[extname(file)] ?? 'application/octet-stream' })
    createReadStream(file).pipe(res)
  })
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const distDir = process.argv.includes('--serve-dist') ? fileURLToPath(new URL('../dist', import.meta.url)) : undefined
  const backend = await startFakeBackend({ distDir, log: (m) => console.log(m) })
  const stop = async () => {
    await backend.close()
    process.exit(0)
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}
