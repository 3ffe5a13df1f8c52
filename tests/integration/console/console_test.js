// Drives Sigil's web console in Debian's chromium through playwright-core (tests/integration/
// console.sh sets the environment). Prints one "PASS desc" or "FAIL desc: why" line per check,
// which console.sh counts; exits 1 when the browser itself could not be driven.
'use strict';
const fs = require('fs');
const { chromium } = require('playwright-core');

const env = (k) => {
  if (!process.env[k]) throw new Error('console_test.js: ' + k + ' is not set');
  return process.env[k];
};
const BASE = env('CONSOLE_BASE'); // https://localhost:PORT
const results = [];
function check(desc, ok, why) {
  console.log((ok ? 'PASS ' : 'FAIL ') + desc + (ok || !why ? '' : ': ' + String(why).replace(/\s+/g, ' ').slice(0, 300)));
  results.push(ok);
}

// A context presenting `who`'s client certificate (or none), its page, and every JavaScript error
// and console error (CSP violations are reported there) it raises.
async function open(browser, who) {
  const options = { viewport: { width: 1280, height: 900 } };
  if (who) options.clientCertificates = [{ origin: BASE, certPath: env(who + '_CERT'), keyPath: env(who + '_KEY') }];
  else options.ignoreHTTPSErrors = true; // only the missing client certificate may refuse it
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push('pageerror: ' + e.message));
  // A refused request the test makes on purpose is logged as "Failed to load resource": not an error
  // of the console's own.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push('console: ' + m.text());
  });
  return { context, page, errors };
}

async function ready(page) {
  await page.waitForSelector('body[data-ready="true"]', { timeout: 15000 });
}

async function go(page, hash) {
  await page.evaluate(() => { document.body.dataset.ready = 'false'; });
  await page.evaluate((h) => { location.hash = h; }, hash);
  await ready(page);
}

// A POST as a page of the console could send it, answered as the server answers it.
async function post(page, path, headers, body) {
  return page.evaluate(async ([p, h, b]) => {
    const r = await fetch(p, { method: 'POST', headers: h, body: b });
    return { status: r.status, type: r.headers.get('Content-Type'), body: await r.text() };
  }, [path, headers, body]);
}

