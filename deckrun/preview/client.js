// The preview's page script (deckrun watch), added to every deck page it serves: it keeps
// the page in step with the lecturer's saves without reloading it.
//
//   reload {decks}           the deck was rebuilt: fetch it, replace only the slides whose
//                            content changed (the Marp navigation, presenter view, zoom and
//                            scroll stay), and show the first slide an edit changed unless
//                            the view is pinned. A theme or front matter change, or slides
//                            added or removed, reload the page, on the same slide's content.
//   goto {deck, slide}       show that slide (an editor asked, for the line of its cursor)
//   running / stream / ran   a cell is running: a mark on its slide, its printed output as
//                            it comes; the deck's next version replaces both
//   errors, warnings         over the deck, until the next good save
(() => {
  const config = JSON.parse(document.currentScript.dataset.deckrun)
  const { deck, token, events, pdf, header } = config
  const PINNED = `deckrun-pinned:${location.pathname}`
  const fullReloads = new URLSearchParams(location.search).has('deckrun-reload')  // (to compare, in bench/)
  const container = () => document.getElementById(':$p')
  const slidesOf = root => [...(root.getElementById ? root.getElementById(':$p') : root).children]
    .filter(el => el.matches('svg[data-marpit-svg]'))
  const current = () => {
    const found = /^#(\d+)/.exec(location.hash)
    return found ? Number(found[1]) - 1 : 0
  }
  const show = index => {
    if (index !== current()) location.hash = `#${index + 1}`
  }
  window.deckrunPreview = { patched: 0, reloads: 0, lastPatch: null }

  // -- messages over the deck
  const box = colour => {
    const el = document.createElement('pre')
    el.style.cssText = 'position:fixed;z-index:99999;left:0;right:0;margin:0;padding:14px 18px;' +
      `background:${colour};color:#fff;font:15px/1.4 monospace;white-space:pre-wrap;display:none;` +
      'max-height:45vh;overflow:auto;box-shadow:0 4px 16px rgba(0,0,0,.4)'
    document.addEventListener('DOMContentLoaded', () => document.body.appendChild(el))
    return el
  }
  const errors = box('#b3261e'), warnings = box('#8a5300')
  errors.dataset.deckrunErrors = ''
  warnings.dataset.deckrunWarnings = ''
  errors.style.top = '0'
  warnings.style.bottom = '0'
  const mine = messages => Object.entries(messages).filter(([name]) => name === deck || name === '')
  const say = (el, messages) => {
    const lines = mine(messages)
    el.textContent = lines.map(([, text]) => text).join('\n\n')
    el.style.display = lines.length ? 'block' : 'none'
  }

  // -- follow the edits, or stay (a pin at the bottom left)
  const pin = document.createElement('button')
  const drawPin = () => {
    const pinned = sessionStorage.getItem(PINNED) === '1'
    pin.textContent = pinned ? 'view pinned' : 'following edits'
    pin.title = pinned ? 'The view stays where it is: click to follow the edits again'
                       : 'The view shows the slide each save changed: click to pin it'
    pin.dataset.deckrunPinned = pinned ? '1' : ''
  }
  pin.style.cssText = 'position:fixed;z-index:99998;left:8px;bottom:8px;font:12px sans-serif;opacity:.55;' +
    'border:1px solid #888;border-radius:10px;background:#fff;padding:2px 8px;cursor:pointer'
  pin.addEventListener('click', event => {
    event.stopPropagation()
    sessionStorage.setItem(PINNED, sessionStorage.getItem(PINNED) === '1' ? '' : '1')
    drawPin()
  })
  if (deck && !new URLSearchParams(location.search).get('view')) {
    drawPin()
    document.addEventListener('DOMContentLoaded', () => document.body.appendChild(pin))
  }
  const pinned = () => sessionStorage.getItem(PINNED) === '1'

  // -- the in-place update
  // A slide's content, without what says where it is (its number, its id, its cells' lines).
  const content = svg => svg.innerHTML
    .replace(/ (id|data-marpit-pagination|data-marpit-pagination-total|data-deckrun-cell)="[^"]*"/g, '')
  const styles = root => [...root.querySelectorAll('head style')].filter(s => !s.id).map(s => s.textContent).join('\n')

  // Which old slide is which new one: the longest common run of unchanged slides, and
  // within each changed stretch, slides paired by position (edited), the rest added or gone.
  const align = (before, after) => {
    const n = before.length, m = after.length
    const common = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0))
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        common[i][j] = before[i] === after[j] ? common[i + 1][j + 1] + 1 : Math.max(common[i + 1][j], common[i][j + 1])
      }
    }
    const pairs = [], edited = []
    let i = 0, j = 0, stretch = [[], []]
    const close = () => {
      const [olds, news] = stretch
      for (let k = 0; k < Math.min(olds.length, news.length); k++) {
        pairs.push([olds[k], news[k]])
        edited.push(news[k])
      }
      stretch = [[], []]
    }
    while (i < n || j < m) {
      if (i < n && j < m && before[i] === after[j]) {
        close()
        pairs.push([i++, j++])
      } else if (j < m && (i === n || common[i][j + 1] >= common[i + 1][j])) {
        stretch[1].push(j++)
      } else {
        stretch[0].push(i++)
      }
    }
    close()
    return { pairs, edited }
  }

  const reloadAt = index => {
    history.replaceState(history.state, '', `${location.pathname}${location.search}#${index + 1}`)
    window.deckrunPreview.reloads++
    location.reload()
  }

  const patch = async () => {
    const timing = { event: Date.now() }
    const answer = await fetch(location.pathname, { cache: 'no-store' })
    if (!answer.ok) return
    const text = await answer.text()
    timing.fetched = Date.now()
    const next = new DOMParser().parseFromString(text, 'text/html')
    timing.parsed = Date.now()
    const olds = slidesOf(document), news = slidesOf(next)
    const before = olds.map(content), after = news.map(content)
    const { pairs, edited } = align(before, after)
    const where = pairs.find(([old]) => old === current())
    const stay = where ? where[1] : Math.min(current(), news.length - 1)
    const target = edited.length && !pinned() ? Math.min(...edited) : stay
    if (fullReloads || olds.length !== news.length || styles(document) !== styles(next) || !container()) {
      return reloadAt(target)  // the navigation knows its slides: it starts again
    }
    for (const [index, svg] of news.entries()) {
      if (before[index] === after[index]) {  // the same, but maybe moved: its numbers follow
        const marks = olds[index].querySelectorAll('[data-deckrun-cell]')
        svg.querySelectorAll('[data-deckrun-cell]').forEach((mark, k) => marks[k]?.setAttribute('data-deckrun-cell', mark.dataset.deckrunCell))
        continue
      }
      olds[index].innerHTML = svg.innerHTML
      for (const { name, value } of svg.attributes) {
        if (name !== 'class' && name !== 'aria-hidden') olds[index].setAttribute(name, value)
      }
    }
    const notes = next.querySelectorAll('.bespoke-marp-note')
    document.querySelectorAll('.bespoke-marp-note').forEach(note => {
      const fresh = [...notes].find(other => other.dataset.index === note.dataset.index)
      if (fresh && fresh.innerHTML !== note.innerHTML) note.innerHTML = fresh.innerHTML
    })
    window.deckrunPreview.patched++
    timing.patched = Date.now()
    window.deckrunPreview.lastPatch = { edited, timing }
    show(target)
    document.dispatchEvent(new CustomEvent('deckrun:patched'))
  }

  // -- cells running now: a mark on the slide, their output as it is printed
  const cellParts = cell => {
    const marks = [...document.querySelectorAll(`[data-deckrun-cell="${CSS.escape(cell)}"]`)]
    const start = marks.find(el => el.dataset.deckrunPart === 'outputs')
    const end = marks.find(el => el.dataset.deckrunPart === 'end')
    return start && end ? { start, end } : null
  }
  const running = ({ cell }) => {
    const parts = cellParts(cell)
    if (!parts) return
    for (let el = parts.start.nextElementSibling; el && el !== parts.end; el = el.nextElementSibling) {
      if (!el.dataset.deckrunLive) el.style.display = 'none'  // the last run's output, until the next version
    }
    parts.start.insertAdjacentHTML('afterend',
      '<div data-deckrun-live="mark" style="display:inline-block;font:600 14px sans-serif;color:#fff;' +
      'background:#0f8a80;border-radius:9px;padding:1px 9px;margin:4px 0">running\u2026</div>' +
      '<pre data-deckrun-live="stream"><code class="language-output"></code></pre>')
  }
  const stream = ({ cell, text }) => {
    const parts = cellParts(cell)
    const code = parts && parts.start.parentElement.querySelector('[data-deckrun-live="stream"] code')
    if (!code) return
    const lines = (code.textContent + text).split('\n')
    code.textContent = lines.map(line => line.split('\r').pop()).join('\n')
  }
  const ran = ({ cell }) => {
    const parts = cellParts(cell)
    const mark = parts && parts.start.parentElement.querySelector('[data-deckrun-live="mark"]')
    if (mark) mark.textContent = 'done'
  }

  // -- the event stream
  const source = new EventSource(events)
  const forMe = handler => event => {
    const data = JSON.parse(event.data)
    if (data.deck === deck) handler(data)
  }
  let queue = Promise.resolve()
  source.addEventListener('reload', event => {
    if (deck && JSON.parse(event.data).decks.includes(deck)) queue = queue.then(patch).catch(() => location.reload())
  })
  source.addEventListener('goto', forMe(({ slide }) => show(slide)))
  if (!fullReloads && !config.presenting) {  // (presenting, present.js shows cells; bench/'s reload path had none)
    source.addEventListener('running', forMe(running))
    source.addEventListener('stream', forMe(stream))
    source.addEventListener('ran', forMe(ran))
  }
  source.addEventListener('errors', event => say(errors, JSON.parse(event.data)))
  source.addEventListener('warnings', event => say(warnings, JSON.parse(event.data)))
  window.deckrunPdf = async name => {
    const answer = await fetch(pdf + encodeURIComponent(name), { method: 'POST', headers: { [header]: token } })
    if (answer.ok) location.href = answer.url
    else alert('No PDF: ' + await answer.text())
  }
})()
