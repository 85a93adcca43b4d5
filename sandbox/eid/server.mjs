// The eID sandbox: a real OpenID Provider (panva's oidc-provider, OpenID Certified) standing in for the national
// eID on this machine, for tests and `make run`. Test persons sign in with one button press, no password.
//
//   node sandbox/eid/server.mjs --host 127.0.0.1 --port 8091 [--client-id ID] [--client-secret SECRET]
//                               [--jwt-client-id ID --jwt-client-jwks FILE]
//                               [--persons FILE] [--rotate-keys-every SECONDS]
//
// The issuer is http://<host>:<port>. One confidential client (client_secret_basic or client_secret_post), and
// optionally a second one that authenticates with private_key_jwt (its public keys in a JWKS file),
// authorization code flow with PKCE S256 required, RP-initiated logout. The RS256 signing key is generated at
// each start; --rotate-keys-every N (or a SIGHUP) puts a new signing key first and keeps the previous one in
// the JWKS so that tokens already issued still verify. State (sessions, codes) lives in memory only.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import Provider from 'oidc-provider';

import {
  MemoryAdapter,
  allowLoopbackRedirects,
  cookies,
  escapeHtml,
  failWith,
  page,
  parseOptions,
  portOption,
  rotateOption,
  serve,
} from './common.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const CALLBACK_PATH = '/accounts/oidc/eid/login/callback/';
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

const fail = failWith('eID sandbox');

const { values: options } = parseOptions({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '8091' },
    'client-id': { type: 'string', default: process.env.EID_SANDBOX_CLIENT_ID || 'yellow-button-portal' },
    'client-secret': { type: 'string', default: process.env.EID_SANDBOX_CLIENT_SECRET || 'eid-sandbox-secret' },
    'jwt-client-id': { type: 'string', default: '' },
    'jwt-client-jwks': { type: 'string', default: '' },
    persons: { type: 'string', default: join(HERE, 'persons.json') },
    'rotate-keys-every': { type: 'string', default: '0' },
  },
  strict: true,
}, fail);

const rotateEvery = rotateOption(options['rotate-keys-every'], fail);
const port = portOption(options.port, fail);

if (Boolean(options['jwt-client-id']) !== Boolean(options['jwt-client-jwks'])) {
  fail('--jwt-client-id and --jwt-client-jwks go together');
}
const jwtClientKeys = options['jwt-client-jwks'] ? loadPublicKeys(options['jwt-client-jwks']) : null;

const persons = loadPersons(options.persons);
const personsBySub = new Map(persons.map((person) => [person.sub, person]));

function loadPublicKeys(path) {
  const { keys } = JSON.parse(readFileSync(path, 'utf8'));
  if (!Array.isArray(keys) || !keys.length) fail(`${path}: a JWKS with at least one key`);
  if (keys.some((key) => key.d !== undefined)) fail(`${path}: public keys only`);
  return keys;
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

// ------------------------------------------------------------------------------------------ pages

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

function consentPage(uid, clientName, accountId, scopes) {
  const person = personsBySub.get(accountId);
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

// ------------------------------------------------------------------------------------------ provider

// The portal as a client that proves itself with a signed assertion (private_key_jwt) instead of a secret.
function jwtClient() {
  return {
    client_id: options['jwt-client-id'],
    client_name: 'Yellow Button portal',
    redirect_uris: [`http://127.0.0.1${CALLBACK_PATH}`, `http://localhost${CALLBACK_PATH}`],
    post_logout_redirect_uris: ['http://127.0.0.1/', 'http://localhost/'],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'private_key_jwt',
    jwks: { keys: jwtClientKeys },
    id_token_signed_response_alg: 'RS256',
  };
}

function buildProvider(issuer, signingKeys) {
  const clientId = options['client-id'];
  const provider = new Provider(issuer, {
    adapter: MemoryAdapter,
    clients: [
      {
        client_id: clientId,
        client_secret: options['client-secret'],
        client_name: 'Yellow Button portal',
        // The registered URIs; any port of them is accepted, see allowLoopbackRedirects.
        redirect_uris: [`http://127.0.0.1${CALLBACK_PATH}`, `http://localhost${CALLBACK_PATH}`],
        post_logout_redirect_uris: ['http://127.0.0.1/', 'http://localhost/'],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        // client_secret_post is accepted as well: oidc-provider treats the two secret methods as one.
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'RS256',
      },
      ...(jwtClientKeys ? [jwtClient()] : []),
    ],
    jwks: { keys: signingKeys },
    cookies,
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
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    enabledJWA: {
      idTokenSigningAlgValues: ['RS256'],
      userinfoSigningAlgValues: ['RS256'],
      clientAuthSigningAlgValues: ['RS256', 'PS256', 'ES256'],
    },
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

  allowLoopbackRedirects(provider, CALLBACK_PATH, { logout: true });
  return provider;
}

await serve({
  name: 'eID sandbox',
  host: options.host,
  port,
  rotateEvery,
  build: buildProvider,
  ui: {
    title: 'National eID sandbox',
    signInPage,
    consentPage,
    noPersonMessage: 'Choose one of the test persons.',
    login(form) {
      const person = personsBySub.get(form.get('person'));
      return person ? { accountId: person.sub, acr: person.acr, amr: ['pop'] } : null;
    },
  },
});
