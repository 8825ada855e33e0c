// Drives the hub console in headless chromium (run by crates/hub/tests/browser.rs):
// first login with the one-time password, the forced password change, the overview, the
// infected device's page, acknowledging its alert, and the alerts queue. Screenshots go to
// OUT_DIR. Exits non-zero (with the reason on stderr) when any step does not hold.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const [base, user, oneTimePassword, newPassword, mac, alertId, outDir, deviceCount] = process.argv.slice(2);
if (!deviceCount) {
  console.error('usage: console.cjs BASE USER ONE_TIME_PASSWORD NEW_PASSWORD MAC ALERT_ID OUT_DIR DEVICE_COUNT');
  process.exit(2);
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

(async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'palisade-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.PALISADE_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    ignoreHTTPSErrors: true, // the hub's self-signed certificate
    viewport: { width: 1440, height: 900 },
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  const timings = {};
  try {
    const page = ctx.pages()[0] || (await ctx.newPage());
    page.setDefaultTimeout(20000);
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));

    // Unauthenticated: any console page sends us to the login form.
    await page.goto(`${base}/devices`);
    check(new URL(page.url()).pathname === '/login', `redirected to /login, at ${page.url()}`);
    await page.fill('input[name=username]', user);
    await page.fill('input[name=password]', oneTimePassword);
    await Promise.all([page.waitForURL('**/password'), page.click('button[type=submit]')]);

    // The one-time password must be replaced before anything else.
    check((await page.textContent('main')).includes('one-time password'), 'forced change notice');
    await page.fill('input[name=current]', oneTimePassword);
    await page.fill('input[name=new]', newPassword);
    await page.fill('input[name=confirm]', newPassword);
    await Promise.all([page.waitForURL((u) => new URL(u).pathname === '/'), page.click('button[type=submit]')]);

    // Overview: tiles, charts, top risky devices.
    let t = Date.now();
    await page.goto(`${base}/`);
    timings.overview_ms = Date.now() - t;
    check((await page.textContent('h1')) === 'Overview', 'overview heading');
    const tiles = await page.textContent('.tiles');
    check(new RegExp(`\\b${deviceCount}\\s*devices`).test(tiles), `${deviceCount} devices on the overview: ${tiles}`);
    check((await page.locator('svg.chart').count()) >= 2, 'overview charts');
    check((await page.textContent('main')).includes(mac), 'infected camera among top risky');
    await page.screenshot({ path: path.join(outDir, 'console-overview.png') });

    // Inventory, then the infected device.
    t = Date.now();
    await page.goto(`${base}/devices`);
    timings.devices_ms = Date.now() - t;
    check((await page.locator('tbody tr').count()) === Number(deviceCount), `${deviceCount} inventory rows`);
    await Promise.all([
      page.waitForURL(`**/devices/${mac}`),
      page.click(`a[href="/devices/${mac}"] >> nth=0`),
    ]);
    const row = page.locator(`tr[data-alert="${alertId}"]`);
    check((await row.locator('.state').textContent()) === 'new', 'alert starts new');
    check((await page.textContent('main')).includes('Identification evidence'), 'evidence section');
    await page.screenshot({ path: path.join(outDir, 'console-device-before.png'), fullPage: true });

    // Triage: acknowledge with a comment; the page comes back with the new state.
    await row.locator('input[name=comment]').fill('isolating the camera');
    await Promise.all([
      page.waitForLoadState('load'),
      row.locator('button[data-state=acknowledged]').click(),
    ]);
    await page.waitForURL(`**/devices/${mac}`);
    const after = page.locator(`tr[data-alert="${alertId}"]`);
    const state = await after.locator('.state').textContent();
    check(state === 'acknowledged', `alert acknowledged, shows ${state}`);
    check((await after.textContent()).includes(`by ${user}: isolating the camera`), 'who and why');
    await page.screenshot({ path: path.join(outDir, 'console-device-after.png'), fullPage: true });

    // The alerts queue filtered to acknowledged shows it too.
    await page.goto(`${base}/alerts?state=acknowledged`);
    check((await page.locator(`tr[data-alert="${alertId}"]`).count()) === 1, 'in the acknowledged tab');
    await page.screenshot({ path: path.join(outDir, 'console-alerts.png') });
    check(errors.length === 0, `no page script errors: ${errors.join('; ')}`);
    console.log(JSON.stringify({ ok: true, timings }));
  } finally {
    await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
})().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
