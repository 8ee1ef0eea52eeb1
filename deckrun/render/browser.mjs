// Looks at pages in headless Chromium (the browser Marp uses): rendered decks, for each
// slide's content that overflows the slide box, frames whose page does not fit them, images
// without alt text and text whose contrast is below WCAG AA (axe-core's color-contrast
// rule); and interactive outputs, for a still picture of them (for paper).
//
// Used by worker.mjs: `openChecker(modules, browserPath)` launches one browser;
// `checker.check(htmlFile, {accessibility})` returns [{slide, kind, what, detail, pixels}];
// `checker.still(htmlFile, pngFile)` writes a picture of the page's content;
// `checker.layout(htmlFile, folder)` takes a deck apart for PowerPoint (layout.mjs).
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

// What each element is called in a report. Marp Core's browser script turns code blocks
// and fitted headings into its own elements (marp-pre, marp-h1...).
const NAMES = {
  P: 'paragraph', UL: 'list', OL: 'list', PRE: 'code block', 'MARP-PRE': 'code block',
  TABLE: 'table', IMG: 'image', FIGURE: 'image', BLOCKQUOTE: 'quote', IFRAME: 'embed',
  VIDEO: 'video', DIV: 'block',
  ...Object.fromEntries([1, 2, 3, 4, 5, 6].flatMap(n => [[`H${n}`, 'heading'], [`MARP-H${n}`, 'heading']])),
}

