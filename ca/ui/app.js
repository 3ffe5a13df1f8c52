// Sigil's web console: plain JavaScript, no framework, no build step, nothing fetched from
// anywhere but this origin's REST API (the same one the CLI uses). Every DOM node is built with
// textContent, never from HTML strings, so nothing the server returns can become markup.
'use strict';

const state = { who: null, hierarchy: null };

// ---- DOM helpers ----------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function badge(text) { return el('span', { class: 'badge ' + text, text }); }
function card(title, ...body) { return el('section', { class: 'card' }, el('h2', { text: title }), ...body); }
function main() { return document.getElementById('main'); }
function show(...nodes) { main().replaceChildren(...nodes); }
function fmtTime(s) { return s ? s.replace('T', ' ').replace('Z', ' UTC') : ''; }
function days(seconds) {
  const d = Math.floor(seconds / 86400);
  return d >= 2 ? d + ' days' : Math.max(0, Math.floor(seconds / 3600)) + ' hours';
}

// ---- the API --------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, problem) {
    super(problem && problem.detail ? problem.detail : 'HTTP ' + status);
    this.status = status;
    this.problem = problem;
  }
}

async function api(path, options) {
  const opts = Object.assign({ headers: {} }, options || {});
  opts.headers = Object.assign({ Accept: 'application/json' }, opts.headers);
  opts.credentials = 'same-origin';
  if (opts.json !== undefined) {
    // A JSON body and a custom header: what no cross-site form can send (the server checks).
    opts.method = opts.method || 'POST';
    opts.body = JSON.stringify(opts.json);
    opts.headers['Content-Type'] = 'application/json';
    opts.headers['X-Sigil-Console'] = '1';
    delete opts.json;
  }
  const resp = await fetch(path, opts);
  const type = resp.headers.get('Content-Type') || '';
  const body = type.includes('json') ? await resp.json().catch(() => null) : await resp.text();
  if (!resp.ok) throw new ApiError(resp.status, typeof body === 'object' ? body : { detail: String(body || '') });
  return body;
}

// A problem document as text: what the server answered, as it said it.
function problemText(err) {
  if (err instanceof ApiError) {
    const p = err.problem || {};
    return 'HTTP ' + err.status + (p.type ? ' ' + p.type : '') + (p.detail ? '\n' + p.detail : '');
  }
  return String(err && err.message ? err.message : err);
}
function errorBox(err) { return el('div', { class: 'notice error', role: 'alert', text: problemText(err) }); }

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? '?' + s : '';
}

// ---- overview -------------------------------------------------------------------------------

function caRow(c, extra) {
  return el('tr', {},
    el('td', {}, c.subject, extra || ''),
    el('td', { class: 'mono', text: c.serial }),
    el('td', { text: fmtTime(c.not_after) }),
    el('td', {}, badge(c.level), ' ', c.seconds_left > 0 ? days(c.seconds_left) + ' left' : 'expired'));
}

function hierarchyCard(h) {
  const head = el('tr', {}, el('th', { text: 'Subject' }), el('th', { text: 'Serial' }),
    el('th', { text: 'Expires' }), el('th', { text: 'Remaining' }));
  const rows = [];
  for (const r of h.roots) rows.push(caRow(r, el('span', { class: 'muted', text: ' (root)' })));
  for (const i of h.intermediates) {
    rows.push(caRow(i, el('span', { class: 'muted', text: i.current ? ' (issuing intermediate)' : ' (replaced intermediate)' })));
  }
  return card('CA hierarchy', el('table', { id: 'hierarchy' }, el('thead', {}, head), el('tbody', {}, rows)));
}

