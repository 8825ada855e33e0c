// Drives the zones console page in headless chromium (run by crates/hub/tests/browser_zones.rs):
// an analyst moves a device into the quarantine zone with a reason and sees it listed there;
// a viewer sees the zones without any move form and is refused when posting one anyway.
// Exits non-zero (with the reason on stderr) when any step does not hold.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const [base, analyst, viewer, password, mac, outDir] = process.argv.slice(2);
if (!outDir) {
  console.error('usage: zones.cjs BASE ANALYST VIEWER PASSWORD MAC OUT_DIR');
  process.exit(2);
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

async function login(page, user) {
  await page.goto(`${base}/login`);
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', password);
  await Promise.all([page.waitForURL((u) => new URL(u).pathname === '/'), page.click('button[type=submit]')]);
}

(async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'palisade-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.PALISADE_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    ignoreHTTPSErrors: true,
    viewport: { width: 1440, height: 900 },
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  try {
    const page = ctx.pages()[0] || (await ctx.newPage());
    page.setDefaultTimeout(20000);
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));

    // The analyst: three built-in zones, the device not yet in quarantine.
    await login(page, analyst);
    await page.goto(`${base}/zones`);
    check((await page.textContent('h1')) === 'Zones', 'zones heading');
    for (const z of ['quarantine', 'iot', 'trusted']) {
      check((await page.locator(`section[data-zone="${z}"]`).count()) === 1, `zone ${z} listed`);
    }
    const inQuarantine = page.locator(`section[data-zone="quarantine"] tr[data-device="${mac}"]`);
    check((await inQuarantine.count()) === 0, 'not quarantined yet');

    // Move it with the form (CSRF token included by the page).
    const form = page.locator('section.card form.zone-move').first();
    await form.locator('input[name=mac]').fill(mac.toUpperCase());
    await form.locator('select[name=zone]').selectOption('quarantine');
    await form.locator('input[name=reason]').fill('telnet scan from the camera');
    await form.locator('input[name=expires_min]').fill('60');
    await Promise.all([page.waitForURL('**/zones'), form.locator('button').click()]);
    check((await inQuarantine.count()) === 1, 'the device is listed in the quarantine zone');
    const row = await inQuarantine.textContent();
    check(row.includes('telnet scan from the camera'), `reason shown: ${row}`);
    check(row.includes('until'), `expiry shown: ${row}`);
    check(row.includes(analyst), `who moved it: ${row}`);
    const count = await page.textContent('section[data-zone="quarantine"] .count');
    check(count.trim() === '1 devices', `quarantine count: ${count}`);
    await page.screenshot({ path: path.join(outDir, 'console-zones.png'), fullPage: true });

    // A forged post without the CSRF token is refused.
    const forged = await page.evaluate(async (m) => {
      const r = await fetch('/zones/move', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: `csrf=nope&mac=${m}&zone=trusted` });
      return r.status;
    }, mac);
    check(forged === 403, `forged post refused, got ${forged}`);

    // The viewer: read-only.
    await page.click('form.logout button');
    await login(page, viewer);
    await page.goto(`${base}/zones`);
    check((await inQuarantine.count()) === 1, 'viewer sees the quarantined device');
    check((await page.locator('form.zone-move').count()) === 0, 'viewer has no move forms');
    const status = await page.evaluate(async (m) => {
      const csrf = document.querySelector('form.logout input[name=csrf]').value;
      const r = await fetch('/zones/move', { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: `csrf=${encodeURIComponent(csrf)}&mac=${m}&zone=trusted` });
      return r.status;
    }, mac);
    check(status === 403, `viewer move refused, got ${status}`);
    check(errors.length === 0, `no page script errors: ${errors.join('; ')}`);
    console.log(JSON.stringify({ ok: true }));
  } finally {
    await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
})().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
