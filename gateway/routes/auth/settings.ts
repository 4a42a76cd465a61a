// GET /auth/v1/settings: which sign-in methods this Reactor offers, in GoTrue's shape.
import { Effect } from "effect"
import { json } from "../../http/HttpResponse.ts"
import { AuthGateway } from "./AuthGateway.ts"
import { gotrueRoute } from "./request.ts"

const providers = [
  "apple",
  "azure",
  "bitbucket",
  "discord",
  "facebook",
  "snapchat",
  "figma",
  "fly",
  "github",
  "gitlab",
  "google",
  "keycloak",
  "kakao",
  "linkedin",
  "linkedin_oidc",
  "notion",
  "spotify",
  "slack",
  "slack_oidc",
  "workos",
  "twitch",
  "twitter",
  "phone",
  "zoom",
]

export const settings = gotrueRoute({
  method: "get",
  path: "/auth/v1/settings",
  body: "none",
  handle: Effect.fnUntraced(function* () {
    const { settings } = yield* AuthGateway
    return json(200, {
      external: {
        ...Object.fromEntries(providers.map((p) => [p, false])),
        anonymous_users: settings.anonymousSignIns,
        email: true,
      },
      disable_signup: settings.disableSignup,
      mailer_autoconfirm: settings.autoconfirm,
      phone_autoconfirm: false,
      sms_provider: "",
      saml_enabled: false,
      saml_private_key_next_configured: false,
      passkeys_enabled: false,
    })
  }),
})
