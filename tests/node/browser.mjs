// Drives hyalto's web UI in headless Chromium with playwright-core, as a user would: log in,
// configure the connection against the sandbox, push an inventory through the API, choose
// catalog items, map a company, Sync now, and find the additions on the Customers page.
// A screenshot of every page goes to SCREENSHOTS. Prints one JSON line with what it saw.
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const base = env("HYALTO_URL");
const shots = env("SCREENSHOTS");
const inventory = readFileSync(env("INVENTORY_FILE"), "utf8");

const browser = await chromium.launch({
  executablePath: env("CHROMIUM"),
  args: ["--no-sandbox"],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
page.setDefaultTimeout(30000);
const shot = (name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });
const seen = {};

try {
  // Log in.
  await page.goto(`${base}/billing/integrations`);
  await shot("login");
  await page.getByLabel("Username").fill(env("HYALTO_USER"));
  await page.getByLabel("Password").fill(env("HYALTO_PASSWORD"));
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(/\/billing\/integrations/);

  // Configure the connection and wait for the record sync to finish.
  await page.getByLabel("URL", { exact: true }).fill(env("CW_URL"));
  await page.getByLabel("Company ID").fill(env("CW_COMPANY_ID"));
  await page.getByLabel("Public key").fill(env("CW_PUBLIC_KEY"));
  await page.getByLabel("Private key").fill(env("CW_PRIVATE_KEY"));
  await page.getByLabel("Client ID").fill("hyalto-browser-test");
  await page.getByRole("button", { name: "Configure" }).click();
  await page.waitForURL(/done=configured/);
  await page.getByText(/Done: \d+ records cached/).waitFor();
  await shot("integrations");

  // Push the inventory through the API with the session and its CSRF token.
  const csrf = await page.locator('input[name="csrf_token"]').first().inputValue();
  const pushed = await page.request.post(`${base}/api/v1/inventory`, {
    data: inventory,
    headers: { "content-type": "application/json", "x-csrf-token": csrf },
  });
  seen.pushStatus = pushed.status();

  // Give every meter in use a catalog item.
  await page.goto(`${base}/billing/products`);
  for (;;) {
    const unmapped = page.locator("tr.warn select");
    if ((await unmapped.count()) === 0) break;
    const select = unmapped.first();
    const meter = await page.locator("tr.warn").first().locator("th code").innerText();
    const item = { cpu: "VMW-VCPU", ram: "VMW-RAM-GB" }[meter.split("/")[1]];
    const option = item
      ? select.locator("option", { hasText: item })
      : select.locator("option").nth(1);
    await select.selectOption(await option.first().getAttribute("value"));
    await page.locator("tr.warn").first().getByRole("button").click();
    await page.waitForURL(/done=saved/);
  }
  await shot("products");

  // Map the first customer: choose a company, then the customer and its master agreement.
  await page.goto(`${base}/billing/map-company`);
  await shot("map-company-suggestions");
  await page.getByRole("link", { name: /^Choose/ }).first().click();
  await page.waitForURL(/company=/);
  await page.getByLabel("Client Account").selectOption(env("CUSTOMER"));
  const agreement = page.getByLabel("Master Agreement");
  await agreement.selectOption((await agreement.locator("option").nth(1).getAttribute("value")));
  await page.getByRole("button", { name: "Map", exact: true }).click();
  await page.waitForURL(/\/billing\/map-company/);
  await shot("map-company");

  // Preview what a sync would write.
  await page.goto(`${base}/billing/preview`);
  seen.previewRows = await page.locator("tbody tr").count();
  await shot("preview");

  // Sync now, and wait for it to end.
  await page.goto(`${base}/billing/integrations`);
  await page.getByRole("button", { name: "Sync now" }).click();
  await page.waitForURL(/done=syncing/);
  for (let i = 0; i < 60; i++) {
    const job = await (await page.request.get(`${base}/api/v1/sync`)).json();
    if (job.job && !job.job.running) {
      seen.outcome = job.job.outcome;
      seen.message = job.job.message;
      break;
    }
    await page.waitForTimeout(500);
  }
  await page.reload();
  await shot("integrations-synced");

  // The Customers page shows where each meter is billed.
  await page.goto(`${base}/billing/customers`);
  seen.additions = await page.getByText(/addition #\d+/).count();
  await shot("customers");

  await page.goto(`${base}/billing/history?customer=${encodeURIComponent(env("CUSTOMER"))}`);
  seen.auditRows = await page.locator("section[aria-labelledby=audit-title] tbody tr").count();
  await shot("history");
  const usage = page.getByRole("link", { name: "usage" }).first();
  await page.goto(`${base}/billing/customers`);
  await usage.click();
  seen.charts = await page.locator("svg.chart").count();
  await shot("history-usage");
} catch (error) {
  await shot("failure").catch(() => {});
  console.error(`${error.stack}\nat ${page.url()}`);
  await browser.close();
  process.exit(1);
}
await browser.close();
console.log(JSON.stringify(seen));
