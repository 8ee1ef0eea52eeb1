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

// Runs in the page: the expression checked once a frame (in the frame's animation callbacks,
// before it is drawn) until it is truthy; then the frame that shows what it saw is drawn,
// and the next one's callbacks say when. (All in the page: a round trip to Node between
// the two would count a frame late.)
const shown = (expression, timeout) => new Promise((resolve, reject) => {
  const condition = new Function(`return (${expression})`)
  const deadline = Date.now() + timeout
  const tick = () => {
    let value
    try { value = condition() } catch { value = undefined }
    if (value) requestAnimationFrame(() => resolve({ value, at: Date.now() }))
    else if (Date.now() > deadline) reject(new Error(`waited ${timeout} ms for: ${expression}`))
    else requestAnimationFrame(tick)
  }
  tick()
})

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
            answer(await page.evaluate(shown, request.wait, Math.max(deadline - Date.now(), 1)))
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
