import { act, render, screen, waitFor } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { useState } from 'react'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { FlowRecord } from '../api'
import { MAX_FLOW_RECORDS, useFlow } from '../hooks/useFlow'
import { FakeEventSource } from '../test/fakeEventSource'
import { EventFlow } from './EventFlow'

const ORDER_A = '11111111-1111-4111-8111-111111111111'
const ORDER_B = '22222222-2222-4222-8222-222222222222'

const record = (offset: number, orderId: string, topic = 'orders.status'): FlowRecord => ({
  topic,
  partition: 2,
  offset,
  key: topic === 'inventory.updated' ? 'BOOK-42' : orderId,
  value: { orderId, status: 'PAID' },
  timestamp: '2026-01-01T12:00:00Z',
})

function LiveFlow() {
  const [filter, setFilter] = useState('')
  const flow = useFlow(undefined)
  return <EventFlow records={flow.records} state={flow.state} filter={filter} onFilterChange={setFilter} />
}

beforeEach(() => {
  FakeEventSource.reset()
  vi.stubGlobal('EventSource', FakeEventSource)
})
afterEach(() => vi.unstubAllGlobals())

describe('EventFlow', () => {
  it('explains keys and partitions to learners', () => {
    render(<EventFlow records={[]} state="connecting" filter="" onFilterChange={() => {}} />)
    expect(screen.getByText(/one key always lands on the same partition/)).toBeInTheDocument()
    expect(screen.getByText('Waiting for records…')).toBeInTheDocument()
  })

  it('shows topic, partition, offset, key and the value as compact JSON', () => {
    render(<EventFlow records={[record(9, ORDER_A)]} state="live" filter="" onFilterChange={() => {}} />)
    const item = screen.getByRole('listitem')
    expect(item).toHaveTextContent('orders.status')
    expect(item).toHaveTextContent('partition 2 · offset 9')
    expect(item).toHaveTextContent(`key ${ORDER_A}`)
    expect(item).toHaveTextContent(`{"orderId":"${ORDER_A}","status":"PAID"}`)
  })

  it('filters on part of an orderId, inventory records included', async () => {
    const user = userEvent.setup()
    render(<LiveFlow />)
    const source = FakeEventSource.latest('/flow')
    act(() => {
      source.open()
      source.emit('record', record(1, ORDER_A))
      source.emit('record', record(2, ORDER_B))
      source.emit('record', record(3, ORDER_A, 'inventory.updated'))
    })
    await waitFor(() => expect(screen.getAllByRole('listitem')).toHaveLength(3))

    await user.type(screen.getByLabelText('Filter by orderId'), '1111')
    expect(screen.getAllByRole('listitem')).toHaveLength(2)
    expect(screen.queryByText(`key ${ORDER_B}`)).not.toBeInTheDocument()
  })

  it('asks the server for one order once the filter is a whole orderId', async () => {
    const user = userEvent.setup()
    render(<LiveFlow />)
    await user.click(screen.getByLabelText('Filter by orderId'))
    await user.paste(ORDER_B)
    const oneOrder = FakeEventSource.latest(`/flow?orderId=${ORDER_B}`)
    act(() => oneOrder.emit('record', record(40, ORDER_B)))
    await waitFor(() => expect(screen.getByRole('listitem')).toHaveTextContent('offset 40'))

    await user.clear(screen.getByLabelText('Filter by orderId'))
    expect(oneOrder.closed).toBe(true)
  })

  it(`keeps at most ${MAX_FLOW_RECORDS} records, newest first`, async () => {
    render(<LiveFlow />)
    const source = FakeEventSource.latest('/flow')
    act(() => {
      for (let i = 0; i < MAX_FLOW_RECORDS + 50; i++) source.emit('record', record(i, ORDER_A))
    })
    await waitFor(() => expect(screen.getAllByRole('listitem')).toHaveLength(MAX_FLOW_RECORDS))
    expect(screen.getAllByRole('listitem')[0]).toHaveTextContent(`offset ${MAX_FLOW_RECORDS + 49}`)
  })

  it('pauses the list', async () => {
    const user = userEvent.setup()
    render(<LiveFlow />)
    const source = FakeEventSource.latest('/flow')
    act(() => source.emit('record', record(1, ORDER_A)))
    await waitFor(() => expect(screen.getAllByRole('listitem')).toHaveLength(1))
    await user.click(screen.getByRole('button', { name: 'Pause' }))
    act(() => source.emit('record', record(2, ORDER_A)))
    await act(() => new Promise((r) => setTimeout(r, 100)))
    expect(screen.getAllByRole('listitem')).toHaveLength(1)
    await user.click(screen.getByRole('button', { name: 'Resume' }))
    expect(screen.getAllByRole('listitem')).toHaveLength(2)
  })
})
