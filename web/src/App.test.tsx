import { act, render, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { App } from './App'
import { MAX_STATUS_STREAMS } from './hooks/useMyOrders'
import type { PlacedOrder } from './myOrders'
import { FakeEventSource, jsonResponse } from './test/fakeEventSource'

const ORDER = '33333333-3333-4333-8333-333333333333'

interface Backend {
  stock: Record<string, number>
  down: string[]
  consumers?: unknown
}

function stubBackend(backend: Backend) {
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(String(input))
    if (backend.down.includes(url.port)) throw new TypeError('Failed to fetch')
    if (url.pathname === '/healthz') return jsonResponse(200, { status: 'ok' })
    if (url.pathname === '/stock') return jsonResponse(200, backend.stock)
    if (url.pathname === '/consumers' && backend.consumers) return jsonResponse(200, backend.consumers)
    if (url.pathname === '/orders' && init?.method === 'POST') return jsonResponse(201, { orderId: ORDER })
    return jsonResponse(404, { error: 'not found' })
  })
  vi.stubGlobal('fetch', fetchMock)
  return fetchMock
}

const status = (id: number, s: string) => ({ orderId: ORDER, status: s, updatedAt: `2026-01-01T12:00:0${id}Z` })

beforeEach(() => {
  FakeEventSource.reset()
  vi.stubGlobal('EventSource', FakeEventSource)
})
afterEach(() => vi.unstubAllGlobals())

describe('App', () => {
  it('places an order, follows it to PAID and refreshes stock on inventory.updated', async () => {
    const backend: Backend = { stock: { 'BOOK-42': 5 }, down: [] }
    stubBackend(backend)
    const user = userEvent.setup()
    render(<App />)

    expect(await screen.findByTestId('stock-BOOK-42')).toHaveTextContent('5')
    await user.click(screen.getByRole('button', { name: 'Place order' }))
    expect(await screen.findByTestId('placed-order-id')).toHaveTextContent(ORDER)

    const events = FakeEventSource.latest(`/events?orderId=${ORDER}`)
    act(() => {
      events.open()
      events.emit('status', status(1, 'CREATED'), '1')
      events.emit('status', status(2, 'PROCESSING'), '2')
      events.emit('status', status(2, 'PROCESSING'), '2')
      events.emit('status', status(3, 'PAID'), '3')
    })
    const timeline = screen.getByRole('region', { name: 'Order timeline' })
    expect(within(timeline).getByText('Paid')).toBeInTheDocument()
    expect(within(timeline).getByText('complete — stream closed')).toBeInTheDocument()
    expect(events.closed).toBe(true)
    const myOrders = screen.getByRole('region', { name: 'My orders' })
    expect(within(myOrders).getByText('PAID')).toBeInTheDocument()
    expect(JSON.parse(localStorage.getItem('kafkakit.orders')!)[0].events).toHaveLength(3)

    backend.stock = { 'BOOK-42': 4 }
    const flow = FakeEventSource.latest('/flow')
    act(() =>
      flow.emit('record', {
        topic: 'inventory.updated',
        partition: 0,
        offset: 0,
        key: 'BOOK-42',
        value: { sku: 'BOOK-42', delta: -1, newQuantity: 4, orderId: ORDER },
        timestamp: '2026-01-01T12:00:01Z',
      }),
    )
    await waitFor(() => expect(screen.getByTestId('stock-BOOK-42')).toHaveTextContent('4'))
  })

  it('shows the consumer groups and points the Event flow at the dead letters', async () => {
    stubBackend({
      stock: { 'BOOK-42': 5 },
      down: [],
      consumers: {
        at: '2026-11-29T12:00:00Z',
        groups: [
          {
            groupId: 'orders-processor-cg',
            state: 'Stable',
            members: [{ memberId: 'm-1', clientId: 'orders-processor', host: '/127.0.0.1', assignments: [{ topic: 'stock.reservations', partitions: [0, 1, 2] }] }],
            partitions: [{ topic: 'stock.reservations', partition: 0, committed: 3, end: 3, lag: 0, memberId: 'm-1' }],
          },
        ],
      },
    })
    const user = userEvent.setup()
    render(<App />)
    const consumers = screen.getByRole('region', { name: 'Consumers' })
    expect(await within(consumers).findByRole('article', { name: 'orders-processor-cg' })).toHaveTextContent('orders-processor')

    await user.click(screen.getByRole('button', { name: 'Send a malformed record' }))
    await user.click(await screen.findByRole('button', { name: 'show orders.created.dlq in the Event flow' }))
    expect(screen.getByLabelText('Topic')).toHaveValue('orders.created.dlq')
  })

  it('names a service it cannot reach instead of going blank', async () => {
    stubBackend({ stock: {}, down: ['8084'] })
    render(<App />)
    expect(await screen.findByText(/Stock service unreachable at/)).toHaveTextContent(
      'Stock service unreachable at http://localhost:8084 — is make up running?',
    )
    expect(screen.getByText('Stock is unavailable until the stock service answers.')).toBeInTheDocument()
    expect(screen.getByRole('button', { name: 'Place order' })).toBeEnabled()
  })

  it(`follows at most ${MAX_STATUS_STREAMS} unfinished orders and none that are finished`, async () => {
    const remembered: PlacedOrder[] = Array.from({ length: 5 }, (_, i) => ({
      orderId: `order-${i}`,
      userId: 'u',
      items: [{ sku: 'BOOK-42', qty: 1 }],
      total: 1,
      currency: 'EUR',
      placedAt: '2026-01-01T12:00:00Z',
      events: i === 0 ? [{ id: 1, orderId: 'order-0', status: 'PAID', updatedAt: '2026-01-01T12:00:01Z' }] : [],
    }))
    localStorage.setItem('kafkakit.orders', JSON.stringify(remembered))
    stubBackend({ stock: {}, down: [] })
    render(<App />)

    await waitFor(() => expect(FakeEventSource.instances.filter((s) => s.url.includes('/events'))).toHaveLength(MAX_STATUS_STREAMS))
    const followed = FakeEventSource.instances.filter((s) => s.url.includes('/events')).map((s) => s.url.split('=')[1])
    expect(followed).toEqual(['order-1', 'order-2', 'order-3'])

    act(() => FakeEventSource.latest('order-1').emit('status', { orderId: 'order-1', status: 'FAILED', updatedAt: '' }, '1'))
    await waitFor(() => expect(FakeEventSource.latest('order-4')).toBeDefined())
    expect(FakeEventSource.latest('order-1').closed).toBe(true)
  })
})