// Runs in the page: every element of every slide measured against its slide's box, and
// against its own box (content clipped by overflow: hidden/auto is overflow too).
function measure(names) {
  const reports = []
  const isOutput = el => el.matches(':is(pre, marp-pre):has(> code.language-output, > code.language-stderr, > code.language-error), .cell-output-html, .cell-error')
  for (const section of document.querySelectorAll('section[id]')) {
    const layer = section.dataset.marpitAdvancedBackground
    if (layer === 'background' || layer === 'pseudo') continue
    const outer = section.getBoundingClientRect()
    const scale = outer.width / section.offsetWidth || 1
    // The slide's content box: what runs into the padding runs under the footer and the page number.
    const padding = getComputedStyle(section)
    const box = { right: outer.right - parseFloat(padding.paddingRight) * scale,
                  bottom: outer.bottom - parseFloat(padding.paddingBottom) * scale }
    const crossing = []
    for (const el of section.querySelectorAll(Object.keys(names).map(n => n.toLowerCase()).join(','))) {
      if (el.closest('header, footer') || el.matches('div.columns, div.cell, div.cell-code, div.cell-outputs')) continue
      const rect = el.getBoundingClientRect()
      if (rect.width === 0 && rect.height === 0) continue
      const outside = Math.max((rect.bottom - box.bottom) / scale, (rect.right - box.right) / scale)
      const style = getComputedStyle(el)
      const clips = /(hidden|auto|scroll|clip)/.test(style.overflowX + style.overflowY)
      const inside = clips ? Math.max(el.scrollHeight - el.clientHeight, el.scrollWidth - el.clientWidth) : 0
      const pixels = Math.round(Math.max(outside, inside))
      if (pixels > 1) crossing.push({ el, pixels })
    }
    // Named: the first element (in reading order) that runs out of room, the innermost
    // one; the size: how far the slide's content goes past its box.
    const first = crossing.find(c => !crossing.some(d => d !== c && c.el.contains(d.el)))
    if (first) {
      reports.push({ slide: Number(section.id), kind: 'overflow', what: isOutput(first.el) ? 'output' : names[first.el.tagName],
                     pixels: Math.max(...crossing.map(c => c.pixels)) })
    }
    for (const frame of section.querySelectorAll('iframe[src]')) {
      const src = frame.getAttribute('src')
      const rect = frame.getBoundingClientRect()
      if (/^[a-z][\w+.-]*:|^\/\//i.test(src) || rect.width === 0) continue // a remote page: not loaded here
      reports.push({ slide: Number(section.id), kind: 'frame', src, output: frame.matches('.cell-output-live'),
                     width: Math.round(rect.width / scale), height: Math.round(rect.height / scale) })
    }
    for (const img of section.querySelectorAll('img')) {
      if (img.closest('header, footer') || (img.getAttribute('alt') || '').trim()) continue
      const figure = img.closest('figure.cell-figure')
      reports.push({ slide: Number(section.id), kind: 'alt', what: figure ? 'figure' : 'image',
                     detail: (img.getAttribute('src') || '').split('/').pop() })
    }
  }
  return reports
}

// A frame's page at the frame's size: how far its content runs past the frame (cut off),
// and the scale an interactive output shrank itself to (live.py's fit script).
const SHRUNK = 0.75

async function frameFit(browser, deckFile, frame) {
  const page = await browser.newPage()
  try {
    await page.setViewport({ width: frame.width, height: frame.height })
    await page.goto(new URL(frame.src, pathToFileURL(deckFile)).href, { waitUntil: 'load', timeout: 30000 })
    await new Promise(resolve => setTimeout(resolve, 600)) // outputs that draw after load
    const fit = await page.evaluate(() => {
      const root = document.documentElement
      const scale = parseFloat(root.style.zoom) || 1
      root.style.zoom = ''
      const width = root.scrollWidth, height = root.scrollHeight
      root.style.zoom = scale === 1 ? '' : String(scale)
      return { scale, height, cut: Math.round(Math.max(height * scale - innerHeight, width * scale - innerWidth)) }
    })
    if (fit.cut > 1) return { ...frame, what: frame.output ? 'interactive output' : 'embed', pixels: fit.cut }
    if (fit.scale < SHRUNK) return { ...frame, what: 'interactive output', shrunk: fit.scale, needs: fit.height }
    return null
  } finally {
    await page.close()
  }
}

async function contrast(page, axeSource) {
  await page.addScriptTag({ content: axeSource })
  const found = await page.evaluate(async () => {
    const result = await window.axe.run(document, { runOnly: { type: 'rule', values: ['color-contrast'] } })
    return result.violations.flatMap(v => v.nodes.map(node => {
      const el = document.querySelector(node.target[0])
      const section = el && el.closest('section[id]')
      const data = (node.any[0] || {}).data || {}
      return { slide: section ? Number(section.id) : 0, kind: 'contrast', what: el ? el.tagName.toLowerCase() : 'text',
               detail: `${data.fgColor} on ${data.bgColor}: ${data.contrastRatio}:1, AA needs ${data.expectedContrastRatio}`,
               text: el ? el.textContent.trim().slice(0, 40) : '' }
    }))
  })
  return found.filter(r => r.slide > 0)
}

const RECYCLE_AFTER = 100 // checks; then a fresh browser, so a long watch session does not grow

export async function openChecker(modules, browserPath) {
  const require = createRequire(pathToFileURL(`${modules}/`).href)
  const puppeteer = require('puppeteer-core')
  const axeSource = await readFile(require.resolve('axe-core/axe.min.js'), 'utf8')
  const launch = () => puppeteer.launch({
    executablePath: browserPath, headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
           '--disable-sync', '--no-first-run', '--disable-quic'],
  })
  let browser = await launch()
  let checks = 0
  let deckPage = null // one tab for every check: a new one costs more than the check
  let mermaidPage = null // one tab with Mermaid loaded, for every diagram
  const openDeckPage = async () => {
    const page = await browser.newPage()
    await page.setViewport({ width: 1280, height: 720 })
    await page.emulateMediaType('print') // every slide laid out, as in the PDF
    // Frames (an interactive output, an embedded video) have the size their tag gives
    // them whatever they load: they are not loaded.
    await page.setRequestInterception(true)
    page.on('request', request => {
      if (request.isNavigationRequest() && request.frame() !== page.mainFrame()) request.abort()
      else request.continue()
    })
    return page
  }
  return {
    async check(file, { accessibility = true } = {}) {
      if (++checks > RECYCLE_AFTER) {
        await browser.close()
        browser = await launch()
        deckPage = mermaidPage = null
        checks = 1
      }
      deckPage = deckPage || await openDeckPage()
      try {
        await deckPage.goto(pathToFileURL(file).href, { waitUntil: 'load', timeout: 30000 })
        const measured = await deckPage.evaluate(measure, NAMES)
        const frames = await Promise.all(measured.filter(r => r.kind === 'frame').map(f => frameFit(browser, file, f)))
        const reports = measured.filter(r => r.kind !== 'frame').concat(frames.filter(Boolean))
        return accessibility ? reports.concat(await contrast(deckPage, axeSource)) : reports
      } catch (error) {
        await deckPage.close().catch(() => {})
        deckPage = null // a page that failed is not reused
        throw error
      }
    },
    async still(file, png) {
      const page = await browser.newPage()
      try {
        await page.setViewport({ width: 1100, height: 800, deviceScaleFactor: 2 })
        await page.goto(pathToFileURL(file).href, { waitUntil: 'networkidle0', timeout: 30000 })
        await new Promise(resolve => setTimeout(resolve, 500)) // drawings that animate in
        const box = await page.evaluate(() => {
          const r = document.body.getBoundingClientRect()
          return { x: 0, y: 0, width: Math.ceil(Math.max(r.width, document.body.scrollWidth)),
                   height: Math.ceil(Math.max(r.height, document.body.scrollHeight)) }
        })
        await page.screenshot({ path: png, clip: box, captureBeyondViewport: true })
        return png
      } finally {
        await page.close()
      }
    },
    // A Mermaid diagram as SVG, drawn by Mermaid's own library in a page of this browser
    // (as the Mermaid CLI does); `look` is Mermaid's configuration. A syntax error is thrown
    // with Mermaid's words.
    async mermaid(source, look, id) {
      if (!mermaidPage) {
        mermaidPage = await browser.newPage()
        await mermaidPage.setContent('<!doctype html><html><body></body></html>')
        await mermaidPage.addScriptTag({ path: require.resolve('mermaid/dist/mermaid.min.js') })
      }
      return mermaidPage.evaluate(async (source, look, id) => {
        window.mermaid.initialize({ startOnLoad: false, securityLevel: 'strict', ...look })
        await window.mermaid.parse(source)
        const { svg } = await window.mermaid.render(id, source)
        return svg
      }, source, look, id)
    },
    async layout(file, folder) {
      const { layoutDeck } = await import('./layout.mjs')
      return layoutDeck(browser, file, folder)
    },
    close: () => browser.close(),
  }
}
