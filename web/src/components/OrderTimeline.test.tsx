import { render, screen } from '@testing-library/react'
import { describe, expect, it } from 'vitest'
import type { StatusEvent } from '../api'
import type { PlacedOrder } from '../myOrders'
import { OrderTimeline } from './OrderTimeline'

const event = (id: number, status: StatusEvent['status'], reason?: string, failureKind?: string): StatusEvent => ({
  id,
  orderId: 'o-1',
  status,
  reason,
  failureKind,
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
    expect(container.querySelector('.step-reason')).toHaveTextContent('Reason: total 1500 exceeds 1000')
    expect(screen.getByText('+200 ms', { exact: false })).toBeInTheDocument()
    expect(screen.getByText('complete — stream closed')).toBeInTheDocument()
  })

  it('tells an out-of-stock order apart: CREATED then FAILED, no payment tried', () => {
    const reason = 'out of stock: BOOK-42 has 1, asked 2'
    const { container } = render(
      <OrderTimeline order={order([event(1, 'CREATED'), event(2, 'FAILED', reason)])} streamState="closed" />,
    )
    expect(container.querySelector('.timeline')).toHaveAttribute('data-failure', 'out-of-stock')
    expect(container.querySelector('[data-step="PROCESSING"]')).toHaveClass('step-skipped')
    expect(screen.getByText('skipped')).toBeInTheDocument()
    expect(screen.queryByText('waiting')).not.toBeInTheDocument()
    expect(container.querySelector('[data-step="FAILED"]')).toHaveTextContent('Out of stock')
    expect(container.querySelector('.step-reason')).toHaveTextContent(`Reason: ${reason}`)
    expect(container.querySelector('.step-reason')).toHaveTextContent('nothing was taken')
  })

  it("tells the failures apart by the status's failureKind, whatever its reason says", () => {
    const outOfStock = render(
      <OrderTimeline order={order([event(1, 'CREATED'), event(2, 'FAILED', 'BOOK-42 ran out', 'OUT_OF_STOCK')])} streamState="closed" />,
    )
    expect(outOfStock.container.querySelector('.timeline')).toHaveAttribute('data-failure', 'out-of-stock')
    expect(outOfStock.container.querySelector('[data-step="PROCESSING"]')).toHaveClass('step-skipped')
    expect(outOfStock.container.querySelector('[data-step="FAILED"]')).toHaveTextContent('Out of stock')
    outOfStock.unmount()

    const declined = render(
      <OrderTimeline
        order={order([event(1, 'CREATED'), event(2, 'PROCESSING'), event(3, 'FAILED', 'card refused', 'PAYMENT_DECLINED')])}
        streamState="closed"
      />,
    )
    expect(declined.container.querySelector('.timeline')).toHaveAttribute('data-failure', 'payment-declined')
    expect(declined.container.querySelector('[data-step="FAILED"]')).toHaveTextContent('Payment declined — stock returned')
    expect(declined.container.querySelector('.step-reason')).toHaveTextContent('Reason: card refused')
  })

  it('tells a declined payment apart: after PROCESSING, stock returned', () => {
    const reason = 'payment declined: total 1500 exceeds the limit of 1000'
    const { container } = render(
      <OrderTimeline
        order={order([event(1, 'CREATED'), event(2, 'PROCESSING'), event(3, 'FAILED', reason)])}
        streamState="closed"
      />,
    )
    expect(container.querySelector('.timeline')).toHaveAttribute('data-failure', 'payment-declined')
    expect(container.querySelector('[data-step="PROCESSING"]')).toHaveClass('step-done')
    expect(container.querySelector('[data-step="FAILED"]')).toHaveTextContent('Payment declined — stock returned')
    expect(container.querySelector('.step-reason')).toHaveTextContent(`Reason: ${reason}`)
  })

  it('does not call PROCESSING skipped before the outcome is known', () => {
    const { container } = render(<OrderTimeline order={order([event(1, 'CREATED')])} streamState="live" />)
    expect(container.querySelector('.timeline')).not.toHaveAttribute('data-failure')
    expect(container.querySelector('.step-skipped')).toBeNull()
  })

  it('tells a reconnect will not lose events', () => {
    render(<OrderTimeline order={order([event(1, 'CREATED')])} streamState="reconnecting" />)
    expect(screen.getByText('reconnecting… (no events will be lost)')).toBeInTheDocument()
  })
})
