// Small DOM and formatting helpers shared by the storefront's pages.
// Text always goes in through textContent, never innerHTML: API data is not markup.

import { session, signOut } from "./api.js";

export const $ = (selector) => document.querySelector(selector);

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value == null) continue;
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((child) => child != null));
  return node;
}

// Prices are decimal strings ("9.99") and stay strings: Intl formats the string exactly,
// so no binary float ever touches the amount.
export function formatMoney(amount, currency) {
  try {
    return new Intl.NumberFormat("en-US", { style: "currency", currency, currencyDisplay: "code" }).format(amount);
  } catch {
    return `${currency} ${amount}`;
  }
}

const UNITS = { D: "day", H: "hour", M: "minute", S: "second" };

// billingCycle: "monthly", "yearly" or an ISO-8601 duration such as "PT20S" (test plans)
export function formatCycle(cycle) {
  if (cycle === "monthly") return "per month";
  if (cycle === "yearly") return "per year";
  const parts = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(cycle);
  if (!parts) return `every ${cycle}`;
  const named = ["D", "H", "M", "S"]
    .map((unit, i) => [Number(parts[i + 1] || 0), UNITS[unit]])
    .filter(([count]) => count > 0)
    .map(([count, unit]) => `${count} ${unit}${count === 1 ? "" : "s"}`);
  return `every ${named.join(" ")}`;
}

export function formatDate(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
}

// The header's "signed in as" corner, on every page.
export function renderWho() {
  const current = session.get();
  const who = $("#who");
  who.hidden = !current;
  if (!current) return;
  $("#signed-in-as").textContent = `user #${current.userId}`;
  $("#sign-out").onclick = () => {
    signOut();
    window.location.assign("./");
  };
}

// A notice line under a section: kind is "info", "error" or "success".
export function notify(target, text, kind = "info") {
  target.textContent = text ? text[0].toUpperCase() + text.slice(1) : ""; // API messages start lower-case
  target.dataset.kind = kind;
  target.hidden = !text;
}

// Lists every API call this page makes, newest first: living documentation of the frontend.
export function mountApiLog(list) {
  window.addEventListener("paysaga:api-call", ({ detail }) => {
    const ok = detail.status >= 200 && detail.status < 400;
    list.prepend(
      el("li", { class: ok ? "ok" : "failed" },
        el("time", {}, detail.at.toLocaleTimeString("en-GB")),
        el("code", { class: "method" }, detail.method),
        el("code", { class: "path" }, detail.path),
        el("span", { class: "code" }, detail.status ? String(detail.status) : "offline")),
    );
    while (list.children.length > 40) list.lastChild.remove();
  });
}
