import { describe, expect, it } from 'vitest'
import type { FlowRecord } from './api'
import { ALL_DEAD_LETTERS, isFiltering, matchesFlowFilter, NO_FLOW_FILTER, wholeOrderId, type FlowFilter } from './flowFilter'

const ORDER = '11111111-1111-4111-8111-111111111111'
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736'

const status: FlowRecord = {
  topic: 'orders.status',
  partition: 2,
  offset: 4,
  key: ORDER,
  value: { orderId: ORDER, status: 'PAID' },
  timestamp: '2026-01-01T12:00:00Z',
  headers: { traceparent: `00-${TRACE}-00f067aa0ba902b7-01` },
}
const inventory: FlowRecord = { ...status, topic: 'inventory.updated', partition: 0, key: 'BOOK-42', value: { sku: 'BOOK-42', orderId: ORDER }, headers: undefined }
const deadLetter: FlowRecord = { ...status, topic: 'orders.created.dlq', partition: 1, key: '', value: 'not an order', headers: { 'dlq.error': 'bad JSON' } }

const f = (change: Partial<FlowFilter>): FlowFilter => ({ ...NO_FLOW_FILTER, ...change })

describe('matchesFlowFilter', () => {
  it.each<[string, FlowRecord, FlowFilter, boolean]>([
    ['no filter', deadLetter, NO_FLOW_FILTER, true],
    ['part of the key', status, f({ text: '1111-41' }), true],
    ['the orderId in an inventory value', inventory, f({ text: ORDER.slice(0, 8) }), true],
    ['the SKU key', inventory, f({ text: 'book' }), true],
    ['part of the trace id', status, f({ text: TRACE.slice(0, 8).toUpperCase() }), true],
    ['a trace id on a record without one', inventory, f({ text: TRACE.slice(0, 8) }), false],
    ['another order', status, f({ text: '2222' }), false],
    ['its topic', status, f({ topic: 'orders.status' }), true],
    ['another topic', status, f({ topic: 'orders.created' }), false],
    ['every dead-letter topic, a dead letter', deadLetter, f({ topic: ALL_DEAD_LETTERS }), true],
    ['every dead-letter topic, a plain record', status, f({ topic: ALL_DEAD_LETTERS }), false],
    ['its partition', status, f({ partition: '2' }), true],
    ['another partition', status, f({ partition: '0' }), false],
    ['partition 0', inventory, f({ partition: '0' }), true],
    ['all three, matching', status, f({ text: ORDER, topic: 'orders.status', partition: '2' }), true],
    ['all three, one not matching', status, f({ text: ORDER, topic: 'orders.status', partition: '1' }), false],
  ])('%s', (_, record, filter, want) => {
    expect(matchesFlowFilter(record, filter)).toBe(want)
  })
})

describe('wholeOrderId and isFiltering', () => {
  it('asks the server only for a complete orderId', () => {
    expect(wholeOrderId(f({ text: ` ${ORDER} ` }))).toBe(ORDER)
    expect(wholeOrderId(f({ text: ORDER.slice(0, 30) }))).toBeUndefined()
    expect(wholeOrderId(f({ text: TRACE }))).toBeUndefined()
  })
  it('knows when nothing is filtered', () => {
    expect(isFiltering(NO_FLOW_FILTER)).toBe(false)
    expect(isFiltering(f({ text: '  ' }))).toBe(false)
    expect(isFiltering(f({ partition: '0' }))).toBe(true)
  })
})
