#!/usr/bin/env node
// Browser check for the hubaudit HTML report.
//
// Opens the report in Debian's headless Chromium (driven by playwright-core,
// no bundled browser) and asserts that it renders cleanly under its own CSP:
// expected tables / SVG charts / sample banner are present and visible, the
// page has no <script>, the CSP meta tag says default-src 'none', and no
// console error, page error, CSP violation or failed request occurred.
// Keeps a full-page screenshot.
//
// With --hostile (a report built from hostile input, see tests/hostile.rs) it also asserts
// that nothing the data carried came alive: the canary `window.__hubaudit_pwned` that the
// payloads try to set stayed undefined, no dialog (alert/confirm/prompt) opened, the DOM holds
// only the elements the report itself emits (no injected <img>, <a>, <textarea>, <iframe>, or
// <svg> other than the charts), and no bidi override or control character is left in the
// page (they must be shown as `[U+XXXX]`). --expect-text asserts the rendered text contains
// a string (repeatable), e.g. `[U+202E]`.
//
// Usage:
//   node tests/browser/check.mjs --report DIR/index.html --screenshot OUT.png \
//        [--tables id1,id2,...] [--charts id1,id2,...] [--banner] [--hostile] \
//        [--expect-text TEXT ...]
//
// Last line printed is always `browser-check: N passed, M failed`.
// Exit code: 0 if nothing failed, 1 otherwise (usage errors included).
// Env: HUBAUDIT_CHROMIUM overrides the browser path (default /usr/bin/chromium).

import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const CHROMIUM = process.env.HUBAUDIT_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const TIMEOUT_MS = 30_000;
const USAGE =
  'usage: node tests/browser/check.mjs --report DIR/index.html --screenshot OUT.png ' +
  '[--tables id1,id2,...] [--charts id1,id2,...] [--banner] [--hostile] [--expect-text TEXT ...]';
// Elements the report emits (page, tables, inline SVG charts); anything else came from data.
const REPORT_ELEMENTS = new Set([
  'html', 'head', 'meta', 'title', 'style', 'body', 'p', 'h1', 'h2', 'ul', 'li', 'section', 'div',
  'table', 'thead', 'tbody', 'tr', 'th', 'td', 'footer',
  'svg', 'g', 'rect', 'text', 'tspan', 'line', 'polyline', 'path', 'circle', 'desc',
]);
// What the report must show as `[U+XXXX]` instead of applying (same set as svg::is_hidden).
const HIDDEN = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069\u2028\u2029\uFEFF\uFFFE\uFFFF]/g;

let passed = 0;
let failed = 0;

function pass(msg) {
  passed += 1;
  console.log(`ok   ${msg}`);
}

function fail(msg) {
  failed += 1;
  console.log(`FAIL ${msg}`);
}

function finish() {
  console.log(`browser-check: ${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}

function splitIds(value, flag) {
  if (value === undefined) return [];
  const ids = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const id of ids) {
    // Keep selectors printable and unambiguous: `table#ID`, `svg#ID`.
    if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(id)) {
      throw new Error(`${flag}: invalid id ${JSON.stringify(id)} (letters, digits, '-', '_'; starts with a letter)`);
    }
  }
  return ids;
}

function oneLine(text) {
  const t = String(text).replace(/\s+/g, ' ').trim();
  return t.length > 400 ? `${t.slice(0, 400)}…` : t;
}

