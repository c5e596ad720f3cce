// VS Code's quick input (Ctrl+P, F1) driven as a user does, but without guessing how long it takes:
// under load the list fills well after the typing ends, and Enter on a list still empty does nothing,
// so each step waits for what it needs to see instead of sleeping a fixed time.

/** Opens the quick input with `key`, types `text` and clicks the first row listing `label`. */
export async function pick(page, key, text, label = text, timeout = 120_000) {
  await page.keyboard.press(key);
  await page.locator(".quick-input-widget input").waitFor({ timeout });
  await page.keyboard.type(text);
  await page.locator(".quick-input-widget .monaco-list-row", { hasText: label }).first().click({ timeout });
}

/** Opens `fileName` with Quick Open and waits until its editor is showing, then clicks into it. */
export async function openFile(page, fileName, timeout = 120_000) {
  await pick(page, "Control+P", fileName, fileName, timeout);
  await page.locator(".tabs-container .tab.active", { hasText: fileName }).waitFor({ timeout });
  const lines = page.locator(".editor-group-container.active .monaco-editor .view-lines").first();
  await lines.waitFor({ timeout });
  await lines.click();
}