function statsCards(s) {
  const c = s.certificates, r = s.rates;
  const stat = (n, l) => el('div', { class: 'stat' }, el('div', { class: 'n', text: n }), el('div', { class: 'l', text: l }));
  return el('div', { class: 'grid', id: 'stats' },
    stat(c.valid, 'valid certificates'), stat(c.revoked, 'revoked'), stat(c.expired, 'expired'),
    stat(c.expiring_7d, 'expiring within 7 days'),
    stat(r.issued.last_hour + ' / ' + r.issued.last_day, 'issued last hour / day'),
    stat(r.revoked.last_hour + ' / ' + r.revoked.last_day, 'revoked last hour / day'));
}

// Certificates expiring per day as an SVG bar chart, one bar per day.
function expiryChart(perDay, span) {
  const data = perDay.slice(0, span);
  const W = 900, H = 200, left = 36, bottom = 22, top = 10;
  const max = Math.max(1, ...data);
  const bw = (W - left) / data.length;
  const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `Certificates expiring per day, next ${span} days`, id: 'expiry-chart', 'data-total': data.reduce((a, b) => a + b, 0) });
  chart.append(svg('line', { class: 'axis', x1: left, y1: H - bottom, x2: W, y2: H - bottom }));
  for (const n of max >= 2 && max % 2 === 0 ? [0, max / 2, max] : [0, max]) {
    const y = H - bottom - (n / max) * (H - bottom - top);
    chart.append(svg('text', { x: left - 4, y: y + 3, 'text-anchor': 'end' }, String(n)));
  }
  const now = Date.now();
  data.forEach((n, d) => {
    const h = (n / max) * (H - bottom - top);
    const day = new Date(now + (d + 1) * 86400000).toISOString().slice(0, 10);
    const bar = svg('rect', { class: 'bar', x: left + d * bw + 1, y: H - bottom - h, width: Math.max(1, bw - 2), height: h, 'data-count': n });
    bar.append(svg('title', {}, `${n} expiring by ${day}`));
    chart.append(bar);
    if (d % (span > 30 ? 10 : 5) === 0) chart.append(svg('text', { x: left + d * bw + bw / 2, y: H - 6, 'text-anchor': 'middle' }, '+' + d + 'd'));
  });
  return chart;
}

function chartCard(s) {
  const holder = el('div', { class: 'chart' });
  const draw = (span) => holder.replaceChildren(expiryChart(s.expiring_per_day, span));
  const controls = el('div', { class: 'chart-controls' },
    el('button', { class: 'secondary', onclick: () => draw(30), text: '30 days' }),
    el('button', { class: 'secondary', onclick: () => draw(90), text: '90 days' }));
  draw(30);
  return card('Expiry timeline (valid certificates expiring per day)', controls, holder);
}

function freshnessCard(s) {
  const rows = s.crls.map((c) => el('tr', {},
    el('td', {}, el('a', { href: crlHref(c.path), text: c.path })),
    el('td', { text: c.delta ? 'delta' : 'complete' }),
    el('td', { text: c.number }), el('td', { text: c.entries }),
    el('td', { text: fmtTime(c.this_update) }), el('td', { text: fmtTime(c.next_update) }),
    el('td', {}, badge(c.level))));
  const o = s.ocsp;
  return card('CRL and OCSP freshness',
    el('table', {}, el('thead', {}, el('tr', {}, ['CRL', 'Kind', 'Number', 'Entries', 'This update', 'Next update', ''].map((t) => el('th', { text: t })))),
      el('tbody', {}, rows.length ? rows : el('tr', {}, el('td', { colspan: 7, class: 'muted', text: 'No CRL published yet' })))),
    el('p', {}, 'OCSP: ', badge(o.level), ' ', o.summary || ''));
}

// CRL paths are served by the public listener: its base from the hierarchy's URLs.
function crlHref(path) {
  const i = state.hierarchy && state.hierarchy.intermediates.find((x) => x.ca_url);
  if (!i) return path;
  const u = new URL(i.ca_url);
  return u.origin + path;
}

