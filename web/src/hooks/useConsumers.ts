import { useEffect, useRef, useState } from 'react'
import { ApiError, getConsumers, type ConsumersSnapshot } from '../api'
import { rebalancedGroups } from '../consumers'

export const CONSUMERS_POLL_MS = 1_000
/** CONSUMERS_ABSENT_POLL_MS is the slow re-check of a notifications-api without GET /consumers. */
export const CONSUMERS_ABSENT_POLL_MS = 30_000
const CONSUMERS_MAX_BACKOFF_MS = 15_000

/** ConsumersUnavailable says why there is no snapshot: the route is absent, or the service is not answering. */
export type ConsumersUnavailable = 'absent' | 'unreachable' | 'error'

/**
 * useConsumers polls GET /consumers (every pollMs; never two at once) and remembers, per
 * group, when its membership or assignment last changed between two polls (the snapshot's
 * own "at" time). A route that is absent (404) is asked again only every 30 s, and an
 * unreachable service with a growing pause, so neither floods the browser's console.
 */
export function useConsumers(pollMs = CONSUMERS_POLL_MS) {
  const [snapshot, setSnapshot] = useState<ConsumersSnapshot | undefined>()
  const [unavailable, setUnavailable] = useState<ConsumersUnavailable | undefined>()
  const [rebalancedAt, setRebalancedAt] = useState<Record<string, string>>({})
  const previous = useRef<ConsumersSnapshot | undefined>(undefined)

  useEffect(() => {
    const controller = new AbortController()
    let timer: ReturnType<typeof setTimeout> | undefined
    let failures = 0

    const poll = async () => {
      let next = pollMs
      try {
        const got = await getConsumers(controller.signal)
        if (controller.signal.aborted) return
        failures = 0
        const changed = rebalancedGroups(previous.current, got)
        previous.current = got
        setSnapshot(got)
        setUnavailable(undefined)
        if (changed.length > 0) {
          const at = got.at || new Date().toISOString()
          setRebalancedAt((current) => ({ ...current, ...Object.fromEntries(changed.map((id) => [id, at])) }))
        }
      } catch (err) {
        if (controller.signal.aborted) return
        failures++
        if (err instanceof ApiError && err.status === 404) {
          setUnavailable('absent')
          next = CONSUMERS_ABSENT_POLL_MS
        } else {
          setUnavailable(err instanceof ApiError && err.kind === 'unreachable' ? 'unreachable' : 'error')
          next = Math.min(pollMs * 2 ** failures, CONSUMERS_MAX_BACKOFF_MS)
        }
        // The last good look stays the reference: a rebalance during an outage still shows.
        setSnapshot(undefined)
      }
      timer = setTimeout(() => void poll(), next)
    }

    void poll()
    return () => {
      clearTimeout(timer)
      controller.abort()
    }
  }, [pollMs])

  return { snapshot, unavailable, rebalancedAt }
}
