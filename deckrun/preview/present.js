// Live cells while presenting (deckrun present): every code cell on a slide can be
// edited and run again in the deck's warm kernel, in front of the class.
//
// Nothing is added to a slide: each cell's controls float over it (shown on hover or
// focus; always, for the slide in view, in the presenter view), so the presented slide
// looks as built until something runs. Every page of the deck is in step: code typed in
// one, runs, their output and resets show in all (the server keeps the rest for pages
// that open later). With `safe`, a failure leaves the projected slide as it was and shows
// in the presenter view only. B (outside the code) brings the built output back for the
// slide's failed cells.
//
// The page's contract, for tests and editor integrations:
//   [data-deckrun-cell]            a runnable cell's code block (its FILE:LINE)
//   [data-deckrun-code]                its code, editable (Shift+Enter runs it)
//   [data-deckrun-toolbar]             its controls: [data-deckrun-run], [data-deckrun-stop],
//                                      [data-deckrun-reset], [data-deckrun-keep]
//   [data-deckrun-kernel]              the kernel's state: warming, ready, or why it is not
//   window.deckrunLive                 run/reset/stop/keep(cell), setCode(cell, code),
//                                      output(cell) (its text), state(cell), ticket(cell)
(() => {
  const config = JSON.parse(document.currentScript.dataset.deckrunPresent)
  const { deck, token, header, events, safe, actions } = config
  const view = new URLSearchParams(location.search).get('view') || ''
  const presenter = view === 'presenter', passive = view === 'next'  // (the presenter view's next slide)
  const me = Math.random().toString(36).slice(2)
  const { partsOf, between } = window.deckrunCells
  const cells = new Map()  // cell -> its live state

  const post = (action, body) => fetch(actions[action], {
    method: 'POST', headers: { [header]: token, 'Content-Type': 'application/json' }, body: JSON.stringify({ deck, ...body }),
  })
  const fragment = html => document.createRange().createContextualFragment(html)
  const escapeText = text => text.replace(/[&<>]/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c])

  // -- a cell's output: the nodes between its marks, replaced whole
  const outputNodes = live => between(live.parts.outputs, live.parts.end)
  const showOutput = (live, nodes) => {
    outputNodes(live).forEach(node => node.remove())
    live.parts.end.before(...nodes)
    for (const node of nodes) {  // (a figure has its size once it is loaded)
      if (node.nodeType === 1) node.querySelectorAll('img').forEach(img => img.addEventListener('load', () => fit(live), { once: true }))
    }
    fit(live)
  }
  const clones = live => outputNodes(live).map(node => node.cloneNode(true))

  // A live output never runs past its slide: what overflows is taken from its tallest
  // parts (text keeps its last lines, figures are scaled), so that what follows the cell
  // on the slide stays on it too.
  const fit = live => {
    const section = live.block.closest('section')
    if (!section) return
    const nodes = outputNodes(live).filter(node => node.nodeType === 1)
    const text = 'pre, marp-pre'
    const nested = el => {  // inside another such part (the lines of a block, a figure's drawing)
      for (let up = el.parentElement; up && up !== section; up = up.parentElement) if (up.matches(`${text}, svg`)) return true
      return false
    }
    const parts = nodes.flatMap(node => [node, ...node.querySelectorAll('*')])
      .filter(el => el.matches(`${text}, img, svg, iframe, video, canvas`) && !nested(el))
    parts.forEach(el => { el.style.maxHeight = ''; if (!el.matches(text)) { el.style.maxWidth = '100%'; el.style.objectFit = 'contain' } })
    const box = section.getBoundingClientRect()
    const scale = box.width / section.offsetWidth || 1
    const inner = box.bottom - parseFloat(getComputedStyle(section).paddingBottom || 0) * scale
    for (let round = 0; round < 8; round++) {
      const bottom = Math.max(...[...section.children].map(el => el.getBoundingClientRect().bottom))
      const over = (bottom - inner) / scale
      const tallest = parts.map(el => [el, el.getBoundingClientRect().height / scale]).filter(([, h]) => h > 48)
        .sort((a, b) => b[1] - a[1])[0]
      if (over <= 1 || !tallest) break
      const [el, height] = tallest
      el.style.maxHeight = `${Math.max(height - over, 48)}px`
      if (el.matches(text)) {
        el.style.overflow = 'hidden'
        el.scrollTop = el.scrollHeight  // the last lines
      }
    }
  }

  // -- controls, floating over the slide
  const button = (label, attribute, title, action) => {
    const el = document.createElement('button')
    el.type = 'button'
    el.textContent = label
    el.title = title
    el.setAttribute(attribute, '')
    el.style.cssText = 'font:600 13px sans-serif;margin:0 0 0 4px;padding:2px 10px;border-radius:6px;' +
      'border:1px solid #0f8a80;background:#fff;color:#0f8a80;cursor:pointer'
    el.addEventListener('click', event => { event.stopPropagation(); action() })
    return el
  }

  const toolbar = (cell, live) => {
    const bar = document.createElement('div')
    bar.setAttribute('data-deckrun-toolbar', cell)
    bar.style.cssText = 'position:fixed;z-index:99998;display:none;align-items:center;gap:2px;padding:3px;' +
      'border-radius:8px;background:rgba(255,255,255,.92);box-shadow:0 1px 6px rgba(0,0,0,.25);font:12px sans-serif'
    const status = document.createElement('span')
    status.setAttribute('data-deckrun-status', '')
    status.style.cssText = 'margin:0 6px;color:#5b6470;max-width:26em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap'
    live.run = button('Run', 'data-deckrun-run', 'Run this cell again in the deck\'s kernel (Shift+Enter)', () => run(cell))
    live.stop = button('Stop', 'data-deckrun-stop', 'Stop this cell', () => post('stop', { cell }))
    live.stop.style.display = 'none'
    bar.append(status, live.run, live.stop,
      button('Reset', 'data-deckrun-reset', 'The code and output the deck was built with (B)', () => reset(cell)),
      button('Keep', 'data-deckrun-keep', 'Write this code back into its source file', () => keep(cell)))
    bar.addEventListener('mouseenter', () => { live.hover = true; place(live) })
    bar.addEventListener('mouseleave', () => { live.hover = false; later(live) })
    live.status = status
    document.body.append(bar)
    return bar
  }

  const active = live => !!live.block.closest('svg.bespoke-marp-active')
  const shown = live => active(live) && (presenter || live.hover || live.focus || !!live.failed)
  const place = live => {
    if (!live.bar) return
    // (an outline is drawn over the block, outside its layout: it moves nothing)
    live.block.style.outline = active(live) && (presenter || live.hover || live.focus) ? '2px dashed rgba(15, 138, 128, .6)' : ''
    if (!shown(live)) { live.bar.style.display = 'none'; return }
    const box = live.block.getBoundingClientRect()
    live.bar.style.display = 'flex'
    const bar = live.bar.getBoundingClientRect()
    live.bar.style.left = `${Math.max(box.right - bar.width, 0)}px`
    live.bar.style.top = `${Math.max(box.top - bar.height - 2, 0)}px`
  }
  const later = live => setTimeout(() => place(live), 250)
  const placeAll = () => cells.forEach(place)

  const say = (live, text, colour = '#5b6470') => {
    live.status.textContent = text
    live.status.title = text
    live.status.style.color = colour
  }

  // -- each cell with its code on a slide (again for slides a rebuild replaced)
  const prepare = cell => {
    const parts = partsOf(cell)
    const code = parts && parts.block && parts.block.querySelector('code')
    if (!code) return
    const live = { cell, parts, block: parts.block, code, builtCode: code.innerHTML, ticket: 0, failed: '' }
    live.built = clones(live)
    live.before = live.built
    cells.set(cell, live)
    if (passive) return
    code.setAttribute('data-deckrun-code', '')
    code.contentEditable = 'true'  // (Marp's navigation leaves the keys of an editable element alone)
    code.spellcheck = false
    code.addEventListener('keydown', event => {
      if (event.key === 'Enter' && event.shiftKey) {
        event.preventDefault()
        run(cell)
      } else if (event.key === 'Tab' && !event.shiftKey) {  // indents (focus stays in the code)
        event.preventDefault()
        document.execCommand('insertText', false, '    ')
      }
    })
    code.addEventListener('paste', event => {  // text only
      event.preventDefault()
      document.execCommand('insertText', false, event.clipboardData.getData('text/plain'))
    })
    let typing = null
    code.addEventListener('input', () => {  // the other pages follow the typing
      clearTimeout(typing)
      typing = setTimeout(() => post('edit', { cell, code: code.textContent, view: me }), 120)
    })
    code.addEventListener('focus', () => { live.focus = true; place(live) })
    code.addEventListener('blur', () => { live.focus = false; later(live) })
    live.block.addEventListener('mouseenter', () => { live.hover = true; place(live) })
    live.block.addEventListener('mouseleave', () => { live.hover = false; later(live) })
    live.bar = toolbar(cell, live)
  }
  const prepareAll = () => {
    for (const [cell, live] of [...cells]) {
      if (!live.block.isConnected) { live.bar?.remove(); cells.delete(cell) }
    }
    document.querySelectorAll('[data-deckrun-cell]').forEach(block => cells.has(block.dataset.deckrunCell) || prepare(block.dataset.deckrunCell))
    placeAll()
  }

  // -- what the lecturer does
  const run = cell => {
    const live = cells.get(cell)
    if (!live) return
    post('run', { cell, code: live.code.textContent }).then(async answer => {
      if (!answer.ok) failed(live, live.ticket, `<pre><code class="language-error">${escapeText(await answer.text())}</code></pre>`, 'refused')
    })
  }
  const reset = cell => post('reset', { cell })
  const keep = async cell => {
    const live = cells.get(cell)
    const answer = await post('keep', { cell, code: live.code.textContent })
    live.block.dataset.deckrunKept = answer.ok ? 'yes' : await answer.text()
    say(live, answer.ok ? 'kept: building the deck' : `not kept: ${live.block.dataset.deckrunKept}`)
  }
  const setCode = (cell, text) => {
    const live = cells.get(cell)
    live.code.textContent = text
    live.code.dispatchEvent(new Event('input'))
  }

  // -- what every page is told
  const restore = (live, nodes) => {
    showOutput(live, nodes.map(node => node.cloneNode(true)))
    live.failed = ''
    live.block.dataset.deckrunState = 'built'
  }
  const failed = (live, ticket, html, why) => {
    if (safe && !presenter) restore(live, live.before)  // the class sees the slide as it was
    else showOutput(live, [...fragment(html).childNodes])
    live.failed = why
    live.block.dataset.deckrunState = 'failed'
    say(live, `${why.split('\n')[0]} \u2014 B: the built output back`, '#b3261e')
    place(live)
  }
  const handlers = {
    running ({ cell, ticket }) {
      const live = cells.get(cell)
      if (!live || ticket < live.ticket) return
      live.ticket = ticket
      live.before = live.failed ? live.built : clones(live)
      live.failed = ''
      live.block.dataset.deckrunState = 'running'
      showOutput(live, [...fragment('<pre data-deckrun-stream><code class="language-output"></code></pre>').childNodes])
      say(live, 'running\u2026')
      if (live.run) { live.run.style.display = 'none'; live.stop.style.display = '' }
    },
    stream ({ cell, ticket, text }) {
      const live = cells.get(cell)
      const code = live && ticket === live.ticket && live.block.dataset.deckrunState === 'running' &&
        outputNodes(live).find(node => node.nodeType === 1 && node.matches('[data-deckrun-stream]'))?.querySelector('code')
      if (!code) return
      const lines = (code.textContent + text).split('\n').map(line => line.split('\r').pop())
      code.textContent = lines.slice(-200).join('\n')  // (a cell that prints without end: its last lines)
      fit(live)
    },
    result ({ cell, ticket, html, failed: why, seconds }) {
      const live = cells.get(cell)
      if (!live || ticket < live.ticket) return
      live.ticket = ticket
      live.block.dataset.deckrunSeconds = seconds
      if (live.run) { live.run.style.display = ''; live.stop.style.display = 'none' }
      if (why) return failed(live, ticket, html, why)
      live.failed = ''
      live.block.dataset.deckrunState = 'done'
      showOutput(live, [...fragment(html).childNodes])
      say(live, `ran live in ${seconds < 1 ? `${Math.round(seconds * 1000)} ms` : `${seconds.toFixed(1)} s`}`)
      place(live)
    },
    reset ({ cell, ticket }) {
      const live = cells.get(cell)
      if (!live || ticket < live.ticket) return
      live.ticket = ticket
      live.code.innerHTML = live.builtCode
      restore(live, live.built)
      if (live.run) { live.run.style.display = ''; live.stop.style.display = 'none'; say(live, '') }
      place(live)
    },
    cancelled ({ cell, ticket }) {
      const live = cells.get(cell)
      if (!live || ticket < live.ticket) return
      live.ticket = ticket
      restore(live, live.before)
      if (live.run) { live.run.style.display = ''; live.stop.style.display = 'none'; say(live, 'stopped') }
    },
    edit ({ cell, code, view: from }) {
      const live = cells.get(cell)
      if (live && from !== me && document.activeElement !== live.code) live.code.textContent = code
    },
    cell (state) {  // what the other pages show now (this page just opened)
      const live = cells.get(state.cell)
      if (!live) return
      if (state.code !== undefined) live.code.textContent = state.code
      if (state.html !== undefined) handlers.result(state)
    },
  }

  // The kernel's state: small on the projected slides, plain in the presenter view.
  const kernel = document.createElement('div')
  kernel.setAttribute('data-deckrun-kernel', 'connecting')
  kernel.style.cssText = 'position:fixed;z-index:99997;right:8px;top:8px;font:600 13px sans-serif;color:#fff;' +
    `background:#5b6470;border-radius:10px;padding:2px 10px;max-width:60vw;overflow:hidden;white-space:nowrap;text-overflow:ellipsis;opacity:${presenter ? 1 : 0.55}`
  kernel.textContent = 'kernel: connecting'
  const kernelState = ({ state, done, total }) => {
    const word = state.split(':')[0]
    kernel.setAttribute('data-deckrun-kernel', word)
    kernel.textContent = total && (word === 'warming' || word === 'restarting') ? `kernel: ${word} ${done}/${total}` : `kernel: ${state}`
    kernel.title = state
    kernel.style.background = word === 'ready' ? '#0f8a80' : ['warming', 'restarting', 'bringing back the state of this slide'].includes(word) ? '#8a5300' : '#b3261e'
    kernel.style.display = presenter || word !== 'ready' ? '' : 'none'  // (the class need not see it)
  }

  const source = new EventSource(events)
  const mine = handler => event => {
    const data = JSON.parse(event.data)
    if (data.deck === deck) handler(data)
  }
  for (const [name, handler] of Object.entries(handlers)) source.addEventListener(name, mine(handler))
  source.addEventListener('kernel', mine(kernelState))

  document.addEventListener('keydown', event => {
    if (event.key !== 'b' && event.key !== 'B') return
    if (event.target.isContentEditable || event.altKey || event.ctrlKey || event.metaKey) return
    for (const [cell, live] of cells) if (live.failed && active(live)) reset(cell)
  })
  window.addEventListener('resize', placeAll)
  window.addEventListener('hashchange', () => setTimeout(placeAll, 50))
  setInterval(placeAll, 500)  // (the slide in view changes with Marp's navigation)

  window.deckrunLive = {
    run, reset, keep, setCode,
    stop: cell => post('stop', { cell }),
    output: cell => { const live = cells.get(cell); return live ? outputNodes(live).map(node => node.textContent).join('') : '' },
    state: cell => cells.get(cell)?.block.dataset.deckrunState || 'built',
    ticket: cell => cells.get(cell)?.ticket || 0,  // (the cell's latest request the page has heard of)
    cells: () => [...cells.keys()],
  }

  const setUp = () => {
    prepareAll()
    if (!passive) document.body.append(kernel)
  }
  document.addEventListener('deckrun:patched', prepareAll)
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', setUp)
  else setUp()
})()