async function viewOverview() {
  show(el('p', { class: 'muted', text: 'Loading…' }));
  const [h, s, recent] = await Promise.all([api('/api/v1/hierarchy'), api('/api/v1/stats'),
    api('/api/v1/certificates' + query({ limit: 10, status: 'valid' })).catch((e) => e)]);
  state.hierarchy = h;
  show(statsCards(s), el('div', { class: 'spacer' }), hierarchyCard(h), chartCard(s),
    card('Valid certificates expiring first', recent instanceof Error ? errorBox(recent) : certTable(recent.items)),
    freshnessCard(s));
}

// ---- certificates ---------------------------------------------------------------------------

function certTable(items) {
  if (!items.length) return el('p', { class: 'muted', text: 'No certificate matches.' });
  const head = el('tr', {}, ['Serial', 'Status', 'Profile', 'Names', 'Not after'].map((t) => el('th', { text: t })));
  return el('table', { class: 'certs' }, el('thead', {}, head), el('tbody', {}, items.map((c) => el('tr', { 'data-serial': c.serial },
    el('td', { class: 'mono' }, el('a', { href: '#/certificate/' + c.serial, text: c.serial })),
    el('td', {}, badge(c.status)), el('td', { text: c.profile }),
    el('td', { text: (c.sans || []).join(', ') || c.subject }),
    el('td', { text: fmtTime(c.not_after) })))));
}

const HEX_SERIAL = /^[0-9a-fA-F:]{8,}$/;

async function viewCertificates(params) {
  const form = el('form', { class: 'filters' },
    el('label', {}, 'Name or serial', el('input', { name: 'q', value: params.q || '', placeholder: 'www.example.com or 0a1b…' })),
    el('label', {}, 'Status', el('select', { name: 'status' }, ['', 'valid', 'revoked', 'expired'].map((v) => el('option', { value: v, selected: params.status === v, text: v || 'any' })))),
    el('label', {}, 'Profile', el('input', { name: 'profile', value: params.profile || '', placeholder: 'server' })),
    el('label', {}, 'Expiring within', el('input', { name: 'expiring_within', value: params.expiring_within || '', placeholder: '30d' })),
    el('button', { type: 'submit', text: 'Search' }));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const q = String(f.get('q') || '').trim();
    if (HEX_SERIAL.test(q) && !q.includes('.')) { location.hash = '#/certificate/' + q.replace(/:/g, '').toLowerCase(); return; }
    const next = { q, status: f.get('status'), profile: f.get('profile'), expiring_within: f.get('expiring_within') };
    location.hash = '#/certificates' + query(next);
  });
  const results = el('div', {}, el('p', { class: 'muted', text: 'Loading…' }));
  show(card('Certificates', form, results));
  const q = (params.q || '').trim();
  const name = q ? (q.includes(':') ? q : 'dns:' + q) : '';
  try {
    const page = await api('/api/v1/certificates' + query({ limit: 25, status: params.status, profile: params.profile, expiring_within: params.expiring_within, name, page_token: params.page_token }));
    const pager = el('div', { class: 'pager' });
    if (params.page_token) pager.append(el('button', { class: 'secondary', onclick: () => history.back(), text: '← Previous' }));
    if (page.next_page_token) pager.append(el('button', { class: 'secondary', onclick: () => { location.hash = '#/certificates' + query(Object.assign({}, params, { page_token: page.next_page_token })); }, text: 'Next →' }));
    results.replaceChildren(certTable(page.items), pager);
  } catch (err) {
    results.replaceChildren(errorBox(err));
  }
}

const REASONS = ['unspecified', 'keyCompromise', 'affiliationChanged', 'superseded', 'cessationOfOperation', 'privilegeWithdrawn'];

