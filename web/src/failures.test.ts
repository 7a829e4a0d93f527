import { describe, expect, it } from 'vitest'
import { FAILURE_KINDS, ORDER_STATUSES } from './api'
import { failureDetail, failureKind, failureTitle } from './failures'
import statusSchema from '../../services/events/schemas/orders.status.schema.json'

describe('failureKind', () => {
  it.each([
    ['OUT_OF_STOCK', 'out of stock: BOOK-1 has 1, asked 2', 'out-of-stock', 'Out of stock'],
    ['PAYMENT_DECLINED', 'payment declined: total 1500 exceeds the limit of 1000', 'payment-declined', 'Payment declined — stock returned'],
    // The field decides, not the words: a reworded reason keeps its kind...
    ['OUT_OF_STOCK', 'Sorry, BOOK-1 ran out', 'out-of-stock', 'Out of stock'],
    ['PAYMENT_DECLINED', 'card refused', 'payment-declined', 'Payment declined — stock returned'],
    // ...and words that look like a kind do not override it.
    ['PAYMENT_DECLINED', 'out of stock: BOOK-1 has 1, asked 2', 'payment-declined', 'Payment declined — stock returned'],
    // A kind a later contract adds is one this page cannot explain.
    ['CARD_EXPIRED', 'payment declined: card expired', 'other', 'Failed'],
    ['constructor', 'payment declined: x', 'other', 'Failed'],
  ])('failureKind %s, reason %s -> %s', (kind, reason, want, title) => {
    expect(failureKind({ failureKind: kind, reason })).toBe(want)
    expect(failureTitle(failureKind({ failureKind: kind, reason }))).toBe(title)
  })

  // Statuses written before orders.status had failureKind, or failing for neither kind:
  // the reason's first words are all there is.
  it.each([
    ['out of stock: BOOK-1 has 1, asked 2', 'out-of-stock', 'Out of stock'],
    ['Out of stock: MUG-7 is unknown', 'out-of-stock', 'Out of stock'],
    ['payment declined: total 1500 exceeds the limit of 1000', 'payment-declined', 'Payment declined — stock returned'],
    ['  payment declined: card', 'payment-declined', 'Payment declined — stock returned'],
    ['the payment declined: nope', 'other', 'Failed'],
    ['invalid order: SKU "A\\nB" has a control character', 'other', 'Failed'],
    ['total 1500 exceeds 1000', 'other', 'Failed'],
    [undefined, 'other', 'Failed'],
  ])('no failureKind, reason %s -> %s', (reason, kind, title) => {
    expect(failureKind({ reason })).toBe(kind)
    expect(failureTitle(failureKind({ reason }))).toBe(title)
  })

  it('is other for no status at all', () => {
    expect(failureKind(undefined)).toBe('other')
  })
})

describe('failureDetail', () => {
  it.each([
    [undefined, 'out of stock: BOOK-1 has 1, asked 2', 'BOOK-1 has 1, asked 2'],
    [undefined, 'payment declined: total 1500 exceeds the limit of 1000', 'total 1500 exceeds the limit of 1000'],
    [undefined, 'broker said no: twice', 'broker said no: twice'],
    [undefined, undefined, ''],
    ['OUT_OF_STOCK', 'out of stock: BOOK-1 has 1, asked 2', 'BOOK-1 has 1, asked 2'],
    ['OUT_OF_STOCK', 'Sorry, BOOK-1 ran out', 'Sorry, BOOK-1 ran out'],
    ['PAYMENT_DECLINED', 'out of stock: odd words', 'out of stock: odd words'],
  ])('failureKind %s, reason %s -> %s', (kind, reason, want) => {
    expect(failureDetail({ failureKind: kind, reason })).toBe(want)
  })
})

// The page's copy of the orders.status vocabulary is checked against the contract itself.
describe('the orders.status contract', () => {
  it('lists the statuses and failure kinds the page knows', () => {
    expect([...ORDER_STATUSES]).toEqual(statusSchema.properties.status.enum)
    expect([...FAILURE_KINDS]).toEqual(statusSchema.properties.failureKind.enum)
  })
})
