import { render, screen, waitFor } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { MAX_ORDER_ATTEMPTS } from '../api'
import { jsonResponse } from '../test/fakeEventSource'
import { controlKey, OrderForm } from './OrderForm'

const stock = { 'BOOK-42': 5, 'CAP-1': 0, 'MUG-7': 2 }
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const keysSent = (fetchMock: ReturnType<typeof vi.fn>) => fetchMock.mock.calls.map(([, init]) => init.headers['Idempotency-Key'])

function renderForm() {
  const onPlaced = vi.fn()
  const onUserIdChange = vi.fn()
  render(<OrderForm stock={stock} userId="user-1" onUserIdChange={onUserIdChange} onPlaced={onPlaced} />)
  return { onPlaced, onUserIdChange, user: userEvent.setup() }
}

afterEach(() => vi.unstubAllGlobals())

describe('controlKey', () => {
  it.each([
    ['userId', 1, 'userId'],
    ['total', 1, 'total'],
    ['currency', 1, 'currency'],
    ['items', 1, 'items'],
    ['items[0].qty', 1, 'items.0.qty'],
    ['items[1].sku', 2, 'items.1.sku'],
    ['items[1]', 2, 'items.1.sku'],
    ['items[4].qty', 2, 'items'],
    ['createdAt', 1, undefined],
  ])('%s with %i rows -> %s', (field, rows, want) => {
    expect(controlKey(field, rows)).toBe(want)
  })
})

