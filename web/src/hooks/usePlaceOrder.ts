import { useCallback, useEffect, useRef, useState } from 'react'
import { ApiError, newIdempotencyKey, placeOrder, type PlaceOrderRequest, type PlaceOrderResult, type RetryNotice } from '../api'

/**
 * usePlaceOrder places orders with an Idempotency-Key: a fresh key for each new order, the
 * same key for every try of the same order — the automatic retries inside placeOrder, and a
 * later click on the same unchanged order after they gave up — so that however often it is
 * sent, orders-api records it once. retrying is set while an automatic retry is pending.
 */
export function usePlaceOrder() {
  const pending = useRef<{ key: string; body: string } | undefined>(undefined)
  const [retrying, setRetrying] = useState<RetryNotice | undefined>()
  const controller = useRef<AbortController | undefined>(undefined)

  useEffect(() => () => controller.current?.abort(), [])

  const place = useCallback(async (order: PlaceOrderRequest): Promise<PlaceOrderResult> => {
    const body = JSON.stringify(order)
    const key = pending.current?.body === body ? pending.current.key : newIdempotencyKey()
    pending.current = { key, body }
    controller.current = new AbortController()
    try {
      const result = await placeOrder(order, { idempotencyKey: key, signal: controller.current.signal, onRetry: setRetrying })
      pending.current = undefined
      return result
    } catch (err) {
      // A request that was refused (4xx other than 409) recorded nothing: the next try is a new
      // order. Anything else may have been recorded, so a retry of this order keeps its key.
      if (err instanceof ApiError && err.kind === 'rejected' && err.status !== 409) pending.current = undefined
      throw err
    } finally {
      setRetrying(undefined)
    }
  }, [])

  return { place, retrying }
}

/** retryText is what the page says while an order is tried again. */
export function retryText(notice: RetryNotice): string {
  const wait = notice.waitMs < 1000 ? 'now' : `in ${Math.round(notice.waitMs / 1000)} s`
  return `${notice.reason.replace(/\s*—\s*please retry.*$/, '')} — trying again ${wait} with the same Idempotency-Key (try ${notice.attempt} of ${notice.maxAttempts}).`
}
