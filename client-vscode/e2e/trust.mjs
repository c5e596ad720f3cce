// Opens code-server in headless Chromium and watches, without clicking anything, whether Hearth
// starts (its flame status item) and which notifications appear. Prints one JSON line.
// Usage: node trust.mjs URL WAIT_MS SCREENSHOT
import { chromium } from "playwright-core";

const [url, waitMs, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
const result = { workbench: false, flame: false, notifications: [], error: null };
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(url);
  await page.waitForSelector(".monaco-workbench", { timeout: 120_000 });
  result.workbench = true;
  const flame = page.locator(".statusbar-item", { has: page.locator(".codicon-flame") });
  try {
    await flame.first().waitFor({ timeout: Number(waitMs) });
    result.flame = true;
    await page.waitForTimeout(5000); // questions the server asks right after it starts
  } catch {
    result.flame = false;
  }
  result.notifications = await page.locator(".notification-list-item-message").allInnerTexts();
  await page.screenshot({ path: screenshot });
} catch (error) {
  result.error = String(error);
}
await browser.close();
console.log(JSON.stringify(result));
