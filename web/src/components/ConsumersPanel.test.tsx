import { act, render, screen, within } from '@testing-library/react'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { ConsumerGroup, ConsumersSnapshot } from '../api'
import { formatClock } from '../format'
import { CONSUMERS_ABSENT_POLL_MS, CONSUMERS_POLL_MS, useConsumers } from '../hooks/useConsumers'
import { jsonResponse } from '../test/fakeEventSource'
import { ConsumersPanel } from './ConsumersPanel'

const member = (memberId: string, partitions: number[]) => ({
  memberId,
  clientId: `orders-processor-${memberId}`,
  host: '/127.0.0.1',
  assignments: [{ topic: 'stock.reservations', partitions }],
})

const processors = (members: ConsumerGroup['members']): ConsumerGroup => ({
  groupId: 'orders-processor-cg',
  state: 'Stable',
  members,
  partitions: [0, 1, 2].map((partition) => ({
    topic: 'stock.reservations',
    partition,
    committed: partition === 2 ? -1 : 10 + partition,
    end: 12,
    lag: partition === 2 ? 12 : 2 - partition,
    memberId: members.find((m) => m.assignments[0].partitions.includes(partition))?.memberId,
  })),
})

const snapshot = (at: string, ...groups: ConsumerGroup[]): ConsumersSnapshot => ({ at, groups })

function LiveConsumers() {
  const consumers = useConsumers()
  return <ConsumersPanel snapshot={consumers.snapshot} unavailable={consumers.unavailable} rebalancedAt={consumers.rebalancedAt} />
}

/** poll lets the hook's next poll run and its answer render. */
const poll = (ms: number) => act(() => vi.advanceTimersByTimeAsync(ms))

beforeEach(() => vi.useFakeTimers())
afterEach(() => {
  vi.useRealTimers()
  vi.unstubAllGlobals()
})

