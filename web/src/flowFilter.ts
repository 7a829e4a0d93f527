// Which Event flow records to show: by text (orderId, key or trace id), topic and partition.
import { isDeadLetterTopic, recordOrderId, type FlowRecord } from './api'
import { TRACEPARENT_HEADER, traceIdOf } from './trace'

/** FlowFilter is the Event flow's filters; an empty string means "any". */
export interface FlowFilter {
  /** text matches part of a record's key, orderId or trace id. */
  text: string
  /** topic is a topic name, or ALL_DEAD_LETTERS. */
  topic: string
  /** partition is a partition number as text. */
  partition: string
}

export const NO_FLOW_FILTER: FlowFilter = { text: '', topic: '', partition: '' }
/** ALL_DEAD_LETTERS selects every `.dlq` topic. */
export const ALL_DEAD_LETTERS = '*.dlq'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** wholeOrderId is the filter text when it is a complete orderId (a UUID): the server can filter on it. */
export function wholeOrderId(filter: FlowFilter): string | undefined {
  const text = filter.text.trim()
  return UUID.test(text) ? text : undefined
}

/** recordTraceId is the trace id of a record's traceparent header, if it has a valid one. */
export function recordTraceId(record: FlowRecord): string | undefined {
  return traceIdOf(record.headers?.[TRACEPARENT_HEADER])
}

/** matchesFlowFilter reports whether a record passes every filter that is set. */
export function matchesFlowFilter(record: FlowRecord, filter: FlowFilter): boolean {
  if (filter.topic === ALL_DEAD_LETTERS ? !isDeadLetterTopic(record.topic) : filter.topic !== '' && record.topic !== filter.topic) {
    return false
  }
  if (filter.partition !== '' && record.partition !== Number(filter.partition)) return false
  const needle = filter.text.trim().toLowerCase()
  if (needle === '') return true
  return [record.key, recordOrderId(record), recordTraceId(record)].some((s) => s?.toLowerCase().includes(needle))
}

/** isFiltering reports whether any filter is set. */
export function isFiltering(filter: FlowFilter): boolean {
  return filter.text.trim() !== '' || filter.topic !== '' || filter.partition !== ''
}
