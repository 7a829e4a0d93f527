import { render, screen, waitFor } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { jsonResponse } from '../test/fakeEventSource'
import { RestockForm } from './RestockForm'

const stock = { 'BOOK-42': 5, 'CAP-1': 1, 'MUG-7': 2 }

function renderForm() {
  const onRestocked = vi.fn()
  render(<RestockForm stock={stock} onRestocked={onRestocked} />)
  return { onRestocked, user: userEvent.setup() }
}

afterEach(() => vi.unstubAllGlobals())

describe('RestockForm', () => {
  it('sets the scarcest SKU by default and POSTs {sku: qty} to /seed', async () => {
    const fetchMock = vi.fn(async () => jsonResponse(200, { 'CAP-1': 20 }))
    vi.stubGlobal('fetch', fetchMock)
    const { onRestocked, user } = renderForm()
    expect(screen.getByLabelText('SKU to restock')).toHaveValue('CAP-1')
    await user.click(screen.getByRole('button', { name: 'Restock' }))

    expect(await screen.findByText('CAP-1 now has 20 on hand.')).toBeInTheDocument()
    const [url, init] = fetchMock.mock.calls[0] as unknown as [string, RequestInit]
    expect(url).toBe('http://localhost:8084/seed')
    expect(init.headers).toEqual({ 'Content-Type': 'application/json' })
    expect(JSON.parse(String(init.body))).toEqual({ 'CAP-1': 20 })
    expect(onRestocked).toHaveBeenCalledTimes(1)
  })

  it('adds a SKU that is not in stock yet', async () => {
    const fetchMock = vi.fn(async () => jsonResponse(200, {}))
    vi.stubGlobal('fetch', fetchMock)
    const { user } = renderForm()
    await user.clear(screen.getByLabelText('SKU to restock'))
    await user.type(screen.getByLabelText('SKU to restock'), 'LAMP-9')
    await user.clear(screen.getByLabelText('On hand'))
    await user.type(screen.getByLabelText('On hand'), '3')
    await user.click(screen.getByRole('button', { name: 'Restock' }))
    await waitFor(() => expect(fetchMock).toHaveBeenCalledTimes(1))
    expect(JSON.parse(String((fetchMock.mock.calls[0] as unknown as [string, RequestInit])[1].body))).toEqual({ 'LAMP-9': 3 })
  })

  it.each([401, 403])('says plainly that a %i means admin only', async (status) => {
    vi.stubGlobal('fetch', vi.fn(async () => jsonResponse(status, { error: 'admin endpoint' })))
    const { onRestocked, user } = renderForm()
    await user.click(screen.getByRole('button', { name: 'Restock' }))
    const message = await screen.findByText(/admin action/)
    expect(message).toHaveTextContent(`stock-service refused it (${status})`)
    expect(message).toHaveTextContent('loopback')
    expect(message).toHaveTextContent('ADMIN_TOKEN')
    expect(onRestocked).not.toHaveBeenCalled()
  })

  it("shows the service's reasons for a 422", async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => jsonResponse(422, { error: 'invalid stock', fields: [{ field: 'CAP-1', message: 'quantity must be a whole number >= 0' }] })),
    )
    const { user } = renderForm()
    await user.click(screen.getByRole('button', { name: 'Restock' }))
    expect(await screen.findByText('invalid stock — CAP-1: quantity must be a whole number >= 0')).toBeInTheDocument()
  })

  it('says when stock-service is unreachable', async () => {
    vi.stubGlobal('fetch', vi.fn().mockRejectedValue(new TypeError('Failed to fetch')))
    const { user } = renderForm()
    await user.click(screen.getByRole('button', { name: 'Restock' }))
    expect(await screen.findByText(/Stock service unreachable at http:\/\/localhost:8084/)).toBeInTheDocument()
  })

  it('asks for a whole number before calling the service', async () => {
    const fetchMock = vi.fn()
    vi.stubGlobal('fetch', fetchMock)
    const { user } = renderForm()
    await user.clear(screen.getByLabelText('On hand'))
    await user.type(screen.getByLabelText('On hand'), '2.5')
    await user.click(screen.getByRole('button', { name: 'Restock' }))
    expect(screen.getByText('Enter a whole number of 0 or more.')).toBeInTheDocument()
    expect(fetchMock).not.toHaveBeenCalled()
  })
})
