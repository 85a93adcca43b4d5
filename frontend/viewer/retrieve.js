// Fetching an SHL's files: the manifest request (POST), the direct file request of a `U` link (GET), and the
// manifest's `location` files. Returns encrypted JWE strings; decrypting happens in decrypt.js.

import { usableUrl } from "./shlink.js";

/** A failed request; `code` names the message the page shows. */
export class RetrieveError extends Error {
  constructor(code, { status = 0, remainingAttempts = null, retryAfter = null } = {}) {
    super(code);
    this.name = "RetrieveError";
    this.code = code;
    this.status = status;
    this.remainingAttempts = remainingAttempts;
    this.retryAfter = retryAfter;
  }
}

// No cookies, no Referer (the page URL is none of the SHL server's business), nothing cached on disk.
const REQUEST_DEFAULTS = { mode: "cors", credentials: "omit", referrerPolicy: "no-referrer", cache: "no-store" };
const MAX_FILES = 50;

async function send(url, init) {
  try {
    return await fetch(url, { ...REQUEST_DEFAULTS, ...init });
  } catch {
    // A TypeError: the server is unreachable, or it does not allow cross-origin requests (CORS).
    throw new RetrieveError("network");
  }
}

/** Seconds from a Retry-After header (either delay-seconds or an HTTP date), or null. */
function retryAfterSeconds(response) {
  const value = response.headers.get("retry-after");
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const when = Date.parse(value);
  return Number.isNaN(when) ? null : Math.max(0, Math.ceil((when - Date.now()) / 1000));
}

async function failure(response) {
  const status = response.status;
  if (status === 401) {
    let remaining = null;
    try {
      const body = await response.json();
      if (Number.isInteger(body?.remainingAttempts)) remaining = Math.max(0, body.remainingAttempts);
    } catch {
      // a 401 without the JSON body the specification asks for: the count is unknown
    }
    return new RetrieveError(remaining === 0 ? "locked" : "passcode", { status, remainingAttempts: remaining });
  }
  if (status === 404) return new RetrieveError("gone", { status });
  if (status === 429) return new RetrieveError("rate-limited", { status, retryAfter: retryAfterSeconds(response) });
  return new RetrieveError("server", { status });
}

const COMPACT_JWE = /^[\w-]+\.[\w-]*\.[\w-]+\.[\w-]+\.[\w-]+$/; // header.key.iv.ciphertext.tag (key empty for "dir")

function looksLikeCompactJwe(text) {
  return typeof text === "string" && COMPACT_JWE.test(text);
}

async function readJwe(response) {
  const text = (await response.text()).trim();
  if (!looksLikeCompactJwe(text)) throw new RetrieveError("bad-file", { status: response.status });
  return text;
}

/** The single file of a `U` link: GET url?recipient=… */
export async function fetchDirectFile(link, recipient) {
  const url = new URL(link.url);
  url.searchParams.set("recipient", recipient);
  const response = await send(url.href, { method: "GET" });
  if (!response.ok) throw await failure(response);
  return [{ contentType: null, status: null, jwe: await readJwe(response), error: null }];
}

async function fetchManifest(link, recipient, passcode) {
  const body = { recipient };
  if (link.flags.has("P")) body.passcode = passcode;
  const response = await send(link.url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw await failure(response);
  let manifest;
  try {
    manifest = await response.json();
  } catch {
    throw new RetrieveError("bad-manifest", { status: response.status });
  }
  if (!Array.isArray(manifest?.files)) throw new RetrieveError("bad-manifest", { status: response.status });
  return manifest.files.slice(0, MAX_FILES);
}

async function fetchLocation(location, manifestUrl) {
  // `location` comes from the server: only https (or loopback http) URLs are followed.
  const url = usableUrl(location, manifestUrl);
  if (!url) throw new RetrieveError("bad-manifest");
  const response = await send(url.href, { method: "GET" });
  if (!response.ok) throw new RetrieveError("file-unavailable", { status: response.status });
  return readJwe(response);
}

async function resolveFiles(entries, manifestUrl) {
  const files = [];
  for (const entry of entries) {
    if (entry === null || typeof entry !== "object") continue;
    const contentType = typeof entry.contentType === "string" ? entry.contentType : null;
    const status = typeof entry.status === "string" ? entry.status : null;
    const file = { contentType, status, jwe: null, error: null };
    try {
      if (typeof entry.embedded === "string") {
        if (!looksLikeCompactJwe(entry.embedded.trim())) throw new RetrieveError("bad-file");
        file.jwe = entry.embedded.trim();
      } else if (typeof entry.location === "string") {
        file.jwe = await fetchLocation(entry.location, manifestUrl);
      } else {
        throw new RetrieveError("bad-file");
      }
    } catch (error) {
      file.error = error instanceof RetrieveError ? error : new RetrieveError("bad-file");
    }
    files.push(file);
  }
  return files;
}

const unavailable = (file) => file.error?.code === "file-unavailable" || file.error?.code === "network";

/**
 * The files of a manifest link: [{contentType, status, jwe}] or, for a file that could not be had,
 * [{contentType, status, error}]. `location` URLs may be single-use or short-lived: when one cannot be
 * fetched the manifest is requested once more for fresh locations, as the specification asks receivers to be
 * able to.
 */
export async function fetchManifestFiles(link, recipient, passcode) {
  const files = await resolveFiles(await fetchManifest(link, recipient, passcode), link.url);
  if (!files.some(unavailable)) return files;
  try {
    return await resolveFiles(await fetchManifest(link, recipient, passcode), link.url);
  } catch {
    return files;
  }
}
