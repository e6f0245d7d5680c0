// Opens a modelvet HTML page in headless Chromium and reports, as one JSON line on stdout, what a reader's
// browser would do with it: console errors, page errors, network requests beyond the file itself, dialogs
// (an injected alert() would open one), and whether given texts are visible as text. Used by
// tests/report_html.rs; run `scripts/setup-browser.sh` first.
//
// usage: node check.mjs PAGE.html SCREENSHOT.png [TEXT ...]
import { chromium } from "playwright-core";
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";

const [page_path, shot, ...texts] = process.argv.slice(2);
if (!page_path || !shot) {
  console.error("usage: node check.mjs PAGE.html SCREENSHOT.png [TEXT ...]");
  process.exit(2);
}
const url = pathToFileURL(resolve(page_path)).href;
const executablePath = process.env.MODELVET_CHROMIUM || "/usr/bin/chromium";

const browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
const result = { url, console_errors: [], page_errors: [], requests: [], dialogs: [], texts: {}, scripts: 0 };
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, javaScriptEnabled: true });
  const page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") result.console_errors.push(`${m.type()}: ${m.text()}`); });
  page.on("pageerror", (e) => result.page_errors.push(String(e)));
  page.on("request", (r) => { if (r.url() !== url) result.requests.push(r.url()); });
  page.on("dialog", async (d) => { result.dialogs.push(`${d.type()}: ${d.message()}`); await d.dismiss(); });
  await page.goto(url, { waitUntil: "load" });
  await page.waitForTimeout(300);
  const body = (await page.textContent("body")) ?? "";
  for (const t of texts) result.texts[t] = body.includes(t);
  result.scripts = await page.locator("script").count();
  result.injected_images = await page.locator("img").count();
  result.title = await page.title();
  await page.screenshot({ path: shot, fullPage: process.env.MODELVET_FULL_PAGE === "1" });
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
