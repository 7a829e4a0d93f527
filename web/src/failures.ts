// The two ways the saga fails an order, told apart by the reason's prefix (services' contract).

/** FailureKind is why an order ended FAILED. */
export type FailureKind = 'out-of-stock' | 'payment-declined' | 'other'

/** failureKind reads a FAILED status's reason: "out of stock: …" or "payment declined: …". */
export function failureKind(reason: string | undefined): FailureKind {
  const text = (reason ?? '').trimStart().toLowerCase()
  if (text.startsWith('out of stock:')) return 'out-of-stock'
  if (text.startsWith('payment declined:')) return 'payment-declined'
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

/** failureDetail is the reason without the prefix its kind's title already says ("BOOK-1 has 1, asked 2"). */
export function failureDetail(reason: string | undefined): string {
  const text = (reason ?? '').trim()
  return failureKind(text) === 'other' ? text : text.slice(text.indexOf(':') + 1).trim()
}
