// What the eID sandbox (server.mjs) and the SMART authorization server sandbox (authorization-server.mjs)
// share: option parsing, the in-memory adapter, plain HTML pages, signing keys, loopback redirect URIs, the
// sign-in/consent interaction and the HTTP server with key rotation. Both are real panva oidc-provider
// instances; only their clients, scopes and pages differ.
import { generateKeyPair, randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { parseArgs, promisify } from 'node:util';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost']);

export function failWith(prefix) {
  return (message) => {
    process.stderr.write(`${prefix}: ${message}\n`);
    process.exit(2);
  };
}

export function parseOptions(config, fail) {
  try {
    return parseArgs(config);
  } catch (error) {
    return fail(error.message);
  }
}

export function portOption(value, fail) {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port wants a port number, not ${value}`);
  return port;
}

export function rotateOption(value, fail) {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < 0) fail(`--rotate-keys-every wants seconds (0 = never), not ${value}`);
  return seconds;
}

// ------------------------------------------------------------------------------------------ storage

// Sessions, interactions, codes and grants in one process-wide map, so that a provider rebuilt for a key
// rotation carries on every sign-in under way.
const storage = new Map();

export class MemoryAdapter {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  static get(key) {
    const entry = storage.get(key);
    if (entry && entry.expiresAt < Date.now()) {
      storage.delete(key);
      return undefined;
    }
    return entry?.value;
  }

  static set(key, value, expiresIn) {
    storage.set(key, { value, expiresAt: Date.now() + expiresIn * 1000 });
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    if (this.model === 'Session') MemoryAdapter.set(`sessionUid:${payload.uid}`, id, expiresIn);
    if (payload.userCode) MemoryAdapter.set(`userCode:${payload.userCode}`, id, expiresIn);
    if (payload.grantId) {
      const grantKey = `grant:${payload.grantId}`;
      const keys = MemoryAdapter.get(grantKey) ?? [];
      MemoryAdapter.set(grantKey, [...keys, key], expiresIn);
    }
    MemoryAdapter.set(key, payload, expiresIn);
  }

  async find(id) {
    return MemoryAdapter.get(this.key(id));
  }

  async findByUid(uid) {
    const id = MemoryAdapter.get(`sessionUid:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = MemoryAdapter.get(`userCode:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const payload = MemoryAdapter.get(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    storage.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const key of MemoryAdapter.get(`grant:${grantId}`) ?? []) storage.delete(key);
    storage.delete(`grant:${grantId}`);
  }
}

// ------------------------------------------------------------------------------------------ pages

export function escapeHtml(value) {
  return String(value).replace(
    /[&<>"']/g,
    (character) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[character],
  );
}

// Plain HTML, no scripts or external assets: the pages must work in any browser a test drives.
export function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;line-height:1.5}
ul{list-style:none;padding:0}li{margin:.75rem 0}button{font-size:1rem;padding:.5rem 1rem}
.note{color:#444}
</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>`;
}

export function sendHtml(res, status, html) {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(html);
}

export async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 16384) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// ------------------------------------------------------------------------------------------ provider

// Asynchronous: an RSA key takes a second or two on a busy machine, and requests go on meanwhile.
export async function newSigningKey() {
  const { privateKey } = await promisify(generateKeyPair)('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

export function isLoopbackHttp(parsed) {
  return (
    parsed.protocol === 'http:' &&
    LOOPBACK_HOSTS.has(parsed.hostname) &&
    !parsed.username &&
    !parsed.password &&
    !parsed.search &&
    !parsed.hash
  );
}

export function parseUrl(value) {
  try {
    return new URL(value);
  } catch {
    return null;
  }
}

export const cookieKeys = [randomBytes(32).toString('base64url')];

// Plain http on loopback: SameSite=None cookies would need Secure, so both kinds are Lax.
export const cookies = {
  keys: cookieKeys,
  long: { httpOnly: true, sameSite: 'lax', signed: true },
  short: { httpOnly: true, sameSite: 'lax', signed: true },
};

// LOCAL SANDBOX ONLY: a real provider matches redirect URIs exactly. The portal runs here on whatever port
// tests and `make run` choose, so the client may use its callback path on any port of a loopback host (and,
// with a logout path, return after logout to the root of any loopback port). oidc-provider documents
// overriding these Client methods as its extension point (recipes/redirect_uri_wildcards.md). Never copy this
// to production.
export function allowLoopbackRedirects(provider, callbackPath, { logout = false } = {}) {
  const { prototype } = provider.Client;
  const exactRedirectUriAllowed = prototype.redirectUriAllowed;
  prototype.redirectUriAllowed = function redirectUriAllowed(value) {
    const parsed = parseUrl(value);
    if (parsed && isLoopbackHttp(parsed) && parsed.pathname === callbackPath) return true;
    return exactRedirectUriAllowed.call(this, value);
  };
  if (!logout) return;
  const exactPostLogoutAllowed = prototype.postLogoutRedirectUriAllowed;
  prototype.postLogoutRedirectUriAllowed = function postLogoutRedirectUriAllowed(value) {
    const parsed = parseUrl(value);
    if (parsed && isLoopbackHttp(parsed) && parsed.pathname === '/') return true;
    return exactPostLogoutAllowed.call(this, value);
  };
}

// ------------------------------------------------------------------------------------------ interactions

// One sign-in and consent flow for both sandboxes. `ui` says what they differ in:
//   title: the page titles' prefix ("National eID sandbox")
//   signInPage(uid, clientName), consentPage(uid, clientName, accountId, scopes): HTML
//   login(form): the `login` result for the person the form names, or null
//   noPersonMessage: the error when the form names nobody
async function interaction(provider, ui, req, res, uid, action) {
  const errorPage = (message) => page(`${ui.title} — error`, `<h1>${message}</h1>`);
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    sendHtml(res, 400, errorPage('This sign-in has expired. Start again.'));
    return;
  }
  const client = await provider.Client.find(details.params.client_id);
  const clientName = client?.clientName || details.params.client_id;

  if (action === '' && req.method === 'GET') {
    if (details.prompt.name === 'login') {
      sendHtml(res, 200, ui.signInPage(uid, clientName));
    } else {
      const scopes = String(details.params.scope).split(' ');
      sendHtml(res, 200, ui.consentPage(uid, clientName, details.session?.accountId, scopes));
    }
    return;
  }
  if (action === 'login' && req.method === 'POST') {
    const login = ui.login(await readForm(req));
    if (!login || details.prompt.name !== 'login') {
      sendHtml(res, 400, errorPage(ui.noPersonMessage));
      return;
    }
    await provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
    return;
  }
  if (action === 'confirm' && req.method === 'POST') {
    await readForm(req);
    if (details.prompt.name !== 'consent') {
      sendHtml(res, 400, errorPage('Nothing to confirm.'));
      return;
    }
    const { accountId } = details.session;
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId, clientId: details.params.client_id });
    const missing = details.prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    const consent = details.grantId ? {} : { grantId };
    await provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
    return;
  }
  if (action === 'abort' && req.method === 'GET') {
    await provider.interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: 'The person cancelled the sign-in.' },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  sendHtml(res, 405, errorPage('Not allowed.'));
}

