// The SMART authorization server sandbox: a real OAuth 2 / OpenID provider (panva's oidc-provider) that a
// data source's FHIR sandbox names as its authorization server (sandbox/launch.py --authorization-server), for
// the SMART App Launch 2 standalone launch in tests and `make run`. Test patients sign in with one button
// press, no password, then approve the portal's access with one more.
//
//   node sandbox/eid/authorization-server.mjs --fhir-base-url URL [--host 127.0.0.1] [--port 8093]
//       [--client-id ID] [--client-secret SECRET] [--patients FILE] [--rotate-keys-every SECONDS]
//
// The issuer is http://<host>:<port>. One confidential client (client_secret_basic) with the redirect URI
// /records/connect/callback/ on any loopback port; authorization code flow with PKCE S256 required; scopes
// `launch/patient patient/*.rs` (or `patient/*.read`) `openid fhirUser offline_access`; the SMART `aud`
// parameter must name the FHIR base URL. Access tokens are RS256 JWTs (RFC 9068, typ at+jwt) for that FHIR
// base as audience, carrying the patient's id in `patient`, verifiable against this server's JWKS; the token
// response names the patient too. offline_access brings a refresh token, rotated at every use (a reused one
// revokes the grant); revoking a refresh token at /token/revocation ends the grant. State lives in memory.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import Provider, { errors } from 'oidc-provider';

import {
  MemoryAdapter,
  allowLoopbackRedirects,
  cookies,
  escapeHtml,
  failWith,
  page,
  parseOptions,
  parseUrl,
  portOption,
  rotateOption,
  serve,
} from './common.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const CALLBACK_PATH = '/records/connect/callback/';
const TITLE = 'Health record sandbox';
// Scopes of the FHIR sandbox as a resource server; the OpenID ones are the provider's own.
const RESOURCE_SCOPES = ['launch/patient', 'patient/*.rs', 'patient/*.read'];
const SCOPE_TEXT = {
  openid: 'that it is you (an identifier for this service)',
  fhirUser: 'a link to your patient record',
  'launch/patient': 'which patient record is yours',
  'patient/*.rs': 'everything in your health record, to read and search (not to change)',
  'patient/*.read': 'everything in your health record, to read and search (not to change)',
  offline_access: 'that access goes on after you leave, until you or the portal end it',
};

const fail = failWith('SMART authorization server');

const { values: options } = parseOptions(
  {
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '8093' },
      'fhir-base-url': { type: 'string' },
      'client-id': { type: 'string', default: process.env.SMART_AS_CLIENT_ID || 'yellow-button-portal' },
      'client-secret': { type: 'string', default: process.env.SMART_AS_CLIENT_SECRET || 'smart-sandbox-secret' },
      patients: { type: 'string', default: join(HERE, 'patients.json') },
      'rotate-keys-every': { type: 'string', default: '0' },
    },
    strict: true,
  },
  fail,
);

const rotateEvery = rotateOption(options['rotate-keys-every'], fail);
const port = portOption(options.port, fail);
const fhirBase = fhirBaseOption(options['fhir-base-url']);
const patients = loadPatients(options.patients);
const patientsBySub = new Map(patients.map((patient) => [patient.sub, patient]));

function fhirBaseOption(value) {
  const parsed = value ? parseUrl(value) : null;
  if (!parsed || !['http:', 'https:'].includes(parsed.protocol) || parsed.search || parsed.hash) {
    fail(`--fhir-base-url wants the FHIR sandbox's base URL (http://host:port/fhir), not ${value ?? 'nothing'}`);
  }
  return withoutTrailingSlash(parsed.href);
}

function withoutTrailingSlash(value) {
  return String(value).replace(/\/+$/, '');
}

function loadPatients(path) {
  const { patients: list } = JSON.parse(readFileSync(path, 'utf8'));
  for (const patient of list) {
    for (const field of ['sub', 'given_name', 'family_name', 'birthdate', 'patient']) {
      if (typeof patient[field] !== 'string' || !patient[field]) fail(`${path}: a patient lacks "${field}"`);
    }
    if (!/^[A-Za-z0-9\-.]{1,64}$/.test(patient.patient)) fail(`${path}: ${patient.patient} is no FHIR id`);
    patient.name = `${patient.given_name} ${patient.family_name}`;
  }
  return list;
}

// ------------------------------------------------------------------------------------------ pages

function signInPage(uid, clientName) {
  const items = patients
    .map(
      (patient, index) => `<li>
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<input type="hidden" name="person" value="${escapeHtml(patient.sub)}">
<button type="submit" aria-describedby="patient-${index}">${escapeHtml(patient.name)}</button>
<span class="note" id="patient-${index}">born ${escapeHtml(patient.birthdate)}</span>
</form>
</li>`,
    )
    .join('\n');
  return page(
    `${TITLE} — sign in`,
    `<h1>${TITLE} — sign in</h1>
<p>${escapeHtml(clientName)} asks to read your health record here. This is a test sign-in: choose a test
patient, no password is needed.</p>
<ul aria-label="Test patients">
${items}
</ul>
<p><a href="/interaction/${escapeHtml(uid)}/abort">Cancel and go back to ${escapeHtml(clientName)}</a></p>`,
  );
}

