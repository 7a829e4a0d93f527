import { describe, expect, it } from 'vitest'
import { failureDetail, failureKind, failureTitle } from './failures'

describe('failureKind', () => {
  it.each([
    ['out of stock: BOOK-1 has 1, asked 2', 'out-of-stock', 'Out of stock'],
    ['Out of stock: MUG-7 is unknown', 'out-of-stock', 'Out of stock'],
    ['payment declined: total 1500 exceeds the limit of 1000', 'payment-declined', 'Payment declined — stock returned'],
    ['  payment declined: card', 'payment-declined', 'Payment declined — stock returned'],
    ['the payment declined: nope', 'other', 'Failed'],
    ['total 1500 exceeds 1000', 'other', 'Failed'],
    [undefined, 'other', 'Failed'],
  ])('%s -> %s', (reason, kind, title) => {
    expect(failureKind(reason)).toBe(kind)
    expect(failureTitle(failureKind(reason))).toBe(title)
  })
})

describe('failureDetail', () => {
  it.each([
    ['out of stock: BOOK-1 has 1, asked 2', 'BOOK-1 has 1, asked 2'],
    ['payment declined: total 1500 exceeds the limit of 1000', 'total 1500 exceeds the limit of 1000'],
    ['broker said no: twice', 'broker said no: twice'],
    [undefined, ''],
  ])('%s -> %s', (reason, want) => {
    expect(failureDetail(reason)).toBe(want)
  })
})
