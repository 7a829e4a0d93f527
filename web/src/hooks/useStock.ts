import { useCallback, useEffect, useRef, useState } from 'react'
import { ApiError, getStock, type Stock } from '../api'

export const STOCK_POLL_MS = 10_000

/**
 * useStock loads GET /stock, re-polls it slowly as a fallback, and refreshes sooner when
 * refresh() is called (the page calls it for every inventory.updated record).
 */
export function useStock(pollMs = STOCK_POLL_MS) {
  const [stock, setStock] = useState<Stock | undefined>()
  const [error, setError] = useState<ApiError | undefined>()
  const [loadedAt, setLoadedAt] = useState<Date | undefined>()
  const debounce = useRef<ReturnType<typeof setTimeout> | undefined>(undefined)
  const inFlight = useRef<AbortController | undefined>(undefined)

  const load = useCallback(async () => {
    inFlight.current?.abort()
    const controller = new AbortController()
    inFlight.current = controller
    try {
      const next = await getStock(controller.signal)
      if (controller.signal.aborted) return
      setStock(next)
      setError(undefined)
      setLoadedAt(new Date())
    } catch (err) {
      if (controller.signal.aborted) return
      setError(err instanceof ApiError ? err : undefined)
    }
  }, [])

  // Many records arrive together (one per item, plus the replay on connect): fetch once.
  const refresh = useCallback(() => {
    clearTimeout(debounce.current)
    debounce.current = setTimeout(() => void load(), 150)
  }, [load])

  useEffect(() => {
    void load()
    const timer = setInterval(() => void load(), pollMs)
    return () => {
      clearInterval(timer)
      clearTimeout(debounce.current)
      inFlight.current?.abort()
    }
  }, [load, pollMs])

  return { stock, error, loadedAt, refresh }
}