describe('ConsumersPanel', () => {
  it('shows each group, its members, what each owns, and offsets and lag per partition', () => {
    const group = processors([member('b', [2]), member('a', [0, 1])])
    render(<ConsumersPanel snapshot={snapshot('2026-11-29T12:00:00Z', group)} unavailable={undefined} rebalancedAt={{}} />)

    const article = screen.getByRole('article', { name: 'orders-processor-cg' })
    expect(article).toHaveTextContent('Stable')
    expect(article).toHaveTextContent('2 members · lag 15')
    const members = within(article).getAllByRole('listitem')
    expect(members[0]).toHaveTextContent('#1 orders-processor-a /127.0.0.1 — stock.reservations 0, 1')
    expect(members[1]).toHaveTextContent('#2 orders-processor-b /127.0.0.1 — stock.reservations 2')
    const rows = within(article).getAllByRole('row').slice(1)
    expect(rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent))).toEqual([
      ['stock.reservations', '0', '#1', '10', '12', '2'],
      ['stock.reservations', '1', '#1', '11', '12', '1'],
      ['stock.reservations', '2', '#2', 'none yet', '12', '12'],
    ])
    expect(screen.queryByText(/rebalanced at/)).not.toBeInTheDocument()
  })

  it('says when a group has no members', () => {
    render(<ConsumersPanel snapshot={snapshot('', { ...processors([]), state: 'Empty' })} unavailable={undefined} rebalancedAt={{}} />)
    expect(screen.getByText(/No members/)).toBeInTheDocument()
    expect(screen.getByRole('article', { name: 'orders-processor-cg' })).toHaveTextContent('Empty')
  })

  it('polls every second and marks a group whose members or assignments changed', async () => {
    const answers = [
      snapshot('2026-11-29T12:00:01Z', processors([member('a', [0, 1, 2])])),
      snapshot('2026-11-29T12:00:02Z', processors([member('a', [0, 1, 2])])),
      snapshot('2026-11-29T12:00:03Z', processors([member('a', [0, 1]), member('b', [2])])),
      snapshot('2026-11-29T12:00:04Z', processors([member('a', [0, 1]), member('b', [2])])),
    ]
    const fetchMock = vi.fn(async () => jsonResponse(200, answers.shift() ?? answers[0]))
    vi.stubGlobal('fetch', fetchMock)
    render(<LiveConsumers />)

    await poll(0)
    expect(screen.getByRole('article', { name: 'orders-processor-cg' })).toHaveTextContent('1 member')
    await poll(CONSUMERS_POLL_MS)
    expect(screen.queryByText(/rebalanced at/)).not.toBeInTheDocument()
    await poll(CONSUMERS_POLL_MS)
    expect(screen.getByRole('article', { name: 'orders-processor-cg' })).toHaveTextContent('2 members')
    expect(screen.getByText(`rebalanced at ${formatClock('2026-11-29T12:00:03Z')}`)).toBeInTheDocument()
    await poll(CONSUMERS_POLL_MS)
    expect(screen.getByText(`rebalanced at ${formatClock('2026-11-29T12:00:03Z')}`)).toBeInTheDocument()
    expect(fetchMock).toHaveBeenCalledTimes(4)
    expect(fetchMock.mock.calls[0]).toEqual(['http://localhost:8083/consumers', expect.anything()])
  })

  it("shows the rebalance time notifications-api gives, even on the first look", async () => {
    const group = { ...processors([member('a', [0, 1, 2])]), rebalancedAt: '2026-11-29T11:59:58Z' }
    vi.stubGlobal('fetch', vi.fn(async () => jsonResponse(200, snapshot('2026-11-29T12:00:01Z', group))))
    render(<LiveConsumers />)
    await poll(0)
    expect(screen.getByText(`rebalanced at ${formatClock('2026-11-29T11:59:58Z')}`)).toBeInTheDocument()
  })

  it('says when the groups shown are the last ones read', () => {
    const stale = { ...snapshot('2026-11-29T12:00:01Z', processors([member('a', [0, 1, 2])])), error: 'cannot read the consumer groups since 12:00:05' }
    render(<ConsumersPanel snapshot={stale} unavailable={undefined} rebalancedAt={{}} />)
    expect(screen.getByText(`cannot read the consumer groups since 12:00:05; what follows is as of ${formatClock('2026-11-29T12:00:01Z')}.`)).toBeInTheDocument()
    expect(screen.getByRole('article', { name: 'orders-processor-cg' })).toBeInTheDocument()
  })

  it.each([
    [401, /admin view/],
    [403, /admin view/],
    [503, /reading the consumer groups for the first time/],
  ])('shows a quiet note for a %i', async (status, note) => {
    vi.stubGlobal('fetch', vi.fn(async () => jsonResponse(status, { error: 'no' })))
    render(<LiveConsumers />)
    await poll(0)
    expect(screen.getByText(note)).toBeInTheDocument()
    expect(screen.queryByRole('alert')).not.toBeInTheDocument()
  })

  it('shows a quiet note when notifications-api has no GET /consumers, and asks again only rarely', async () => {
    const fetchMock = vi.fn(async () => jsonResponse(404, { error: 'not found' }))
    vi.stubGlobal('fetch', fetchMock)
    render(<LiveConsumers />)
    await poll(0)
    expect(screen.getByText(/does not list consumer groups/)).toBeInTheDocument()
    expect(screen.queryByRole('alert')).not.toBeInTheDocument()
    await poll(CONSUMERS_ABSENT_POLL_MS - 1)
    expect(fetchMock).toHaveBeenCalledTimes(1)
    await poll(1)
    expect(fetchMock).toHaveBeenCalledTimes(2)
  })

  it('shows a quiet note while notifications-api is unreachable, then the groups again', async () => {
    const fetchMock = vi
      .fn()
      .mockRejectedValueOnce(new TypeError('Failed to fetch'))
      .mockImplementation(async () => jsonResponse(200, snapshot('2026-11-29T12:00:05Z', processors([member('a', [0, 1, 2])]))))
    vi.stubGlobal('fetch', fetchMock)
    render(<LiveConsumers />)
    await poll(0)
    expect(screen.getByText(/once the notifications API answers again/)).toBeInTheDocument()
    await poll(2 * CONSUMERS_POLL_MS)
    expect(screen.getByRole('article', { name: 'orders-processor-cg' })).toBeInTheDocument()
    expect(screen.queryByText(/answers again/)).not.toBeInTheDocument()
  })
})
