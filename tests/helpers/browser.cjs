// One page in headless Chromium, driven over stdin and stdout: a JSON request a line, a
// JSON answer a line (tests and bench/preview_bench.py use it through browser.py).
//   {"open": URL, "width": 1280, "height": 720}   -> {"ok": true}
//   {"eval": EXPRESSION}                           -> {"value": ...}
//   {"wait": EXPRESSION, "timeout": MS}            -> {"value": ..., "at": EPOCH_MS}
//        polls once a frame until the expression is truthy, across reloads; `at` is
//        when the frame that shows it was drawn (the next animation frame)
//   {"click": SELECTOR}                            -> {"ok": true}
//   {"hover": SELECTOR}                            -> {"ok": true}
//   {"key": KEY}                                   -> {"ok": true}   (pressed on the page)
//   {"shot": PATH}                                 -> {"ok": true}   (a PNG of the viewport)
// Usage: node browser.cjs NODE_MODULES CHROME
const readline = require('node:readline')
const [modules, chrome] = process.argv.slice(2)
const puppeteer = require(`${modules}/puppeteer-core`)

// The frame that shows what the condition saw: the next animation frame comes once it is drawn.
const painted = () => new Promise(resolve => requestAnimationFrame(() => resolve(Date.now())))

async function main () {
  const browser = await puppeteer.launch({
    executablePath: chrome, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
           '--disable-sync', '--no-first-run', '--disable-quic'],
  })
  const page = await browser.newPage()
  const answer = value => process.stdout.write(JSON.stringify(value) + '\n')
  const lines = readline.createInterface({ input: process.stdin })
  for await (const line of lines) {
    const request = JSON.parse(line)
    try {
      if (request.open) {
        await page.setViewport({ width: request.width || 1280, height: request.height || 720 })
        await page.goto(request.open, { waitUntil: 'load' })
        answer({ ok: true })
      } else if (request.eval) {
        answer({ value: await page.evaluate(request.eval) })
      } else if (request.wait) {
        const deadline = Date.now() + (request.timeout || 30000)
        for (;;) {
          try {
            const handle = await page.waitForFunction(request.wait, { polling: 'raf', timeout: Math.max(deadline - Date.now(), 1) })
            const value = await handle.jsonValue()
            answer({ value, at: await page.evaluate(painted) })
            break
          } catch (error) {  // a reload destroyed the page's context: wait in the new one
            if (Date.now() >= deadline || !/context|detached|navigat/i.test(String(error))) throw error
            await new Promise(resolve => setTimeout(resolve, 20))
          }
        }
      } else if (request.click) {
        await page.click(request.click)
        answer({ ok: true })
      } else if (request.hover) {
        await page.hover(request.hover)
        answer({ ok: true })
      } else if (request.key) {
        await page.keyboard.press(request.key)
        answer({ ok: true })
      } else if (request.shot) {
        await page.screenshot({ path: request.shot })
        answer({ ok: true })
      }
    } catch (error) {
      answer({ error: String(error) })
    }
  }
  await browser.close()
}

main().catch(error => {
  process.stdout.write(JSON.stringify({ error: String(error) }) + '\n')
  process.exit(1)
})
