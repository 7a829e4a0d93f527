import { render, screen } from '@testing-library/react'
import { describe, expect, it } from 'vitest'
import type { StatusEvent } from '../api'
import type { PlacedOrder } from '../myOrders'
import { OrderTimeline } from './OrderTimeline'

const event = (id: number, status: StatusEvent['status'], reason?: string): StatusEvent => ({
  id,
  orderId: 'o-1',
  status,
  reason,
  updatedAt: new Date(Date.UTC(2026, 0, 1, 12, 0, 0, id * 100)).toISOString(),
})

const order = (events: StatusEvent[]): PlacedOrder => ({
  orderId: 'o-1',
  userId: 'u',
  items: [{ sku: 'BOOK-42', qty: 1 }],
  total: 1500,
  currency: 'EUR',
  placedAt: new Date().toISOString(),
  events,
})

describe('OrderTimeline', () => {
  it('invites to place an order when there is none', () => {
    render(<OrderTimeline order={undefined} streamState={undefined} />)
    expect(screen.getByText(/Place an order to watch/)).toBeInTheDocument()
  })

  it('shows the steps reached so far and waits for the rest', () => {
    const { container } = render(<OrderTimeline order={order([event(1, 'CREATED')])} streamState="live" />)
    expect(container.querySelector('[data-step="CREATED"]')).toHaveClass('step-done')
    expect(container.querySelector('[data-step="PROCESSING"]')).toHaveClass('step-pending')
    expect(screen.getAllByText('waiting')).toHaveLength(2)
    expect(screen.getByText('live')).toBeInTheDocument()
  })

  it('ends with FAILED and its reason, times relative to CREATED', () => {
    const { container } = render(
      <OrderTimeline
        order={order([event(1, 'CREATED'), event(2, 'PROCESSING'), event(3, 'FAILED', 'total 1500 exceeds 1000')])}
        streamState="closed"
      />,
    )
    expect(container.querySelector('[data-step="FAILED"]')).toHaveClass('step-failed')
    expect(screen.getByText('Failed')).toBeInTheDocument()
    expect(screen.getByText('Reason: total 1500 exceeds 1000')).toBeInTheDocument()
    expect(screen.getByText('+200 ms', { exact: false })).toBeInTheDocument()
    expect(screen.getByText('complete — stream closed')).toBeInTheDocument()
  })

  it('tells a reconnect will not lose events', () => {
    render(<OrderTimeline order={order([event(1, 'CREATED')])} streamState="reconnecting" />)
    expect(screen.getByText('reconnecting… (no events will be lost)')).toBeInTheDocument()
  })
})
