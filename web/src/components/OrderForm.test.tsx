import { render, screen, waitFor } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { jsonResponse } from '../test/fakeEventSource'
import { controlKey, OrderForm } from './OrderForm'

const stock = { 'BOOK-42': 5, 'CAP-1': 0, 'MUG-7': 2 }

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

  it('says when Kafka cannot take the order', async () => {
    vi.stubGlobal('fetch', vi.fn().mockResolvedValue(jsonResponse(503, { error: 'broker unavailable' }, { 'Retry-After': '3' })))
    const { user } = renderForm()
    await user.click(screen.getByRole('button', { name: 'Place order' }))
    expect(await screen.findByRole('alert')).toHaveTextContent('broker unavailable — please retry in 3 s.')
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
