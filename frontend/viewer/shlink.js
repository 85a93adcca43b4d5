// Parsing a SMART Health Link (HL7 "SMART Health Cards and Links" IG, links specification).
// Pure functions over strings: no DOM, no network.

import { base64url } from "jose";

const SCHEME = "shlink:/";
const SUPPORTED_VERSION = 1;

/** An SHL that cannot be used; `code` names the message the page shows. */
export class ShlinkError extends Error {
  constructor(code, label = "") {
    super(code);
    this.name = "ShlinkError";
    this.code = code;
    this.label = label;
  }
}

/**
 * The `shlink:/…` part of a text: a bare link, a viewer URL ending in `#shlink:/…`, or a pasted text holding
 * one. Returns null when there is none.
 */
export function findShlink(text) {
  if (typeof text !== "string") return null;
  const start = text.indexOf(SCHEME);
  if (start === -1) return null;
  const match = /^shlink:\/[A-Za-z0-9_-]+/.exec(text.slice(start));
  return match ? match[0] : null;
}

function isLoopback(hostname) {
  return hostname === "localhost" || hostname === "127.0.0.1" || hostname === "[::1]";
}

/**
 * A URL the viewer may send a request to: https, or http on this machine's loopback (tests, demo). A relative
 * value is resolved against `base` when one is given.
 */
export function usableUrl(value, base = undefined) {
  if (typeof value !== "string") return null;
  let url;
  try {
    url = new URL(value, base);
  } catch {
    return null;
  }
  if (url.protocol === "https:" || (url.protocol === "http:" && isLoopback(url.hostname))) return url;
  return null;
}

/**
 * Decodes an `shlink:/…` string into {url, key (Uint8Array), exp, flags (Set), label, v}.
 * Unknown properties and flags are ignored, as the specification asks.
 */
export function parseShlink(shlink) {
  let payload;
  try {
    const json = new TextDecoder("utf-8", { fatal: true }).decode(base64url.decode(shlink.slice(SCHEME.length)));
    payload = JSON.parse(json);
  } catch {
    throw new ShlinkError("invalid");
  }
  if (payload === null || typeof payload !== "object" || Array.isArray(payload)) throw new ShlinkError("invalid");

  const label = typeof payload.label === "string" ? payload.label.slice(0, 80) : "";
  // A newer version may need behaviour this viewer lacks: show the label, do not contact the server.
  if (payload.v !== undefined && !(typeof payload.v === "number" && payload.v <= SUPPORTED_VERSION)) {
    throw new ShlinkError("version", label);
  }

  const url = usableUrl(payload.url);
  if (!url) throw new ShlinkError("invalid");

  let key;
  try {
    key = typeof payload.key === "string" && payload.key.length === 43 ? base64url.decode(payload.key) : null;
  } catch {
    key = null;
  }
  if (!key || key.length !== 32) throw new ShlinkError("invalid");

  const exp = typeof payload.exp === "number" && Number.isFinite(payload.exp) ? payload.exp : null;
  const flags = new Set(typeof payload.flag === "string" ? payload.flag.split("") : []);
  return { url: url.href, key, exp, flags, label };
}

/** True when the link's `exp` hint lies in the past. */
export function isExpired(link, nowMs = Date.now()) {
  return link.exp !== null && link.exp * 1000 <= nowMs;
}
