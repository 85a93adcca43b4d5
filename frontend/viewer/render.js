// Showing decrypted files. Plain values go in through textContent; narrative XHTML only through
// sanitizeNarrative(). No innerHTML anywhere.

import { sanitizeNarrative } from "./sanitize.js";

const PDF = "application/pdf";

/** An element with optional class, text and attributes (attribute values are set as plain strings). */
export function el(tag, { className, text, attrs } = {}, children = []) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
  for (const child of children) if (child) node.append(child);
  return node;
}

/** Starts a download of bytes under a filename (a Blob URL: nothing goes to any server). */
export function download(bytes, type, filename) {
  const url = URL.createObjectURL(new Blob([bytes], { type }));
  const anchor = el("a", { attrs: { href: url, download: filename } });
  anchor.hidden = true;
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function narrative(text, msg) {
  const div = text && typeof text.div === "string" ? text.div : "";
  const box = el("div", { className: "narrative-body viewer-narrative", attrs: { "data-testid": "narrative" } });
  const clean = sanitizeNarrative(div);
  for (const table of clean.querySelectorAll("table")) stackOnPhones(table);
  if (clean.textContent.trim() === "" && !clean.querySelector("table")) {
    box.append(el("p", { className: "muted", text: msg("no-narrative") }));
  } else {
    box.append(clean);
  }
  return box;
}

/** A table with a header row becomes cards on a phone: each cell is labelled with its column's name. */
function stackOnPhones(table) {
  const headRow = table.querySelector("thead tr");
  if (!headRow) return;
  const labels = [...headRow.children].map((cell) => cell.textContent.trim());
  if (labels.length === 0 || labels.some((label) => !label)) return;
  table.classList.add("stacked-table");
  for (const row of table.querySelectorAll("tbody tr")) {
    // A cell that spans columns has no one label: leave that table as it is on a phone too.
    if ([...row.children].some((cell) => cell.colSpan > 1)) {
      table.classList.remove("stacked-table");
      return;
    }
    [...row.children].forEach((cell, index) => {
      if (labels[index]) cell.setAttribute("data-label", labels[index]);
    });
  }
}

// ------------------------------------------------------------------------------------------- patient

function humanName(names) {
  if (!Array.isArray(names) || names.length === 0) return "";
  const name =
    names.find((n) => n && n.use === "official") || names.find((n) => n && n.use === "usual") || names[0];
  if (!name || typeof name !== "object") return "";
  if (typeof name.text === "string" && name.text.trim()) return name.text.trim();
  const strings = (value) => (Array.isArray(value) ? value.filter((v) => typeof v === "string") : []);
  const parts = [...strings(name.prefix), ...strings(name.given)];
  if (typeof name.family === "string") parts.push(name.family);
  parts.push(...strings(name.suffix));
  return parts.join(" ").trim();
}

function formatDate(value, lang) {
  if (typeof value !== "string") return "";
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return value; // a partial date (year, or year and month) as given
  try {
    const format = new Intl.DateTimeFormat(lang, { dateStyle: "long", timeZone: "UTC" });
    return format.format(new Date(`${value}T00:00:00Z`));
  } catch {
    return value;
  }
}

/** Name, birth date and sex: never identifiers. */
function patientHeader(patient, msg, lang) {
  const facts = el("dl", { className: "facts viewer-patient", attrs: { "data-testid": "patient" } });
  const add = (label, value, testid) => {
    if (!value) return;
    facts.append(el("dt", { text: label }), el("dd", { text: value, attrs: { "data-testid": testid } }));
  };
  add(msg("patient-name"), humanName(patient.name) || msg("unknown"), "patient-name");
  add(msg("patient-birth-date"), formatDate(patient.birthDate, lang), "patient-birth-date");
  if (typeof patient.gender === "string") {
    add(msg("patient-sex"), msg(`gender-${patient.gender}`) || patient.gender, "patient-sex");
  }
  return el("section", { className: "viewer-patient-box", attrs: { "aria-label": msg("patient") } }, [facts]);
}

// ------------------------------------------------------------------------------------------ resources

function bundleResources(bundle) {
  const entries = Array.isArray(bundle.entry) ? bundle.entry : [];
  return entries
    .filter((entry) => entry && typeof entry.resource === "object" && entry.resource !== null)
    .map((entry) => ({ fullUrl: typeof entry.fullUrl === "string" ? entry.fullUrl : "", resource: entry.resource }));
}

/** Looks up a reference ("urn:uuid:…", "Type/id" or a full URL) among the bundle's entries. */
function resolver(entries) {
  const byReference = new Map();
  for (const { fullUrl, resource } of entries) {
    if (fullUrl) byReference.set(fullUrl, resource);
    if (typeof resource.resourceType === "string" && typeof resource.id === "string") {
      byReference.set(`${resource.resourceType}/${resource.id}`, resource);
    }
  }
  return (reference) => {
    if (typeof reference !== "string") return null;
    if (byReference.has(reference)) return byReference.get(reference);
    const restful = /([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64})$/.exec(reference);
    return restful ? byReference.get(restful[1]) || null : null;
  };
}

/** The name of who or what a reference names: a person, an organisation, a device; "" if it names none. */
function nameOf(reference, resolve, depth = 0) {
  const display = typeof reference?.display === "string" ? reference.display.trim() : "";
  const target = resolve(reference?.reference);
  if (!target || depth > 2) return display;
  switch (target.resourceType) {
    case "Practitioner":
    case "RelatedPerson":
    case "Patient":
      return humanName(target.name) || display;
    case "Organization":
      return (typeof target.name === "string" && target.name.trim()) || display;
    case "PractitionerRole": {
      const person = nameOf(target.practitioner, resolve, depth + 1);
      const place = nameOf(target.organization, resolve, depth + 1);
      return [person, place].filter(Boolean).join(", ") || display;
    }
    case "Device": {
      const names = Array.isArray(target.deviceName) ? target.deviceName : [];
      return names.find((n) => typeof n?.name === "string")?.name || display;
    }
    default:
      return display;
  }
}

const RECORDED_BY = ["recorder", "asserter", "performer", "author", "informationSource"];

function unique(values) {
  return [...new Set(values.filter(Boolean))];
}

/** Who recorded a section's entries, as their resources name them (at most a handful). */
function recordersOf(section, resolve) {
  const names = [];
  for (const entry of Array.isArray(section.entry) ? section.entry : []) {
    const resource = resolve(entry?.reference);
    if (!resource) continue;
    for (const field of RECORDED_BY) {
      const value = resource[field];
      for (const reference of Array.isArray(value) ? value : [value]) {
        // A performer of a procedure is {actor: reference}; the others are references themselves.
        const ref = reference && typeof reference === "object" && reference.actor ? reference.actor : reference;
        if (ref && typeof ref === "object") names.push(nameOf(ref, resolve));
      }
    }
  }
  return unique(names);
}

function sourcesOf(section, resolve) {
  return unique((Array.isArray(section.author) ? section.author : []).map((author) => nameOf(author, resolve)));
}

function listText(names, lang, most = 5) {
  const shown = names.slice(0, most);
  try {
    return new Intl.ListFormat(lang, { type: "conjunction" }).format(shown) + (names.length > most ? " …" : "");
  } catch {
    return shown.join(", ");
  }
}

function findPatient(entries, composition) {
  const reference = composition?.subject?.reference;
  if (typeof reference === "string") {
    const hit = entries.find(
      ({ fullUrl, resource }) =>
        resource.resourceType === "Patient" &&
        (fullUrl === reference || `${resource.resourceType}/${resource.id}` === reference),
    );
    if (hit) return hit.resource;
  }
  return entries.find(({ resource }) => resource.resourceType === "Patient")?.resource || null;
}

function compositionSection(section, level, context) {
  const { msg, lang, resolve } = context;
  const title = typeof section.title === "string" && section.title ? section.title : msg("untitled-section");
  const code = section?.code?.coding?.[0]?.code;
  const heading = el(`h${Math.min(level, 6)}`, { text: title, attrs: { "data-testid": "section-title" } });
  const box = el("section", { className: "viewer-section", attrs: { "data-testid": "section" } }, [heading]);
  if (typeof code === "string") box.dataset.code = code;
  const sources = sourcesOf(section, resolve);
  const recorders = recordersOf(section, resolve).filter((name) => !sources.includes(name));
  const meta = [
    sources.length ? [msg("source", { names: listText(sources, lang) }), "section-source"] : null,
    recorders.length ? [msg("recorded-by", { names: listText(recorders, lang) }), "section-recorded-by"] : null,
  ].filter(Boolean);
  if (meta.length) {
    box.append(
      el(
        "p",
        { className: "muted viewer-section-meta" },
        meta.map(([text, testid]) => el("span", { text, attrs: { "data-testid": testid } })),
      ),
    );
  }
  box.append(narrative(section.text, msg));
  for (const sub of Array.isArray(section.section) ? section.section : []) {
    if (sub && typeof sub === "object" && level < 6) box.append(compositionSection(sub, level + 1, context));
  }
  return box;
}

function resourceList(resources, msg) {
  const byType = new Map();
  for (const resource of resources) {
    const type = typeof resource.resourceType === "string" ? resource.resourceType : "?";
    if (!byType.has(type)) byType.set(type, []);
    byType.get(type).push(resource);
  }
  const box = el("div", { className: "viewer-resources" });
  for (const [type, items] of byType) {
    const group = el("section", { className: "viewer-section", attrs: { "data-testid": "resource-group" } }, [
      el("h3", { text: `${type} (${items.length})`, attrs: { "data-testid": "section-title" } }),
    ]);
    for (const item of items) group.append(narrative(item.text, msg));
    box.append(group);
  }
  return box;
}

/** Every DocumentReference attachment holding a PDF inline, in a resource or a Bundle's entries. */
export function pdfAttachments(resource) {
  const resources =
    resource.resourceType === "Bundle" ? bundleResources(resource).map((entry) => entry.resource) : [resource];
  const found = [];
  for (const item of resources) {
    if (item.resourceType !== "DocumentReference" || !Array.isArray(item.content)) continue;
    for (const content of item.content) {
      const attachment = content?.attachment;
      if (attachment?.contentType === PDF && typeof attachment.data === "string" && attachment.data) {
        found.push(attachment);
      }
    }
  }
  return found;
}

function base64Bytes(data) {
  const binary = atob(data.replace(/\s+/g, ""));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** Names for downloaded files: patient-summary.json, patient-summary-2.json, … */
export class FileNames {
  constructor() {
    this.counts = new Map();
  }

  next(extension) {
    const count = (this.counts.get(extension) || 0) + 1;
    this.counts.set(extension, count);
    return count === 1 ? `patient-summary.${extension}` : `patient-summary-${count}.${extension}`;
  }
}

function downloadButton(text, testid, onClick) {
  const button = el("button", { className: "secondary-button", text, attrs: { type: "button", "data-testid": testid } });
  button.addEventListener("click", onClick);
  return button;
}

/** A DocumentReference that only wraps PDFs: its files are all there is to show of it. */
export function onlyPdfs(resource) {
  if (resource.resourceType !== "DocumentReference" || !Array.isArray(resource.content)) return false;
  const attachments = resource.content.map((content) => content?.attachment);
  return attachments.length > 0 && attachments.every((a) => a?.contentType === PDF && typeof a.data === "string");
}

/** The download buttons one file offers: its FHIR JSON (unless it only wraps PDFs) and every PDF it holds. */
function downloadsOf(resource, jsonBytes, names, msg, title) {
  const suffix = title ? ` (${title})` : "";
  const buttons = [];
  if (!onlyPdfs(resource)) {
    const jsonName = names.next("json");
    buttons.push(
      downloadButton(`${msg("download-json")}${suffix}`, "download-json", () =>
        download(jsonBytes, "application/fhir+json", jsonName),
      ),
    );
  }
  for (const attachment of pdfAttachments(resource)) {
    let bytes;
    try {
      bytes = base64Bytes(attachment.data);
    } catch {
      continue; // not base64: nothing to offer
    }
    const pdfName = names.next("pdf");
    buttons.push(downloadButton(msg("download-pdf"), "download-pdf", () => download(bytes, PDF, pdfName)));
  }
  return buttons;
}

// The sections a clinician must see first, in this order (as on the record page and in the PDF): allergies and
// intolerances, alerts, advance directives.
const IMPORTANT_CODES = ["48765-2", "104605-1", "42348-3"];

function formatMoment(value, lang) {
  if (typeof value !== "string") return "";
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value)) return formatDate(value, lang);
  const moment = new Date(value);
  if (Number.isNaN(moment.getTime())) return formatDate(value.slice(0, 10), lang);
  try {
    return new Intl.DateTimeFormat(lang, { dateStyle: "long", timeStyle: "short" }).format(moment);
  } catch {
    return value;
  }
}