// ---------------------------------------------------------------- arguments
let opts;
try {
  const { values, positionals } = parseArgs({
    options: {
      report: { type: 'string' },
      screenshot: { type: 'string' },
      tables: { type: 'string' },
      charts: { type: 'string' },
      banner: { type: 'boolean', default: false },
      hostile: { type: 'boolean', default: false },
      'expect-text': { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (positionals.length) throw new Error(`unexpected argument(s): ${positionals.join(' ')}`);
  if (!values.report) throw new Error('--report is required');
  if (!values.screenshot) throw new Error('--screenshot is required');
  opts = {
    report: resolve(values.report),
    screenshot: resolve(values.screenshot),
    tables: splitIds(values.tables, '--tables'),
    charts: splitIds(values.charts, '--charts'),
    banner: values.banner,
    hostile: values.hostile,
    expectText: values['expect-text'],
  };
} catch (err) {
  console.log(USAGE);
  fail(`arguments: ${err.message}`);
  finish();
}

if (!existsSync(opts.report) || !statSync(opts.report).isFile()) {
  fail(`report file not found: ${opts.report}`);
  finish();
}

// ------------------------------------------------------------------- browser
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (err) {
  fail(`cannot load playwright-core (run \`npm ci\` in tests/browser): ${oneLine(err.message)}`);
  finish();
}

const consoleErrors = [];
const cspConsole = [];
const pageErrors = [];
const failedRequests = [];
const dialogs = [];

let browser;
try {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: TIMEOUT_MS,
  });
} catch (err) {
  fail(`cannot launch ${CHROMIUM}: ${oneLine(err.message)}`);
  finish();
}

try {
  // No bypassCSP: the report's own CSP must be enforced.
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    javaScriptEnabled: true, // so that a stray script would show up as a CSP violation, not be silently skipped
    offline: true, // the report is self-contained; any network attempt fails loudly
  });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);

  // Structured record of CSP violations. Injected through the DevTools
  // protocol, which is not subject to the page's CSP and adds no DOM node.
  await page.addInitScript(() => {
    window.__hubauditCsp = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__hubauditCsp.push(
        `${e.effectiveDirective || e.violatedDirective} blocked ${e.blockedURI || '(inline)'}` +
          (e.lineNumber ? ` at line ${e.lineNumber}` : ''),
      );
    });
  });

  page.on('console', (msg) => {
    const type = msg.type();
    const text = msg.text();
    const loc = msg.location();
    const where = loc && loc.url ? ` (${loc.url}${loc.lineNumber ? `:${loc.lineNumber}` : ''})` : '';
    if (/content security policy/i.test(text) && (type === 'error' || type === 'warning')) {
      cspConsole.push(`console ${type}: ${oneLine(text)}${where}`);
    } else if (type === 'error') {
      consoleErrors.push(`console error: ${oneLine(text)}${where}`);
    }
  });
  // A dialog means script ran: record it and dismiss it so the page goes on.
  page.on('dialog', async (dialog) => {
    dialogs.push(`${dialog.type()} dialog: ${oneLine(dialog.message())}`);
    await dialog.dismiss().catch(() => {});
  });
  page.on('pageerror', (err) => {
    pageErrors.push(`page error: ${oneLine(err.stack || err.message || err)}`);
  });
  page.on('requestfailed', (req) => {
    const why = req.failure() ? req.failure().errorText : 'unknown';
    failedRequests.push(`request failed: ${req.method()} ${oneLine(req.url())} (${why})`);
  });

  const url = pathToFileURL(opts.report).href;
  const t0 = Date.now();
  try {
    await page.goto(url, { waitUntil: 'load', timeout: TIMEOUT_MS });
    pass(`loaded ${url} in ${Date.now() - t0} ms`);
  } catch (err) {
    fail(`load ${url}: ${oneLine(err.message)}`);
  }
  // Let late console / violation events arrive.
  await page.waitForTimeout(250);

  // ---- no JavaScript in the page
  const js = await page.evaluate(() => {
    const scripts = document.querySelectorAll('script').length;
    const handlers = [];
    for (const el of document.querySelectorAll('*')) {
      for (const attr of el.attributes) {
        if (/^on/i.test(attr.name)) handlers.push(`<${el.localName} ${attr.name}>`);
      }
    }
    const jsUrls = [...document.querySelectorAll('[href^="javascript:" i], [src^="javascript:" i]')].map(
      (el) => `<${el.localName}>`,
    );
    return { scripts, handlers, jsUrls };
  });
  if (js.scripts === 0) pass('no <script> elements');
  else fail(`script: found ${js.scripts} <script> element(s), expected none`);
  if (js.handlers.length === 0 && js.jsUrls.length === 0) pass('no inline event handlers or javascript: URLs');
  else fail(`inline JavaScript found: ${[...js.handlers, ...js.jsUrls].slice(0, 10).join(', ')}`);

  // ---- CSP meta tag
  const metas = await page.evaluate(() =>
    [...document.querySelectorAll('meta')]
      .filter((m) => (m.getAttribute('http-equiv') || '').toLowerCase() === 'content-security-policy')
      .map((m) => ({ content: m.getAttribute('content') || '', inHead: m.parentElement === document.head })),
  );
  const cspSel = 'head > meta[http-equiv="Content-Security-Policy"]';
  if (metas.length === 0) {
    fail(`${cspSel}: missing`);
  } else {
    const bad = [];
    for (const m of metas) {
      const directives = m.content.split(';').map((d) => d.trim().split(/\s+/)).filter((d) => d[0]);
      const def = directives.find((d) => d[0].toLowerCase() === 'default-src');
      if (!m.inHead) bad.push(`not in <head> (ignored by browsers): ${JSON.stringify(m.content)}`);
      else if (!def || def.length !== 2 || def[1].toLowerCase() !== "'none'")
        bad.push(`no default-src 'none' in ${JSON.stringify(m.content)}`);
    }
    // Several CSP metas all apply; at least one good one in <head> is enough, none may be misplaced.
    if (bad.length === 0) pass(`${cspSel}: default-src 'none' (${JSON.stringify(metas[0].content)})`);
    else fail(`${cspSel}: ${bad.join('; ')}`);
  }

  // ---- tables
  for (const id of opts.tables) {
    const sel = `table#${id}`;
    const loc = page.locator(sel);
    const n = await loc.count();
    if (n === 0) {
      fail(`${sel}: not found`);
      continue;
    }
    if (n > 1) {
      fail(`${sel}: ${n} elements share this id`);
      continue;
    }
    if (!(await loc.isVisible())) {
      fail(`${sel}: not visible`);
      continue;
    }
    const rows = await page.locator(`${sel} > tbody > tr`).count();
    const empty = await loc.getAttribute('data-empty');
    if (rows > 0) pass(`${sel}: visible, ${rows} rows`);
    else if (empty !== null) pass(`${sel}: visible, 0 rows, marked data-empty`);
    else fail(`${sel}: no tbody rows and no data-empty attribute`);
  }

  // ---- charts
  for (const id of opts.charts) {
    const sel = `svg#${id}`;
    const loc = page.locator(sel);
    const n = await loc.count();
    if (n === 0) {
      fail(`${sel}: not found`);
      continue;
    }
    if (n > 1) {
      fail(`${sel}: ${n} elements share this id`);
      continue;
    }
    const problems = [];
    if (!(await loc.isVisible())) problems.push('not visible');
    const box = await loc.boundingBox();
    if (!box || box.width <= 0 || box.height <= 0)
      problems.push(`zero-size bounding box (${box ? `${box.width}x${box.height}` : 'none'})`);
    const titles = page.locator(`${sel} > title`);
    const title = (await titles.count()) > 0 ? (await titles.first().textContent()).trim() : null;
    if (title === null) problems.push('no <title> child');
    else if (title === '') problems.push('empty <title> child');
    if (problems.length) fail(`${sel}: ${problems.join(', ')}`);
    else pass(`${sel}: visible, ${Math.round(box.width)}x${Math.round(box.height)}px, title ${JSON.stringify(oneLine(title))}`);
  }

  // ---- sample banner
  if (opts.banner) {
    const sel = '#sample-banner';
    const loc = page.locator(sel);
    const n = await loc.count();
    if (n === 0) fail(`${sel}: not found`);
    else if (!(await loc.first().isVisible())) fail(`${sel}: not visible`);
    else {
      const text = await loc.first().innerText();
      if (text.includes('SAMPLE DATA')) pass(`${sel}: visible, contains "SAMPLE DATA"`);
      else fail(`${sel}: text does not contain "SAMPLE DATA": ${JSON.stringify(oneLine(text).slice(0, 120))}`);
    }
  }

  // ---- hostile input stayed inert
  if (opts.hostile) {
    const seen = await page.evaluate(() => {
      const names = [];
      const strayCharts = [];
      for (const el of document.querySelectorAll('*')) {
        const name = el.localName;
        if (name === 'svg' && !(el.id || '').startsWith('chart-')) strayCharts.push(`<svg id=${JSON.stringify(el.id)}>`);
        names.push(name);
      }
      return {
        canary: typeof window.__hubaudit_pwned,
        names,
        strayCharts,
        html: document.documentElement.outerHTML,
        text: document.body ? document.body.innerText : '',
      };
    });
    if (seen.canary === 'undefined') pass('canary window.__hubaudit_pwned stayed undefined');
    else fail(`canary window.__hubaudit_pwned is ${seen.canary}: a payload ran`);
    const foreign = [...new Set(seen.names.filter((n) => !REPORT_ELEMENTS.has(n)))];
    if (foreign.length === 0 && seen.strayCharts.length === 0)
      pass(`only report elements in the DOM (${seen.names.length} elements)`);
    else fail(`elements the report does not emit: ${[...foreign.map((n) => `<${n}>`), ...seen.strayCharts].join(', ')}`);
    const hidden = [...new Set(seen.html.match(HIDDEN) || [])].map(
      (c) => `U+${c.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}`,
    );
    if (hidden.length === 0) pass('no control or bidi characters applied in the page');
    else fail(`control or bidi characters left in the page: ${hidden.join(', ')}`);
    const shown = (seen.text.match(/\[U\+[0-9A-F]{4}\]/g) || []).length;
    pass(`${shown} hidden character(s) shown as [U+XXXX]`);
  }
  if (opts.expectText.length) {
    const text = await page.evaluate(() => (document.body ? document.body.innerText : ''));
    for (const want of opts.expectText) {
      if (text.includes(want)) pass(`text contains ${JSON.stringify(want)}`);
      else fail(`text does not contain ${JSON.stringify(want)}`);
    }
  }

  // ---- screenshot (taken even when something above failed, to help debugging)
  try {
    mkdirSync(dirname(opts.screenshot), { recursive: true });
    await page.screenshot({ path: opts.screenshot, fullPage: true });
    pass(`screenshot ${opts.screenshot} (${statSync(opts.screenshot).size} bytes)`);
  } catch (err) {
    fail(`screenshot ${opts.screenshot}: ${oneLine(err.message)}`);
  }

  // ---- events collected over the whole visit
  const cspEvents = await page.evaluate(() => window.__hubauditCsp || []).catch(() => []);
  await context.close();

  const report = (label, items) => {
    if (items.length === 0) pass(`no ${label}`);
    else fail(`${items.length} ${label}:\n     ${items.join('\n     ')}`);
  };
  report('console errors', consoleErrors);
  report('CSP violations', [...cspConsole, ...cspEvents.map((e) => `securitypolicyviolation: ${e}`)]);
  report('page errors', pageErrors);
  report('failed requests', failedRequests);
  report('dialogs', dialogs);
} catch (err) {
  fail(`unexpected: ${oneLine(err.stack || err.message)}`);
} finally {
  await browser.close().catch(() => {});
}

finish();
