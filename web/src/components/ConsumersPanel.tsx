import type { ConsumerGroup, ConsumersSnapshot, PartitionOffsets } from '../api'
import { TOPICS } from '../api'
import { memberLabels } from '../consumers'
import { formatClock } from '../format'
import type { ConsumersUnavailable } from '../hooks/useConsumers'

interface Props {
  snapshot: ConsumersSnapshot | undefined
  unavailable: ConsumersUnavailable | undefined
  rebalancedAt: Record<string, string>
}

function topicRank(topic: string): number {
  const i = (TOPICS as readonly string[]).indexOf(topic)
  return i < 0 ? TOPICS.length : i
}

function byTopicAndPartition(a: PartitionOffsets, b: PartitionOffsets): number {
  return topicRank(a.topic) - topicRank(b.topic) || a.topic.localeCompare(b.topic) || a.partition - b.partition
}

function UnavailableNote({ why }: { why: ConsumersUnavailable }) {
  switch (why) {
    case 'absent':
      return (
        <p className="empty">
          This notifications-api does not list consumer groups (no <code>GET /consumers</code>).{' '}
          <code>go run ./harness/cmd/kit groups</code> shows them in a terminal.
        </p>
      )
    case 'forbidden':
      return (
        <p className="empty">
          The consumer groups are an admin view: notifications-api shows them to its own machine only, or with its
          ADMIN_TOKEN. <code>go run ./harness/cmd/kit groups</code> shows them in a terminal there.
        </p>
      )
    case 'starting':
      return <p className="empty">notifications-api is reading the consumer groups for the first time…</p>
    case 'unreachable':
      return <p className="empty">Consumer groups show here once the notifications API answers again.</p>
    case 'error':
      return <p className="empty">The notifications API could not list the consumer groups just now; trying again.</p>
  }
}

function Group({ group, rebalancedAt }: { group: ConsumerGroup; rebalancedAt: string | undefined }) {
  const labels = memberLabels(group)
  const members = [...group.members].sort((a, b) => a.memberId.localeCompare(b.memberId))
  const partitions = [...group.partitions].sort(byTopicAndPartition)
  const totalLag = partitions.reduce((sum, p) => sum + Math.max(0, p.lag), 0)
  const headingId = `group-${group.groupId}`
  return (
    <article className="group" data-group-id={group.groupId} aria-labelledby={headingId}>
      <header className="group-head">
        <h3 id={headingId}>
          <code>{group.groupId}</code>
        </h3>
        <span className={`group-state${group.state === 'Stable' ? ' group-stable' : ''}`}>{group.state || 'unknown state'}</span>
        <span className="muted small">
          {members.length} member{members.length === 1 ? '' : 's'} · lag {totalLag}
        </span>
        {rebalancedAt && (
          <span className="rebalanced" role="status">
            rebalanced at {formatClock(rebalancedAt)}
          </span>
        )}
      </header>
      {group.error && <p className="field-error">{group.error}</p>}
      {members.length === 0 ? (
        <p className="muted small">No members: nothing consumes for this group right now; its committed offsets wait.</p>
      ) : (
        <ul className="members">
          {members.map((m) => (
            <li key={m.memberId} data-member-id={m.memberId}>
              <strong>{labels.get(m.memberId)}</strong> <code title={m.memberId}>{m.clientId || m.memberId}</code>{' '}
              <span className="muted">{m.host}</span>
              {' — '}
              {m.assignments.length === 0
                ? 'owns no partition'
                : m.assignments.map((a, i) => (
                    <span key={a.topic}>
                      {i > 0 && ', '}
                      <code>{a.topic}</code> {a.partitions.length === 0 ? 'none' : [...a.partitions].sort((x, y) => x - y).join(', ')}
                    </span>
                  ))}
            </li>
          ))}
        </ul>
      )}
      {partitions.length > 0 && (
        <table className="offsets">
          <caption className="visually-hidden">Committed and end offsets per partition of {group.groupId}</caption>
          <thead>
            <tr>
              <th scope="col">Topic</th>
              <th scope="col" className="num">
                Partition
              </th>
              <th scope="col">Owner</th>
              <th scope="col" className="num">
                Committed
              </th>
              <th scope="col" className="num">
                End
              </th>
              <th scope="col" className="num">
                Lag
              </th>
            </tr>
          </thead>
          <tbody>
            {partitions.map((p) => (
              <tr key={`${p.topic}/${p.partition}`} data-partition={`${p.topic}/${p.partition}`}>
                <td>
                  <code>{p.topic}</code>
                </td>
                <td className="num">{p.partition}</td>
                <td>{p.memberId ? (labels.get(p.memberId) ?? 'a member that left') : <span className="muted">none</span>}</td>
                <td className="num">{p.committed < 0 ? <span className="muted">none yet</span> : p.committed}</td>
                <td className="num">{p.end}</td>
                <td className={`num${p.lag > 0 ? ' lagging' : ''}`}>{p.lag}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </article>
  )
}

/**
 * ConsumersPanel shows every consumer group: its members, the partitions each owns, and
 * per partition the committed offset, the end offset and the lag between them, with a
 * marker when the group rebalanced.
 */
export function ConsumersPanel({ snapshot, unavailable, rebalancedAt }: Props) {
  const groups = snapshot ? [...snapshot.groups].sort((a, b) => a.groupId.localeCompare(b.groupId)) : []
  return (
    <div className="consumers">
      <p className="explainer">
        A <strong>consumer group</strong> shares each topic&apos;s partitions among its members: every partition has
        one owner, so a group never has more busy members than partitions. After applying records a member{' '}
        <strong>commits</strong> the offset to resume from; <strong>lag</strong> is the end offset minus the committed
        one — records written but not yet processed. When a member joins or leaves, the group{' '}
        <strong>rebalances</strong> and hands the partitions out again.
      </p>
      {unavailable ? (
        <UnavailableNote why={unavailable} />
      ) : !snapshot ? (
        <p className="empty">Loading consumer groups…</p>
      ) : groups.length === 0 ? (
        <p className="empty">No consumer groups yet: they appear once stock-service and orders-processor join.</p>
      ) : (
        <>
          {snapshot.error && (
            <p className="hint" role="status">
              {snapshot.error}; what follows is as of {formatClock(snapshot.at)}.
            </p>
          )}
          {groups.map((g) => (
            <Group key={g.groupId} group={g} rebalancedAt={rebalancedAt[g.groupId]} />
          ))}
          <p className="muted small">As of {formatClock(snapshot.at)}, asked every second.</p>
        </>
      )}
    </div>
  )
}
