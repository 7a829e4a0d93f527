// fake-backend.mjs — a DEV AID ONLY: a tiny in-memory stand-in for orders-api (8081),
// notifications-api (8083) and stock-service (8084), implementing the HTTP/SSE contracts the
// page uses, so the page and its browser test can be developed without Kafka or the Go
// services. The e2e uses it only when E2E_FAKE=1; the real run goes against the real stack.
//
//   node e2e/fake-backend.mjs               # services only (pair with `npm run dev`)
//   node e2e/fake-backend.mjs --serve-dist  # also serve web/dist on :5173
//   GET {notifications}/__fake/drop          # cut every open SSE stream (test reconnects)
import { randomUUID } from 'node:crypto'
import { createReadStream, existsSync, statSync } from 'node:fs'
import { createServer } from 'node:http'
import { extname, join, normalize, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const PARTITIONS = 3
const FLOW_REPLAY = 300
const DEFAULT_STOCK = { 'BOOK-42': 25, 'MUG-7': 12, 'TEE-3': 8, 'CAP-1': 0 }
const PAYMENT_LIMIT = 1000

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

  const produce = (topic, key, value) => {
    const partition = partitionFor(key)
    const tp = `${topic}/${partition}`
    const offset = offsets.get(tp) ?? 0
    offsets.set(tp, offset + 1)
    const record = { topic, partition, offset, key, value, timestamp: new Date().toISOString() }
    records.push(record)
    if (records.length > 5000) records.shift()
    for (const c of flowClients) if (flowMatches(record, c.orderId)) flowEvent(c.res, record)
    return record
  }

  const emitStatus = (orderId, status, reason) => {
    const list = statuses.get(orderId) ?? []
    statuses.set(orderId, list)
    const data = { orderId, status, ...(reason ? { reason } : {}), updatedAt: new Date().toISOString() }
    const event = { id: list.length + 1, data }
    list.push(event)
    produce('orders.status', orderId, data)
    for (const c of statusClients) if (c.orderId === orderId) sendStatus(c.res, event)
  }
  const sendStatus = (res, event) => sse(res, [`id: ${event.id}`, 'event: status', `data: ${JSON.stringify(event.data)}`])

  const applyStock = (order) => {
    const fits = order.items.every((i) => (stock.get(i.sku) ?? 0) >= i.qty)
    if (!fits) {
      log(`stock: order ${order.orderId} cannot be filled in full; nothing changed`)
      return
    }
    for (const item of order.items) {
      const newQuantity = stock.get(item.sku) - item.qty
      stock.set(item.sku, newQuantity)
      produce('inventory.updated', item.sku, {
        sku: item.sku,
        delta: -item.qty,
        newQuantity,
        orderId: order.orderId,
        updatedAt: new Date().toISOString(),
      })
    }
  }

  const runProcessor = (order) => {
    later(stepDelayMs, () => {
      emitStatus(order.orderId, 'CREATED')
      later(stepDelayMs, () => {
        emitStatus(order.orderId, 'PROCESSING')
        later(stepDelayMs, () => {
          if (order.total > PAYMENT_LIMIT) {
            emitStatus(order.orderId, 'FAILED', `payment declined: total ${order.total} exceeds the limit of ${PAYMENT_LIMIT}`)
          } else emitStatus(order.orderId, 'PAID')
        })
      })
    })
    later(stepDelayMs / 2, () => applyStock(order))
  }

  const cors = (req, res) => {
    res.setHeader('Access-Control-Allow-Origin', req.headers.origin ?? '*')
    res.setHeader('Vary', 'Origin')
    res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS')
    res.setHeader('Access-Control-Allow-Headers', 'Content-Type, Last-Event-ID')
    res.setHeader('Access-Control-Max-Age', '600')
  }
  const json = (res, status, body) => {
    res.writeHead(status, { 'Content-Type': 'application/json' })
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
    if (fields.length > 0) return json(res, 422, { error: 'the order is invalid', fields })
    const order = { orderId: randomUUID(), userId: body.userId, items: body.items, total: body.total, currency: body.currency, createdAt: new Date().toISOString() }
    produce('orders.created', order.orderId, order)
    runProcessor(order)
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
      const body = JSON.parse((await readBody(req, 64 * 1024)) || '{}')
      for (const [sku, qty] of Object.entries(body)) stock.set(sku, qty)
      return json(res, 200, Object.fromEntries(stock))
    }
    json(res, 404, { error: 'not found' })
  })

  const servers = [
    [orders, ordersPort],
    [notifications, notificationsPort],
    [stockServer, stockPort],
  ]
  if (distDir) servers.push([staticServer(distDir), webPort])
  for (const [server, port] of servers) {
    await new Promise((ok, fail) => {
      server.once('error', fail)
      server.listen(port, ok)
    })
  }
  log(`fake backend: orders :${ordersPort}, notifications :${notificationsPort}, stock :${stockPort}${distDir ? `, web :${webPort}` : ''}`)

  return {
    async close() {
      for (const t of timers) clearTimeout(t)
      for (const c of [...statusClients, ...flowClients]) c.res.destroy()
      await Promise.all(servers.map(([s]) => new Promise((ok) => (s.closeAllConnections?.(), s.close(() => ok())))))
    },
  }
}

const MIME = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml', '.png': 'image/png', '.json': 'application/json' }

function staticServer(dir) {
  const root = resolve(dir)
  return createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname))
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
