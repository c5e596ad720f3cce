// Drives the rest of the extension in code-server's real workbench, in headless Chromium:
// the status menu (click the flame), the chat view (ask, wait for the streamed answer) and
// Edit with Hearth (instruction, VS Code's refactor preview, Apply, save). Prints one JSON line.
// Usage: node workbench.mjs URL FILE_PATH INSTRUCTION SCREENSHOT_PREFIX
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { chromium } from "playwright-core";
import { openFile, pick } from "./quick-input.mjs";

const [url, filePath, instruction, shots] = process.argv.slice(2);
const fileName = basename(filePath);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
const result = {
  menu: [], chat: { question: "", answer: "" }, preview: [], diskDuringPreview: "", applied: false, diskAfterApply: "", diskAfterUndo: "", notifications: [], error: null,
};
let page;

/** Waits for the refactor preview, lets `look` see its rows, ticks the first file, applies. */
async function applyInPreview(panel, look) {
  const apply = panel.getByRole("button", { name: "Apply", exact: true });
  await apply.waitFor({ timeout: 120_000 });
  const rows = panel.locator(".monaco-list-row");
  await look(rows);
  await rows.first().locator("input[type=checkbox], .monaco-checkbox, [role=checkbox]").first().click();
  await page.waitForTimeout(300);
  await apply.click();
  await page.waitForTimeout(1500);
}

async function saveAll() {
  await pick(page, "F1", "File: Save All");
  await page.waitForTimeout(2000);
}

try {
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(url);
  await page.waitForSelector(".monaco-workbench", { timeout: 120_000 });
  const flame = page.locator(".statusbar-item", { has: page.locator(".codicon-flame") });
  await flame.first().waitFor({ timeout: 180_000 });

  // The status menu: one click on the flame.
  await flame.first().click();
  const rows = page.locator(".quick-input-widget .monaco-list-row");
  await rows.first().waitFor({ timeout: 30_000 });
  result.menu = (await rows.allInnerTexts()).map((text) => text.trim());
  await page.screenshot({ path: `${shots}-menu.png` });
  await page.keyboard.press("Escape");

  // The chat view: the Hearth activity, then the webview's own page (two frames deep).
  await page.locator('.activitybar .action-item a[aria-label^="Hearth"]').first().click();
  const view = page.frameLocator("iframe.webview.ready").frameLocator("#active-frame");
  await view.locator("#input").waitFor({ timeout: 60_000 });
  result.chat.question = "What does is_prime return for 7?";
  await view.locator("#input").fill(result.chat.question);
  await view.locator("#send").click();
  // Sending disables the button; the answer is complete when it is enabled again.
  await view.locator("#send:disabled").waitFor({ timeout: 10_000 }).catch(() => {});
  await view.locator("#send:enabled").waitFor({ timeout: 300_000 });
  result.chat.answer = (await view.locator(".assistant").last().innerText()).trim();
  await page.screenshot({ path: `${shots}-chat.png` });

  // Edit with Hearth on the open file: the refactor preview must appear before anything changes.
  await openFile(page, fileName);
  await pick(page, "F1", "Edit with Hearth");
  const box = page.locator(".quick-input-widget input");
  await box.waitFor({ timeout: 30_000 });
  await box.fill(instruction);
  await page.keyboard.press("Enter");
  // VS Code shows each change that needs confirmation unticked: the user ticks what they accept.
  const panel = page.locator(".part.panel");
  await applyInPreview(panel, async (rows) => {
    result.preview = (await rows.allInnerTexts()).map((t) => t.trim());
    result.diskDuringPreview = readFileSync(filePath, "utf-8");
    await page.screenshot({ path: `${shots}-preview.png` });
  });
  result.applied = true;
  await saveAll();
  result.diskAfterApply = readFileSync(filePath, "utf-8");
  result.notifications = (await page.locator(".notification-toast").allInnerTexts()).map((t) => t.trim());
  await page.screenshot({ path: `${shots}-applied.png` });
  // The notification's Undo goes through hearth.undoEdit, itself a reviewed edit.
  await page.locator(".notification-toast").getByRole("button", { name: "Undo" }).click();
  await applyInPreview(panel, async () => {});
  await saveAll();
  result.diskAfterUndo = readFileSync(filePath, "utf-8");
} catch (error) {
  result.error = String(error);
  try {
    if (page) await page.screenshot({ path: `${shots}-error.png` });
  } catch {}
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
