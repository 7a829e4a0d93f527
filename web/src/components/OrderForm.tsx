import { useEffect, useId, useRef, useState, type ChangeEvent, type FormEvent } from 'react'
import { ApiError, type FieldError, type OrderItem, type Stock } from '../api'
import { retryText, usePlaceOrder } from '../hooks/usePlaceOrder'
import type { PlacedOrder } from '../myOrders'

export const CURRENCIES = ['EUR', 'USD', 'GBP', 'CHF', 'SEK', 'NOK', 'DKK', 'PLN', 'CZK', 'JPY', 'CAD', 'AUD'] as const
export const DEFAULT_TOTAL = '49.90'
/** PAYMENT_LIMIT mirrors the processor's documented rule: a larger total is FAILED. */
export const PAYMENT_LIMIT = 1000

interface ItemRow {
  key: number
  sku: string
  qty: string
}

interface Props {
  stock: Stock | undefined
  userId: string
  onUserIdChange: (userId: string) => void
  onPlaced: (order: PlacedOrder) => void
}

/** controlKey maps an API field name ("items[1].qty") to the form control showing its error. */
export function controlKey(field: string, rowCount: number): string | undefined {
  if (field === 'userId' || field === 'total' || field === 'currency' || field === 'items') return field
  const item = /^items\[(\d+)\](?:\.(sku|qty))?$/.exec(field)
  if (!item) return undefined
  const index = Number(item[1])
  if (index >= rowCount) return 'items'
  return item[2] ? `items.${index}.${item[2]}` : `items.${index}.sku`
}

function firstSkuInStock(stock: Stock | undefined): string {
  if (!stock) return ''
  const skus = Object.keys(stock).sort()
  return skus.find((sku) => stock[sku] > 0) ?? skus[0] ?? ''
}