function revokeControls(c, onDone) {
  const box = el('div', {});
  const start = el('button', { class: 'danger', id: 'revoke', text: 'Revoke…' });
  start.addEventListener('click', () => {
    const reason = el('select', { id: 'revoke-reason' }, REASONS.map((r) => el('option', { value: r, text: r })));
    const result = el('div', { id: 'revoke-result' });
    const confirm = el('button', { class: 'danger', id: 'revoke-confirm', text: 'Revoke ' + c.serial });
    const cancel = el('button', { class: 'secondary', text: 'Cancel', onclick: () => box.replaceChildren(start) });
    confirm.addEventListener('click', async () => {
      confirm.disabled = true;
      try {
        const r = await api('/api/v1/certificates/' + c.serial + '/revoke', { json: { reason: reason.value } });
        result.replaceChildren(el('div', { class: 'notice', text: 'Revoked at ' + fmtTime(r.revoked_at) + ' (' + r.reason + ')' }));
        onDone();
      } catch (err) {
        result.replaceChildren(errorBox(err));
        confirm.disabled = false;
      }
    });
    box.replaceChildren(el('div', { class: 'confirm' },
      el('p', {}, 'Revoking cannot be undone: relying parties will refuse ', el('b', { text: (c.sans || []).join(', ') || c.subject }), ' from the next CRL and OCSP answer on.'),
      el('label', {}, 'Reason', reason), el('div', { class: 'pager' }, confirm, cancel), result));
  });
  box.append(start);
  return box;
}

async function viewCertificate(serial) {
  show(el('p', { class: 'muted', text: 'Loading…' }));
  let c, chain;
  try {
    [c, chain] = await Promise.all([api('/api/v1/certificates/' + encodeURIComponent(serial)),
      api('/api/v1/certificates/' + encodeURIComponent(serial), { headers: { Accept: 'application/pem-certificate-chain' } })]);
  } catch (err) {
    show(card('Certificate ' + serial, errorBox(err)));
    return;
  }
  if (!state.hierarchy) state.hierarchy = await api('/api/v1/hierarchy').catch(() => null);
  const issuer = state.hierarchy && state.hierarchy.intermediates.find((i) => i.id === c.issuer_id);
  const links = el('ul', {});
  if (issuer) {
    links.append(el('li', {}, 'OCSP responder: ', el('a', { href: issuer.ocsp_url, text: issuer.ocsp_url })));
    for (const u of issuer.crl_urls) links.append(el('li', {}, 'CRL: ', el('a', { href: u, text: u })));
    links.append(el('li', {}, 'Issuer certificate: ', el('a', { href: issuer.ca_url, text: issuer.ca_url })));
  }
  const kv = (k, v) => [el('dt', { text: k }), el('dd', {}, v)];
  const details = el('dl', { class: 'kv' },
    kv('Status', el('span', { id: 'cert-status' }, badge(c.status))), kv('Serial', el('span', { class: 'mono', text: c.serial })),
    kv('Subject', c.subject || '—'), kv('Names', (c.sans || []).join(', ')), kv('Profile', c.profile),
    kv('Not before', fmtTime(c.not_before)), kv('Not after', fmtTime(c.not_after)),
    kv('Requested by', c.requester), kv('Issued by', issuer ? issuer.subject : c.issuer_id),
    c.revoked_at ? kv('Revoked', fmtTime(c.revoked_at) + ' (' + c.revocation_reason + ')') : null);
  const actions = el('div', {});
  if (state.who && state.who.may.revoke && c.status === 'valid') actions.append(revokeControls(c, () => viewCertificate(serial).catch(render_error)));
  show(card('Certificate ' + c.serial, details, actions), el('div', { class: 'two' },
    card('Certificate (PEM)', el('pre', { class: 'mono', id: 'pem', text: c.certificate })),
    card('Chain (PEM)', el('pre', { class: 'mono', text: chain }))), card('Revocation status from', links));
}

// ---- ACME -----------------------------------------------------------------------------------

