// The eID sandbox: a real OpenID Provider (panva's oidc-provider, OpenID Certified) standing in for the national
// eID on this machine, for tests and `make run`. Test persons sign in with one button press, no password.
//
//   node sandbox/eid/server.mjs --host 127.0.0.1 --port 8091 [--client-id ID] [--client-secret SECRET]
//                               [--persons FILE] [--rotate-keys-every SECONDS]
//
// The issuer is http://<host>:<port>. One confidential client (client_secret_basic or client_secret_post),
// authorization code flow with PKCE S256 required, RP-initiated logout. The RS256 signing key is generated at
// each start; --rotate-keys-every N (or a SIGHUP) puts a new signing key first and keeps the previous one in
// the JWKS so that tokens already issued still verify. State (sessions, codes) lives in memory only.
import { generateKeyPair, randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';

import Provider from 'oidc-provider';

const HERE = dirname(fileURLToPath(import.meta.url));
const CALLBACK_PATH = '/accounts/oidc/eid/login/callback/';
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost']);
const LOA = {
  low: 'http://eidas.europa.eu/LoA/low',
  substantial: 'http://eidas.europa.eu/LoA/substantial',
  high: 'http://eidas.europa.eu/LoA/high',
};
const SCOPE_TEXT = {
  openid: 'that it is you (an identifier for this service)',
  profile: 'your name and date of birth',
  national_id: 'your national identifier',
};

const { values: options } = parseOptions({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '8091' },
    'client-id': { type: 'string', default: process.env.EID_SANDBOX_CLIENT_ID || 'yellow-button-portal' },
    'client-secret': { type: 'string', default: process.env.EID_SANDBOX_CLIENT_SECRET || 'eid-sandbox-secret' },
    persons: { type: 'string', default: join(HERE, 'persons.json') },
    'rotate-keys-every': { type: 'string', default: '0' },
  },
  strict: true,
});