async function main() {
  const serial = env('CONSOLE_SERIAL'); // issued just before: the admin revokes it
  const other = env('CONSOLE_OTHER_SERIAL'); // the viewer may not revoke it
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/lib/chromium/chromium',
    args: process.getuid && process.getuid() === 0 ? ['--no-sandbox'] : [],
  });
  try {
    // ---- admin
    const admin = await open(browser, 'ADMIN');
    const resp = await admin.page.goto(BASE + '/ui/');
    check('admin: GET /ui/ answers 200', resp && resp.status() === 200, resp && resp.status());
    const csp = resp ? resp.headers()['content-security-policy'] || '' : '';
    check('admin: the page carries a strict Content-Security-Policy', csp.includes("default-src 'self'") && !csp.includes('unsafe-inline'), csp);
    await ready(admin.page);
    const who = await admin.page.textContent('#who');
    check('admin: the console names the caller and its role', /sigil-admin/.test(who) && /\(admin\)/.test(who), who);
    const hierarchy = await admin.page.textContent('#hierarchy');
    check('admin: the hierarchy shows the root and the issuing intermediate',
      hierarchy.includes(env('CONSOLE_ROOT_CN')) && hierarchy.includes(env('CONSOLE_INTERMEDIATE_CN')) && hierarchy.includes('issuing intermediate'), hierarchy);
    check('admin: the inventory on the overview shows the certificate issued just before',
      (await admin.page.locator(`tr[data-serial="${serial}"]`).count()) === 1);
    const chart = await admin.page.evaluate(() => {
      const svg = document.querySelector('#expiry-chart');
      if (!svg || svg.namespaceURI !== 'http://www.w3.org/2000/svg') return null;
      const bars = [...svg.querySelectorAll('rect.bar')];
      return { bars: bars.length, total: bars.reduce((a, b) => a + Number(b.getAttribute('data-count')), 0), drawn: bars.filter((b) => Number(b.getAttribute('height')) > 0).length };
    });
    check('admin: the expiry chart is an SVG with a bar per day for 30 days and data in it',
      chart && chart.bars === 30 && chart.total >= 2 && chart.drawn >= 1, JSON.stringify(chart));
    await admin.page.click('text=90 days');
    const bars90 = await admin.page.locator('#expiry-chart rect.bar').count();
    check('admin: the chart switches to 90 days', bars90 === 90, bars90);
    const stats = await admin.page.textContent('#stats');
    check('admin: counts and rates are shown', /valid certificates/.test(stats) && /issued last hour/.test(stats), stats);
    await admin.page.screenshot({ path: env('CONSOLE_SCREENSHOT'), fullPage: true });
    check('admin: full-page screenshot saved', fs.statSync(env('CONSOLE_SCREENSHOT')).size > 10000);

    await go(admin.page, '#/certificates?q=' + env('CONSOLE_NAME'));
    check('admin: a search by name finds the certificate', (await admin.page.locator(`tr[data-serial="${serial}"]`).count()) === 1);
    await go(admin.page, '#/certificate/' + serial);
    const pem = await admin.page.textContent('#pem');
    check('admin: the certificate page shows its PEM', pem.includes('-----BEGIN CERTIFICATE-----'), pem.slice(0, 80));
    const ocspLink = await admin.page.locator('a[href$="/ocsp"]').count();
    const crlLink = await admin.page.locator('a[href$=".crl"]').count();
    check('admin: the certificate page links OCSP and the CRL', ocspLink >= 1 && crlLink >= 1, `${ocspLink} ${crlLink}`);
    // Revoke through the console, with its confirmation step.
    await admin.page.click('#revoke');
    check('admin: revoking asks for confirmation first', (await admin.page.locator('#revoke-confirm').count()) === 1);
    await admin.page.selectOption('#revoke-reason', 'superseded');
    await admin.page.click('#revoke-confirm');
    await admin.page.waitForSelector('#cert-status .badge.revoked', { timeout: 10000 }).catch(() => null);
    const status = await admin.page.textContent('#cert-status');
    check('admin: the console revoked the certificate and shows it revoked', status.trim() === 'revoked', status);
    // The CSRF rule: without the console's header the same POST is refused.
    const bare = await post(admin.page, `/api/v1/certificates/${other}/revoke`, { 'Content-Type': 'application/json' }, '{}');
    check('admin: a POST without X-Sigil-Console is refused 403 (problem document)',
      bare.status === 403 && /problem\+json/.test(bare.type) && /X-Sigil-Console/.test(bare.body), JSON.stringify(bare));
    const form = await post(admin.page, `/api/v1/certificates/${other}/revoke`, { 'Content-Type': 'text/plain', 'X-Sigil-Console': '1' }, '{}');
    check('admin: a text/plain POST (what a form can send) is refused 403', form.status === 403, JSON.stringify(form));

    await go(admin.page, '#/audit?action=revoke');
    const audit = await admin.page.textContent('#audit');
    check('admin: the audit log shows the revocation by the admin', audit.includes(serial) && audit.includes('api:sigil-admin'), audit.slice(0, 300));
    await go(admin.page, '#/acme');
    check('admin: the ACME page loads', (await admin.page.locator('section.card h2', { hasText: 'ACME accounts' }).count()) === 1);
    await go(admin.page, '#/explain');
    await admin.page.fill('textarea[name=csr]', fs.readFileSync(env('CONSOLE_CSR'), 'utf8'));
    await admin.page.click('button:has-text("Explain")');
    await admin.page.waitForSelector('#explain-result, [role=alert]', { timeout: 10000 });
    const explained = await admin.page.textContent('#main');
    check('admin: policy explain renders the server\'s answer: allowed, and the rule that decided the name',
      explained.includes('Everything is allowed') && explained.includes('policy.allowed_domains'), explained.slice(0, 300));
    check('admin: no JavaScript or CSP error in any view', admin.errors.length === 0, admin.errors.join(' | '));

    // ---- viewer
    const viewer = await open(browser, 'VIEWER');
    const vresp = await viewer.page.goto(BASE + '/ui/');
    check('viewer: GET /ui/ answers 200', vresp && vresp.status() === 200, vresp && vresp.status());
    await ready(viewer.page);
    check('viewer: the console names the viewer role', /\(viewer\)/.test(await viewer.page.textContent('#who')));
    await go(viewer.page, '#/certificates?q=' + env('CONSOLE_OTHER_NAME'));
    check('viewer: the inventory shows certificates', (await viewer.page.locator(`tr[data-serial="${other}"]`).count()) === 1);
    await go(viewer.page, '#/certificate/' + other);
    check('viewer: the certificate page shows it, without a revoke button',
      (await viewer.page.locator('#pem').count()) === 1 && (await viewer.page.locator('#revoke').count()) === 0);
    const forged = await post(viewer.page, `/api/v1/certificates/${other}/revoke`,
      { 'Content-Type': 'application/json', 'X-Sigil-Console': '1' }, '{"reason":"superseded"}');
    check('viewer: a forged revoke POST is 403 with a problem document',
      forged.status === 403 && /problem\+json/.test(forged.type), JSON.stringify(forged));
    check('viewer: no Policy explain tab (the route is for admin and issuer roles)',
      await viewer.page.locator('a[data-view=explain]').isHidden());
    check('viewer: no JavaScript or CSP error', viewer.errors.length === 0, viewer.errors.join(' | '));

    // ---- no client certificate: the TLS layer refuses before any HTTP
    const anon = await open(browser, null);
    let refused = false, detail = '';
    try {
      const r = await anon.page.goto(BASE + '/ui/', { timeout: 10000 });
      detail = 'HTTP ' + (r && r.status());
    } catch (e) {
      refused = true;
      detail = e.message.split('\n')[0];
    }
    check('no client certificate: the console is refused (' + detail + ')', refused, detail);
  } finally {
    await browser.close();
  }
}

main().then(() => process.exit(0), (e) => {
  console.log('FAIL the browser could not be driven: ' + (e && e.stack ? e.stack.split('\n').slice(0, 3).join(' ') : e));
  process.exit(1);
});
