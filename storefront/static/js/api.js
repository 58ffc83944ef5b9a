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
  constructor(status, code, message, retryAfter = null) {
    super(message);
    this.status = status; // 0: the API could not be reached
    this.code = code;
    this.retryAfter = retryAfter; // seconds the API asked us to wait (its Retry-After), or null
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
    throw new ApiError(response.status, payload?.error ?? "http_error", payload?.message ?? response.statusText,
      retryAfterSeconds(response.headers.get("Retry-After")));
  }
  return payload;
}

// Retry-After is either a number of seconds or an HTTP date; null when absent or unreadable.
function retryAfterSeconds(header) {
  if (!header) return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

// Pages may listen to `paysaga:api-call` to show what the frontend sent (see the API log panel).
function report(method, path, status) {
  window.dispatchEvent(new CustomEvent("paysaga:api-call", { detail: { method, path, status, at: new Date() } }));
}

// A checkout call is tried at most this many times for one click, waiting what the API asks
// (Retry-After) between tries, but never longer than MAX_WAIT_SECONDS at a time.
export const CHECKOUT_TRIES = 5;
const MAX_WAIT_SECONDS = 10;
const NETWORK_WAIT_SECONDS = 1; // the API could not be reached: it sent no Retry-After
const RETRY_JITTER_SECONDS = 0.5;

// 503 checkout_busy: the API has more checkouts in flight than it serves at once, or this one's
// preference was not ready in time; it says when to come back (Retry-After). Any other 503 that
// says when to come back, and a request that got no answer at all, are tried again the same way.
function waitBeforeRetry(error) {
  if (error.status === 0) return NETWORK_WAIT_SECONDS;
  if (error.status !== 503) return null; // a real answer (401, 404, 409…): trying again changes nothing
  if (error.code === "checkout_busy" || error.retryAfter != null) {
    return Math.min(MAX_WAIT_SECONDS, Math.max(1, error.retryAfter ?? 1));
  }
  return null;
}

const sleep = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

// The endpoints this page uses, one function each.
export const api = {
  // Development only: a demo token for any user (absent in production, where the identity
  // provider issues tokens).
  devToken: (userId) => request("POST", "/api/dev/token", { body: { userId }, auth: false }),

  plans: () => request("GET", "/api/plans", { auth: false }),

  // → {checkoutId, preferenceId, initPoint, sandboxInitPoint, externalReference, createdAt}
  // The same Idempotency-Key on every try: the API answers a retried checkout with the same
  // checkout and preference, so at most one checkout comes out of this click. `onRetry({try,
  // tries, seconds, error})` is called before each wait, for the page to say what is happening.
  async startCheckout(userId, planId, idempotencyKey, { onRetry = () => {} } = {}) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await request("POST", "/api/payments/checkout", {
          body: { userId, planId },
          headers: { "Idempotency-Key": idempotencyKey },
        });
      } catch (error) {
        const seconds = waitBeforeRetry(error);
        if (seconds === null) throw error;
        if (attempt >= CHECKOUT_TRIES) {
          const why = error.status === 0 ? "the API could not be reached" : "the checkout service is still busy";
          throw new ApiError(error.status, error.code,
            `${why} after ${CHECKOUT_TRIES} tries; please try again in a minute (last answer: ${error.message})`,
            error.retryAfter);
        }
        onRetry({ try: attempt + 1, tries: CHECKOUT_TRIES, seconds, error });
        // a moment more, at random: buyers refused together should not all come back together
        await sleep(seconds + Math.random() * RETRY_JITTER_SECONDS);
      }
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
