import type { Service } from '../config'

/** ServiceBanner names every service the page cannot reach, so nothing fails silently. */
export function ServiceBanner({ down }: { down: Service[] }) {
  if (down.length === 0) return null
  return (
    <div className="banner" role="alert">
      {down.map((service) => (
        <p key={service.name}>
          {service.label} unreachable at <code>{service.url}</code> — is <code>make up</code> running?
        </p>
      ))}
    </div>
  )
}
