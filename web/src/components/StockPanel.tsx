import { useEffect, useRef, useState } from 'react'
import type { Stock } from '../api'
import { formatTime } from '../format'
import { RestockForm } from './RestockForm'

interface Props {
  stock: Stock | undefined
  loadedAt: Date | undefined
  unreachable: boolean
  onRestocked: () => void
}

const LOW_STOCK = 3
const FLASH_MS = 1500

/** StockPanel shows the quantity per SKU and briefly marks the ones that just changed. */
export function StockPanel({ stock, loadedAt, unreachable, onRestocked }: Props) {
  const previous = useRef<Stock | undefined>(undefined)
  const [changed, setChanged] = useState<Record<string, 'down' | 'up'>>({})

  useEffect(() => {
    if (!stock) return
    const before = previous.current
    previous.current = stock
    if (!before) return
    const diff: Record<string, 'down' | 'up'> = {}
    for (const [sku, qty] of Object.entries(stock)) {
      if (before[sku] !== undefined && before[sku] !== qty) diff[sku] = qty < before[sku] ? 'down' : 'up'
    }
    if (Object.keys(diff).length === 0) return
    setChanged(diff)
    const timer = setTimeout(() => setChanged({}), FLASH_MS)
    return () => clearTimeout(timer)
  }, [stock])

  if (!stock) {
    return <p className="empty">{unreachable ? 'Stock is unavailable until the stock service answers.' : 'Loading stock…'}</p>
  }
  const skus = Object.keys(stock).sort()
  const restock = <RestockForm stock={stock} onRestocked={onRestocked} />
  if (skus.length === 0) {
    return (
      <>
        <p className="empty">
          No SKUs yet: <code>kit up</code> seeds a few at start. Add one here.
        </p>
        {restock}
      </>
    )
  }
  return (
    <>
      <table className="stock-table">
        <caption className="visually-hidden">Quantity on hand per SKU</caption>
        <thead>
          <tr>
            <th scope="col">SKU</th>
            <th scope="col" className="num">
              On hand
            </th>
          </tr>
        </thead>
        <tbody>
          {skus.map((sku) => (
            <tr key={sku} data-sku={sku} className={changed[sku] ? `flash-${changed[sku]}` : undefined}>
              <th scope="row">{sku}</th>
              <td className={`num${stock[sku] <= LOW_STOCK ? ' low' : ''}`} data-testid={`stock-${sku}`}>
                {stock[sku]}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {loadedAt && (
        <p className="muted small">
          Updated {formatTime(loadedAt.toISOString())}; refreshed on every inventory.updated record.
        </p>
      )}
      {restock}
    </>
  )
}
