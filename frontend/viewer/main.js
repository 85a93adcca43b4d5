// The clinician viewer: opens a SMART Health Link in this browser. The link (and its key) never leaves the
// page's memory: it is read from the fragment, which is at once removed from the address bar, and is not
// stored or sent to the portal. Requests go only to the link's own SHL server.

import { DecryptError, decryptFile, readFile } from "./decrypt.js";
import { FileNames, el, onlyPdfs, renderFhir, renderNotice } from "./render.js";
import { RetrieveError, fetchDirectFile, fetchManifestFiles } from "./retrieve.js";
import { ShlinkError, findShlink, isExpired, parseShlink } from "./shlink.js";

const $ = (id) => document.getElementById(id);
const lang = document.documentElement.lang || "en";

// Every text the script shows comes from the template (translated there), keyed by data-message.
const MESSAGES = new Map(
  [...document.querySelectorAll("#viewer-messages [data-message]")].map((node) => [
    node.dataset.message,
    node.textContent.trim(),
  ]),
);

function msg(key, vars = {}) {
  const text = MESSAGES.get(key);
  if (text === undefined) return "";
  const known = (name) => Object.prototype.hasOwnProperty.call(vars, name);
  return text.replace(/\{(\w+)\}/g, (whole, name) => (known(name) ? String(vars[name]) : whole));
}

function plural(key, count, vars = {}) {
  const form = new Intl.PluralRules(lang).select(count) === "one" ? "one" : "other";
  return msg(`${key}-${form}`, { ...vars, count });
}

const ui = {
  pasteForm: $("viewer-paste"),
  pasteInput: $("viewer-paste-input"),
  accessForm: $("viewer-access"),
  label: $("viewer-label"),
  recipient: $("viewer-recipient"),
  passcodeField: $("viewer-passcode-field"),
  passcode: $("viewer-passcode"),
  open: $("viewer-open"),
  message: $("viewer-message"),
  result: $("viewer-result"),
};

let current = null; // the parsed link: memory only
let busy = false;

function say(text, kind = "info") {
  ui.message.textContent = text;
  ui.message.className = kind === "error" ? "message error" : "message";
  ui.message.dataset.kind = kind;
  ui.message.hidden = !text;
}

function reset() {
  current = null;
  ui.accessForm.hidden = true;
  ui.passcodeField.hidden = true;
  ui.passcode.required = false;
  ui.passcode.value = "";
  ui.label.textContent = "";
  ui.label.hidden = true;
  ui.result.replaceChildren();
  ui.result.hidden = true;
  say("");
}

function showLabel(label) {
  ui.label.textContent = label;
  ui.label.hidden = !label;
}

function load(shlink) {
  reset();
  ui.pasteForm.hidden = true;
  let link;
  try {
    link = parseShlink(shlink);
  } catch (error) {
    const code = error instanceof ShlinkError ? error.code : "invalid";
    if (error instanceof ShlinkError) showLabel(error.label);
    say(msg(code === "version" ? "link-version" : "link-invalid"), "error");
    ui.pasteForm.hidden = false;
    return;
  }
  showLabel(link.label);
  if (isExpired(link)) {
    say(msg("link-expired"), "error");
    return;
  }
  current = link;
  const needsPasscode = link.flags.has("P") && !link.flags.has("U");
  ui.passcodeField.hidden = !needsPasscode;
  ui.passcode.required = needsPasscode;
  ui.accessForm.hidden = false;
  ui.open.disabled = false;
  ui.recipient.focus();
}

function retrieveMessage(error) {
  switch (error.code) {
    case "passcode":
      return error.remainingAttempts === null
        ? msg("passcode-wrong")
        : plural("passcode-wrong", error.remainingAttempts, { attempts: error.remainingAttempts });
    case "locked":
      return msg("passcode-locked");
    case "gone":
      return msg("link-gone");
    case "rate-limited":
      return error.retryAfter === null
        ? msg("rate-limited")
        : plural("rate-limited-seconds", error.retryAfter, { seconds: error.retryAfter });
    case "network":
      return msg("network");
    case "server":
      return msg("server-error", { status: error.status });
    default:
      return msg("bad-response");
  }
}

