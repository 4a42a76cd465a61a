// Every PostgREST route Reactor serves under /rest/v1.
export { DataGateway, layer } from "./DataGateway.ts"
export { restRoutes } from "./rest.ts"
