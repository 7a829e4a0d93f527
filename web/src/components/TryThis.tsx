import { useState } from 'react'
import { ApiError, MALFORMED_RECORD_COMMAND, sendMalformedRecord, type PlaceOrderRequest, type Stock } from '../api'
import { retryText, usePlaceOrder } from '../hooks/usePlaceOrder'
import type { PlacedOrder } from '../myOrders'
import { DEFAULT_TOTAL, PAYMENT_LIMIT } from './OrderForm'

interface Props {
  stock: Stock | undefined
  userId: string
  onPlaced: (order: PlacedOrder) => void
  /** onShowDeadLetters points the Event flow at a dead-letter topic. */
  onShowDeadLetters: (topic: string) => void
  /** onShowKey points the Event flow at every record with this key, on any topic. */
  onShowKey: (key: string) => void
}

/** DEAD_LETTER_TOPIC is where a record on orders.created that is not an order ends up. */
export const DEAD_LETTER_TOPIC = 'orders.created.dlq'
export const OVER_LIMIT_TOTAL = 1500

type Outcome =
  | { kind: 'placed'; orderId: string; expect: string }
  | { kind: 'malformed-sent'; where: string; key?: string }
  | { kind: 'malformed-absent' }
  | { kind: 'error'; message: string }

interface Example {
  name: string
  describe: string
  expect: string
  order: (userId: string) => PlaceOrderRequest
}

/** examples builds the three orders from what is in stock now, or none when nothing is. */
export function examples(stock: Stock | undefined): Example[] {
  const skus = Object.keys(stock ?? {}).sort()
  const inStock = skus.filter((s) => (stock?.[s] ?? 0) > 0)
  if (!stock || inStock.length === 0) return []
  const most = inStock.reduce((a, b) => (stock[b] > stock[a] ? b : a))
  const scarce = inStock.reduce((a, b) => (stock[b] < stock[a] ? b : a))
  const order = (userId: string, sku: string, qty: number, total: number): PlaceOrderRequest => ({
    userId,
    items: [{ sku, qty }],
    total,
    currency: 'EUR',
  })
  return [
    {
      name: 'Order something',
      describe: `1 × ${most} for ${DEFAULT_TOTAL} EUR`,
      expect: 'PAID',
      order: (u) => order(u, most, 1, Number(DEFAULT_TOTAL)),
    },
    {
      name: 'Order more than is left',
      describe: `${stock[scarce] + 1} × ${scarce}, which has ${stock[scarce]}`,
      expect: 'FAILED: out of stock — nothing is taken',
      order: (u) => order(u, scarce, stock[scarce] + 1, Number(DEFAULT_TOTAL)),
    },
    {
      name: 'Order over the payment limit',
      describe: `1 × ${most} for ${OVER_LIMIT_TOTAL} EUR (limit ${PAYMENT_LIMIT})`,
      expect: 'FAILED: payment declined — the stock comes back',
      order: (u) => order(u, most, 1, OVER_LIMIT_TOTAL),
    },
  ]
}

/** TryThis is a strip of one-click experiments that show the saga's paths and the dead-letter topic. */
export function TryThis({ stock, userId, onPlaced, onShowDeadLetters, onShowKey }: Props) {
  const { place, retrying } = usePlaceOrder()
  const [busy, setBusy] = useState<string | undefined>()
  const [outcome, setOutcome] = useState<Outcome | undefined>()
  const list = examples(stock)

  const run = async (name: string, action: () => Promise<Outcome>) => {
    setBusy(name)
    setOutcome(undefined)
    try {
      setOutcome(await action())
    } catch (err) {
      if (err instanceof DOMException && err.name === 'AbortError') return
      if (!(err instanceof ApiError)) throw err
      setOutcome({ kind: 'error', message: err.message })
    } finally {
      setBusy(undefined)
    }
  }

  const placeExample = (example: Example) =>
    run(example.name, async () => {
      const order = example.order(userId)
      const { orderId } = await place(order)
      onPlaced({ ...order, orderId, placedAt: new Date().toISOString(), events: [] })
      return { kind: 'placed', orderId, expect: example.expect }
    })

  const sendMalformed = () =>
    run('malformed', async () => {
      const sent = await sendMalformedRecord()
      if (!sent.available) return { kind: 'malformed-absent' }
      const where =
        sent.partition !== undefined && sent.offset !== undefined
          ? `${sent.topic ?? 'orders.created'}, partition ${sent.partition}, offset ${sent.offset}`
          : (sent.topic ?? 'orders.created')
      return { kind: 'malformed-sent', where, key: sent.key }
    })

  return (
    <section className="panel try-this" aria-labelledby="try-heading">
      <h2 id="try-heading">Try this</h2>
      <ul className="try-list">
        {list.map((example) => (
          <li key={example.name}>
            <button type="button" className="button-quiet" disabled={busy !== undefined} onClick={() => void placeExample(example)}>
              {example.name}
            </button>
            <span className="muted small">
              {example.describe} → {example.expect}
            </span>
          </li>
        ))}
        {list.length === 0 && (
          <li className="muted small">Orders to try appear once a SKU is in stock (restock one below).</li>
        )}
        <li>
          <button type="button" className="button-quiet" disabled={busy !== undefined} onClick={() => void sendMalformed()}>
            Send a malformed record
          </button>
          <span className="muted small">
            not an order, on orders.created → dead-lettered to <code>{DEAD_LETTER_TOPIC}</code>
          </span>
        </li>
      </ul>
      <div className="try-outcome" role="status">
        {retrying && <p>{retryText(retrying)}</p>}
        {outcome?.kind === 'placed' && (
          <p>
            Placed <code title={outcome.orderId}>{outcome.orderId.slice(0, 8)}</code>; expect {outcome.expect}. Its
            timeline is below.
          </p>
        )}
        {outcome?.kind === 'malformed-sent' && (
          <p>
            Sent a record that is not an order to {outcome.where}. stock-service cannot read it, so it puts it on{' '}
            <code>{DEAD_LETTER_TOPIC}</code> with headers saying why.{' '}
            {outcome.key ? (
              <button type="button" className="button-link" onClick={() => onShowKey(outcome.key ?? '')}>
                Show it and its dead letter in the Event flow
              </button>
            ) : (
              <button type="button" className="button-link" onClick={() => onShowDeadLetters(DEAD_LETTER_TOPIC)}>
                Show {DEAD_LETTER_TOPIC} in the Event flow
              </button>
            )}
          </p>
        )}
        {outcome?.kind === 'malformed-absent' && (
          <p>
            This page&apos;s server cannot send one (it is not <code>kit up</code>). From the repository root, run{' '}
            <code className="command">{MALFORMED_RECORD_COMMAND}</code>, then{' '}
            <button type="button" className="button-link" onClick={() => onShowDeadLetters(DEAD_LETTER_TOPIC)}>
              show {DEAD_LETTER_TOPIC} in the Event flow
            </button>
            .
          </p>
        )}
        {outcome?.kind === 'error' && <p className="field-error">{outcome.message}</p>}
      </div>
    </section>
  )
}