/** The files' contents, decrypted and read, or the notice that says why one could not be. */
async function readAll(link, files) {
  const read = [];
  for (const file of files) {
    if (file.error) {
      const text = file.error.status
        ? msg("file-unavailable", { status: file.error.status })
        : msg(file.error.code === "network" ? "network" : "file-unreadable");
      read.push({ notice: renderNotice(text, "message error") });
      continue;
    }
    try {
      const content = await readFile(await decryptFile(file.jwe, link.key, file.contentType));
      const withdrawn = ["entered-in-error", "no-longer-valid", "retracted"].includes(file.status);
      read.push({ content, note: withdrawn ? msg("file-withdrawn") : "" });
    } catch (error) {
      const code = error instanceof DecryptError ? error.code : "decrypt";
      read.push({ notice: renderNotice(msg(code === "decrypt" ? "file-decrypt" : "file-unreadable"), "message error") });
    }
  }
  return read;
}

/** The link's files: one download area for all of them first, then each document. */
async function showFiles(link, files) {
  const names = new FileNames();
  const shown = [];
  for (const { notice, content, note } of await readAll(link, files)) {
    if (notice) {
      shown.push({ article: notice, downloads: [] });
    } else if (content.kind === "fhir") {
      shown.push({ resource: content.resource, json: content.json, note });
    } else if (content.kind === "card") {
      for (const bundle of content.bundles) {
        const json = new TextEncoder().encode(JSON.stringify(bundle, null, 2));
        shown.push({ resource: bundle, json, note: msg("card-unverified") });
      }
    } else {
      shown.push({ article: renderNotice(msg("file-unsupported", { type: content.contentType })), downloads: [] });
    }
  }
  // Several FHIR files each get their title on their button, so the buttons can be told apart.
  const titled = shown.filter((item) => item.resource && !onlyPdfs(item.resource)).length > 1;
  const rendered = shown.map((item) =>
    item.resource ? renderFhir(item.resource, item.json, names, msg, lang, item.note, titled) : item,
  );
  const downloads = rendered.flatMap((item) => item.downloads);
  const nodes = [];
  if (downloads.length) {
    nodes.push(
      el("section", { className: "viewer-downloads-box", attrs: { "data-testid": "downloads", "aria-labelledby": "viewer-downloads-title" } }, [
        el("h2", { text: msg("downloads"), attrs: { id: "viewer-downloads-title" } }),
        el("p", { className: "viewer-downloads" }, downloads),
      ]),
    );
  }
  nodes.push(...rendered.map((item) => item.article).filter(Boolean));
  if (rendered.length === 0) nodes.push(renderNotice(msg("no-files")));
  ui.result.replaceChildren(...nodes);
  ui.result.hidden = false;
}

async function open(event) {
  event.preventDefault();
  if (busy || !current) return;
  const recipient = ui.recipient.value.trim();
  if (!recipient) {
    say(msg("recipient-required"), "error");
    ui.recipient.focus();
    return;
  }
  const link = current;
  const passcode = ui.passcode.value;
  if (link.flags.has("P") && !link.flags.has("U") && !passcode) {
    say(msg("passcode-required"), "error");
    ui.passcode.focus();
    return;
  }
  busy = true;
  ui.open.disabled = true;
  say(msg("opening"));
  try {
    const files = link.flags.has("U")
      ? await fetchDirectFile(link, recipient)
      : await fetchManifestFiles(link, recipient, passcode);
    await showFiles(link, files);
    ui.accessForm.hidden = true;
    current = null; // done with the key
    say("");
  } catch (error) {
    const retrieveError = error instanceof RetrieveError ? error : new RetrieveError("bad-response");
    say(retrieveMessage(retrieveError), "error");
    if (["locked", "gone"].includes(retrieveError.code)) {
      ui.accessForm.hidden = true;
      current = null;
    } else if (retrieveError.code === "passcode") {
      ui.passcode.value = "";
      ui.passcode.focus();
    }
  } finally {
    busy = false;
    ui.open.disabled = false;
  }
}

/** Takes the link out of the address bar (and so out of history) and opens it. */
function fromLocation() {
  let hash = location.hash;
  try {
    hash = decodeURIComponent(hash);
  } catch {
    // not percent-encoded: read as it is
  }
  const shlink = findShlink(hash);
  if (!shlink) return false;
  history.replaceState(history.state, "", location.pathname + location.search);
  load(shlink);
  return true;
}

ui.accessForm.addEventListener("submit", open);
ui.pasteForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const shlink = findShlink(ui.pasteInput.value);
  ui.pasteInput.value = "";
  if (shlink) {
    load(shlink);
  } else {
    say(msg("link-invalid"), "error");
  }
});
window.addEventListener("hashchange", fromLocation);

document.documentElement.classList.add("viewer-ready");
if (!fromLocation()) {
  ui.pasteForm.hidden = false;
}
