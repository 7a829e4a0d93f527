// Service base URLs, fixed at build time from Vite env variables (see .env.example).

/** BackendName names a service of the kit the page talks to. */
export type BackendName = 'orders' | 'notifications' | 'stock'
/** ServiceName is a backend, or "kit": the server that served this page (`kit up`). */
export type ServiceName = BackendName | 'kit'

/** Service describes one backend: what to call it in messages and where it lives. */
export interface Service {
  name: ServiceName
  label: string
  url: string
}

function baseUrl(value: string | undefined, fallback: string): string {
  const url = value && value.trim() !== '' ? value.trim() : fallback
  return url.replace(/\/+$/, '')
}

export const services: Record<BackendName, Service> = {
  orders: {
    name: 'orders',
    label: 'Orders API',
    url: baseUrl(import.meta.env.VITE_ORDERS_URL, 'http://localhost:8081'),
  },
  notifications: {
    name: 'notifications',
    label: 'Notifications API',
    url: baseUrl(import.meta.env.VITE_NOTIFICATIONS_URL, 'http://localhost:8083'),
  },
  stock: {
    name: 'stock',
    label: 'Stock service',
    url: baseUrl(import.meta.env.VITE_STOCK_URL, 'http://localhost:8084'),
  },
}

/** unreachableMessage is the one wording the page uses for a service it cannot reach. */
export function unreachableMessage(service: Service): string {
  return `${service.label} unreachable at ${service.url} — is "make up" running?`
}

/** pageOrigin is the server the page came from: `kit up` serves its demo routes there. */
export const pageOrigin: Service = {
  name: 'kit',
  label: "The page's server",
  url: typeof window === 'undefined' ? '' : window.location.origin,
}