/** Who shared the document, when, from which sources, and that the portal did not check its content. */
function provenance(composition, resolve, msg, lang) {
  const sections = Array.isArray(composition.section) ? composition.section : [];
  const sources = unique(sections.flatMap((section) => (section ? sourcesOf(section, resolve) : [])));
  const lines = [
    typeof composition.date === "string"
      ? [msg("shared-by", { date: formatMoment(composition.date, lang) }), "provenance-shared"]
      : [msg("shared-by-undated"), "provenance-shared"],
    sources.length ? [msg("sources", { names: listText(sources, lang, 10) }), "provenance-sources"] : null,
    [msg("not-verified"), "provenance-unverified"],
  ].filter(Boolean);
  return el(
    "p",
    { className: "viewer-provenance", attrs: { "data-testid": "provenance" } },
    lines.map(([text, testid]) => el("span", { text, attrs: { "data-testid": testid } })),
  );
}

function renderBundle(bundle, msg, lang) {
  const entries = bundleResources(bundle);
  const composition = entries[0]?.resource?.resourceType === "Composition" ? entries[0].resource : null;
  const nodes = [];
  const patient = findPatient(entries, composition);
  if (patient) nodes.push(patientHeader(patient, msg, lang));
  if (bundle.type === "document" && composition) {
    const context = { msg, lang, resolve: resolver(entries) };
    nodes.push(provenance(composition, context.resolve, msg, lang));
    const sections = (Array.isArray(composition.section) ? composition.section : []).filter(
      (section) => section && typeof section === "object",
    );
    const isImportant = (section) => IMPORTANT_CODES.includes(section?.code?.coding?.[0]?.code);
    const rank = (section) => IMPORTANT_CODES.indexOf(section.code.coding[0].code);
    const important = sections.filter(isImportant).sort((a, b) => rank(a) - rank(b));
    if (important.length) {
      const heading = el("h3", { text: msg("important"), attrs: { "data-testid": "important-title" } });
      nodes.push(
        el("section", { className: "important viewer-important", attrs: { "data-testid": "important" } }, [
          heading,
          ...important.map((section) => compositionSection(section, 4, context)),
        ]),
      );
    }
    for (const section of sections.filter((s) => !isImportant(s))) {
      nodes.push(compositionSection(section, 3, context));
    }
  } else {
    nodes.push(resourceList(entries.map((e) => e.resource).filter((r) => r.resourceType !== "Patient"), msg));
  }
  return nodes;
}

