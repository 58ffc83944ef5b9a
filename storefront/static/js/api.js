// How a frontend talks to the paysaga API.
//
// - Every call but the plan list carries `Authorization: Bearer <JWT>`; the token's `sub` is the
//   user id, and a user may only read and change their own checkouts and subscription.
// - Errors always come back as JSON `{"error": "<code>", "message": "<text>"}` with a fitting
//   HTTP status; `request()` turns them into an ApiError the page can show.
// - The page is served by the API itself, so plain relative URLs work (no CORS needed).

const SESSION_KEY = "paysaga.session";   // {userId, token}
const CHECKOUT_KEY = "paysaga.checkout"; // the last checkout started in this tab

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status; // 0: the API could not be reached
    this.code = code;
  }
}

// sessionStorage: it survives the trip through MercadoPago's page and back in this tab,
// and is gone when the tab closes (a demo token should not outlive the demo).
function stored(key) {
  return {
    get() {
      try {
        return JSON.parse(sessionStorage.getItem(key));
      } catch {
        return null;
      }
    },
    set(value) {
      sessionStorage.setItem(key, JSON.stringify(value));
    },
    clear() {
      sessionStorage.removeItem(key);
    },
  };
}

export const session = stored(SESSION_KEY);
export const lastCheckout = stored(CHECKOUT_KEY);

export function signOut() {
  session.clear();
  lastCheckout.clear();
}

// One Idempotency-Key per click on "Subscribe": if that request is sent again (network hiccup,
// 503) the API answers with the same checkout instead of creating a second one.
export function newIdempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID(); // only in secure contexts (https, localhost)
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function request(method, path, { body, headers = {}, auth = true } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers } };
  if (auth) {
    const current = session.get();
    if (!current) throw new ApiError(401, "signed_out", "Choose a demo user first.");
    init.headers.Authorization = `Bearer ${current.token}`;
  }
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    report(method, path, 0);
    throw new ApiError(0, "network_error", "The API cannot be reached. Is the stack running?");
  }
  report(method, path, response.status);
  const payload = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status, payload?.error ?? "http_error", payload?.message ?? response.statusText);
  }
  return payload;
}

// Pages may listen to `paysaga:api-call` to show what the frontend sent (see the API log panel).
function report(method, path, status) {
  window.dispatchEvent(new CustomEvent("paysaga:api-call", { detail: { method, path, status, at: new Date() } }));
}

const retryable = (error) => error.status === 0 || error.status === 503;

// The endpoints this page uses, one function each.
export const api = {
  // Development only: a demo token for any user (absent in production, where the identity
  // provider issues tokens).
  devToken: (userId) => request("POST", "/api/dev/token", { body: { userId }, auth: false }),

  plans: () => request("GET", "/api/plans", { auth: false }),

  // → {checkoutId, preferenceId, initPoint, sandboxInitPoint, externalReference, createdAt}
  async startCheckout(userId, planId, idempotencyKey) {
    const send = () =>
      request("POST", "/api/payments/checkout", {
        body: { userId, planId },
        headers: { "Idempotency-Key": idempotencyKey },
      });
    try {
      return await send();
    } catch (error) {
      if (!retryable(error)) throw error;
      // the same key again: at most one checkout comes out of this click
      await new Promise((resolve) => setTimeout(resolve, 1000));
      return send();
    }
  },

  // → {checkoutId, status, externalReference, paymentId?}
  checkout: (checkoutId) => request("GET", `/api/checkouts/${encodeURIComponent(checkoutId)}`),

  // → the user's subscription, or null when they have none yet (404 subscription_not_found)
  async subscription(userId) {
    try {
      return await request("GET", `/api/subscriptions/user/${userId}`);
    } catch (error) {
      if (error.status === 404) return null;
      throw error;
    }
  },

  // → {subscriptionId, status: "CANCELLED", message}
  cancelSubscription: (subscriptionId) => request("POST", `/api/subscriptions/${subscriptionId}/cancel`),
};