describe('OrderForm', () => {
  it('defaults to a SKU in stock and posts the order', async () => {
    const fetchMock = vi.fn().mockResolvedValue(jsonResponse(201, { orderId: 'o-1' }))
    vi.stubGlobal('fetch', fetchMock)
    const { onPlaced, user } = renderForm()

    expect(screen.getByLabelText('SKU')).toHaveValue('BOOK-42')
    await user.clear(screen.getByLabelText('Quantity'))
    await user.type(screen.getByLabelText('Quantity'), '3')
    await user.selectOptions(screen.getByLabelText('Currency'), 'USD')
    await user.click(screen.getByRole('button', { name: 'Place order' }))

    expect(await screen.findByText('o-1')).toBeInTheDocument()
    expect(JSON.parse(fetchMock.mock.calls[0][1].body)).toEqual({
      userId: 'user-1',
      items: [{ sku: 'BOOK-42', qty: 3 }],
      total: 49.9,
      currency: 'USD',
    })
    expect(fetchMock.mock.calls[0][1].headers['Idempotency-Key']).toMatch(UUID)
    expect(onPlaced).toHaveBeenCalledWith(expect.objectContaining({ orderId: 'o-1', total: 49.9, events: [] }))
  })

  it('shows each API reason next to its field', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn().mockResolvedValue(
        jsonResponse(422, {
          error: 'the order is invalid',
          fields: [
            { field: 'userId', message: 'must not be empty' },
            { field: 'items[1].qty', message: 'must be a whole number >= 1' },
            { field: 'createdAt', message: 'is not yours to set' },
          ],
        }),
      ),
    )
    const { onPlaced, user } = renderForm()
    await user.click(screen.getByRole('button', { name: '+ Add item' }))
    await user.click(screen.getByRole('button', { name: 'Place order' }))

    const userId = screen.getByLabelText('User id')
    await waitFor(() => expect(userId).toHaveAttribute('aria-invalid', 'true'))
    expect(userId).toHaveAccessibleDescription('must not be empty')
    const [firstQty, secondQty] = screen.getAllByLabelText('Quantity')
    expect(firstQty).not.toHaveAttribute('aria-invalid')
    expect(secondQty).toHaveAccessibleDescription('must be a whole number >= 1')
    const alert = screen.getByRole('alert')
    expect(alert).toHaveTextContent('the order is invalid')
    expect(alert).toHaveTextContent('createdAt: is not yours to set')
    await waitFor(() => expect(userId).toHaveFocus())
    expect(onPlaced).not.toHaveBeenCalled()

    await user.type(userId, 'x')
    expect(userId).not.toHaveAttribute('aria-invalid')
  })

  it('retries an unavailable orders-api with one key, and reuses it when the user retries the same order', async () => {
    const fetchMock = vi.fn().mockImplementation(async () => jsonResponse(503, { error: 'database busy' }, { 'Retry-After': '0' }))
    vi.stubGlobal('fetch', fetchMock)
    const { onPlaced, user } = renderForm()
    await user.click(screen.getByRole('button', { name: 'Place order' }))

    const alert = await screen.findByRole('alert')
    expect(alert).toHaveTextContent('database busy — please retry in 0 s.')
    expect(alert).toHaveTextContent('same Idempotency-Key, so it cannot become a second order')
    expect(fetchMock).toHaveBeenCalledTimes(MAX_ORDER_ATTEMPTS)
    const [first] = keysSent(fetchMock)
    expect(first).toMatch(UUID)
    expect(keysSent(fetchMock)).toEqual(Array(MAX_ORDER_ATTEMPTS).fill(first))

    fetchMock.mockImplementation(async () => jsonResponse(201, { orderId: 'o-1' }, { 'Idempotent-Replayed': 'true' }))
    await user.click(screen.getByRole('button', { name: 'Place order' }))
    expect(await screen.findByTestId('placed-order-id')).toHaveTextContent('o-1')
    expect(screen.getByRole('status')).toHaveTextContent('answered from an earlier try with the same Idempotency-Key')
    expect(keysSent(fetchMock).at(-1)).toBe(first)
    expect(onPlaced).toHaveBeenCalledTimes(1)

    fetchMock.mockImplementation(async () => jsonResponse(201, { orderId: 'o-2' }))
    await user.click(screen.getByRole('button', { name: 'Place order' }))
    await waitFor(() => expect(screen.getByTestId('placed-order-id')).toHaveTextContent('o-2'))
    const next = keysSent(fetchMock).at(-1)
    expect(next).toMatch(UUID)
    expect(next).not.toBe(first)
  })

  it('sends a changed order with a new key after a failed try', async () => {
    const fetchMock = vi.fn().mockResolvedValue(jsonResponse(503, { error: 'database busy' }))
    vi.stubGlobal('fetch', fetchMock)
    const { user } = renderForm()
    await user.click(screen.getByRole('button', { name: 'Place order' }))
    await screen.findByRole('alert')
    expect(fetchMock).toHaveBeenCalledTimes(1) // no Retry-After: no automatic retry

    await user.clear(screen.getByLabelText('Quantity'))
    await user.type(screen.getByLabelText('Quantity'), '2')
    fetchMock.mockResolvedValue(jsonResponse(201, { orderId: 'o-9' }))
    await user.click(screen.getByRole('button', { name: 'Place order' }))
    await screen.findByTestId('placed-order-id')
    const [first, second] = keysSent(fetchMock)
    expect(second).not.toBe(first)
  })

  it('says what it is doing while it waits to retry', async () => {
    let answer: (r: Response) => void = () => {}
    const fetchMock = vi
      .fn()
      .mockResolvedValueOnce(jsonResponse(409, { error: 'this order is still being recorded' }, { 'Retry-After': '0' }))
      .mockImplementationOnce(() => new Promise<Response>((resolve) => (answer = resolve)))
    vi.stubGlobal('fetch', fetchMock)
    const { user } = renderForm()
    await user.click(screen.getByRole('button', { name: 'Place order' }))
    await waitFor(() => expect(fetchMock).toHaveBeenCalledTimes(2))
    expect(screen.getByRole('status')).toHaveTextContent(
      'this order is still being recorded — trying again now with the same Idempotency-Key (try 2 of 4).',
    )
    answer(jsonResponse(201, { orderId: 'o-3' }))
    expect(await screen.findByTestId('placed-order-id')).toHaveTextContent('o-3')
    expect(screen.getByRole('status')).not.toHaveTextContent('trying again')
  })

  it('gives a refused order a new key next time', async () => {
    const fetchMock = vi
      .fn()
      .mockImplementation(async () => jsonResponse(422, { error: 'invalid order', fields: [{ field: 'userId', message: 'taken' }] }))
    vi.stubGlobal('fetch', fetchMock)
    const { user } = renderForm()
    await user.click(screen.getByRole('button', { name: 'Place order' }))
    await screen.findByRole('alert')
    expect(screen.getByRole('alert')).not.toHaveTextContent('Idempotency-Key')
    await user.click(screen.getByRole('button', { name: 'Place order' }))
    await waitFor(() => expect(fetchMock).toHaveBeenCalledTimes(2))
    const [first, second] = keysSent(fetchMock)
    expect(second).not.toBe(first)
  })

  it('asks for a number before calling the API', async () => {
    const fetchMock = vi.fn()
    vi.stubGlobal('fetch', fetchMock)
    const { user } = renderForm()
    await user.clear(screen.getByLabelText('Total'))
    await user.click(screen.getByRole('button', { name: 'Place order' }))
    expect(screen.getByLabelText('Total')).toHaveAccessibleDescription('Enter a total.')
    expect(fetchMock).not.toHaveBeenCalled()
  })

  it('warns when the total will fail the payment rule', async () => {
    const { user } = renderForm()
    await user.clear(screen.getByLabelText('Total'))
    await user.type(screen.getByLabelText('Total'), '1500')
    expect(screen.getByText(/this one will/)).toBeInTheDocument()
  })
})
