import { useCallback, useState } from 'react'
import type { FlowRecord } from './api'
import { services, type Service } from './config'
import { ConsumersPanel } from './components/ConsumersPanel'
import { EventFlow } from './components/EventFlow'
import { MyOrders } from './components/MyOrders'
import { OrderForm } from './components/OrderForm'
import { OrderTimeline } from './components/OrderTimeline'
import { ServiceBanner } from './components/ServiceBanner'
import { StockPanel } from './components/StockPanel'
import { TryThis } from './components/TryThis'
import { NO_FLOW_FILTER, type FlowFilter } from './flowFilter'
import { useConsumers } from './hooks/useConsumers'
import { useFlow } from './hooks/useFlow'
import { useMyOrders } from './hooks/useMyOrders'
import { useServiceHealth } from './hooks/useServiceHealth'
import { useStock } from './hooks/useStock'
import { loadUserId, saveUserId, type PlacedOrder } from './myOrders'

export function App() {
  const [userId, setUserId] = useState(loadUserId)
  const [selectedId, setSelectedId] = useState<string | undefined>()
  const [flowFilter, setFlowFilter] = useState<FlowFilter>(NO_FLOW_FILTER)
  const { orders, addOrder, clearOrders, streamStates } = useMyOrders(selectedId)
  const stock = useStock()
  const alive = useServiceHealth()
  const consumers = useConsumers()

  const { refresh: refreshStock } = stock
  const onRecord = useCallback(
    (record: FlowRecord) => {
      if (record.topic === 'inventory.updated') refreshStock()
    },
    [refreshStock],
  )
  const flow = useFlow(undefined, true, onRecord)

  const changeUserId = (next: string) => {
    setUserId(next)
    saveUserId(next)
  }
  const placed = (order: PlacedOrder) => {
    addOrder(order)
    setSelectedId(order.orderId)
  }
  const showFlow = (filter: FlowFilter) => {
    setFlowFilter(filter)
    document.getElementById('flow')?.scrollIntoView?.({ behavior: 'smooth', block: 'start' })
  }
  const showFlowFor = (orderId: string) => showFlow({ ...NO_FLOW_FILTER, text: orderId })
  const showDeadLetters = (topic: string) => showFlow({ ...NO_FLOW_FILTER, topic })
  const showKey = (key: string) => showFlow({ ...NO_FLOW_FILTER, text: key })

  const down: Service[] = Object.values(services).filter(
    (s) => alive[s.name] === false || (s.name === 'stock' && stock.error?.kind === 'unreachable'),
  )
  const selected = orders.find((o) => o.orderId === (selectedId ?? orders[0]?.orderId))

  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="site-header">
        <div className="wrap">
          <h1>Kafka Microservice Kit</h1>
          <p className="tagline">
            Place an order and watch the saga: orders-api → <code>orders.created</code> → stock-service reserves the
            stock → <code>stock.reservations</code> → orders-processor pays → <code>orders.status</code> →
            notifications-api → this page. stock-service reports every stock change on <code>inventory.updated</code> and
            puts the stock back when a payment is declined.
          </p>
        </div>
      </header>
      <main id="main" className="wrap">
        <ServiceBanner down={down} />
        {stock.error && stock.error.kind !== 'unreachable' && (
          <div className="banner" role="alert">
            <p>Stock service: {stock.error.message}</p>
          </div>
        )}
        <TryThis
          stock={stock.stock}
          userId={userId}
          onPlaced={placed}
          onShowDeadLetters={showDeadLetters}
          onShowKey={showKey}
        />
        <div className="columns">
          <div className="column">
            <section className="panel area-order" aria-labelledby="order-heading">
              <h2 id="order-heading">Place an order</h2>
              <OrderForm stock={stock.stock} userId={userId} onUserIdChange={changeUserId} onPlaced={placed} />
            </section>
            <section className="panel area-orders" aria-labelledby="orders-heading">
              <h2 id="orders-heading">My orders</h2>
              <MyOrders
                orders={orders}
                selectedId={selected?.orderId}
                onSelect={setSelectedId}
                onShowFlow={showFlowFor}
                onClear={() => {
                  clearOrders()
                  setSelectedId(undefined)
                }}
              />
            </section>
          </div>
          <div className="column">
            <section className="panel area-timeline" aria-labelledby="timeline-heading">
              <h2 id="timeline-heading">Order timeline</h2>
              <OrderTimeline order={selected} streamState={selected ? streamStates[selected.orderId] : undefined} />
            </section>
            <section className="panel area-stock" aria-labelledby="stock-heading">
              <h2 id="stock-heading">Stock</h2>
              <StockPanel
                stock={stock.stock}
                loadedAt={stock.loadedAt}
                unreachable={down.some((s) => s.name === 'stock')}
                onRestocked={refreshStock}
              />
            </section>
          </div>
        </div>
        <section className="panel area-consumers" id="consumers" aria-labelledby="consumers-heading">
          <h2 id="consumers-heading">Consumers</h2>
          <ConsumersPanel snapshot={consumers.snapshot} unavailable={consumers.unavailable} rebalancedAt={consumers.rebalancedAt} />
        </section>
        <section className="panel area-flow" id="flow" aria-labelledby="flow-heading">
          <h2 id="flow-heading">Event flow</h2>
          <EventFlow records={flow.records} state={flow.state} filter={flowFilter} onFilterChange={setFlowFilter} />
        </section>
      </main>
      <footer className="site-footer wrap">
        <p className="muted small">
          Orders API {services.orders.url} · Notifications API {services.notifications.url} · Stock service{' '}
          {services.stock.url}
        </p>
      </footer>
    </>
  )
}
