// Reactor's own admin surface under /_admin (present only when admin.token is set).
import { echo } from "./echo.ts"

export const adminRoutes = (timeout: number) => [echo(timeout)]

export { AdminGate, layer } from "./AdminGate.ts"
