// Orders placed from this browser and the user id, remembered in localStorage.
import { isFinalStatus, type OrderItem, type OrderStatus, type StatusEvent } from './api'

/** PlacedOrder is an order this browser placed, with every status seen so far. */
export interface PlacedOrder {
  orderId: string
  userId: string
  items: OrderItem[]
  total: number
  currency: string
  placedAt: string
  events: StatusEvent[]
}

const ORDERS_KEY = 'kafkakit.orders'
const USER_KEY = 'kafkakit.userId'
export const MAX_REMEMBERED_ORDERS = 30

/** latestEvent is the order's newest status event (highest id), if any. */
export function latestEvent(order: PlacedOrder): StatusEvent | undefined {
  return order.events.reduce<StatusEvent | undefined>((latest, e) => (!latest || e.id > latest.id ? e : latest), undefined)
}

export function latestStatus(order: PlacedOrder): OrderStatus | undefined {
  return latestEvent(order)?.status
}

export function isFinished(order: PlacedOrder): boolean {
  const status = latestStatus(order)
  return status !== undefined && isFinalStatus(status)
}

/** withEvent adds a status event once (by id), keeping events in id order. */
export function withEvent(order: PlacedOrder, event: StatusEvent): PlacedOrder {
  if (order.events.some((e) => e.id === event.id)) return order
  return { ...order, events: [...order.events, event].sort((a, b) => a.id - b.id) }
}

function readStorage(key: string): string | null {
  try {
    return localStorage.getItem(key)
  } catch {
    return null
  }
}

function writeStorage(key: string, value: string): void {
  try {
    localStorage.setItem(key, value)
  } catch {
    // Private mode or a full quota: the page still works, it just forgets on reload.
  }
}

export function loadOrders(): PlacedOrder[] {
  const raw = readStorage(ORDERS_KEY)
  if (!raw) return []
  try {
    const parsed: unknown = JSON.parse(raw)
    if (!Array.isArray(parsed)) return []
    return parsed
      .filter((o): o is PlacedOrder => typeof o === 'object' && o !== null && typeof o.orderId === 'string')
      .map((o) => ({ ...o, items: Array.isArray(o.items) ? o.items : [], events: Array.isArray(o.events) ? o.events : [] }))
  } catch {
    return []
  }
}

export function saveOrders(orders: PlacedOrder[]): void {
  writeStorage(ORDERS_KEY, JSON.stringify(orders.slice(0, MAX_REMEMBERED_ORDERS)))
}

function randomSuffix(): string {
  const bytes = new Uint8Array(3)
  crypto.getRandomValues(bytes)
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}

/** loadUserId returns the remembered user id, or a fresh default such as "user-3fa2c1". */
export function loadUserId(): string {
  const stored = readStorage(USER_KEY)
  if (stored !== null) return stored
  const generated = `user-${randomSuffix()}`
  writeStorage(USER_KEY, generated)
  return generated
}

export function saveUserId(userId: string): void {
  writeStorage(USER_KEY, userId)
}
