import { useCallback, useEffect, useRef, useState } from 'react'
import { subscribeOrderStatus, type StreamState } from '../api'
import { isFinished, loadOrders, MAX_REMEMBERED_ORDERS, saveOrders, withEvent, type PlacedOrder } from '../myOrders'

/**
 * MAX_STATUS_STREAMS bounds the open status streams: browsers allow about six HTTP/1.1
 * connections per host, and the event flow needs one of them to the same service.
 */
export const MAX_STATUS_STREAMS = 3

/**
 * useMyOrders keeps the orders placed from this browser, persisted, and follows the
 * statuses of unfinished ones (the selected order first, then the newest) until final.
 */
export function useMyOrders(selectedId: string | undefined) {
  const [orders, setOrders] = useState<PlacedOrder[]>(loadOrders)
  const [streamStates, setStreamStates] = useState<Record<string, StreamState>>({})
  const streams = useRef(new Map<string, () => void>())

  useEffect(() => saveOrders(orders), [orders])

  const addOrder = useCallback((order: PlacedOrder) => {
    setOrders((current) => [order, ...current.filter((o) => o.orderId !== order.orderId)].slice(0, MAX_REMEMBERED_ORDERS))
  }, [])

  const clearOrders = useCallback(() => setOrders([]), [])

  const unfinished = orders.filter((o) => !isFinished(o)).map((o) => o.orderId)
  const wanted = [...new Set([...(selectedId && unfinished.includes(selectedId) ? [selectedId] : []), ...unfinished])]
    .slice(0, MAX_STATUS_STREAMS)
  const wantedKey = wanted.join(',')

  useEffect(() => {
    const open = streams.current
    const ids = wantedKey === '' ? [] : wantedKey.split(',')
    for (const [orderId, close] of open) {
      if (!ids.includes(orderId)) {
        close()
        open.delete(orderId)
      }
    }
    for (const orderId of ids) {
      if (open.has(orderId)) continue
      const close = subscribeOrderStatus(orderId, {
        onStatus(event) {
          setOrders((current) => current.map((o) => (o.orderId === orderId ? withEvent(o, event) : o)))
        },
        onState(state) {
          setStreamStates((current) => (current[orderId] === state ? current : { ...current, [orderId]: state }))
        },
      })
      open.set(orderId, close)
    }
  }, [wantedKey])

  useEffect(() => {
    const open = streams.current
    return () => {
      for (const close of open.values()) close()
      open.clear()
    }
  }, [])

  return { orders, addOrder, clearOrders, streamStates }
}
