import { useId, useState } from 'react'
import { flowRecordKey, recordOrderId, type FlowRecord, type StreamState } from '../api'
import { compactJson, formatTime } from '../format'
import { MAX_FLOW_RECORDS, useFlow } from '../hooks/useFlow'

interface Props {
  records: FlowRecord[]
  state: StreamState
  filter: string
  onFilterChange: (filter: string) => void
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

function matches(record: FlowRecord, filter: string): boolean {
  const needle = filter.toLowerCase()
  return record.key.toLowerCase().includes(needle) || (recordOrderId(record)?.toLowerCase().includes(needle) ?? false)
}

function stateText(state: StreamState): string {
  return state === 'live' ? 'live' : state === 'reconnecting' ? 'reconnecting…' : state === 'closed' ? 'closed' : 'connecting…'
}

/**
 * EventFlow tails orders.created, orders.status and inventory.updated. Typing part of an
 * orderId filters the records on screen; a complete orderId asks the server for that
 * order's records, so they show even when they have scrolled out of the recent ones.
 */
export function EventFlow({ records, state, filter, onFilterChange }: Props) {
  const inputId = useId()
  const [paused, setPaused] = useState<FlowRecord[] | undefined>()
  const trimmed = filter.trim()
  const orderId = UUID.test(trimmed) ? trimmed : undefined
  const oneOrder = useFlow(orderId, orderId !== undefined)

  const live = orderId ? oneOrder.records : trimmed ? records.filter((r) => matches(r, trimmed)) : records
  const shown = paused ?? live
  const streamState = orderId ? oneOrder.state : state

  return (
    <div className="flow">
      <p className="explainer">
        Every record carries a <strong>key</strong>: the orderId on <code>orders.created</code> and{' '}
        <code>orders.status</code>, the SKU on <code>inventory.updated</code>. Kafka hashes the key to choose the
        partition, so one key always lands on the same partition, and within a partition records keep their order (the
        offset only grows). That is why an order's statuses can never overtake each other, while records of different
        orders on different partitions may interleave.
      </p>
      <div className="flow-controls">
        <div className="field">
          <label htmlFor={inputId}>Filter by orderId</label>
          <input
            id={inputId}
            type="search"
            placeholder="paste an orderId or type part of it"
            value={filter}
            onChange={(e) => onFilterChange(e.target.value)}
          />
        </div>
        <button type="button" className="button-quiet" aria-pressed={paused !== undefined} onClick={() => setPaused(paused ? undefined : live)}>
          {paused ? 'Resume' : 'Pause'}
        </button>
        <span className={`stream-state stream-${streamState}`}>{paused ? 'paused' : stateText(streamState)}</span>
      </div>
      <p className="muted small" aria-live="polite">
        {shown.length === 0
          ? orderId || trimmed
            ? 'No records for this filter yet.'
            : 'Waiting for records…'
          : `Showing the newest ${shown.length} record${shown.length === 1 ? '' : 's'} (at most ${MAX_FLOW_RECORDS}), newest first.`}
      </p>
      <ol className="records" aria-label="Kafka records, newest first">
        {shown.map((record) => (
          <li key={flowRecordKey(record)} className="record" data-topic={record.topic}>
            <div className="record-head">
              <span className={`topic topic-${record.topic.replace(/\./g, '-')}`}>{record.topic}</span>
              <span className="record-pos">
                partition <strong>{record.partition}</strong> · offset <strong>{record.offset}</strong>
              </span>
              <span className="record-key">
                key <code>{record.key}</code>
              </span>
              <time className="record-time" dateTime={record.timestamp}>
                {formatTime(record.timestamp)}
              </time>
            </div>
            <code className="record-value">{compactJson(record.value)}</code>
          </li>
        ))}
      </ol>
    </div>
  )
}
