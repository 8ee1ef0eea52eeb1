// deckrun's Node side, kept running: Marp conversions with the Marp CLI loaded once (a
// conversion then costs ~0.1 s instead of a Node start-up), and checks of rendered decks
// in a browser kept open (browser.mjs).
//
// One JSON request per input line:
//   {"marp": [CLI arguments...], "keep": {settings, versions}?} -> {"code": exit code}
//   {"slides": "deck.md", "since": version, "version": version, "settings": digest}
//                                                      -> {"total", "changed": [...]} or {"full": why}
//   {"check": "deck.html", "browser": "/path/to/chrome", "accessibility": true}
//                                                      -> {"reports": [...]}
//   {"still": "page.html", "png": "page.png", "browser": "/path/to/chrome"} -> {"png": path}
//   {"mermaid": "graph LR; a-->b", "look": {...}, "id": "d1", "browser": "..."}  -> {"svg": "<svg..."}
//   {"layout": "deck.html", "folder": "dir", "browser": "/path/to/chrome"} -> {"layout": "dir/deck.json"}
// Messages (Marp's log) come first; the answer is one line "@@deckrun-done <JSON>".
import module, { createRequire } from 'node:module'
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'
import { dirname } from 'node:path'
import { changedSlides, keeping, keepRenders } from './slides.mjs'

module.enableCompileCache?.() // as marp-cli.js does: from Node 22, Marp loads from a code cache
const marpEntry = process.argv[2] // .../node_modules/@marp-team/marp-cli/lib/index.js
const modules = dirname(dirname(dirname(dirname(marpEntry))))
const { marpCli } = await import(pathToFileURL(marpEntry).href)
const require = module.createRequire(marpEntry) // (the packages Marp CLI itself loads)
try {
  keepRenders(require('@marp-team/marpit').Marpit) // (the Marpit Marp Core extends)
  // Loaded now, while the build that started this worker still makes the Markdown: the code
  // a first conversion would load (Marp Core, every language of its highlighter).
  require('@marp-team/marp-core')
  createRequire(require.resolve('@marp-team/marp-core'))('highlight.js')
} catch (error) { // (a Marp CLI laid out otherwise: conversions load what they need, pages are fetched)
  console.error(`deckrun worker: ${error}`)
}
let checker = null

async function browser(path) {
  if (!checker) {
    const { openChecker } = await import('./browser.mjs')
    checker = await openChecker(modules, path)
  }
  return checker
}

async function answer(request) {
  if (request.marp) return { code: await keeping(request.keep, () => marpCli(request.marp)) }
  if (request.slides) return changedSlides(request)
  if (request.check) {
    const reports = await (await browser(request.browser)).check(request.check, { accessibility: request.accessibility })
    return { reports }
  }
  if (request.mermaid) return { svg: await (await browser(request.browser)).mermaid(request.mermaid, request.look, request.id) }
  if (request.layout) return { layout: await (await browser(request.browser)).layout(request.layout, request.folder) }
  if (request.still) return { png: await (await browser(request.browser)).still(request.still, request.png) }
  throw new Error(`unknown request: ${JSON.stringify(request)}`)
}

for await (const line of createInterface({ input: process.stdin })) {
  let result
  try {
    result = await answer(JSON.parse(line))
  } catch (error) {
    console.log(String(error))
    result = { code: 1, error: String(error) }
  }
  console.log(`@@deckrun-done ${JSON.stringify(result)}`)
}
if (checker) await checker.close()
