// What the API knows of a customer before a transfer is started: its name and default domain
// (read from Microsoft by tenant id or domain, no relationship needed) and whether it already has
// an active transfer, so the form and the CSV preview show both before anything is sent.
import { call } from "./api.js";
import { isTenantId } from "./checks.js";
import { el } from "./dom.js";
import { smallPrint } from "./facts.js";

const FINAL = ["Completed", "Cancelled"];

/**
 * {tenantId, name, domain, unknown, activeTransferId} of a tenant id or domain. `unknown`: Microsoft
 * knows no such tenant. A name the API cannot give (an app without the look-up) stays null.
 */
export async function lookUp(customer) {
  const byId = isTenantId(customer);
  const found = { tenantId: byId ? customer.toLowerCase() : null, name: null, domain: byId ? null : customer, unknown: false, activeTransferId: null };
  const tenant = await call("GET", "tenants", { query: byId ? { tenantId: customer } : { domain: customer } });
  if (tenant.ok && tenant.body) {
    found.tenantId = tenant.body.tenantId || found.tenantId;
    found.name = tenant.body.displayName || null;
    found.domain = tenant.body.defaultDomain || found.domain;
    if ("activeTransferId" in tenant.body) {
      found.activeTransferId = tenant.body.activeTransferId || null;
      return found;
    }
  } else if (tenant.status === 404 && tenant.body?.title) {
    found.unknown = true; // a problem answer: the route exists, the tenant does not
    return found;
  }
  if (found.tenantId) {
    const listed = await call("GET", "transfers", { query: { q: found.tenantId, pageSize: "100" } });
    const items = listed.ok ? listed.body.items : [];
    const active = items.find((t) => t.customerTenantId.toLowerCase() === found.tenantId && !FINAL.includes(t.state));
    found.activeTransferId = active ? active.id : null;
  }
  return found;
}

/** Who the customer is: its name, with its domain and tenant id in small print; null if unnamed. */
export function named(found) {
  return found.name ? el("span", { class: "named" }, el("strong", {}, found.name), smallPrint([found.domain, found.tenantId])) : null;
}

/** A link to the customer's active transfer, in a sentence, or null. */
export function activeTransfer(found) {
  if (!found.activeTransferId) return null;
  const link = el("a", { href: `#/transfers/${found.activeTransferId}` }, "open it");
  return el("span", { class: "error active-transfer" }, "Already has an active transfer: ", link, ".");
}

/** The look-up in words: who it is, or that no such tenant exists, and any active transfer. */
export function lookedUp(found) {
  if (found.unknown) return el("span", { class: "error" }, "Microsoft knows no tenant by this id or domain.");
  const who = named(found);
  const active = activeTransfer(found);
  return who || active ? el("span", { class: "looked-up" }, who, active ? [" ", active] : null) : null;
}
