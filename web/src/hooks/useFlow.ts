import { useEffect, useRef, useState } from 'react'
import { subscribeFlow, type FlowRecord, type StreamState } from '../api'

export const MAX_FLOW_RECORDS = 200

/**
 * useFlow tails GET /flow (one order's records when orderId is set; nothing when enabled is
 * false) and keeps the newest MAX_FLOW_RECORDS, newest first. Records are applied in small
 * batches because a connect replays a few hundred at once.
 */
export function useFlow(orderId: string | undefined, enabled = true, onRecord?: (record: FlowRecord) => void) {
  const [records, setRecords] = useState<FlowRecord[]>([])
  const [state, setState] = useState<StreamState>('connecting')
  const onRecordRef = useRef(onRecord)
  onRecordRef.current = onRecord

  useEffect(() => {
    if (!enabled) return
    setRecords([])
    let pending: FlowRecord[] = []
    let flushTimer: ReturnType<typeof setTimeout> | undefined
    const flush = () => {
      flushTimer = undefined
      const batch = pending.reverse()
      pending = []
      setRecords((current) => [...batch, ...current].slice(0, MAX_FLOW_RECORDS))
    }
    const close = subscribeFlow(orderId, {
      onRecord(record) {
        onRecordRef.current?.(record)
        pending.push(record)
        if (pending.length > MAX_FLOW_RECORDS) pending = pending.slice(-MAX_FLOW_RECORDS)
        flushTimer ??= setTimeout(flush, 50)
      },
      onState: setState,
    })
    return () => {
      clearTimeout(flushTimer)
      close()
    }
  }, [orderId, enabled])

  return { records, state }
}
