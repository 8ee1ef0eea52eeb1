// The preview's page script (deckrun watch), added to every deck page it serves: it keeps
// the page in step with the lecturer's saves without reloading it.
//
//   slides {deck, since, version, slides}
//                            a save changed these slides (index, html, notes): a page at
//                            version `since` puts them in place (the Marp navigation,
//                            presenter view, zoom and scroll stay) and shows the first unless
//                            the view is pinned; it is then at `version`
//   reload {decks, versions} the deck's page was written: a page not at that version fetches
//                            it and replaces the slides whose content changed, the same way.
//                            A theme or front matter change, slides added or removed, or a
//                            changed slide with fragments reload the page, on the same
//                            slide's content.
//   goto {deck, slide}       show that slide (an editor asked, for the line of its cursor)
//   running / stream / ran   a cell is running: a mark on its slide, its printed output as
//                            it comes; the deck's next version replaces both
//   errors, warnings         over the deck, until the next good save
(() => {
  const config = JSON.parse(document.currentScript.dataset.deckrun)
  const { deck, token, events, pdf, header } = config
  let version = config.version  // of the deck's page this page shows
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
  if (deck && !new URLSearchParams(location.search).get('view') && !config.presenting) {
    drawPin()
    document.addEventListener('DOMContentLoaded', () => document.body.appendChild(pin))
  }
  const pinned = () => sessionStorage.getItem(PINNED) === '1'

  // -- cells' marks: comments around each cell's outputs (no style or layout sees them),
  // and its code's block named by the cell (FILE:LINE). present.js uses them too.
  const marksOf = root => {
    const found = []
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_COMMENT)
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const mark = /^deckrun:(code|outputs|end) ([\s\S]*)$/.exec(node.data)
      if (mark) found.push({ node, part: mark[1], cell: mark[2] })
    }
    return found
  }
  const partsOf = cell => {
    const parts = {}
    for (const mark of marksOf(document.body)) if (mark.cell === cell) parts[mark.part] = mark.node
    parts.block = document.querySelector(`[data-deckrun-cell="${CSS.escape(cell)}"]`)
    return parts.outputs && parts.end ? parts : null
  }
  const between = (start, end) => {  // the nodes between two marks
    const nodes = []
    for (let node = start.nextSibling; node && node !== end; node = node.nextSibling) nodes.push(node)
    return nodes
  }
  window.deckrunCells = { marksOf, partsOf, between }

  // -- the in-place update
  // A slide's content, without what says where it is (its number, its id, its cells' lines).
  // (Marp's script makes <pre is="marp-pre"> a <marp-pre> in the page; a fetched page has its <pre>.)
  const content = svg => svg.innerHTML
    .replace(/ (id|data-marpit-pagination|data-marpit-pagination-total|data-deckrun-cell)="[^"]*"/g, '')
    .replace(/<!--deckrun:[^>]*-->/g, '')
    .replace(/<(\/?)marp-(pre|h[1-6])\b/g, '<$1$2')
  // Each slide as it was served (live cells may have changed the page since: what a save
  // changed is judged against what was served, so a slide it did not change keeps them).
  const served = new WeakMap()
  const servedContent = svg => served.has(svg) ? served.get(svg) : content(svg)
  const remember = () => slidesOf(document).forEach(svg => served.set(svg, content(svg)))
  document.addEventListener('DOMContentLoaded', remember)
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

  // Where the browser has no customized built-in elements, Marp's page script made each
  // <pre is="marp-pre"> (and fitted heading) of the page as loaded its own <marp-pre>: the
  // same, as it does it, for a slide put in place.
  const upgrade = root => root.querySelectorAll('[is^="marp-"]').forEach(el => {
    const name = el.getAttribute('is'), kind = customElements.get(name), tag = el.localName
    if (!kind || el instanceof kind) return
    el.outerHTML = el.outerHTML.replace(new RegExp(`^<${tag}`, 'i'), `<${name}`)
      .replace(new RegExp(`</${tag}>$`, 'i'), `</${name}>`)
  })
  // A changed slide put in place: its content, its attributes, its notes.
  const notesOf = index => document.querySelector(`.bespoke-marp-note[data-index="${index}"]`)
  const replace = (old, svg) => {
    old.innerHTML = svg.innerHTML
    upgrade(old)
    served.set(old, content(svg))
    for (const { name, value } of svg.attributes) {
      if (name !== 'class' && name !== 'aria-hidden') old.setAttribute(name, value)
    }
  }
  const done = (edited, timing, via) => {
    window.deckrunPreview.patched++
    timing.patched = Date.now()
    window.deckrunPreview.lastPatch = { edited, timing, via }
    document.dispatchEvent(new CustomEvent('deckrun:patched'))
  }

  // A save's changed slides, sent as they are: none is fetched (a page not at the version they
  // were changed from, or a slide only a reload shows right, waits for the page's reload event).
  const update = ({ since, version: next, slides }) => {
    const timing = { event: Date.now() }
    const olds = slidesOf(document)
    if (fullReloads || since !== version || !container()) return
    const news = slides.map(({ html }) => {
      const holder = document.createElement('template')
      holder.innerHTML = html
      return holder.content.querySelector('svg[data-marpit-svg]')
    })
    const fits = slides.every(({ index, notes }, k) => news[k] && olds[index] &&
      !news[k].querySelector('[data-marpit-fragment]') && !olds[index].querySelector('[data-marpit-fragment]') &&
      !notes.length === !notesOf(index))
    if (!fits) return
    slides.forEach(({ index, notes }, k) => {
      replace(olds[index], news[k])
      const note = notesOf(index)
      if (note) note.replaceChildren(...notes.map(text => Object.assign(document.createElement('p'), { textContent: text })))
    })
    version = next
    const edited = slides.map(({ index }) => index)
    done(edited, timing, 'slides')
    if (edited.length && !pinned()) show(Math.min(...edited))
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
    const before = olds.map(servedContent), after = news.map(content)
    const { pairs, edited } = align(before, after)
    const where = pairs.find(([old]) => old === current())
    const stay = where ? where[1] : Math.min(current(), news.length - 1)
    const target = edited.length && !pinned() ? Math.min(...edited) : stay
    // Marp's navigation counts a slide's fragments (list items shown one by one, code stepped
    // through) when the page loads: a changed slide that has any is only right after a reload.
    const stepped = index => [olds[index], news[index]].some(svg => svg?.querySelector('[data-marpit-fragment]'))
    const changed = news.map((_, index) => index).filter(index => before[index] !== after[index])
    const noted = root => [...root.querySelectorAll('.bespoke-marp-note')].map(note => note.dataset.index).join()
    if (fullReloads || olds.length !== news.length || styles(document) !== styles(next) || !container() ||
        changed.some(stepped) || noted(document) !== noted(next)) {
      return reloadAt(target)  // the navigation knows its slides (and notes): it starts again
    }
    version = JSON.parse(next.querySelector('script[data-deckrun]')?.dataset.deckrun || '{}').version
    for (const [index, svg] of news.entries()) {
      if (before[index] === after[index]) {  // the same, but maybe moved: its cells' lines follow
        const marks = marksOf(olds[index]), blocks = olds[index].querySelectorAll('[data-deckrun-cell]')
        marksOf(svg).forEach((mark, k) => { if (marks[k]) marks[k].node.data = mark.node.data })
        svg.querySelectorAll('[data-deckrun-cell]').forEach((block, k) => blocks[k]?.setAttribute('data-deckrun-cell', block.dataset.deckrunCell))
        continue
      }
      replace(olds[index], svg)
    }
    const notes = next.querySelectorAll('.bespoke-marp-note')
    document.querySelectorAll('.bespoke-marp-note').forEach(note => {
      const fresh = [...notes].find(other => other.dataset.index === note.dataset.index)
      if (fresh && fresh.innerHTML !== note.innerHTML) note.innerHTML = fresh.innerHTML
    })
    done(edited, timing, 'page')
    show(target)
  }

  // -- cells running now: a mark on the slide, their output as it is printed
  const running = ({ cell }) => {
    const parts = partsOf(cell)
    if (!parts) return
    for (const node of between(parts.outputs, parts.end)) {
      if (node.nodeType === 1 && !node.dataset.deckrunLive) node.style.display = 'none'  // the last run's output, until the next version
    }
    parts.outputs.after(document.createRange().createContextualFragment(
      '<div data-deckrun-live="mark" style="display:inline-block;font:600 14px sans-serif;color:#fff;' +
      'background:#0f8a80;border-radius:9px;padding:1px 9px;margin:4px 0">running\u2026</div>' +
      '<pre data-deckrun-live="stream"><code class="language-output"></code></pre>'))
  }
  const live = (cell, kind) => {
    const parts = partsOf(cell)
    return parts && between(parts.outputs, parts.end).find(node => node.nodeType === 1 && node.dataset.deckrunLive === kind)
  }
  const stream = ({ cell, text }) => {
    const code = live(cell, 'stream')?.querySelector('code')
    if (!code) return
    const lines = (code.textContent + text).split('\n')
    code.textContent = lines.map(line => line.split('\r').pop()).join('\n')
  }
  const ran = ({ cell }) => {
    const mark = live(cell, 'mark')
    if (mark) mark.textContent = 'done'
  }

  // -- the event stream
  const source = new EventSource(events)
  const forMe = handler => event => {
    const data = JSON.parse(event.data)
    if (data.deck === deck) handler(data)
  }
  let queue = Promise.resolve()
  source.addEventListener('slides', forMe(data => { queue = queue.then(() => update(data)).catch(() => location.reload()) }))
  source.addEventListener('reload', event => {
    const { decks, versions } = JSON.parse(event.data)
    if (!deck || !decks.includes(deck) || (versions[deck] && versions[deck] === version)) return  // (patched to it already)
    queue = queue.then(patch).catch(() => location.reload())
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
