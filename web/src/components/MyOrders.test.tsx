import { render, screen } from '@testing-library/react'
import { describe, expect, it } from 'vitest'
import type { StatusEvent } from '../api'
import type { PlacedOrder } from '../myOrders'
import { MyOrders } from './MyOrders'

const placed = (orderId: string, events: Omit<StatusEvent, 'orderId' | 'updatedAt'>[]): PlacedOrder => ({
  orderId,
  userId: 'u',
  items: [{ sku: 'BOOK-42', qty: 2 }],
  total: 42,
  currency: 'EUR',
  placedAt: '2026-01-01T12:00:00Z',
  events: events.map((e) => ({ ...e, orderId, updatedAt: '2026-01-01T12:00:01Z' })),
})

describe('MyOrders', () => {
  it('names each kind of failure in plain words, with the reason', () => {
    const orders = [
      placed('a0000000-0000-4000-8000-000000000000', [
        { id: 1, status: 'CREATED' },
        { id: 2, status: 'FAILED', reason: 'out of stock: BOOK-42 has 1, asked 2' },
      ]),
      placed('b0000000-0000-4000-8000-000000000000', [
        { id: 1, status: 'CREATED' },
        { id: 2, status: 'PROCESSING' },
        { id: 3, status: 'FAILED', reason: 'payment declined: total 1500 exceeds the limit of 1000' },
      ]),
      placed('c0000000-0000-4000-8000-000000000000', [{ id: 1, status: 'PAID' }]),
    ]
    const none = () => {}
    const { container } = render(<MyOrders orders={orders} selectedId={undefined} onSelect={none} onShowFlow={none} onClear={none} />)
    const reasons = [...container.querySelectorAll('.my-order-reason')]
    expect(reasons.map((r) => r.getAttribute('data-failure'))).toEqual(['out-of-stock', 'payment-declined'])
    expect(reasons[0]).toHaveTextContent('Out of stock — BOOK-42 has 1, asked 2')
    expect(reasons[1]).toHaveTextContent('Payment declined — stock returned — total 1500 exceeds the limit of 1000')
    expect(screen.getByText('PAID')).toBeInTheDocument()
  })

  it("names the failure by the status's failureKind, and shows a reason in other words whole", () => {
    const orders = [
      placed('d0000000-0000-4000-8000-000000000000', [
        { id: 1, status: 'CREATED' },
        { id: 2, status: 'FAILED', reason: 'BOOK-42 ran out', failureKind: 'OUT_OF_STOCK' },
      ]),
      placed('e0000000-0000-4000-8000-000000000000', [
        { id: 1, status: 'CREATED' },
        { id: 2, status: 'PROCESSING' },
        { id: 3, status: 'FAILED', reason: 'payment declined: total 1500 exceeds the limit of 1000', failureKind: 'PAYMENT_DECLINED' },
      ]),
    ]
    const none = () => {}
    const { container } = render(<MyOrders orders={orders} selectedId={undefined} onSelect={none} onShowFlow={none} onClear={none} />)
    const reasons = [...container.querySelectorAll('.my-order-reason')]
    expect(reasons.map((r) => r.getAttribute('data-failure'))).toEqual(['out-of-stock', 'payment-declined'])
    expect(reasons[0]).toHaveTextContent('Out of stock — BOOK-42 ran out')
    expect(reasons[1]).toHaveTextContent('Payment declined — stock returned — total 1500 exceeds the limit of 1000')
  })
})
