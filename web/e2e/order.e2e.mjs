// order.e2e.mjs — the page's browser test: place an order through the form and watch it
// become PAID, the stock drop and the records flow. Runs with node's test runner:
//
//   npm run test:e2e                              # against a running stack (`kit up` / `make up`)
//   npm run build && E2E_FAKE=1 npm run test:e2e  # against e2e/fake-backend.mjs (dev aid only)
//
// Env: E2E_BASE_URL (page, default http://localhost:5173), E2E_STOCK_URL (default
// http://localhost:8084, used to seed a unique SKU), CHROMIUM_PATH (default /usr/bin/chromium),
// E2E_TIMEOUT_MS (per wait, default 20000).
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const BASE_URL = process.env.E2E_BASE_URL ?? 'http://localhost:5173'
const STOCK_URL = (process.env.E2E_STOCK_URL ?? 'http://localhost:8084').replace(/\/+$/, '')
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const TIMEOUT = Number(process.env.E2E_TIMEOUT_MS ?? 20_000)
const SCREENSHOT = fileURLToPath(new URL('./screenshot.png', import.meta.url))
const FAKE = process.env.E2E_FAKE === '1'

let fake
let browser
let page
const consoleErrors = []

before(async () => {
  if (FAKE) {
    const { startFakeBackend } = await import('./fake-backend.mjs')
    fake = await startFakeBackend({ distDir: fileURLToPath(new URL('../dist', import.meta.url)) })
  }
  // playwright gives every launch a fresh temporary profile (--user-data-dir).
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  page.setDefaultTimeout(TIMEOUT)
  page.on('console', (msg) => {
    if (msg.type() === 'error') consoleErrors.push(`console.error: ${msg.text()}`)
  })
  page.on('pageerror', (err) => consoleErrors.push(`uncaught: ${err.message}`))
})

after(async () => {
  await browser?.close()
  await fake?.close()
})

/** seedUniqueSku gives the test a SKU no other test touches; it falls back to any SKU in stock. */
async function seedUniqueSku() {
  const sku = `E2E-${Date.now().toString(36).toUpperCase()}`
  try {
    const response = await fetch(`${STOCK_URL}/seed`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ [sku]: 10 }),
    })
    if (response.ok) return { sku, quantity: 10 }
  } catch {
    // fall through: use what the stack already has
  }
  const stock = await (await fetch(`${STOCK_URL}/stock`)).json()
  const [found, quantity] = Object.entries(stock).find(([, qty]) => qty >= 2) ?? []
  assert.ok(found, `no SKU with stock at ${STOCK_URL}/stock: ${JSON.stringify(stock)}`)
  return { sku: found, quantity }
}

test('an order placed in the page is PAID, takes stock and shows its records', async () => {
  const { sku, quantity } = await seedUniqueSku()
  const qty = 2

  await page.goto(BASE_URL)
  await page.getByRole('heading', { name: 'Kafka Microservice Kit' }).waitFor()
  const stockCell = page.getByTestId(`stock-${sku}`)
  await stockCell.waitFor()
  assert.equal(Number(await stockCell.textContent()), quantity, 'stock before the order')

  const form = page.getByRole('form', { name: 'Place an order' })
  await form.getByLabel('SKU').selectOption(sku)
  await form.getByLabel('Quantity').fill(String(qty))
  await form.getByLabel('Total').fill('42.50')
  await form.getByLabel('Currency').selectOption('EUR')
  await form.getByRole('button', { name: 'Place order' }).click()

  const orderId = (await page.getByTestId('placed-order-id').textContent())?.trim()
  assert.match(orderId ?? '', /^[0-9a-f-]{36}$/i, 'the page shows the new orderId')

  const timeline = page.locator(`.timeline[data-order-id="${orderId}"]`)
  await timeline.locator('[data-step="PAID"].step-done').waitFor()
  for (const status of ['CREATED', 'PROCESSING']) {
    assert.equal(await timeline.locator(`[data-step="${status}"].step-done`).count(), 1, `${status} in the timeline`)
  }
  await page.locator(`.my-orders li[data-order-id="${orderId}"] .badge-paid`).waitFor()

  await page.waitForFunction(
    ([selector, want]) => Number(document.querySelector(selector)?.textContent) === want,
    [`[data-testid="stock-${sku}"]`, quantity - qty],
    { timeout: TIMEOUT },
  )

  const records = page.locator('.records .record')
  for (const topic of ['orders.created', 'orders.status', 'inventory.updated']) {
    await page.locator(`.records .record[data-topic="${topic}"]`).filter({ hasText: orderId }).first().waitFor()
  }
  assert.ok((await records.count()) >= 5, 'the event flow lists the records')

  await page.screenshot({ path: SCREENSHOT, fullPage: true })

  await page.getByLabel('Filter by orderId').fill(orderId)
  await page.waitForFunction(
    (id) => {
      const shown = [...document.querySelectorAll('.records .record')]
      return shown.length >= 5 && shown.every((r) => r.textContent.includes(id))
    },
    orderId,
    { timeout: TIMEOUT },
  )
  await page.getByLabel('Filter by orderId').fill('')

  assert.deepEqual(consoleErrors, [], 'no errors in the browser console')
})

test('a rejected order shows the reason next to the field', async () => {
  const form = page.getByRole('form', { name: 'Place an order' })
  await form.getByLabel('Quantity').fill('0')
  await form.getByRole('button', { name: 'Place order' }).click()
  const qty = form.getByLabel('Quantity')
  await page.waitForFunction(() => document.querySelector('input[type=number][aria-invalid=true]') !== null, null, { timeout: TIMEOUT })
  const describedBy = await qty.getAttribute('aria-describedby')
  assert.ok(describedBy, 'the quantity field points at its error')
  const message = await page.locator(`[id="${describedBy}"]`).textContent()
  assert.ok(message && message.length > 0, 'the API reason is shown next to the quantity')
  // A 422 logs "Failed to load resource" in Chrome; it is the expected answer here.
  const unexpected = consoleErrors.filter((e) => !/status of 422/.test(e))
  assert.deepEqual(unexpected, [], 'no unexpected errors in the browser console')
})