async function viewAcme() {
  show(el('p', { class: 'muted', text: 'Loading…' }));
  const accounts = await api('/api/v1/acme/accounts');
  const orders = el('div', {});
  const rows = accounts.items.map((a) => el('tr', {},
    el('td', { class: 'mono', text: a.id }), el('td', {}, badge(a.status)),
    el('td', { text: (a.contact || []).join(', ') }), el('td', { text: a.eab_kid || '' }),
    el('td', { text: fmtTime(a.created_at) }),
    el('td', {}, el('button', { class: 'secondary', text: 'Orders', onclick: () => showOrders(a.id, orders) }))));
  show(card('ACME accounts', accounts.items.length
    ? el('table', {}, el('thead', {}, el('tr', {}, ['Account', 'Status', 'Contact', 'EAB key', 'Created', ''].map((t) => el('th', { text: t })))), el('tbody', {}, rows))
    : el('p', { class: 'muted', text: 'No ACME account yet.' })), orders);
}

async function showOrders(id, holder) {
  try {
    const o = await api('/api/v1/acme/accounts/' + encodeURIComponent(id) + '/orders');
    holder.replaceChildren(card('Orders of ' + id, o.items.length
      ? el('table', {}, el('thead', {}, el('tr', {}, ['Order', 'Status', 'Identifiers', 'Profile', 'Certificate', 'Created'].map((t) => el('th', { text: t })))),
        el('tbody', {}, o.items.map((x) => el('tr', {}, el('td', { class: 'mono', text: x.id }), el('td', {}, badge(x.status)),
          el('td', { text: x.identifiers.join(', ') }), el('td', { text: x.profile }),
          el('td', {}, x.certificate_serial ? el('a', { href: '#/certificate/' + x.certificate_serial, class: 'mono', text: x.certificate_serial }) : ''),
          el('td', { text: fmtTime(x.created_at) })))))
      : el('p', { class: 'muted', text: 'No current order.' })));
  } catch (err) {
    holder.replaceChildren(errorBox(err));
  }
}

// ---- audit log ------------------------------------------------------------------------------

async function viewAudit(params) {
  const form = el('form', { class: 'filters' },
    el('label', {}, 'Since', el('input', { name: 'since', value: params.since || '', placeholder: '24h or 2026-01-01T00:00:00Z' })),
    el('label', {}, 'Actor', el('input', { name: 'actor', value: params.actor || '', placeholder: 'api:admin…' })),
    el('label', {}, 'Action', el('input', { name: 'action', value: params.action || '', placeholder: 'issue, revoke…' })),
    el('label', {}, 'Outcome', el('select', { name: 'outcome' }, ['', 'ok', 'refused'].map((v) => el('option', { value: v, selected: params.outcome === v, text: v || 'any' })))),
    el('button', { type: 'submit', text: 'Filter' }));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    location.hash = '#/audit' + query({ since: f.get('since'), actor: f.get('actor'), action: f.get('action'), outcome: f.get('outcome') });
  });
  const results = el('div', {}, el('p', { class: 'muted', text: 'Loading…' }));
  show(card('Audit log', form, results));
  try {
    const page = await api('/api/v1/audit' + query({ limit: 50, since: params.since, actor: params.actor, action: params.action, outcome: params.outcome, page_token: params.page_token }));
    const rows = page.items.map((a) => el('tr', {}, el('td', { text: fmtTime(a.at) }), el('td', {}, badge(a.outcome)),
      el('td', { text: a.action }), el('td', { text: a.actor }), el('td', { class: 'mono', text: a.target }), el('td', { text: a.detail })));
    const pager = el('div', { class: 'pager' });
    if (page.next_page_token) pager.append(el('button', { class: 'secondary', text: 'Older →', onclick: () => { location.hash = '#/audit' + query(Object.assign({}, params, { page_token: page.next_page_token })); } }));
    results.replaceChildren(rows.length
      ? el('table', { id: 'audit' }, el('thead', {}, el('tr', {}, ['Time', 'Outcome', 'Action', 'Actor', 'Target', 'Detail'].map((t) => el('th', { text: t })))), el('tbody', {}, rows))
      : el('p', { class: 'muted', text: 'No audit row matches.' }), pager);
  } catch (err) {
    results.replaceChildren(errorBox(err));
  }
}

