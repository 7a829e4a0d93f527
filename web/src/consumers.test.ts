import { describe, expect, it } from 'vitest'
import type { ConsumerGroup, ConsumersSnapshot } from './api'
import { memberLabels, rebalancedGroups } from './consumers'

const member = (memberId: string, partitions: number[], topic = 'stock.reservations') => ({
  memberId,
  clientId: 'orders-processor',
  host: '/127.0.0.1',
  assignments: [{ topic, partitions }],
})

const group = (groupId: string, members: ConsumerGroup['members'], lag = 0): ConsumerGroup => ({
  groupId,
  state: 'Stable',
  members,
  partitions: [{ topic: 'stock.reservations', partition: 0, committed: 5, end: 5 + lag, lag }],
})

const snap = (...groups: ConsumerGroup[]): ConsumersSnapshot => ({ at: '2026-11-29T12:00:00Z', groups })

const one = group('orders-processor-cg', [member('a', [0, 1, 2])])

describe('rebalancedGroups', () => {
  it.each<[string, ConsumersSnapshot | undefined, ConsumersSnapshot, string[]]>([
    ['the first look', undefined, snap(one), []],
    ['nothing changed', snap(one), snap(one), []],
    ['only offsets and lag moved', snap(one), snap(group('orders-processor-cg', [member('a', [0, 1, 2])], 7)), []],
    ['the same partitions listed in another order', snap(one), snap(group('orders-processor-cg', [member('a', [2, 0, 1])])), []],
    ['the same members listed in another order',
      snap(group('g', [member('a', [0]), member('b', [1, 2])])),
      snap(group('g', [member('b', [1, 2]), member('a', [0])])),
      []],
    ['a second member joined', snap(one), snap(group('orders-processor-cg', [member('a', [0, 1]), member('b', [2])])), ['orders-processor-cg']],
    ['a member was replaced (a restart)', snap(one), snap(group('orders-processor-cg', [member('c', [0, 1, 2])])), ['orders-processor-cg']],
    ['a partition moved', snap(group('g', [member('a', [0]), member('b', [1, 2])])), snap(group('g', [member('a', [0, 1]), member('b', [2])])), ['g']],
    ['the last member left', snap(one), snap(group('orders-processor-cg', [])), ['orders-processor-cg']],
    ['a group appeared', snap(one), snap(one, group('stock-service-cg', [member('s', [0, 1, 2], 'orders.created')])), ['stock-service-cg']],
    ['a group with members disappeared', snap(one, group('stock-service-cg', [member('s', [0])])), snap(one), ['stock-service-cg']],
    ['an empty group disappeared', snap(one, group('old-cg', [])), snap(one), []],
  ])('%s', (_, before, after, want) => {
    expect(rebalancedGroups(before, after)).toEqual(want)
  })
})

describe('memberLabels', () => {
  it('numbers members by memberId', () => {
    const labels = memberLabels(group('g', [member('zeta', [1]), member('alpha', [0])]))
    expect([...labels]).toEqual([
      ['alpha', '#1'],
      ['zeta', '#2'],
    ])
  })
})
