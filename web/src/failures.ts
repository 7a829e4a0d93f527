// The two ways the saga fails an order. orders.status says which in failureKind
// (services/events.FailureKind); statuses written before that field existed say it only in
// the first words of their reason, so the page reads those words for them alone.
import type { FAILURE_KINDS, StatusEvent } from './api'

/** FailureKind is why an order ended FAILED, as the page names it. */
export type FailureKind = 'out-of-stock' | 'payment-declined' | 'other'

/** reasonPrefixes are the first words of each kind's reason, as orders-processor writes them. */
const reasonPrefixes: Record<Exclude<FailureKind, 'other'>, string> = {
  'out-of-stock': 'out of stock:',
  'payment-declined': 'payment declined:',
}

/** byContractKind names each of the contract's failure kinds: a kind added to FAILURE_KINDS must be named here. */
const byContractKind: Record<(typeof FAILURE_KINDS)[number], FailureKind> = {
  OUT_OF_STOCK: 'out-of-stock',
  PAYMENT_DECLINED: 'payment-declined',
}

/**
 * failureKind is why a FAILED status failed: its failureKind (OUT_OF_STOCK, PAYMENT_DECLINED),
 * 'other' for a kind this page does not know or a failure of neither kind; only a status
 * without one (written before the field existed) is read by its reason's first words.
 */
export function failureKind(status: Pick<StatusEvent, 'reason' | 'failureKind'> | undefined): FailureKind {
  const kind = status?.failureKind
  if (kind === undefined) return kindFromReason(status?.reason)
  return Object.hasOwn(byContractKind, kind) ? byContractKind[kind as keyof typeof byContractKind] : 'other'
}

/** kindFromReason reads an older FAILED status's reason: "out of stock: …" or "payment declined: …". */
function kindFromReason(reason: string | undefined): FailureKind {
  const text = (reason ?? '').trimStart().toLowerCase()
  if (text.startsWith(reasonPrefixes['out-of-stock'])) return 'out-of-stock'
  if (text.startsWith(reasonPrefixes['payment-declined'])) return 'payment-declined'
  return 'other'
}

/** failureTitle is the plain words the page uses for a failure kind. */
export function failureTitle(kind: FailureKind): string {
  switch (kind) {
    case 'out-of-stock':
      return 'Out of stock'
    case 'payment-declined':
      return 'Payment declined — stock returned'
    case 'other':
      return 'Failed'
  }
}

/** failureExplanation says what the saga did, for a learner. */
export function failureExplanation(kind: FailureKind): string {
  switch (kind) {
    case 'out-of-stock':
      return 'stock-service could not reserve every item, so nothing was taken and no payment was tried'
    case 'payment-declined':
      return 'stock was reserved, the payment was declined, and stock-service put the stock back (inventory.updated with a positive delta)'
    case 'other':
      return 'the order could not be completed'
  }
}

/**
 * failureDetail is the reason without the words its kind's title already says
 * ("BOOK-1 has 1, asked 2"); a reason that does not start with them is shown whole.
 */
export function failureDetail(status: Pick<StatusEvent, 'reason' | 'failureKind'> | undefined): string {
  const text = (status?.reason ?? '').trim()
  const kind = failureKind(status)
  if (kind === 'other') return text
  const prefix = reasonPrefixes[kind]
  return text.toLowerCase().startsWith(prefix) ? text.slice(prefix.length).trim() : text
}
