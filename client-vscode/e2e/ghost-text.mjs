// Drives code-server in headless Chromium: open a file, type, wait for Hearth's ghost text,
// take a screenshot, press Tab, save. Prints one JSON line with what it saw.
// Usage: node ghost-text.mjs URL FILE_NAME LINE TEXT_TO_TYPE SCREENSHOT [tab|word]
import { chromium } from "playwright-core";
import { openFile } from "./quick-input.mjs";

const [url, fileName, line, typed, screenshot, accept = "tab"] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"],
});
const result = { ghost: "", statusBefore: "", error: null };
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(url);
  await page.waitForSelector(".monaco-workbench", { timeout: 120_000 });
  // The extension is ready when its status item shows the flame (model loaded).
  const status = page.locator(".statusbar-item", { has: page.locator(".codicon-flame") });
  await status.first().waitFor({ timeout: 180_000 });
  result.statusBefore = await status.first().innerText();
  await openFile(page, fileName);
  // Go to the line: Ctrl+G, then the end of it.
  await page.keyboard.press("Control+G");
  await page.keyboard.type(line);
  await page.keyboard.press("Enter");
  await page.keyboard.press("End");
  await page.keyboard.type(typed, { delay: 60 });
  // One-line ghost text is a decoration; the lines below the cursor live in a view zone.
  const ghost = page.locator(".ghost-text-decoration, .ghost-text-decoration-preview, .view-zones .ghost-text").filter({ visible: true });
  try {
    await ghost.first().waitFor({ timeout: 60_000 });
  } catch {
    await page.keyboard.press("Alt+Backslash"); // editor.action.inlineSuggest.trigger
    await ghost.first().waitFor({ timeout: 60_000 });
  }
  result.ghost = (await ghost.allInnerTexts()).join("\n");
  await page.screenshot({ path: screenshot });
  // Tab takes the whole suggestion; Ctrl+Right (Hearth's accept-word binding) takes its next word:
  // twice, since the first word of a suggestion on the next line is the line break and indent.
  if (accept === "word") {
    await page.keyboard.press("Control+ArrowRight");
    await page.waitForTimeout(300);
    await page.keyboard.press("Control+ArrowRight");
  } else {
    await page.keyboard.press("Tab");
  }
  await page.waitForTimeout(1000);
  await page.keyboard.press("Control+S");
  await page.waitForTimeout(1500);
} catch (error) {
  result.error = String(error);
  try {
    const pages = browser.contexts()[0]?.pages() ?? [];
    if (pages[0]) await pages[0].screenshot({ path: screenshot });
  } catch {}
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
