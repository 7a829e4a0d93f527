import '@testing-library/jest-dom/vitest'
import { cleanup, configure } from '@testing-library/react'
import { afterEach } from 'vitest'

// Deadlines, not delays: a condition met at once returns at once. They are generous because
// CI shares two cores with brokers and services, where a render can take a second.
configure({ asyncUtilTimeout: 5_000 })

afterEach(() => {
  cleanup()
  localStorage.clear()
})