function consentPage(uid, clientName, accountId, scopes) {
  const patient = patientsBySub.get(accountId);
  const texts = [...new Set(scopes.map((scope) => SCOPE_TEXT[scope]).filter(Boolean))];
  return page(
    `${TITLE} — approve access`,
    `<h1>${TITLE} — approve access</h1>
<p data-testid="signed-in-patient">Signed in as ${escapeHtml(patient ? patient.name : 'an unknown patient')}.
${escapeHtml(clientName)} asks for:</p>
<ul>
${texts.map((text) => `<li>${escapeHtml(text)}</li>`).join('\n')}
</ul>
<form method="post" action="/interaction/${escapeHtml(uid)}/confirm">
<button type="submit">Approve</button>
</form>
<p><a href="/interaction/${escapeHtml(uid)}/abort">Cancel and go back to ${escapeHtml(clientName)}</a></p>`,
  );
}

// ------------------------------------------------------------------------------------------ provider

function buildProvider(issuer, signingKeys) {
  const provider = new Provider(issuer, {
    adapter: MemoryAdapter,
    clients: [
      {
        client_id: options['client-id'],
        client_secret: options['client-secret'],
        client_name: 'Yellow Button portal',
        // The registered URIs; any port of them is accepted, see allowLoopbackRedirects.
        redirect_uris: [`http://127.0.0.1${CALLBACK_PATH}`, `http://localhost${CALLBACK_PATH}`],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'RS256',
      },
    ],
    jwks: { keys: signingKeys },
    cookies,
    scopes: ['openid', 'fhirUser', 'offline_access'],
    claims: { openid: ['sub'], fhirUser: ['fhirUser'], acr: null, auth_time: null, sid: null },
    // fhirUser in the ID token itself: the access token is for the FHIR server, not for userinfo.
    conformIdTokenClaims: false,
    // SMART's `aud`: the FHIR server the client means to use. Refused unless it is the one this server serves.
    extraParams: {
      aud(ctx, value) {
        if (withoutTrailingSlash(value ?? '') !== fhirBase) {
          throw new errors.InvalidRequest("aud must be the FHIR server's base URL");
        }
      },
    },
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 3600,
      Grant: 30 * 24 * 3600,
      RefreshToken: 30 * 24 * 3600,
      Session: 8 * 3600,
    },
    responseTypes: ['code'],
    pkce: { methods: ['S256'], required: () => true },
    clientAuthMethods: ['client_secret_basic'],
    enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
    clientBasedCORS: () => false,
    // Every use of a refresh token gives a new one; the used one is spent, and using it again ends the grant.
    rotateRefreshToken: true,
    async extraTokenClaims(ctx, token) {
      const patient = patientsBySub.get(token.accountId);
      return patient ? { patient: patient.patient, fhirUser: `${fhirBase}/Patient/${patient.patient}` } : undefined;
    },
    async findAccount(ctx, sub) {
      const patient = patientsBySub.get(sub);
      if (!patient) return undefined;
      return {
        accountId: sub,
        async claims() {
          return { sub, fhirUser: `${fhirBase}/Patient/${patient.patient}` };
        },
      };
    },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    features: {
      devInteractions: { enabled: false },
      userinfo: { enabled: false },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // SMART clients send `aud`, not `resource`: the FHIR base is every request's resource.
        defaultResource: () => fhirBase,
        useGrantedResource: () => true,
        getResourceServerInfo(ctx, indicator) {
          if (withoutTrailingSlash(indicator) !== fhirBase) throw new errors.InvalidTarget();
          return {
            scope: RESOURCE_SCOPES.join(' '),
            audience: fhirBase,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
    async renderError(ctx, out) {
      ctx.type = 'html';
      ctx.body = page(
        `${TITLE} — error`,
        `<h1>${TITLE} — error</h1>
<p><strong>${escapeHtml(out.error)}</strong>: ${escapeHtml(out.error_description ?? '')}</p>`,
      );
    },
  });

  provider.use(async (ctx, next) => {
    // OpenID Connect drops offline_access unless prompt=consent is asked for; SMART clients do not ask, and this
    // server has the patient approve every launch anyway, so an authorization without a prompt asks for consent.
    if (ctx.method === 'GET' && ctx.path === '/auth' && ctx.query.prompt === undefined) {
      ctx.query = { ...ctx.query, prompt: 'consent' };
    }
    await next();
    // SMART's launch context: the token response names the patient whose record the token opens, and every
    // scope granted (the access token's `scope` holds only the FHIR server's).
    if (ctx.method === 'POST' && ctx.path === '/token' && ctx.status === 200 && ctx.body?.access_token) {
      const { AccessToken, AuthorizationCode, RefreshToken } = ctx.oidc?.entities ?? {};
      const patient = patientsBySub.get(AccessToken?.accountId);
      const scope = (AuthorizationCode ?? RefreshToken)?.scope ?? ctx.body.scope;
      if (patient) ctx.body = { ...ctx.body, scope, patient: patient.patient };
    }
  });

  allowLoopbackRedirects(provider, CALLBACK_PATH);
  return provider;
}

await serve({
  name: 'SMART authorization server',
  host: options.host,
  port,
  rotateEvery,
  build: buildProvider,
  ui: {
    title: TITLE,
    signInPage,
    consentPage,
    noPersonMessage: 'Choose one of the test patients.',
    login(form) {
      const patient = patientsBySub.get(form.get('person'));
      return patient ? { accountId: patient.sub } : null;
    },
  },
});
