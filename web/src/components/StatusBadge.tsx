import type { OrderStatus } from '../api'

/** StatusBadge shows an order status with a colour and the word (never colour alone). */
export function StatusBadge({ status }: { status: OrderStatus | undefined }) {
  const text = status ?? 'WAITING'
  return <span className={`badge badge-${text.toLowerCase()}`}>{text}</span>
}
