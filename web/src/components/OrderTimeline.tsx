import { useEffect, useState } from 'react'
import type { OrderStatus, StatusEvent, StreamState } from '../api'
import { failureExplanation, failureKind, failureTitle } from '../failures'
import { elapsedMs, formatTime } from '../format'
import { latestEvent, type PlacedOrder } from '../myOrders'

interface Props {
  order: PlacedOrder | undefined
  streamState: StreamState | undefined
}

/** NO_STATUS_HINT_MS is how long to wait for CREATED before suggesting the processor is down. */
export const NO_STATUS_HINT_MS = 8_000

const STEPS: { status: OrderStatus | 'OUTCOME'; label: string; explains: string }[] = [
  {
    status: 'CREATED',
    label: 'Created',
    explains: 'stock-service reserves the items from orders.created and answers on stock.reservations',
  },
  { status: 'PROCESSING', label: 'Processing', explains: 'the stock is reserved; the payment check runs' },
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
  const failed = latest?.status === 'FAILED' ? failureKind(latest) : undefined
  // An order stock-service rejected goes CREATED -> FAILED: nothing to pay for, no PROCESSING.
  const skipsProcessing = failed === 'out-of-stock' && !byStatus.has('PROCESSING')
  const slowStart = waiting && now - Date.parse(order.placedAt) > NO_STATUS_HINT_MS

  return (
    <div
      className="timeline"
      data-order-id={order.orderId}
      data-status={latest?.status ?? ''}
      data-failure={failed ?? undefined}
    >
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
          const skipped = step.status === 'PROCESSING' && skipsProcessing
          const state = event ? (status === 'FAILED' ? 'failed' : 'done') : skipped ? 'skipped' : 'pending'
          const label =
            step.status === 'OUTCOME' && status ? (status === 'PAID' ? 'Paid' : failureTitle(failureKind(event))) : step.label
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
                    <span className="step-waiting">{skipped ? 'skipped' : 'waiting'}</span>
                  )}
                </p>
                {status === 'FAILED' ? null : (
                  <p className="step-explains">
                    {status ? statusExplanation(status) : skipped ? 'no payment: there was nothing to pay for' : step.explains}
                  </p>
                )}
                {status === 'FAILED' && (
                  <p className="step-reason">
                    Reason: <span className="reason-text">{event?.reason ?? 'none given'}</span>
                    <span className="step-explains"> — {failureExplanation(failureKind(event))}</span>
                  </p>
                )}
              </div>
            </li>
          )
        })}
      </ol>
      {slowStart && (
        <p className="hint" role="status">
          No status yet. orders-api has recorded the order; stock-service reserves it from orders.created and
          orders-processor follows stock.reservations — are both running? The Consumers panel shows their lag.
        </p>
      )}
    </div>
  )
}

function statusExplanation(status: Exclude<OrderStatus, 'FAILED'>): string {
  switch (status) {
    case 'CREATED':
      return 'stock-service answered on stock.reservations; orders-processor created the order'
    case 'PROCESSING':
      return 'the stock is reserved; payment check started'
    case 'PAID':
      return 'payment accepted'
  }
}