function documentTitle(resource, msg) {
  if (resource.resourceType === "Bundle") {
    const first = bundleResources(resource)[0]?.resource;
    if (resource.type === "document" && first?.resourceType === "Composition" && typeof first.title === "string") {
      return first.title;
    }
    return msg("bundle");
  }
  if (resource.resourceType === "DocumentReference") {
    if (typeof resource.description === "string" && resource.description) return resource.description;
    const type = resource.type?.text || resource.type?.coding?.[0]?.display;
    if (typeof type === "string" && type) return type;
  }
  return resource.resourceType;
}

/**
 * One FHIR resource (from a fhir+json file or a health card): an <article> showing it (null for a wrapper of
 * PDFs only, which has nothing to show but its files) and the download buttons it offers. ``titled`` adds the
 * document's title to its JSON button, for when several files are offered together.
 */
export function renderFhir(resource, jsonBytes, names, msg, lang, note, titled = false) {
  const title = documentTitle(resource, msg);
  const downloads = downloadsOf(resource, jsonBytes, names, msg, titled ? title : "");
  if (onlyPdfs(resource) && !note) return { article: null, downloads };
  const article = el("article", { className: "viewer-document", attrs: { "data-testid": "document" } }, [
    el("h2", { text: title, attrs: { "data-testid": "document-title" } }),
  ]);
  if (note) article.append(el("p", { className: "message", text: note, attrs: { "data-testid": "document-note" } }));
  if (onlyPdfs(resource)) return { article, downloads };
  if (resource.resourceType === "Bundle") {
    article.append(...renderBundle(resource, msg, lang));
  } else if (resource.resourceType === "Patient") {
    article.append(patientHeader(resource, msg, lang), narrative(resource.text, msg));
  } else {
    article.append(narrative(resource.text, msg));
  }
  return { article, downloads };
}

/** An <article> holding only a message (a file that could not be shown). */
export function renderNotice(text, className = "message") {
  return el("article", { className: "viewer-document" }, [
    el("p", { className, text, attrs: { "data-testid": "document-note" } }),
  ]);
}