// ---- policy explain -------------------------------------------------------------------------

function explainResult(r) {
  const line = (x, name) => el('tr', {}, el('td', { text: name }), el('td', {}, badge(x.allowed ? 'ok' : 'refused')),
    el('td', { text: x.rule || '' }), el('td', { text: x.detail || '' }));
  const rows = [...(r.identifiers || []).map((x) => line(x, x.identifier)), ...(r.checks || []).map((x) => line(x, x.check))];
  return el('div', { id: 'explain-result' },
    el('p', {}, badge(r.allowed ? 'ok' : 'refused'), ' ', r.allowed ? 'Everything is allowed' : 'Refused',
      r.profile ? ' — profile ' + r.profile : '', r.ttl_seconds ? ', TTL ' + days(r.ttl_seconds) : ''),
    el('table', {}, el('thead', {}, el('tr', {}, ['Identifier or check', 'Decision', 'Rule', 'Detail'].map((t) => el('th', { text: t })))), el('tbody', {}, rows)));
}

function viewExplain() {
  const csr = el('textarea', { name: 'csr', placeholder: '-----BEGIN CERTIFICATE REQUEST-----' });
  const form = el('form', {},
    el('label', {}, 'CSR (PEM)', csr),
    el('div', { class: 'filters' },
      el('label', {}, 'Profile', el('input', { name: 'profile', placeholder: 'server' })),
      el('label', {}, 'Identity', el('input', { name: 'identity', placeholder: 'dns:deployer.corp.example' })),
      el('label', {}, 'TTL', el('input', { name: 'ttl', placeholder: '24h' })),
      el('button', { type: 'submit', text: 'Explain' })));
  const out = el('div', {});
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const body = { csr: String(f.get('csr') || '') };
    for (const k of ['profile', 'identity', 'ttl']) if (f.get(k)) body[k] = String(f.get(k));
    out.replaceChildren(el('p', { class: 'muted', text: 'Asking…' }));
    try {
      out.replaceChildren(explainResult(await api('/api/v1/policy/explain', { json: body })));
    } catch (err) {
      out.replaceChildren(errorBox(err));
    }
  });
  show(card('Policy explain', el('p', { class: 'muted', text: 'Would this CSR be issued, and which rule decides each name? Nothing is issued.' }), form, out));
}

// ---- routing --------------------------------------------------------------------------------

function render_error(err) { show(card('Error', errorBox(err))); }

async function route() {
  const hash = location.hash || '#/';
  const [path, qs] = hash.slice(1).split('?');
  const params = Object.fromEntries(new URLSearchParams(qs || ''));
  const parts = path.split('/').filter(Boolean);
  const view = parts[0] === 'certificate' ? 'certificates' : parts[0] || 'overview';
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.view === view);
  try {
    if (parts[0] === 'certificates') await viewCertificates(params);
    else if (parts[0] === 'certificate' && parts[1]) await viewCertificate(decodeURIComponent(parts[1]));
    else if (parts[0] === 'acme') await viewAcme();
    else if (parts[0] === 'audit') await viewAudit(params);
    else if (parts[0] === 'explain') viewExplain();
    else await viewOverview();
  } catch (err) {
    render_error(err);
  }
  document.body.dataset.ready = 'true';
}

async function start() {
  try {
    state.who = await api('/api/v1/whoami');
    document.getElementById('who').replaceChildren('Signed in as ', el('b', { text: state.who.identity }), ' (' + (state.who.role || 'no role') + ')');
    // Policy explain is for the roles that may ask it (admin, issuer): a viewer does not see the tab.
    if (!state.who.may.explain) document.querySelector('a[data-view=explain]').hidden = true;
  } catch (err) {
    document.getElementById('who').textContent = problemText(err);
  }
  window.addEventListener('hashchange', () => { document.body.dataset.ready = 'false'; route(); });
  await route();
}

start();
