// What changed in the consumer groups between two looks at GET /consumers.
import type { ConsumerGroup, ConsumersSnapshot } from './api'

/**
 * membershipSignature names a group's members and the partitions each owns, in a stable
 * order: two looks at a group differ in it exactly when a rebalance happened in between.
 */
export function membershipSignature(group: ConsumerGroup | undefined): string {
  if (!group) return ''
  return group.members
    .map((m) => {
      const owned = m.assignments
        .map((a) => `${a.topic}:${[...a.partitions].sort((x, y) => x - y).join(',')}`)
        .sort()
        .join(';')
      return `${m.memberId}=${owned}`
    })
    .sort()
    .join('|')
}

/**
 * rebalancedGroups returns the ids of the groups whose membership or assignment differs
 * between two snapshots (a group that appears or disappears counts). Nothing has changed
 * when there was no earlier snapshot to compare with.
 */
export function rebalancedGroups(before: ConsumersSnapshot | undefined, after: ConsumersSnapshot): string[] {
  if (!before) return []
  const earlier = new Map(before.groups.map((g) => [g.groupId, g]))
  const changed = new Set<string>()
  for (const group of after.groups) {
    if (membershipSignature(earlier.get(group.groupId)) !== membershipSignature(group)) changed.add(group.groupId)
    earlier.delete(group.groupId)
  }
  for (const [groupId, group] of earlier) if (group.members.length > 0) changed.add(groupId)
  return [...changed]
}

/** memberLabels numbers a group's members #1, #2… by memberId, so a row can name its owner briefly. */
export function memberLabels(group: ConsumerGroup): Map<string, string> {
  const ids = group.members.map((m) => m.memberId).sort()
  return new Map(ids.map((id, i) => [id, `#${i + 1}`]))
}
