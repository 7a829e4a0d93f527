import { useEffect, useRef, useState } from 'react'
import { ApiError, getConsumers, type ConsumersSnapshot } from '../api'
import { rebalancedGroups } from '../consumers'

export const CONSUMERS_POLL_MS = 1_000
/** CONSUMERS_ABSENT_POLL_MS is the slow re-check of a notifications-api without GET /consumers. */
export const CONSUMERS_ABSENT_POLL_MS = 30_000
const CONSUMERS_MAX_BACKOFF_MS = 15_000

/**
 * ConsumersUnavailable says why there is no snapshot: the route is absent, it is an admin
 * view this page may not see, the service is still reading the groups, is not answering,
 * or failed.
 */
export type ConsumersUnavailable = 'absent' | 'forbidden' | 'starting' | 'unreachable' | 'error'

/**
 * useConsumers polls GET /consumers (every pollMs; never two at once) and tells, per group,
 * when it last rebalanced: the group's own rebalancedAt when notifications-api gives one,
 * else the snapshot time of the poll that first saw its members or assignments differ from
 * the poll before. A route that is absent (404) or refused (401/403) is asked again only
 * every 30 s, and a failing service with a growing pause, so none floods the console.
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
    let snapshotSeen = false

    const poll = async () => {
      let next = pollMs
      try {
        const got = await getConsumers(controller.signal)
        if (controller.signal.aborted) return
        failures = 0
        snapshotSeen = true
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
        const status = err instanceof ApiError ? err.status : 0
        if (status === 404 || status === 401 || status === 403) {
          setUnavailable(status === 404 ? 'absent' : 'forbidden')
          next = CONSUMERS_ABSENT_POLL_MS
        } else if (status === 503 && !snapshotSeen) {
          setUnavailable('starting')
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

  const marks = { ...rebalancedAt }
  for (const group of snapshot?.groups ?? []) if (group.rebalancedAt) marks[group.groupId] = group.rebalancedAt
  return { snapshot, unavailable, rebalancedAt: marks }
}