const rotateEvery = Number(options['rotate-keys-every']);
if (!Number.isFinite(rotateEvery) || rotateEvery < 0) {
  fail(`--rotate-keys-every wants seconds (0 = never), not ${options['rotate-keys-every']}`);
}
const port = Number(options.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port wants a port number, not ${options.port}`);

const persons = loadPersons(options.persons);
const personsBySub = new Map(persons.map((person) => [person.sub, person]));

function parseOptions(config) {
  try {
    return parseArgs(config);
  } catch (error) {
    return fail(error.message);
  }
}

function fail(message) {
  process.stderr.write(`eID sandbox: ${message}\n`);
  process.exit(2);
}

function loadPersons(path) {
  const { persons: list } = JSON.parse(readFileSync(path, 'utf8'));
  const levels = new Set(Object.values(LOA));
  for (const person of list) {
    for (const field of ['sub', 'given_name', 'family_name', 'birthdate', 'national_identifier', 'acr']) {
      if (typeof person[field] !== 'string' || !person[field]) fail(`${path}: a person lacks "${field}"`);
    }
    if (!levels.has(person.acr)) fail(`${path}: ${person.sub} has acr ${person.acr}, not an eIDAS LoA`);
    person.name = `${person.given_name} ${person.family_name}`;
  }
  return list;
}

// ------------------------------------------------------------------------------------------ storage

// Sessions, interactions, codes and grants in one process-wide map, so that a provider rebuilt for a key
// rotation carries on every sign-in under way.
const storage = new Map();

class MemoryAdapter {
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

function escapeHtml(value) {
  return String(value).replace(
    /[&<>"']/g,
    (character) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[character],
  );
}

// Plain HTML, no scripts or external assets: the pages must work in any browser a test drives.
function page(title, body) {
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

function signInPage(uid, clientName) {
  const items = persons
    .map(
      (person, index) => `<li>
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<input type="hidden" name="person" value="${escapeHtml(person.sub)}">
<button type="submit" aria-describedby="person-${index}">${escapeHtml(person.name)}</button>
<span class="note" id="person-${index}">born ${escapeHtml(person.birthdate)},
assurance ${escapeHtml(person.acr.split('/').pop())}</span>
</form>
</li>`,
    )
    .join('\n');
  return page(
    'National eID sandbox — sign in',
    `<h1>National eID sandbox — sign in</h1>
<p>${escapeHtml(clientName)} asks you to sign in. This is a test identity provider: choose a test person,
no password is needed.</p>
<ul aria-label="Test persons">
${items}
</ul>
<p><a href="/interaction/${escapeHtml(uid)}/abort">Cancel and go back to ${escapeHtml(clientName)}</a></p>`,
  );
}

function consentPage(uid, clientName, person, scopes) {
  const items = scopes
    .filter((scope) => SCOPE_TEXT[scope])
    .map((scope) => `<li>${escapeHtml(SCOPE_TEXT[scope])}</li>`)
    .join('\n');
  return page(
    'National eID sandbox — share your details',
    `<h1>National eID sandbox — share your details</h1>
<p>Signed in as ${escapeHtml(person ? person.name : 'an unknown person')}.
${escapeHtml(clientName)} will receive:</p>
<ul>
${items}
</ul>
<form method="post" action="/interaction/${escapeHtml(uid)}/confirm">
<button type="submit">Continue</button>
</form>
<p><a href="/interaction/${escapeHtml(uid)}/abort">Cancel and go back to ${escapeHtml(clientName)}</a></p>`,
  );
}

function sendHtml(res, status, html) {
  res.writeHead(status, {
    'Content-Type': 'text/html; charset=utf-8',
    'Cache-Control': 'no-store',
    'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(html);
}

// ------------------------------------------------------------------------------------------ provider

// Asynchronous: an RSA key takes a second or two on a busy machine, and requests go on meanwhile.
async function newSigningKey() {
  const { privateKey } = await promisify(generateKeyPair)('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

function isLoopbackHttp(parsed) {
  return (
    parsed.protocol === 'http:' &&
    LOOPBACK_HOSTS.has(parsed.hostname) &&
    !parsed.username &&
    !parsed.password &&
    !parsed.search &&
    !parsed.hash
  );
}

function parseUrl(value) {
  try {
    return new URL(value);
  } catch {
    return null;
  }
}

const cookieKeys = [randomBytes(32).toString('base64url')];

function buildProvider(issuer, signingKeys) {
  const clientId = options['client-id'];
  const provider = new Provider(issuer, {
    adapter: MemoryAdapter,
    clients: [
      {
        client_id: clientId,
        client_secret: options['client-secret'],
        client_name: 'Yellow Button portal',
        // The registered URIs; any port of them is accepted, see redirectUriAllowed below.
        redirect_uris: [`http://127.0.0.1${CALLBACK_PATH}`, `http://localhost${CALLBACK_PATH}`],
        post_logout_redirect_uris: ['http://127.0.0.1/', 'http://localhost/'],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        // client_secret_post is accepted as well: oidc-provider treats the two secret methods as one.
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'RS256',
      },
    ],
    jwks: { keys: signingKeys },
    cookies: {
      keys: cookieKeys,
      // Plain http on loopback: SameSite=None cookies would need Secure, so both kinds are Lax.
      long: { httpOnly: true, sameSite: 'lax', signed: true },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
    },
    scopes: ['openid', 'profile', 'national_id'],
    claims: {
      // acr under openid: it goes into every ID token, not only when the claims parameter asks for it.
      openid: ['sub', 'acr'],
      profile: ['name', 'given_name', 'family_name', 'birthdate'],
      national_id: ['national_identifier'],
      acr: null,
      auth_time: null,
      sid: null,
    },
    // The portal reads the person from the ID token: put the scopes' claims there too, not only in userinfo.
    conformIdTokenClaims: false,
    acrValues: Object.values(LOA),
    // Seconds. A sign-in at the sandbox lasts a working day; codes are short-lived as at a real provider.
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 3600,
      Grant: 8 * 3600,
      Session: 8 * 3600,
    },
    responseTypes: ['code'],
    pkce: { methods: ['S256'], required: () => true },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    enabledJWA: { idTokenSigningAlgValues: ['RS256'], userinfoSigningAlgValues: ['RS256'] },
    clientBasedCORS: () => false,
    async findAccount(ctx, sub) {
      const person = personsBySub.get(sub);
      if (!person) return undefined;
      return {
        accountId: sub,
        async claims() {
          const { name, given_name, family_name, birthdate, national_identifier } = person;
          return { sub, name, given_name, family_name, birthdate, national_identifier };
        },
      };
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.type = 'html';
          ctx.body = page(
            'National eID sandbox — sign out',
            `<h1>National eID sandbox — sign out</h1>
<p>Sign out of the national eID on this browser?</p>
${form}
<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>`,
          );
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.body = page(
            'National eID sandbox — signed out',
            '<h1>National eID sandbox — signed out</h1>\n<p>You are signed out of the national eID.</p>',
          );
        },
      },
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page(
        'National eID sandbox — error',
        `<h1>National eID sandbox — error</h1>
<p><strong>${escapeHtml(out.error)}</strong>: ${escapeHtml(out.error_description ?? '')}</p>`,
      );
    },
  });

  // LOCAL SANDBOX ONLY: a real provider matches redirect URIs exactly. The portal runs here on whatever port
  // tests and `make run` choose, so this client may use its callback path on any port of a loopback host,
  // and return after logout to the root of any loopback port. oidc-provider documents overriding these
  // Client methods as its extension point (recipes/redirect_uri_wildcards.md). Never copy this to production.
  const { prototype } = provider.Client;
  const exactRedirectUriAllowed = prototype.redirectUriAllowed;
  prototype.redirectUriAllowed = function redirectUriAllowed(value) {
    const parsed = parseUrl(value);
    if (parsed && isLoopbackHttp(parsed) && parsed.pathname === CALLBACK_PATH) return true;
    return exactRedirectUriAllowed.call(this, value);
  };
  const exactPostLogoutAllowed = prototype.postLogoutRedirectUriAllowed;
  prototype.postLogoutRedirectUriAllowed = function postLogoutRedirectUriAllowed(value) {
    const parsed = parseUrl(value);
    if (parsed && isLoopbackHttp(parsed) && parsed.pathname === '/') return true;
    return exactPostLogoutAllowed.call(this, value);
  };
  return provider;
}

