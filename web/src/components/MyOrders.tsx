import { failureDetail, failureKind, failureTitle } from '../failures'
import { formatTime } from '../format'
import { latestEvent, type PlacedOrder } from '../myOrders'
import { StatusBadge } from './StatusBadge'

interface Props {
  orders: PlacedOrder[]
  selectedId: string | undefined
  onSelect: (orderId: string) => void
  onShowFlow: (orderId: string) => void
  onClear: () => void
}

function describeItems(order: PlacedOrder): string {
  return order.items.map((i) => `${i.qty}× ${i.sku}`).join(', ')
}

/** MyOrders lists the orders placed from this browser with their latest status. */
export function MyOrders({ orders, selectedId, onSelect, onShowFlow, onClear }: Props) {
  if (orders.length === 0) {
    return <p className="empty">Orders you place from this browser appear here.</p>
  }
  return (
    <>
      <ul className="my-orders">
        {orders.map((order) => {
          const latest = latestEvent(order)
          const selected = order.orderId === selectedId
          return (
            <li key={order.orderId} className={selected ? 'selected' : undefined} data-order-id={order.orderId}>
              <button
                type="button"
                className="my-order-main"
                aria-pressed={selected}
                onClick={() => onSelect(order.orderId)}
                title="Show this order's timeline"
              >
                <span className="my-order-line">
                  <code className="order-id" title={order.orderId}>
                    {order.orderId.slice(0, 8)}
                  </code>
                  <StatusBadge status={latest?.status} />
                </span>
                <span className="my-order-line muted">
                  <span>{describeItems(order)}</span>
                  <span>
                    {order.total} {order.currency} · {formatTime(latest?.updatedAt ?? order.placedAt)}
                  </span>
                </span>
                {latest?.status === 'FAILED' && (
                  <span className="my-order-reason" data-failure={failureKind(latest)}>
                    <strong>{failureTitle(failureKind(latest))}</strong>
                    {failureDetail(latest) && <> — {failureDetail(latest)}</>}
                  </span>
                )}
              </button>
              <button
                type="button"
                className="button-quiet"
                onClick={() => onShowFlow(order.orderId)}
                aria-label={`Show records of order ${order.orderId} in the event flow`}
              >
                Records
              </button>
            </li>
          )
        })}
      </ul>
      <button type="button" className="button-quiet clear-orders" onClick={onClear}>
        Forget these orders
      </button>
    </>
  )
}
