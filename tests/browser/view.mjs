// view.mjs - loads a page in headless Chromium through playwright-core and
// reports what a person would see: for tests/e2e/test_timeline_browser.py.
//
// Usage: node view.mjs CHROMIUM URL SCREENSHOT.png PROFILES TEXT...
// Waits until every TEXT is in the page's visible text (speedscope's
// toolbar names the profile), takes the screenshot, reads the toolbar of
// each of the PROFILES profiles (the "n" key shows the next), then
// switches to the Sandwich view (the "3" key: a table of every function)
// and reads the text again.  Prints one JSON object: {"errors": [console
// errors and page errors], "text": the first view's text, "profiles":
// each profile's text, "sandwich": the table's text}.
// Exits 1 only if the browser cannot be driven at all.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT_CORE || "playwright-core");
const [executable, url, screenshot, count, ...texts] = process.argv.slice(2);
const TIMEOUT = 60000;

const browser = await chromium.launch({
    executablePath: executable,
    headless: true,
    // N.B. no GPU here: speedscope draws with WebGL, which Chromium then
    // renders in software (SwiftShader) only when told it may.
    args: ["--no-sandbox", "--enable-unsafe-swiftshader", "--use-angle=swiftshader"],
});
const errors = [];
let result;
try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    // N.B. speedscope reports a file it cannot import with console.log
    // ("Failed to load format ...") and a page saying "Something went
    // wrong": those count as errors too.
    page.on("console", (message) => {
        if (message.type() === "error" || /fail|error|exception/i.test(message.text())) {
            errors.push("console " + message.type() + ": " + message.text());
        }
    });
    page.on("pageerror", (error) => errors.push("page: " + error.message));
    await page.goto(url, { timeout: TIMEOUT });
    let text = "";
    const deadline = Date.now() + TIMEOUT;
    while (Date.now() < deadline) {
        text = await page.evaluate(() => document.body.innerText);
        if (texts.every((wanted) => text.includes(wanted))
                || text.includes("Something went wrong")) {
            break;
        }
        await page.waitForTimeout(200);
    }
    if (text.includes("Something went wrong")) {
        errors.push("page: " + text);
    }
    // Let the flame chart draw before the picture.
    await page.waitForTimeout(1000);
    await page.screenshot({ path: screenshot });
    const profiles = [text];
    for (let index = 1; index < Number(count); index++) {
        await page.keyboard.press("n");
        await page.waitForTimeout(300);
        profiles.push(await page.evaluate(() => document.body.innerText));
    }
    await page.keyboard.press("3");
    await page.waitForTimeout(1000);
    const sandwich = await page.evaluate(() => document.body.innerText);
    result = { errors, text, profiles, sandwich };
} finally {
    await browser.close();
}
console.log(JSON.stringify(result));
