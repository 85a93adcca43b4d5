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
  if (clean.textContent.trim() === "" && !clean.querySelector("table")) {
    box.append(el("p", { className: "muted", text: msg("no-narrative") }));
  } else {
    box.append(clean);
  }
  return box;
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

function compositionSection(section, depth, msg) {
  const title = typeof section.title === "string" && section.title ? section.title : msg("untitled-section");
  const code = section?.code?.coding?.[0]?.code;
  const heading = el(depth === 0 ? "h3" : "h4", { text: title, attrs: { "data-testid": "section-title" } });
  const box = el("section", { className: "viewer-section", attrs: { "data-testid": "section" } }, [heading]);
  if (typeof code === "string") box.dataset.code = code;
  box.append(narrative(section.text, msg));
  for (const sub of Array.isArray(section.section) ? section.section : []) {
    if (sub && typeof sub === "object" && depth < 5) box.append(compositionSection(sub, depth + 1, msg));
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

function downloadButtons(resource, jsonBytes, names, msg) {
  const bar = el("p", { className: "viewer-downloads" });
  const jsonName = names.next("json");
  const jsonButton = el("button", {
    className: "secondary-button",
    text: msg("download-json"),
    attrs: { type: "button", "data-testid": "download-json" },
  });
  jsonButton.addEventListener("click", () => download(jsonBytes, "application/fhir+json", jsonName));
  bar.append(jsonButton);
  for (const attachment of pdfAttachments(resource)) {
    let bytes;
    try {
      bytes = base64Bytes(attachment.data);
    } catch {
      continue; // not base64: nothing to offer
    }
    const pdfName = names.next("pdf");
    const title = typeof attachment.title === "string" && attachment.title ? ` (${attachment.title})` : "";
    const pdfButton = el("button", {
      className: "secondary-button",
      text: `${msg("download-pdf")}${title}`,
      attrs: { type: "button", "data-testid": "download-pdf" },
    });
    pdfButton.addEventListener("click", () => download(bytes, PDF, pdfName));
    bar.append(pdfButton);
  }
  return bar;
}

function renderBundle(bundle, msg, lang) {
  const entries = bundleResources(bundle);
  const composition = entries[0]?.resource?.resourceType === "Composition" ? entries[0].resource : null;
  const nodes = [];
  const patient = findPatient(entries, composition);
  if (patient) nodes.push(patientHeader(patient, msg, lang));
  if (bundle.type === "document" && composition) {
    if (typeof composition.date === "string") {
      const made = `${msg("composition-date")}: ${formatDate(composition.date.slice(0, 10), lang)}`;
      nodes.push(el("p", { className: "muted", text: made }));
    }
    for (const section of Array.isArray(composition.section) ? composition.section : []) {
      if (section && typeof section === "object") nodes.push(compositionSection(section, 0, msg));
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

/** An <article> for one FHIR resource (from a fhir+json file or a health card). */
export function renderFhir(resource, jsonBytes, names, msg, lang, note) {
  const article = el("article", { className: "viewer-document", attrs: { "data-testid": "document" } }, [
    el("h2", { text: documentTitle(resource, msg), attrs: { "data-testid": "document-title" } }),
  ]);
  if (note) article.append(el("p", { className: "message", text: note, attrs: { "data-testid": "document-note" } }));
  article.append(downloadButtons(resource, jsonBytes, names, msg));
  if (resource.resourceType === "Bundle") {
    article.append(...renderBundle(resource, msg, lang));
  } else if (resource.resourceType === "Patient") {
    article.append(patientHeader(resource, msg, lang), narrative(resource.text, msg));
  } else {
    article.append(narrative(resource.text, msg));
  }
  return article;
}

/** An <article> holding only a message (a file that could not be shown). */
export function renderNotice(text, className = "message") {
  return el("article", { className: "viewer-document" }, [
    el("p", { className, text, attrs: { "data-testid": "document-note" } }),
  ]);
}