// ------------------------------------------------------------------------------------------ server

// Serves `build(issuer, signingKeys)`'s provider and the interaction pages at host:port. The issuer is
// http://<host>:<port>; `ready` prints once listening. SIGHUP (or every `rotateEvery` seconds) puts a new
// signing key first and keeps the previous one published so tokens already issued still verify.
export async function serve({ name, host, port, rotateEvery, build, ui }) {
  let provider = null;
  let callback = null;
  let signingKeys = [];
  let issuer;

  const server = http.createServer(async (req, res) => {
    if (!provider) {
      res.writeHead(503).end();
      return;
    }
    const match = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?\/?$/.exec(req.url.split('?')[0]);
    if (!match) {
      callback(req, res);
      return;
    }
    try {
      await interaction(provider, ui, req, res, match[1], match[2] ?? '');
    } catch (error) {
      const expired = error?.name === 'SessionNotFound';
      const message = expired ? 'This sign-in has expired or was finished. Start again.' : 'Something went wrong.';
      if (!expired) process.stderr.write(`${name}: interaction failed: ${error?.name}: ${error?.message}\n`);
      if (!res.headersSent) sendHtml(res, 400, page(`${ui.title} — error`, `<h1>${message}</h1>`));
    }
  });

  function install(keys) {
    signingKeys = keys;
    provider = build(issuer, keys);
    callback = provider.callback();
  }

  let rotating = false;
  async function rotateKeys() {
    if (rotating || !provider) return;
    rotating = true;
    try {
      install([await newSigningKey(), signingKeys[0]]);
      process.stdout.write(`${name}: signing key rotated, now ${signingKeys[0].kid}\n`);
    } finally {
      rotating = false;
    }
  }

  function stop() {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  }

  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', rotateKeys);

  const firstKey = await newSigningKey();
  server.listen(port, host, () => {
    const address = server.address();
    const listening = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    issuer = `http://${host === 'localhost' ? 'localhost' : listening}:${address.port}`;
    install([firstKey]);
    if (rotateEvery > 0) setInterval(rotateKeys, rotateEvery * 1000).unref();
    process.stdout.write(`${name} ready at ${issuer}\n`);
  });
}
