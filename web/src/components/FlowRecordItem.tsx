import type { CSSProperties } from 'react'
import { isDeadLetterTopic, type FlowRecord } from '../api'
import { recordTraceId } from '../flowFilter'
import { compactJson, formatTime } from '../format'
import { shortTraceId, traceHue, TRACEPARENT_HEADER } from '../trace'

interface Props {
  record: FlowRecord
  onTrace: (traceId: string) => void
}

/** FlowRecordItem shows one record: where it landed, its key, trace, headers and value. */
export function FlowRecordItem({ record, onTrace }: Props) {
  const traceId = recordTraceId(record)
  const deadLetter = isDeadLetterTopic(record.topic)
  const headers = Object.entries(record.headers ?? {})
    .filter(([name]) => !(name === TRACEPARENT_HEADER && traceId))
    .sort(([a], [b]) => a.localeCompare(b))
  return (
    <li className={`record${deadLetter ? ' record-dlq' : ''}`} data-topic={record.topic} data-trace-id={traceId}>
      <div className="record-head">
        <span className={`topic topic-${record.topic.replace(/\./g, '-')}`}>{record.topic}</span>
        <span className="record-pos">
          partition <strong>{record.partition}</strong> · offset <strong>{record.offset}</strong>
        </span>
        <span className="record-key">
          key <code>{record.key}</code>
        </span>
        {record.schemaId !== undefined && (
          <span className="record-schema" title="the schema id in the record's first five bytes, and its version">
            schema <code>{record.schemaId}</code>
            {record.schemaVersion !== undefined && <> · v{record.schemaVersion}</>}
          </span>
        )}
        {traceId && (
          <button
            type="button"
            className="trace"
            style={{ '--trace-hue': traceHue(traceId) } as CSSProperties}
            title={`trace id ${traceId}: show only this trace's records`}
            aria-label={`trace ${shortTraceId(traceId)}: show only this trace's records`}
            onClick={() => onTrace(traceId)}
          >
            trace <code>{shortTraceId(traceId)}</code>
          </button>
        )}
        <time className="record-time" dateTime={record.timestamp}>
          {formatTime(record.timestamp)}
        </time>
      </div>
      {headers.length > 0 && (
        <dl className="record-headers" aria-label="headers">
          {headers.map(([name, value]) => (
            <div key={name} className={name === 'dlq.error' ? 'header header-dlq-error' : 'header'}>
              <dt>{name}</dt>
              <dd>{value}</dd>
            </div>
          ))}
        </dl>
      )}
      <code className="record-value">{compactJson(record.value)}</code>
    </li>
  )
}
