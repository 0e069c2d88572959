// The checks a start request gets before it is sent: the same rules the API applies (it stays the
// authority), so an admin sees a mistake while typing instead of after a round trip.

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const EMAIL = /^[^@\s]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$/;
export const TIMINGS = ["onAcceptance", "beforeLapse"];

export function checkTenant(value) {
  if (!value) return "Required: the customer's Entra tenant id.";
  if (!GUID.test(value)) return "A tenant id is a GUID, like 4b2a6e33-8791-4386-bd2b-0d55baf25039.";
  return null;
}

/** The country must be a CSP market in the partner's own region (when the page knows it). */
export function checkCountry(value, context) {
  if (!value) return "Required: the customer's country, as two letters (ISO 3166-1), like US.";
  const code = value.toUpperCase();
  const region = context.regions[code];
  if (!/^[A-Za-z]{2}$/.test(value) || !region) return `${value} is not a country Microsoft sells CSP in.`;
  if (context.partnerRegion && region !== context.partnerRegion) {
    return (
      `${code} is in the CSP region ${region}, but the partner (${context.partnerCountry}) sells in ` +
      `${context.partnerRegion} only.`
    );
  }
  return null;
}

export function checkChannel(value, context) {
  if (!context.sourceChannels.includes(value)) {
    return `Required: one of ${context.sourceChannels.join(", ")}.`;
  }
  return null;
}

export function checkEmail(value) {
  if (value && (value.length > 254 || !EMAIL.test(value))) return "An e-mail address, if given.";
  return null;
}

export function checkTiming(timing, leadDays) {
  if (timing && !TIMINGS.includes(timing)) return `Purchase timing is one of ${TIMINGS.join(", ")}.`;
  if (leadDays) {
    if (timing !== "beforeLapse") return "Lead days apply only with beforeLapse.";
    const days = Number(leadDays);
    if (!/^\d+$/.test(leadDays) || days < 1 || days > 90) return "Lead days: a whole number from 1 to 90.";
  }
  return null;
}

/** A row's fields → {errors: {field: message}, body: the POST /api/transfers body}. */
export function checkStart(fields, context) {
  const errors = {};
  const found = {
    customerTenantId: checkTenant(fields.customerTenantId),
    customerCountry: checkCountry(fields.customerCountry, context),
    sourceChannel: checkChannel(fields.sourceChannel, context),
    contactEmail: checkEmail(fields.contactEmail),
    purchaseTiming: checkTiming(fields.purchaseTiming, fields.purchaseLeadDays),
  };
  for (const [name, message] of Object.entries(found)) if (message) errors[name] = message;
  const body = {
    customerTenantId: fields.customerTenantId,
    customerCountry: (fields.customerCountry || "").toUpperCase(),
    sourceChannel: fields.sourceChannel,
  };
  if (fields.contactEmail) body.contactEmail = fields.contactEmail;
  if (fields.purchaseTiming) {
    body.options = { purchaseTiming: fields.purchaseTiming };
    if (fields.purchaseLeadDays) body.options.purchaseLeadDays = Number(fields.purchaseLeadDays);
  }
  return { errors, body };
}
