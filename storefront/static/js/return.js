// Where MercadoPago sends the buyer back (the preference's back_urls). It appends its own query
// string: collection_status, payment_id, external_reference, preference_id, … . Those values
// are shown, but only as a hint: the payment counts once the backend has read it back from
// MercadoPago, which the live cards below show as it happens.

import { api, lastCheckout, session } from "./api.js";
import { mountLiveStatus } from "./live.js";
import { $, el, mountApiLog, renderWho } from "./ui.js";

const OUTCOMES = {
  approved: { title: "Payment approved", kind: "success",
    text: "MercadoPago approved your payment. Your subscription activates as soon as we confirm it." },
  rejected: { title: "Payment rejected", kind: "error",
    text: "MercadoPago rejected the payment. Nothing was charged; you can try again." },
  pending: { title: "Payment pending", kind: "pending",
    text: "MercadoPago is still processing the payment. This page updates when it settles." },
};
// the back URL we configured (?result=…) in case MercadoPago's own status is missing
const BY_RESULT = { success: "approved", failure: "rejected", pending: "pending" };
const SHOWN_PARAMS = ["collection_status", "payment_id", "external_reference", "preference_id", "payment_type"];

mountApiLog($("#api-log"));
renderWho();

const query = new URLSearchParams(window.location.search);
const status = query.get("collection_status") || query.get("status") || BY_RESULT[query.get("result")];
const outcome = OUTCOMES[status === "in_process" ? "pending" : status] ?? OUTCOMES.pending;

$("#result-card").dataset.kind = outcome.kind;
$("#result").textContent = outcome.title;
$("#result-text").textContent = outcome.text;
$("#mp-params").replaceChildren(...SHOWN_PARAMS.filter((name) => query.has(name)).flatMap((name) => [
  el("dt", {}, name),
  el("dd", { class: "mono", id: `mp-${name.replaceAll("_", "-")}` }, query.get(name)),
]));

const current = session.get();
const started = lastCheckout.get();
if (!current) {
  $("#signed-out").hidden = false;
} else {
  // MercadoPago's external_reference tells which checkout this was; warn if it is not this tab's
  const reference = query.get("external_reference");
  if (started && reference && reference !== started.externalReference) {
    $("#other-checkout").hidden = false;
  }
  mountLiveStatus($("#live-status"), { userId: current.userId, plans: api.plans() });
}
