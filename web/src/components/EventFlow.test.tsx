import { act, render, screen, waitFor, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { useState } from 'react'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { FlowRecord } from '../api'
import { NO_FLOW_FILTER, type FlowFilter } from '../flowFilter'
import { MAX_FLOW_RECORDS, useFlow } from '../hooks/useFlow'
import { FakeEventSource } from '../test/fakeEventSource'
import { EventFlow } from './EventFlow'

const ORDER_A = '11111111-1111-4111-8111-111111111111'
const ORDER_B = '22222222-2222-4222-8222-222222222222'

const TRACE_A = '4bf92f3577b34da6a3ce929d0e0e4736'
const TRACE_B = '0af7651916cd43dd8448eb211c80319c'

const record = (offset: number, orderId: string, topic = 'orders.status', partition = 2, traceId?: string): FlowRecord => ({
  topic,
  partition,
  offset,
  key: topic === 'inventory.updated' ? 'BOOK-42' : orderId,
  value: { orderId, status: 'PAID' },
  timestamp: '2026-01-01T12:00:00Z',
  ...(traceId ? { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } } : {}),
})

function LiveFlow() {
  const [filter, setFilter] = useState<FlowFilter>(NO_FLOW_FILTER)
  const flow = useFlow(undefined)
  return <EventFlow records={flow.records} state={flow.state} filter={filter} onFilterChange={setFilter} />
}

const TEXT_FILTER = 'Filter by orderId or trace id'
const none = () => {}

beforeEach(() => {
  FakeEventSource.reset()
  vi.stubGlobal('EventSource', FakeEventSource)
})
afterEach(() => vi.unstubAllGlobals())

