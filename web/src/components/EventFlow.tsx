import { useId, useState } from 'react'
import { DLQ_TOPICS, flowRecordKey, PARTITIONS, TOPICS, type FlowRecord, type StreamState } from '../api'
import { ALL_DEAD_LETTERS, isFiltering, matchesFlowFilter, NO_FLOW_FILTER, wholeOrderId, type FlowFilter } from '../flowFilter'
import { MAX_FLOW_RECORDS, useFlow } from '../hooks/useFlow'
import { FlowRecordItem } from './FlowRecordItem'

interface Props {
  records: FlowRecord[]
  state: StreamState
  filter: FlowFilter
  onFilterChange: (filter: FlowFilter) => void
}

function stateText(state: StreamState): string {
  return state === 'live' ? 'live' : state === 'reconnecting' ? 'reconnecting…' : state === 'closed' ? 'closed' : 'connecting…'
}

const KNOWN_TOPICS: readonly string[] = [...TOPICS, ...DLQ_TOPICS]

/**
 * EventFlow tails every kit topic and its dead-letter topic. Filters narrow what is on
 * screen (text: part of an orderId, key or trace id; topic; partition); a complete orderId
 * asks the server for that order's records, so they show even when they have scrolled out
 * of the recent ones. Pause freezes the list while records keep arriving underneath.
 */
export function EventFlow({ records, state, filter, onFilterChange }: Props) {
  const id = useId()
  const [frozen, setFrozen] = useState<FlowRecord[] | undefined>()
  const orderId = wholeOrderId(filter)
  const oneOrder = useFlow(orderId, orderId !== undefined)
  const source = orderId ? oneOrder.records : records
  const shown = (frozen ?? source).filter((r) => matchesFlowFilter(r, filter))
  const streamState = orderId ? oneOrder.state : state
  const unseen = frozen ? countUnseen(source, frozen) : 0

  const otherTopics = [...new Set(source.map((r) => r.topic))].filter((t) => !KNOWN_TOPICS.includes(t)).sort()
  const partitions = [...new Set([...Array.from({ length: PARTITIONS }, (_, i) => i), ...source.map((r) => r.partition)])].sort((a, b) => a - b)
  const set = (change: Partial<FlowFilter>) => onFilterChange({ ...filter, ...change })

  return (
    <div className="flow">
      <p className="explainer">
        Every record carries a <strong>key</strong>: the orderId on <code>orders.created</code>,{' '}
        <code>stock.reservations</code> and <code>orders.status</code>, the SKU on <code>inventory.updated</code>. Kafka
        hashes the key to choose the partition, so one key always lands on the same partition, and within a partition
        records keep their order (the offset only grows). That is why an order&apos;s statuses can never overtake each
        other, while records of different orders on different partitions may interleave. A record a consumer cannot
        process goes to the topic&apos;s <code>.dlq</code> with headers saying why; the <strong>trace</strong> id in its{' '}
        <code>traceparent</code> header is the same on every record of one order.
      </p>
      <div className="flow-controls">
        <div className="field">
          <label htmlFor={`${id}-text`}>Filter by orderId or trace id</label>
          <input
            id={`${id}-text`}
            type="search"
            placeholder="paste an orderId or type part of it"
            value={filter.text}
            onChange={(e) => set({ text: e.target.value })}
          />
        </div>
        <div className="field">
          <label htmlFor={`${id}-topic`}>Topic</label>
          <select id={`${id}-topic`} value={filter.topic} onChange={(e) => set({ topic: e.target.value })}>
            <option value="">All topics</option>
            {TOPICS.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
            <optgroup label="Dead letters">
              <option value={ALL_DEAD_LETTERS}>every .dlq topic</option>
              {DLQ_TOPICS.map((t) => (
                <option key={t} value={t}>
                  {t}
                </option>
              ))}
            </optgroup>
            {otherTopics.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </div>
        <div className="field field-partition">
          <label htmlFor={`${id}-partition`}>Partition</label>
          <select id={`${id}-partition`} value={filter.partition} onChange={(e) => set({ partition: e.target.value })}>
            <option value="">All</option>
            {partitions.map((p) => (
              <option key={p} value={String(p)}>
                {p}
              </option>
            ))}
          </select>
        </div>
        {isFiltering(filter) && (
          <button type="button" className="button-quiet" onClick={() => onFilterChange(NO_FLOW_FILTER)}>
            Clear filters
          </button>
        )}
        <button
          type="button"
          className="button-quiet"
          aria-pressed={frozen !== undefined}
          onClick={() => setFrozen(frozen ? undefined : source)}
        >
          {frozen ? 'Resume' : 'Pause'}
        </button>
        <span className={`stream-state stream-${frozen ? 'paused' : streamState}`}>
          {frozen ? `paused${unseen > 0 ? ` — ${unseen} new` : ''}` : stateText(streamState)}
        </span>
      </div>
      <p className="muted small" aria-live="polite">
        {shown.length === 0
          ? isFiltering(filter)
            ? 'No records for these filters yet.'
            : 'Waiting for records…'
          : `Showing ${shown.length} record${shown.length === 1 ? '' : 's'} of the newest ${MAX_FLOW_RECORDS} at most, newest first.`}
      </p>
      <ol className="records" aria-label="Kafka records, newest first">
        {shown.map((record) => (
          <FlowRecordItem key={flowRecordKey(record)} record={record} onTrace={(traceId) => set({ text: traceId })} />
        ))}
      </ol>
    </div>
  )
}

function countUnseen(live: FlowRecord[], frozen: FlowRecord[]): number {
  const seen = new Set(frozen.map(flowRecordKey))
  return live.filter((r) => !seen.has(flowRecordKey(r))).length
}
