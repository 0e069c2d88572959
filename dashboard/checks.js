// The checks a start request gets before it is sent: the same rules the API applies (it stays the
// authority), so an admin sees a mistake while typing instead of after a round trip.

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const CONTROL = /[\x00-\x1f\x7f]/;
const EMAIL = /^[^@\s]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$/;
const DOMAIN = /^(?=.{4,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/;
export const TIMINGS = ["onAcceptance", "beforeLapse"];
export const OTHER_PARTNER = "OtherPartner";

export function isTenantId(value) {
  return GUID.test(value);
}

/** The customer, named by its Entra tenant id or by one of its domains. */
export function checkCustomer(value) {
  if (!value) return "Required: the customer's Entra tenant id or one of its domains.";
  if (!GUID.test(value) && !DOMAIN.test(value)) {
    return "A tenant id is a GUID, like 4b2a6e33-8791-4386-bd2b-0d55baf25039; a domain is like contoso.com.";
  }
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

export function checkEmail(value, sourcePartner = false) {
  if (!value && sourcePartner) {
    return "Required with a source partner: Microsoft sends the transfer e-mails to this address.";
  }
  if (value && (value.length > 254 || !EMAIL.test(value))) return "An e-mail address, if given.";
  return null;
}

/**
 * The partner selling to the customer today, asked for a partner-to-partner transfer: only with
 * the channel OtherPartner, and then both its Microsoft ID and its name, or neither (a rebuy).
 */
export function checkSourcePartner(channel, tenantId, name) {
  if (!tenantId && !name) return {};
  if (channel !== OTHER_PARTNER) {
    const message = `Only with the source channel ${OTHER_PARTNER}.`;
    return { sourcePartnerTenantId: tenantId ? message : null, sourcePartnerName: name ? message : null };
  }
  let tenant = null;
  if (!tenantId) tenant = "Required with a partner's name: its Microsoft ID (tenant id), a GUID.";
  else if (!GUID.test(tenantId)) tenant = "The partner's Microsoft ID is a GUID, like 4b2a6e33-8791-4386-bd2b-0d55baf25039.";
  let company = null;
  if (!name) company = "Required with a partner's Microsoft ID: its company name.";
  else if (name.length > 256 || CONTROL.test(name)) company = "At most 256 characters, none of them a control character.";
  return { sourcePartnerTenantId: tenant, sourcePartnerName: company };
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

/**
 * A row's fields → {errors: {field: message}, body: the POST /api/transfers body}. The customer is
 * `customerTenantId` (a tenant id or, in the form, a domain) or `customerDomain`, not both.
 */
export function checkStart(fields, context) {
  const errors = {};
  const sourcePartner = Boolean(fields.sourcePartnerTenantId || fields.sourcePartnerName);
  const customer = fields.customerTenantId || fields.customerDomain || "";
  const found = {
    customerTenantId: checkCustomer(customer),
    customerDomain: fields.customerTenantId && fields.customerDomain ? "The tenant id or the domain, not both." : null,
    customerCountry: checkCountry(fields.customerCountry, context),
    sourceChannel: checkChannel(fields.sourceChannel, context),
    ...checkSourcePartner(fields.sourceChannel, fields.sourcePartnerTenantId, fields.sourcePartnerName),
    contactEmail: checkEmail(fields.contactEmail, sourcePartner),
    purchaseTiming: checkTiming(fields.purchaseTiming, fields.purchaseLeadDays),
  };
  for (const [name, message] of Object.entries(found)) if (message) errors[name] = message;
  const body = {
    ...(GUID.test(customer) ? { customerTenantId: customer } : { customerDomain: customer }),
    customerCountry: (fields.customerCountry || "").toUpperCase(),
    sourceChannel: fields.sourceChannel,
  };
  if (fields.contactEmail) body.contactEmail = fields.contactEmail;
  if (sourcePartner) {
    body.sourcePartnerTenantId = fields.sourcePartnerTenantId;
    body.sourcePartnerName = fields.sourcePartnerName;
  }
  if (fields.purchaseTiming) {
    body.options = { purchaseTiming: fields.purchaseTiming };
    if (fields.purchaseLeadDays) body.options.purchaseLeadDays = Number(fields.purchaseLeadDays);
  }
  return { errors, body };
}