// ------------------------------------------------------------------------------------------ interactions

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 16384) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

async function interaction(provider, req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    sendHtml(res, 400, page('National eID sandbox — error', '<h1>This sign-in has expired. Start again.</h1>'));
    return;
  }
  const client = await provider.Client.find(details.params.client_id);
  const clientName = client?.clientName || details.params.client_id;

  if (action === '' && req.method === 'GET') {
    if (details.prompt.name === 'login') {
      sendHtml(res, 200, signInPage(uid, clientName));
    } else {
      const person = personsBySub.get(details.session?.accountId);
      sendHtml(res, 200, consentPage(uid, clientName, person, String(details.params.scope).split(' ')));
    }
    return;
  }
  if (action === 'login' && req.method === 'POST') {
    const person = personsBySub.get((await readForm(req)).get('person'));
    if (!person || details.prompt.name !== 'login') {
      sendHtml(res, 400, page('National eID sandbox — error', '<h1>Choose one of the test persons.</h1>'));
      return;
    }
    await provider.interactionFinished(
      req,
      res,
      { login: { accountId: person.sub, acr: person.acr, amr: ['pop'] } },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  if (action === 'confirm' && req.method === 'POST') {
    await readForm(req);
    if (details.prompt.name !== 'consent') {
      sendHtml(res, 400, page('National eID sandbox — error', '<h1>Nothing to confirm.</h1>'));
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
  sendHtml(res, 405, page('National eID sandbox — error', '<h1>Not allowed.</h1>'));
}

// ------------------------------------------------------------------------------------------ server

let provider = null;
let callback = null;
let signingKeys = [];

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
    await interaction(provider, req, res, match[1], match[2] ?? '');
  } catch (error) {
    const expired = error?.name === 'SessionNotFound';
    const message = expired ? 'This sign-in has expired or was finished. Start again.' : 'Something went wrong.';
    if (!expired) process.stderr.write(`eID sandbox: interaction failed: ${error?.name}: ${error?.message}\n`);
    if (!res.headersSent) sendHtml(res, 400, page('National eID sandbox — error', `<h1>${message}</h1>`));
  }
});

let issuer;

function install(keys) {
  signingKeys = keys;
  provider = buildProvider(issuer, keys);
  callback = provider.callback();
}

// The new key signs from now on; the previous one stays published so tokens signed with it still verify.
let rotating = false;
async function rotateKeys() {
  if (rotating || !provider) return;
  rotating = true;
  try {
    install([await newSigningKey(), signingKeys[0]]);
    process.stdout.write(`eID sandbox: signing key rotated, now ${signingKeys[0].kid}\n`);
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
server.listen(port, options.host, () => {
  const address = server.address();
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  issuer = `http://${options.host === 'localhost' ? 'localhost' : host}:${address.port}`;
  install([firstKey]);
  if (rotateEvery > 0) setInterval(rotateKeys, rotateEvery * 1000).unref();
  process.stdout.write(`eID sandbox ready at ${issuer}\n`);
});