describe('EventFlow', () => {
  it('explains keys and partitions to learners', () => {
    render(<EventFlow records={[]} state="connecting" filter={NO_FLOW_FILTER} onFilterChange={none} />)
    expect(screen.getByText(/one key always lands on the same partition/)).toBeInTheDocument()
    expect(screen.getByText('Waiting for records…')).toBeInTheDocument()
  })

  it('shows topic, partition, offset, key and the value as compact JSON', () => {
    render(<EventFlow records={[record(9, ORDER_A)]} state="live" filter={NO_FLOW_FILTER} onFilterChange={none} />)
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

    await user.type(screen.getByLabelText(TEXT_FILTER), '1111')
    expect(screen.getAllByRole('listitem')).toHaveLength(2)
    expect(screen.queryByText(`key ${ORDER_B}`)).not.toBeInTheDocument()
  })

  it('asks the server for one order once the filter is a whole orderId', async () => {
    const user = userEvent.setup()
    render(<LiveFlow />)
    await user.click(screen.getByLabelText(TEXT_FILTER))
    await user.paste(ORDER_B)
    const oneOrder = FakeEventSource.latest(`/flow?orderId=${ORDER_B}`)
    act(() => oneOrder.emit('record', record(40, ORDER_B)))
    await waitFor(() => expect(screen.getByRole('listitem')).toHaveTextContent('offset 40'))

    await user.clear(screen.getByLabelText(TEXT_FILTER))
    expect(oneOrder.closed).toBe(true)
  })

  it(`keeps at most ${MAX_FLOW_RECORDS} records, newest first`, async () => {
    const { container } = render(<LiveFlow />)
    const source = FakeEventSource.latest('/flow')
    act(() => {
      for (let i = 0; i < MAX_FLOW_RECORDS + 50; i++) source.emit('record', record(i, ORDER_A))
    })
    // Plain selectors: role queries over a few hundred items are slow in jsdom.
    const shown = () => container.querySelectorAll('.records > li')
    await waitFor(() => expect(shown()).toHaveLength(MAX_FLOW_RECORDS))
    expect(shown()[0]).toHaveTextContent(`offset ${MAX_FLOW_RECORDS + 49}`)
  })

  it('pauses the list, counts what arrives meanwhile, and still filters it', async () => {
    const user = userEvent.setup()
    render(<LiveFlow />)
    const source = FakeEventSource.latest('/flow')
    act(() => {
      source.open()
      source.emit('record', record(1, ORDER_A, 'orders.status', 0))
      source.emit('record', record(2, ORDER_A, 'orders.status', 1))
    })
    await waitFor(() => expect(screen.getAllByRole('listitem')).toHaveLength(2))
    await user.click(screen.getByRole('button', { name: 'Pause' }))
    act(() => {
      source.emit('record', record(3, ORDER_A))
      source.emit('record', record(4, ORDER_A))
    })
    await waitFor(() => expect(screen.getByText('paused — 2 new')).toBeInTheDocument())
    expect(screen.getAllByRole('listitem')).toHaveLength(2)
    await user.selectOptions(screen.getByLabelText('Partition'), '1')
    expect(screen.getAllByRole('listitem')).toHaveLength(1)
    await user.selectOptions(screen.getByLabelText('Partition'), '')
    await user.click(screen.getByRole('button', { name: 'Resume' }))
    expect(screen.getAllByRole('listitem')).toHaveLength(4)
    expect(screen.getByText('live', { selector: '.stream-state' })).toBeInTheDocument()
  })

  it('filters by topic, every dead-letter topic, and partition', async () => {
    const user = userEvent.setup()
    render(<LiveFlow />)
    const source = FakeEventSource.latest('/flow')
    act(() => {
      source.open()
      source.emit('record', record(1, ORDER_A, 'orders.created', 0))
      source.emit('record', record(1, ORDER_A, 'stock.reservations', 1))
      source.emit('record', record(2, ORDER_A, 'orders.status', 1))
      source.emit('record', record(1, ORDER_B, 'orders.created.dlq', 1))
      source.emit('record', record(1, ORDER_B, 'orders.status.dlq', 2))
    })
    await waitFor(() => expect(screen.getAllByRole('listitem')).toHaveLength(5))
    const topics = () => screen.getAllByRole('listitem').map((li) => li.dataset.topic)

    await user.selectOptions(screen.getByLabelText('Topic'), 'stock.reservations')
    expect(topics()).toEqual(['stock.reservations'])
    await user.selectOptions(screen.getByLabelText('Topic'), 'every .dlq topic')
    expect(topics()).toEqual(['orders.status.dlq', 'orders.created.dlq'])
    await user.selectOptions(screen.getByLabelText('Partition'), '1')
    expect(topics()).toEqual(['orders.created.dlq'])
    await user.selectOptions(screen.getByLabelText('Topic'), 'All topics')
    expect(topics()).toEqual(['orders.created.dlq', 'orders.status', 'stock.reservations'])

    await user.click(screen.getByRole('button', { name: 'Clear filters' }))
    expect(topics()).toHaveLength(5)
    expect(screen.queryByRole('button', { name: 'Clear filters' })).not.toBeInTheDocument()
  })

  it('shows dead-letter headers', () => {
    const dead: FlowRecord = {
      ...record(3, ORDER_A, 'orders.created.dlq', 1),
      key: '',
      value: 'not an order',
      headers: {
        'dlq.error': 'decode orders.created: invalid character',
        'dlq.source.topic': 'orders.created',
        'dlq.source.partition': '1',
        'dlq.source.offset': '41',
        'dlq.consumer.group': 'stock-service-cg',
      },
    }
    render(<EventFlow records={[dead]} state="live" filter={NO_FLOW_FILTER} onFilterChange={none} />)
    const item = screen.getByRole('listitem')
    expect(item).toHaveClass('record-dlq')
    const headers = within(item).getByLabelText('headers')
    expect(headers).toHaveTextContent('dlq.errordecode orders.created: invalid character')
    expect(headers).toHaveTextContent('dlq.source.offset41')
    expect(headers).toHaveTextContent('dlq.consumer.groupstock-service-cg')
    expect(item).toHaveTextContent('"not an order"')
  })

  it("shows each record's trace id shortened, and filters by it on a click", async () => {
    const user = userEvent.setup()
    render(<LiveFlow />)
    const source = FakeEventSource.latest('/flow')
    act(() => {
      source.emit('record', record(1, ORDER_A, 'orders.created', 0, TRACE_A))
      source.emit('record', record(1, ORDER_B, 'orders.created', 1, TRACE_B))
      source.emit('record', record(1, ORDER_A, 'stock.reservations', 0, TRACE_A))
      source.emit('record', record(2, ORDER_A, 'orders.status', 0))
    })
    await waitFor(() => expect(screen.getAllByRole('listitem')).toHaveLength(4))
    expect(screen.getAllByRole('button', { name: /^trace 4bf92f35/ })).toHaveLength(2)
    expect(screen.getAllByRole('listitem')[0]).not.toHaveTextContent('trace')
    for (const item of screen.getAllByRole('listitem')) expect(item).not.toHaveTextContent('traceparent')

    await user.click(screen.getAllByRole('button', { name: /^trace 4bf92f35/ })[0])
    expect(screen.getByLabelText(TEXT_FILTER)).toHaveValue(TRACE_A)
    expect(screen.getAllByRole('listitem').map((li) => li.dataset.traceId)).toEqual([TRACE_A, TRACE_A])
  })

  it('shows a traceparent that is not valid as a plain header', () => {
    const odd = { ...record(1, ORDER_A), headers: { traceparent: 'not-a-trace' } }
    render(<EventFlow records={[odd]} state="live" filter={NO_FLOW_FILTER} onFilterChange={none} />)
    expect(screen.getByRole('listitem')).toHaveTextContent('traceparentnot-a-trace')
    expect(screen.queryByRole('button', { name: /^trace/ })).not.toBeInTheDocument()
  })
})
