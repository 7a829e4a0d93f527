import { useId, useState, type FormEvent } from 'react'
import { ApiError, seedStock, type Stock } from '../api'

interface Props {
  stock: Stock | undefined
  onRestocked: () => void
}

export const DEFAULT_RESTOCK_QTY = '20'

/** restockErrorMessage says plainly why POST /seed did not work. */
export function restockErrorMessage(err: ApiError): string {
  if (err.status === 401 || err.status === 403) {
    return (
      `Restocking is an admin action and stock-service refused it (${err.status}): it allows it only from its own ` +
      'machine (loopback) or with ADMIN_TOKEN. Open the page on the machine that runs the kit, or seed with curl there.'
    )
  }
  const fields = err.fields.map((f) => (f.field ? `${f.field}: ${f.message}` : f.message))
  return fields.length > 0 ? `${err.message} — ${fields.join('; ')}` : err.message
}

function lowestSku(stock: Stock | undefined): string {
  if (!stock) return ''
  const skus = Object.keys(stock).sort()
  return skus.reduce((low, sku) => (low === '' || stock[sku] < stock[low] ? sku : low), '')
}

/** RestockForm sets a SKU's quantity on hand through POST /seed, a new SKU included. */
export function RestockForm({ stock, onRestocked }: Props) {
  const formId = useId()
  const [sku, setSku] = useState<string | undefined>()
  const [qty, setQty] = useState(DEFAULT_RESTOCK_QTY)
  const [busy, setBusy] = useState(false)
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | undefined>()
  const shownSku = sku ?? lowestSku(stock)

  const submit = async (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault()
    const name = shownSku.trim()
    const quantity = Number(qty)
    if (name === '') return setMessage({ kind: 'error', text: 'Enter a SKU.' })
    if (qty.trim() === '' || !Number.isInteger(quantity) || quantity < 0) {
      return setMessage({ kind: 'error', text: 'Enter a whole number of 0 or more.' })
    }
    setBusy(true)
    setMessage(undefined)
    try {
      await seedStock({ [name]: quantity })
      setMessage({ kind: 'ok', text: `${name} now has ${quantity} on hand.` })
      onRestocked()
    } catch (err) {
      if (!(err instanceof ApiError)) throw err
      setMessage({ kind: 'error', text: restockErrorMessage(err) })
    } finally {
      setBusy(false)
    }
  }

  return (
    <form className="restock" onSubmit={submit} noValidate aria-label="Restock">
      <div className="field">
        <label htmlFor={`${formId}-sku`}>SKU to restock</label>
        <input
          id={`${formId}-sku`}
          list={`${formId}-skus`}
          autoComplete="off"
          value={shownSku}
          placeholder="e.g. BOOK-1"
          onChange={(e) => setSku(e.target.value)}
        />
        <datalist id={`${formId}-skus`}>
          {Object.keys(stock ?? {})
            .sort()
            .map((s) => (
              <option key={s} value={s} />
            ))}
        </datalist>
      </div>
      <div className="field field-qty">
        <label htmlFor={`${formId}-qty`}>On hand</label>
        <input
          id={`${formId}-qty`}
          type="number"
          inputMode="numeric"
          min={0}
          step={1}
          value={qty}
          onChange={(e) => setQty(e.target.value)}
        />
      </div>
      <button type="submit" className="button-quiet" disabled={busy}>
        {busy ? 'Restocking…' : 'Restock'}
      </button>
      <p className={message?.kind === 'error' ? 'restock-message field-error' : 'restock-message muted small'} role="status">
        {message?.text}
      </p>
    </form>
  )
}