/** OrderForm places an order and shows the API's reasons next to the fields it rejects. */
export function OrderForm({ stock, userId, onUserIdChange, onPlaced }: Props) {
  const formId = useId()
  const nextKey = useRef(1)
  const [rows, setRows] = useState<ItemRow[]>([{ key: 0, sku: firstSkuInStock(stock), qty: '1' }])
  const [total, setTotal] = useState(DEFAULT_TOTAL)
  const [currency, setCurrency] = useState<string>('EUR')
  const [submitting, setSubmitting] = useState(false)
  const [errors, setErrors] = useState<Record<string, string>>({})
  const [summary, setSummary] = useState<{ message: string; unplaced: FieldError[] } | undefined>()
  const [placed, setPlaced] = useState<{ orderId: string; replayed: boolean } | undefined>()
  const { place, retrying } = usePlaceOrder()
  const formRef = useRef<HTMLFormElement>(null)

  // Stock may arrive after the first render: give empty rows a SKU that has stock.
  useEffect(() => {
    const sku = firstSkuInStock(stock)
    if (sku === '') return
    setRows((current) => (current.some((r) => r.sku === '') ? current.map((r) => (r.sku === '' ? { ...r, sku } : r)) : current))
  }, [stock])

  const skus = stock ? Object.keys(stock).sort() : []
  const id = (key: string) => `${formId}-${key.replace(/\./g, '-')}`
  const errorId = (key: string) => `${id(key)}-error`

  const fieldProps = (key: string) => ({
    id: id(key),
    'aria-invalid': errors[key] ? true : undefined,
    'aria-describedby': errors[key] ? errorId(key) : undefined,
  })

  const fieldError = (key: string) =>
    errors[key] ? (
      <p className="field-error" id={errorId(key)}>
        {errors[key]}
      </p>
    ) : null

  const clearError = (key: string) =>
    setErrors((current) => {
      if (!(key in current)) return current
      const next = { ...current }
      delete next[key]
      return next
    })

  // edit sets a field's value and drops its error: the user is fixing it.
  const edit = (key: string, set: (value: string) => void) => (e: ChangeEvent<HTMLInputElement | HTMLSelectElement>) => {
    set(e.target.value)
    clearError(key)
  }

  const updateRow = (index: number, change: Partial<ItemRow>) => {
    setRows((current) => current.map((r, i) => (i === index ? { ...r, ...change } : r)))
    for (const field of Object.keys(change)) clearError(`items.${index}.${field}`)
    clearError('items')
  }

  const addRow = () => {
    const used = new Set(rows.map((r) => r.sku))
    const sku = skus.find((s) => !used.has(s) && (stock?.[s] ?? 0) > 0) ?? skus.find((s) => !used.has(s)) ?? ''
    setRows((current) => [...current, { key: nextKey.current++, sku, qty: '1' }])
    clearError('items')
  }

  const removeRow = (index: number) => {
    setRows((current) => current.filter((_, i) => i !== index))
    setErrors({})
  }

  const showErrors = (found: Record<string, string>, message: string, unplaced: FieldError[] = []) => {
    setErrors(found)
    setSummary({ message, unplaced })
    const first = Object.keys(found)[0]
    // Move focus to the first field to fix, after React has rendered the messages.
    requestAnimationFrame(() => {
      if (first) document.getElementById(id(first))?.focus()
    })
  }

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault()
    if (submitting) return
    setPlaced(undefined)
    setSummary(undefined)

    // Only what JSON cannot carry is checked here; every business rule is the API's to judge.
    const local: Record<string, string> = {}
    const items: OrderItem[] = rows.map((row, index) => {
      const qty = Number(row.qty)
      if (row.qty.trim() === '' || Number.isNaN(qty)) local[`items.${index}.qty`] = 'Enter a quantity.'
      return { sku: row.sku, qty }
    })
    const totalValue = Number(total)
    if (total.trim() === '' || Number.isNaN(totalValue)) local.total = 'Enter a total.'
    if (Object.keys(local).length > 0) {
      showErrors(local, 'Please fix the highlighted fields.')
      return
    }

    const order = { userId, items, total: totalValue, currency }
    setSubmitting(true)
    try {
      const { orderId, replayed } = await place(order)
      setErrors({})
      setPlaced({ orderId, replayed })
      onPlaced({ ...order, orderId, placedAt: new Date().toISOString(), events: [] })
    } catch (err) {
      if (err instanceof DOMException && err.name === 'AbortError') return
      if (!(err instanceof ApiError)) throw err
      const found: Record<string, string> = {}
      const unplaced: FieldError[] = []
      for (const f of err.fields) {
        const key = controlKey(f.field, rows.length)
        if (key && !found[key]) found[key] = f.message
        else if (!key) unplaced.push(f)
      }
      const mayBeRecorded = err.kind !== 'rejected' || err.status === 409
      showErrors(
        found,
        mayBeRecorded
          ? `${err.message} Place order again when ready: it is sent with the same Idempotency-Key, so it cannot become a second order.`
          : err.message,
        unplaced,
      )
    } finally {
      setSubmitting(false)
    }
  }

  const totalNumber = Number(total)

  return (
    <form ref={formRef} className="order-form" onSubmit={submit} noValidate aria-label="Place an order">
      {summary && (
        <div className="alert alert-error" role="alert">
          <p>{summary.message}</p>
          {summary.unplaced.length > 0 && (
            <ul>
              {summary.unplaced.map((f) => (
                <li key={f.field}>
                  <code>{f.field}</code>: {f.message}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}

      <div className="field">
        <label htmlFor={id('userId')}>User id</label>
        <input
          {...fieldProps('userId')}
          name="userId"
          autoComplete="off"
          value={userId}
          onChange={edit('userId', onUserIdChange)}
        />
        {fieldError('userId')}
      </div>

      <fieldset className="items" id={id('items')} tabIndex={-1} aria-describedby={errors.items ? errorId('items') : undefined}>
        <legend>Items</legend>
        {rows.map((row, index) => (
          <div className="item-row" key={row.key}>
            <div className="field">
              <label htmlFor={id(`items.${index}.sku`)}>SKU {rows.length > 1 ? index + 1 : ''}</label>
              {stock ? (
                <select
                  {...fieldProps(`items.${index}.sku`)}
                  value={row.sku}
                  onChange={(e) => updateRow(index, { sku: e.target.value })}
                >
                  {row.sku !== '' && !skus.includes(row.sku) && <option value={row.sku}>{row.sku}</option>}
                  {skus.length === 0 && <option value="">No SKUs in stock</option>}
                  {skus.map((sku) => (
                    <option key={sku} value={sku}>
                      {sku} — {stock[sku] > 0 ? `${stock[sku]} in stock` : 'out of stock'}
                    </option>
                  ))}
                </select>
              ) : (
                <input
                  {...fieldProps(`items.${index}.sku`)}
                  value={row.sku}
                  placeholder="e.g. SKU-1"
                  onChange={(e) => updateRow(index, { sku: e.target.value })}
                />
              )}
              {fieldError(`items.${index}.sku`)}
            </div>
            <div className="field field-qty">
              <label htmlFor={id(`items.${index}.qty`)}>Quantity</label>
              <input
                {...fieldProps(`items.${index}.qty`)}
                type="number"
                inputMode="numeric"
                min={1}
                step={1}
                value={row.qty}
                onChange={(e) => updateRow(index, { qty: e.target.value })}
              />
              {fieldError(`items.${index}.qty`)}
            </div>
            {rows.length > 1 && (
              <button
                type="button"
                className="button-quiet remove-item"
                onClick={() => removeRow(index)}
                aria-label={`Remove item ${index + 1}`}
              >
                Remove
              </button>
            )}
          </div>
        ))}
        {fieldError('items')}
        <button type="button" className="button-quiet" onClick={addRow}>
          + Add item
        </button>
      </fieldset>

      <div className="field-pair">
        <div className="field">
          <label htmlFor={id('total')}>Total</label>
          <input
            {...fieldProps('total')}
            type="number"
            inputMode="decimal"
            min={0}
            step="0.01"
            value={total}
            onChange={edit('total', setTotal)}
          />
          {fieldError('total')}
        </div>
        <div className="field">
          <label htmlFor={id('currency')}>Currency</label>
          <select
            {...fieldProps('currency')}
            value={currency}
            onChange={edit('currency', setCurrency)}
          >
            {CURRENCIES.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
          {fieldError('currency')}
        </div>
      </div>
      <p className="hint">
        Payment rule: a total above {PAYMENT_LIMIT} is declined, so the order ends <strong>FAILED</strong> and its
        reserved stock is put back{totalNumber > PAYMENT_LIMIT ? ' — this one will be.' : '.'}
      </p>

      <div className="form-actions">
        <button type="submit" className="button-primary" disabled={submitting}>
          {submitting ? 'Placing…' : 'Place order'}
        </button>
        <p className="placed" role="status">
          {retrying && <span className="retrying">{retryText(retrying)}</span>}
          {placed && (
            <>
              Order accepted: <code data-testid="placed-order-id">{placed.orderId}</code>
              {placed.replayed && (
                <span className="muted"> (answered from an earlier try with the same Idempotency-Key: one order, not two)</span>
              )}
            </>
          )}
        </p>
      </div>
    </form>
  )
}
