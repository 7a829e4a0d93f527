/// <reference types="vite/client" />

interface ImportMetaEnv {
  readonly VITE_ORDERS_URL?: string
  readonly VITE_NOTIFICATIONS_URL?: string
  readonly VITE_STOCK_URL?: string
}

interface ImportMeta {
  readonly env: ImportMetaEnv
}
