// Watching a purchase happen, live.
//
// The browser never hears from MercadoPago about the payment: MercadoPago notifies the backend
// (a signed webhook), a Temporal workflow reads the payment back and applies it, and the read
// model changes. So the frontend polls the two resources that tell the story:
//   GET /api/checkouts/{checkoutId}          AWAITING_PAYMENT → COMPLETED (or REJECTED, …)
//   GET /api/subscriptions/user/{userId}     none → ACTIVE → CANCELLED / EXPIRED
// The query string MercadoPago puts on the return URL is only a hint for the page's wording;
// the API's answer is the truth.

import { api, lastCheckout } from "./api.js";
import { el, formatDate, notify } from "./ui.js";

const CHECKOUT_POLL_MS = 1000;
const SUBSCRIPTION_POLL_MS = 1500;
// once here a checkout never changes again (REJECTED does: the buyer may retry)
const FINAL_CHECKOUT = new Set(["COMPLETED", "EXPIRED", "REFUNDED"]);

const CHECKOUT_TEXT = {
  AWAITING_PAYMENT: "Waiting for MercadoPago to confirm the payment…",
  PAYMENT_PENDING: "MercadoPago holds the payment as pending (for example, a cash voucher not paid yet).",
  COMPLETED: "Paid. The plan was applied to your subscription.",
  REJECTED: "The payment was rejected. You can pay again with the same checkout.",
  EXPIRED: "No payment arrived in time; this checkout is closed.",
  REFUNDED: "The payment was refunded.",
};

const SUBSCRIPTION_TEXT = {
  NONE: "You have no subscription yet.",
  PENDING: "Waiting for the first payment.",
  ACTIVE: "Active: you have access until the end of the paid period.",
  CANCELLED: "Cancelled: access has ended.",
  EXPIRED: "Expired: the paid period is over.",
};

// Runs `task` now and then every `everyMs` until it returns false or `stop()` is called.
// A failing call is shown and retried on the next tick: polling survives a restarting API.
export function poll(task, everyMs, onError = () => {}) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    let again = true;
    try {
      again = (await task()) !== false;
    } catch (error) {
      onError(error);
    }
    if (again && !stopped) timer = setTimeout(tick, everyMs);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function card(title, id) {
  const updated = el("span", { class: "updated" });
  const label = el("span", {}, "live");
  const indicator = el("span", { class: "live", title: "refreshed automatically" }, el("i"), label, " ", updated);
  const section = el("section", { class: "card status-card", id, "aria-live": "polite" },
    el("header", { class: "card-head" }, el("h2", {}, title), indicator));
  // once nothing can change any more the card says so instead of pretending to be live
  const settle = () => {
    indicator.classList.add("settled");
    label.textContent = "final";
  };
  return { section, updated, settle };
}

function pill(id) {
  return el("span", { class: "pill", id, dataset: { status: "" } }, "…");
}

function setPill(node, status) {
  node.textContent = status;
  node.dataset.status = status;
}

function facts(rows) {
  return el("dl", { class: "facts" }, ...rows.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)]));
}

const stamp = (node) => (node.textContent = `· ${new Date().toLocaleTimeString("en-GB")}`);

// The two status cards, appended to `container`; `plans` (a promise of the plan list) names plans.
export function mountLiveStatus(container, { userId, plans }) {
  const planName = async (planId) => {
    const list = await Promise.resolve(plans).catch(() => []); // a name is nice to have, not vital
    const found = list.find((plan) => plan.id === planId);
    return found ? found.name : `plan ${planId}`;
  };
  container.append(subscriptionCard(userId, planName), checkoutCard(planName));
}

function subscriptionCard(userId, planName) {
  const { section, updated } = card("Your subscription", "subscription-card");
  const status = pill("subscription-status");
  const detail = el("p", { class: "detail", id: "subscription-detail" });
  const details = el("div");
  const cancel = el("button", { class: "button danger", id: "cancel-subscription", hidden: true, type: "button" },
    "Cancel subscription");
  const notice = el("p", { class: "notice", id: "subscription-notice", hidden: true });
  section.append(el("div", { class: "status-line" }, status), detail, details, cancel, notice);

  let current = null;
  // bumped by a cancel: a poll answer that left the API before the cancel must not undo it on screen
  let generation = 0;
  const render = async (subscription) => {
    current = subscription;
    const state = subscription ? subscription.status : "NONE";
    setPill(status, state);
    detail.textContent = SUBSCRIPTION_TEXT[state] ?? state;
    details.replaceChildren(subscription
      ? facts([
          ["Plan", await planName(subscription.planId)],
          ["Period", `${formatDate(subscription.startDate)} → ${formatDate(subscription.endDate)}`],
          ["Subscription", `#${subscription.subscriptionId}`],
        ])
      : "");
    cancel.hidden = state !== "ACTIVE";
    stamp(updated);
  };

  // POST /api/subscriptions/{id}/cancel: access ends at once; the answer already says CANCELLED
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    generation += 1;
    try {
      const answer = await api.cancelSubscription(current.subscriptionId);
      generation += 1; // and polls sent while the cancel was under way
      await render({ ...current, status: answer.status });
      notify(notice, answer.message, "success");
    } catch (error) {
      notify(notice, `Could not cancel: ${error.message}`, "error");
    } finally {
      cancel.disabled = false;
    }
  });

  poll(async () => {
    const asked = generation;
    const subscription = await api.subscription(userId);
    if (asked !== generation) return; // stale: the next tick asks again
    await render(subscription);
    if (notice.dataset.kind === "error") notify(notice, ""); // the API answers again
  }, SUBSCRIPTION_POLL_MS,
    (error) => notify(notice, error.message, "error"));
  return section;
}

function checkoutCard(planName) {
  const { section, updated, settle } = card("Latest checkout", "checkout-card");
  const started = lastCheckout.get();
  if (!started) {
    section.append(el("p", { class: "detail muted", id: "checkout-detail" }, "No checkout started in this tab yet."));
    return section;
  }
  const status = pill("checkout-status");
  const detail = el("p", { class: "detail", id: "checkout-detail" });
  const payment = el("dd", { id: "checkout-payment" }, "—");
  const details = el("dl", { class: "facts" },
    el("dt", {}, "Plan"), el("dd", { id: "checkout-plan" }, "…"),
    el("dt", {}, "Reference"), el("dd", { class: "mono" }, started.externalReference),
    el("dt", {}, "Payment"), payment);
  // back to MercadoPago's page with the same preference: paying again needs no new checkout
  const resume = el("a", { class: "button secondary", id: "resume-checkout", href: started.initPoint, hidden: true });
  const notice = el("p", { class: "notice", hidden: true });
  section.append(el("div", { class: "status-line" }, status), detail, details, resume, notice);
  planName(started.planId).then((name) => (section.querySelector("#checkout-plan").textContent = name));

  poll(async () => {
    const checkout = await api.checkout(started.checkoutId);
    setPill(status, checkout.status);
    detail.textContent = CHECKOUT_TEXT[checkout.status] ?? checkout.status;
    payment.textContent = checkout.paymentId ? `#${checkout.paymentId}` : "—";
    resume.hidden = !["AWAITING_PAYMENT", "REJECTED"].includes(checkout.status);
    resume.textContent = checkout.status === "REJECTED" ? "Pay again" : "Continue to payment";
    notice.hidden = true;
    stamp(updated);
    if (!FINAL_CHECKOUT.has(checkout.status)) return true;
    settle();
    return false;
  }, CHECKOUT_POLL_MS, (error) => notify(notice, error.message, "error"));
  return section;
}
