// The storefront's main page: choose a demo user, list the plans, start a checkout and hand the
// buyer to MercadoPago (Checkout Pro). MercadoPago sends them back to return.html.

import { api, lastCheckout, newIdempotencyKey, session, signOut } from "./api.js";
import { mountLiveStatus } from "./live.js";
import { $, el, formatCycle, formatMoney, mountApiLog, notify, renderWho } from "./ui.js";

const DEMO_USERS = [
  { id: 1, name: "Ana" },
  { id: 2, name: "Bruno" },
  { id: 3, name: "Carla" },
];

mountApiLog($("#api-log"));
// GET /api/plans needs no token: the catalogue is public
const plans = api.plans();

if (session.get()) showShop();
else showSignIn();

function showSignIn() {
  $("#sign-in-panel").hidden = false;
  $("#demo-users").replaceChildren(...DEMO_USERS.map((user) =>
    el("button", { type: "button", class: "chip", dataset: { userId: user.id } },
      el("strong", {}, user.name), ` #${user.id}`)));
  $("#demo-users").addEventListener("click", (event) => {
    const chip = event.target.closest("[data-user-id]");
    if (!chip) return;
    $("#user-id").value = chip.dataset.userId;
    $("#sign-in-form").requestSubmit();
  });
  $("#sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const userId = Number($("#user-id").value);
    const button = $("#sign-in");
    button.disabled = true;
    try {
      // POST /api/dev/token → {token}: stands in for the identity provider's login
      const { token } = await api.devToken(userId);
      signOut(); // a new user starts with no checkout of the previous one
      session.set({ userId, token });
      showShop();
    } catch (error) {
      notify($("#sign-in-notice"), error.message, "error");
    } finally {
      button.disabled = false;
    }
  });
}

async function showShop() {
  const { userId } = session.get();
  $("#sign-in-panel").hidden = true;
  $("#shop").hidden = false;
  renderWho();
  mountLiveStatus($("#live-status"), { userId, plans });
  try {
    $("#plans").replaceChildren(...(await plans).map((plan) => planCard(plan, userId)));
  } catch (error) {
    notify($("#shop-notice"), `The plans could not be loaded: ${error.message}`, "error");
  }
}

function planCard(plan, userId) {
  const button = el("button", { type: "button", class: "button primary subscribe", id: `subscribe-${plan.id}` },
    "Subscribe");
  button.addEventListener("click", () => subscribe(plan, userId, button));
  return el("article", { class: "card plan", dataset: { planId: plan.id } },
    el("span", { class: "plan-code" }, plan.code),
    el("h3", {}, plan.name),
    el("p", { class: "price" }, formatMoney(plan.price, plan.currency)),
    el("p", { class: "cycle muted" }, formatCycle(plan.billingCycle)),
    button);
}

async function subscribe(plan, userId, button) {
  // every "Subscribe" button goes quiet while one checkout is being created
  const buttons = document.querySelectorAll(".subscribe");
  buttons.forEach((b) => (b.disabled = true));
  button.textContent = "Opening MercadoPago…";
  try {
    // POST /api/payments/checkout → {checkoutId, initPoint, externalReference, …}; the
    // Idempotency-Key is new for this click and reused if this click's request is re-sent
    // the same key on every retry of this click; a busy API says how long to wait (Retry-After)
    const checkout = await api.startCheckout(userId, plan.id, newIdempotencyKey(), {
      onRetry: ({ try: next, tries, seconds }) => {
        button.textContent = "Busy, retrying…";
        notify($("#shop-notice"),
          `Busy, retrying in ${seconds} s… (try ${next} of ${tries}, same checkout)`, "info");
      },
    });
    notify($("#shop-notice"), "");
    // remember it: the return page (and this one, later) watch it by checkoutId
    lastCheckout.set({
      checkoutId: checkout.checkoutId,
      initPoint: checkout.initPoint,
      externalReference: checkout.externalReference,
      planId: plan.id,
    });
    // Checkout Pro: the buyer pays on MercadoPago's page, then comes back to our return URL
    window.location.assign(checkout.initPoint);
  } catch (error) {
    notify($("#shop-notice"), `The checkout could not be started: ${error.message}`, "error");
    buttons.forEach((b) => (b.disabled = false));
    button.textContent = "Subscribe";
  }
}
