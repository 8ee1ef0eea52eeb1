// The preview's slides, rendered again by the engine Marp CLI made for the deck's last HTML
// conversion (its configuration, themes and plugins, the course's own included), so that a
// save costs what it changed: the deck is parsed whole (Marp's directives and page numbers
// need all of it: 2 ms for 100 slides), its styles are not made again (three quarters of a
// render), and only the slides that differ are answered.
//
// Used by worker.mjs:
//   keepRenders(Marpit)           Marpit's render, seeded (below), remembers for a
//                                 conversion asked to keep its engine (under the render's
//                                 settings) and its slides (under the deck's version)
//   keeping(keep)                 during one conversion: {settings, versions: {file: version}}
//   changedSlides({slides: file, since, version, settings})
//       -> {total, changed: [{index, html, notes}]}, or {full: why} when only a whole page
//          will do (styles changed, slides added or removed, nothing kept to compare with)
import { readFileSync } from 'node:fs'

const KEPT = 32 // decks' versions remembered (and 4 engines: settings change with the theme)
const engines = new Map() // settings -> the engine of the last conversion made with them
const renders = new Map() // version -> { slides, notes, styles }: oldest first
let asked = null // the conversion running now: { settings, versions: Map(markdown -> version) }

const withoutMark = text => text.charCodeAt(0) === 0xfeff ? text.slice(1) : text // (as Marp CLI reads it)

function keep(map, key, value, most) { // (the newest last)
  map.delete(key)
  map.set(key, value)
  while (map.size > most) map.delete(map.keys().next().value)
}

// What the page's styles and head are made of besides the slides: the theme and global
// directives, the slides' <style> elements, Marp Core's additions (math, emoji) and Marp
// CLI's (its metadata, transitions), kept on the engine by its plugins. (A value that is
// not data, such as Marp Core's MathJax document, is left out: the styles it makes are in
// the pack options.)
const data = value => {
  try {
    return JSON.stringify(value)
  } catch {
    return null
  }
}
const stylesOf = engine => JSON.stringify([data(engine.lastGlobalDirectives), data(engine.themeSetPackOptions()),
  ...Object.getOwnPropertySymbols(engine).map(key => data(engine[key]))])

// Marp names each slide's scoped styles at random on every render. Renders here draw from
// the same seeded sequence each time, so the same deck gives the same page (and a save
// changes only what it changed).
function seeded(render) {
  const random = Math.random
  let state = 0x2f6b3c1d // (mulberry32)
  Math.random = () => {
    state = (state + 0x6d2b79f5) | 0
    let t = Math.imul(state ^ (state >>> 15), 1 | state)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  try {
    return render()
  } finally {
    Math.random = random
  }
}

const renderOf = (engine, env) => ({
  slides: engine.lastSlideTokens.map(tokens => engine.markdown.renderer.render(tokens, engine.markdown.options, env)),
  notes: engine.lastComments.map(notes => [...notes]),
  styles: stylesOf(engine),
})

export function keepRenders(Marpit) {
  const render = Marpit.prototype.render
  Marpit.prototype.render = function (markdown, env = {}) {
    const result = seeded(() => render.call(this, markdown, env))
    const version = asked?.versions.get(markdown)
    if (version !== undefined && Array.isArray(this.lastSlideTokens)) {
      keep(engines, asked.settings, this, 4)
      keep(renders, version, renderOf(this, env), KEPT)
    }
    return result
  }
}

export async function keeping(keep, convert) {
  asked = keep && {
    settings: keep.settings,
    versions: new Map(Object.entries(keep.versions).map(([file, version]) => [withoutMark(readFileSync(file, 'utf8')), version])),
  }
  try {
    return await convert()
  } finally {
    asked = null
  }
}

const sameNotes = (a = [], b = []) => a.length === b.length && a.every((note, n) => note === b[n])

export function changedSlides({ slides: file, since, version, settings }) {
  const engine = engines.get(settings)
  const before = renders.get(since)
  if (!engine) return { full: 'no conversion with these settings yet' }
  const env = {}
  seeded(() => engine.markdown.parse(withoutMark(readFileSync(file, 'utf8')), env))
  const now = renderOf(engine, env)
  keep(renders, version, now, KEPT)
  if (!before) return { full: 'the page shown was not rendered here' }
  if (now.styles !== before.styles) return { full: 'the styles changed' }
  if (now.slides.length !== before.slides.length) return { full: 'slides were added or removed' }
  const changed = now.slides.flatMap((html, index) =>
    html === before.slides[index] && sameNotes(now.notes[index], before.notes[index]) ? []
      : [{ index, html, notes: now.notes[index] }])
  return { total: now.slides.length, changed }
}
