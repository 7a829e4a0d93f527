import { render, screen, waitFor } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { MALFORMED_RECORD_COMMAND, type Stock } from '../api'
import { jsonResponse } from '../test/fakeEventSource'
import { DEAD_LETTER_TOPIC, examples, TryThis } from './TryThis'

const stock = { 'BOOK-42': 25, 'CAP-1': 1, 'MUG-7': 12, 'GONE-0': 0 }
const ORDER = '44444444-4444-4444-8444-444444444444'

function renderStrip(current: Stock = stock) {
  const onPlaced = vi.fn()
  const onShowDeadLetters = vi.fn()
  const onShowKey = vi.fn()
  render(<TryThis stock={current} userId="ada" onPlaced={onPlaced} onShowDeadLetters={onShowDeadLetters} onShowKey={onShowKey} />)
  return { onPlaced, onShowDeadLetters, onShowKey, user: userEvent.setup() }
}

const sentOrder = (fetchMock: ReturnType<typeof vi.fn>) => {
  const [url, init] = fetchMock.mock.calls[0] as [string, RequestInit & { headers: Record<string, string> }]
  return { url, key: init.headers['Idempotency-Key'], body: JSON.parse(String(init.body)) }
}

afterEach(() => vi.unstubAllGlobals())

describe('examples', () => {
  it('orders the best-stocked SKU, more than the scarcest has, and over the payment limit', () => {
    const got = examples(stock).map((e) => e.order('ada'))
    expect(got).toEqual([
      { userId: 'ada', items: [{ sku: 'BOOK-42', qty: 1 }], total: 49.9, currency: 'EUR' },
      { userId: 'ada', items: [{ sku: 'CAP-1', qty: 2 }], total: 49.9, currency: 'EUR' },
      { userId: 'ada', items: [{ sku: 'BOOK-42', qty: 1 }], total: 1500, currency: 'EUR' },
    ])
  })

  it('offers no order while nothing is in stock', () => {
    expect(examples(undefined)).toEqual([])
    expect(examples({ 'GONE-0': 0 })).toEqual([])
  })
})

describe('TryThis', () => {
  it.each([
    ['Order something', { sku: 'BOOK-42', qty: 1 }, 49.9, /expect PAID/],
    ['Order more than is left', { sku: 'CAP-1', qty: 2 }, 49.9, /expect FAILED: out of stock/],
    ['Order over the payment limit', { sku: 'BOOK-42', qty: 1 }, 1500, /expect FAILED: payment declined/],
  ])('%s places the order with an Idempotency-Key and hands it to My orders', async (name, item, total, expectText) => {
    const fetchMock = vi.fn(async () => jsonResponse(201, { orderId: ORDER }))
    vi.stubGlobal('fetch', fetchMock)
    const { onPlaced, user } = renderStrip()
    await user.click(screen.getByRole('button', { name }))

    expect(await screen.findByText(expectText)).toBeInTheDocument()
    const sent = sentOrder(fetchMock)
    expect(sent.url).toBe('http://localhost:8081/orders')
    expect(sent.key).toMatch(/^[0-9a-f-]{36}$/)
    expect(sent.body).toEqual({ userId: 'ada', items: [item], total, currency: 'EUR' })
    expect(onPlaced).toHaveBeenCalledWith(expect.objectContaining({ orderId: ORDER, items: [item], total, events: [] }))
  })

  it('sends a malformed record and points at it and its dead letter by key', async () => {
    const fetchMock = vi.fn(async () => jsonResponse(202, { topic: 'orders.created', partition: 1, offset: 7, key: 'malformed-0a1b' }))
    vi.stubGlobal('fetch', fetchMock)
    const { onShowKey, user } = renderStrip()
    await user.click(screen.getByRole('button', { name: 'Send a malformed record' }))

    expect(await screen.findByText(/orders.created, partition 1, offset 7/)).toBeInTheDocument()
    expect(fetchMock.mock.calls[0]).toEqual([`${window.location.origin}/kit/demo/malformed`, expect.objectContaining({ method: 'POST' })])
    await user.click(screen.getByRole('button', { name: 'Show it and its dead letter in the Event flow' }))
    expect(onShowKey).toHaveBeenCalledWith('malformed-0a1b')
  })

  it('points at the dead-letter topic when it does not know the key', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => jsonResponse(202, { topic: 'orders.created' })))
    const { onShowDeadLetters, user } = renderStrip()
    await user.click(screen.getByRole('button', { name: 'Send a malformed record' }))
    await user.click(await screen.findByRole('button', { name: `Show ${DEAD_LETTER_TOPIC} in the Event flow` }))
    expect(onShowDeadLetters).toHaveBeenCalledWith(DEAD_LETTER_TOPIC)
  })

  it('shows the command to run when the page was not served by kit up', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => jsonResponse(404, { error: 'not found' })))
    const { onShowDeadLetters, user } = renderStrip()
    await user.click(screen.getByRole('button', { name: 'Send a malformed record' }))

    expect(await screen.findByText(MALFORMED_RECORD_COMMAND)).toBeInTheDocument()
    await user.click(screen.getByRole('button', { name: `show ${DEAD_LETTER_TOPIC} in the Event flow` }))
    expect(onShowDeadLetters).toHaveBeenCalledWith(DEAD_LETTER_TOPIC)
  })

  it('says what went wrong', async () => {
    vi.stubGlobal('fetch', vi.fn(async () => jsonResponse(422, { error: 'invalid order' })))
    const { onPlaced, user } = renderStrip()
    await user.click(screen.getByRole('button', { name: 'Order something' }))
    expect(await screen.findByText('invalid order')).toBeInTheDocument()
    expect(onPlaced).not.toHaveBeenCalled()
  })

  it('offers only the malformed record while no SKU is in stock', async () => {
    renderStrip({})
    expect(screen.queryByRole('button', { name: 'Order something' })).not.toBeInTheDocument()
    expect(screen.getByText(/appear once a SKU is in stock/)).toBeInTheDocument()
    await waitFor(() => expect(screen.getByRole('button', { name: 'Send a malformed record' })).toBeEnabled())
  })
})
