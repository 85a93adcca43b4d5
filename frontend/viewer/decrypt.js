// Decrypting SHL files (compact JWE, alg "dir", enc "A256GCM") and unpacking what they hold.

import { base64url, compactDecrypt } from "jose";

const MAX_PLAINTEXT = 50 * 1024 * 1024; // bytes; a bound on what a compressed file may inflate to

/** A file that could not be decrypted or read; `code` names the message the page shows. */
export class DecryptError extends Error {
  constructor(code) {
    super(code);
    this.name = "DecryptError";
    this.code = code;
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function parseJson(bytes) {
  try {
    return JSON.parse(utf8.decode(bytes));
  } catch {
    throw new DecryptError("not-json");
  }
}

/**
 * Decrypts one compact JWE with the link's 32-byte key. Returns {contentType, plaintext (Uint8Array)}.
 *
 * Other servers MAY compress the plaintext (`zip: "DEF"`, raw DEFLATE). jose 6 inflates it itself with the
 * browser's DecompressionStream("deflate-raw"), up to `maxDecompressedLength` (250 kB by default, too small
 * for a large patient summary, hence the higher bound here), so no separate WebCrypto path is needed.
 */
export async function decryptFile(jwe, key, manifestContentType) {
  let result;
  try {
    result = await compactDecrypt(jwe, key, {
      keyManagementAlgorithms: ["dir"],
      contentEncryptionAlgorithms: ["A256GCM"],
      maxDecompressedLength: MAX_PLAINTEXT,
    });
  } catch {
    throw new DecryptError("decrypt");
  }
  const cty = result.protectedHeader.cty;
  return { contentType: typeof cty === "string" && cty ? cty : manifestContentType, plaintext: result.plaintext };
}

async function inflateRaw(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * The FHIR Bundles inside a SMART Health Card file ({verifiableCredential: [JWS, …]}). The JWS payload is
 * raw-DEFLATE-compressed JSON; its signature is NOT verified here (that needs the issuer's published keys).
 */
async function healthCardBundles(file) {
  const credentials = Array.isArray(file?.verifiableCredential) ? file.verifiableCredential : [];
  const bundles = [];
  for (const jws of credentials) {
    const parts = typeof jws === "string" ? jws.split(".") : [];
    if (parts.length !== 3) throw new DecryptError("bad-card");
    let header;
    let payloadBytes;
    try {
      header = JSON.parse(utf8.decode(base64url.decode(parts[0])));
      payloadBytes = base64url.decode(parts[1]);
      if (header.zip === "DEF") payloadBytes = await inflateRaw(payloadBytes);
    } catch {
      throw new DecryptError("bad-card");
    }
    const payload = parseJson(payloadBytes);
    const bundle = payload?.vc?.credentialSubject?.fhirBundle;
    if (bundle && typeof bundle === "object") bundles.push(bundle);
  }
  return bundles;
}

/**
 * What one decrypted file holds, by content type:
 *   {kind: "fhir", resource, json}                 application/fhir+json
 *   {kind: "card", bundles}                        application/smart-health-card
 *   {kind: "unsupported", contentType}             anything else
 */
export async function readFile({ contentType, plaintext }) {
  const type = (contentType || "").split(";")[0].trim().toLowerCase();
  if (type === "application/fhir+json") {
    const resource = parseJson(plaintext);
    if (resource === null || typeof resource !== "object" || typeof resource.resourceType !== "string") {
      throw new DecryptError("not-fhir");
    }
    return { kind: "fhir", resource, json: plaintext };
  }
  if (type === "application/smart-health-card") {
    return { kind: "card", bundles: await healthCardBundles(parseJson(plaintext)) };
  }
  return { kind: "unsupported", contentType: type || "?" };
}
