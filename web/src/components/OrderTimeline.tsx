import { useEffect, useState } from 'react'
import type { OrderStatus, StatusEvent, StreamState } from '../api'
import { elapsedMs, formatTime } from '../format'
import { latestEvent, type PlacedOrder } from '../myOrders'

interface Props {
  order: PlacedOrder | undefined
  streamState: StreamState | undefined
}

/** NO_STATUS_HINT_MS is how long to wait for CREATED before suggesting the processor is down. */
export const NO_STATUS_HINT_MS = 8_000

const STEPS: { status: OrderStatus | 'OUTCOME'; label: string; explains: string }[] = [
  { status: 'CREATED', label: 'Created', explains: 'orders-processor takes the order from orders.created' },
  { status: 'PROCESSING', label: 'Processing', explains: 'the payment check runs' },
  { status: 'OUTCOME', label: 'Paid / Failed', explains: 'PAID, or FAILED with a reason' },
]

function streamLabel(state: StreamState | undefined, finished: boolean): string {
  if (finished) return 'complete — stream closed'
  switch (state) {
    case 'live':
      return 'live'
    case 'reconnecting':
      return 'reconnecting… (no events will be lost)'
    case 'closed':
      return 'not following'
    default:
      return 'connecting…'
  }
}

/** OrderTimeline draws CREATED -> PROCESSING -> PAID | FAILED with times and the reason. */
export function OrderTimeline({ order, streamState }: Props) {
  const [now, setNow] = useState(() => Date.now())
  const waiting = order !== undefined && order.events.length === 0

  useEffect(() => {
    if (!waiting) return
    const timer = setInterval(() => setNow(Date.now()), 1000)
    return () => clearInterval(timer)
  }, [waiting])

  if (!order) {
    return <p className="empty">Place an order to watch its status move through Kafka here.</p>
  }

  const latest = latestEvent(order)
  const finished = latest?.status === 'PAID' || latest?.status === 'FAILED'
  const byStatus = new Map<string, StatusEvent>()
  for (const e of order.events) byStatus.set(e.status === 'PAID' || e.status === 'FAILED' ? 'OUTCOME' : e.status, e)
  const first = order.events[0]
  const slowStart = waiting && now - Date.parse(order.placedAt) > NO_STATUS_HINT_MS

  return (
    <div className="timeline" data-order-id={order.orderId} data-status={latest?.status ?? ''}>
      <p className="timeline-meta">
        Order <code title={order.orderId}>{order.orderId}</code>
        <span className={`stream-state stream-${finished ? 'done' : (streamState ?? 'connecting')}`}>
          {streamLabel(streamState, finished)}
        </span>
      </p>
      <ol className="steps">
        {STEPS.map((step) => {
          const event = byStatus.get(step.status)
          const status = event?.status
          const state = event ? (status === 'FAILED' ? 'failed' : 'done') : 'pending'
          const label = step.status === 'OUTCOME' && status ? (status === 'PAID' ? 'Paid' : 'Failed') : step.label
          const since = event && first && event !== first ? elapsedMs(first.updatedAt, event.updatedAt) : undefined
          return (
            <li key={step.status} className={`step step-${state}`} data-step={status ?? step.status}>
              <span className="step-marker" aria-hidden="true" />
              <div className="step-body">
                <p className="step-title">
                  <strong>{label}</strong>
                  {event ? (
                    <time dateTime={event.updatedAt}>
                      {formatTime(event.updatedAt)}
                      {since !== undefined && <span className="since"> +{since} ms</span>}
                    </time>
                  ) : (
                    <span className="step-waiting">waiting</span>
                  )}
                </p>
                <p className="step-explains">{status ? statusExplanation(status, event?.reason) : step.explains}</p>
              </div>
            </li>
          )
        })}
      </ol>
      {slowStart && (
        <p className="hint" role="status">
          No status yet. The order is on orders.created; is orders-processor running?
        </p>
      )}
    </div>
  )
}

function statusExplanation(status: OrderStatus, reason: string | undefined): string {
  switch (status) {
    case 'CREATED':
      return 'orders-processor picked the order up from orders.created'
    case 'PROCESSING':
      return 'payment check started'
    case 'PAID':
      return 'payment accepted'
    case 'FAILED':
      return reason ? `Reason: ${reason}` : 'payment declined'
  }
}
