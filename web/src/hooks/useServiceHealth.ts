import { useEffect, useState } from 'react'
import { isAlive } from '../api'
import { services, type ServiceName } from '../config'

export const HEALTH_POLL_MS = 5_000

/** useServiceHealth polls each service's /healthz; undefined means "not asked yet". */
export function useServiceHealth(pollMs = HEALTH_POLL_MS) {
  const [alive, setAlive] = useState<Partial<Record<ServiceName, boolean>>>({})

  useEffect(() => {
    const controller = new AbortController()
    const check = () => {
      for (const service of Object.values(services)) {
        void isAlive(service, controller.signal).then((ok) => {
          if (controller.signal.aborted) return
          setAlive((current) => (current[service.name] === ok ? current : { ...current, [service.name]: ok }))
        })
      }
    }
    check()
    const timer = setInterval(check, pollMs)
    return () => {
      clearInterval(timer)
      controller.abort()
    }
  }, [pollMs])

  return alive
}
