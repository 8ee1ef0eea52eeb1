// Live cells while presenting (deckrun present): every code cell on a slide can be
// edited and run again in the deck's warm kernel, in front of the class.
//
// The page's contract, for tests and editor integrations:
//   [data-deckrun-cell]      a runnable cell's block (its FILE:LINE)
//   [data-deckrun-code]      its code, editable (Shift+Enter runs it)
//   [data-deckrun-run]       runs it;  [data-deckrun-reset]: the built code and output back
//   [data-deckrun-keep]      writes the edit back to its source file (a normal save)
//   [data-deckrun-output]    its output: streamed as it prints, then the final result
//   [data-deckrun-kernel]    the kernel's state: warming, ready, or why it is not
(() => {
  const config = JSON.parse(document.currentScript.dataset.deckrunPresent)
  const { deck, token, header, run, keep, events } = config
  const blocks = new Map()  // cell -> {block, code, output, builtCode, builtOutput}

  const partsOf = cell => {
    const marks = [...document.querySelectorAll(`[data-deckrun-cell="${CSS.escape(cell)}"]`)]
    return Object.fromEntries(marks.filter(m => m.dataset.deckrunPart).map(m => [m.dataset.deckrunPart, m]))
  }

  // Between a mark and the next one (or the end of its parent): the nodes of that part.
  const following = (mark, until) => {
    const nodes = []
    for (let node = mark.nextSibling; node && node !== until && !(node.dataset && node.dataset.deckrunPart); node = node.nextSibling) nodes.push(node)
    return nodes
  }

  const button = (label, attribute, title) => {
    const el = document.createElement('button')
    el.type = 'button'
    el.textContent = label
    el.title = title
    el.setAttribute(attribute, '')
    el.style.cssText = 'font:600 15px sans-serif;margin:0 6px 0 0;padding:2px 12px;border-radius:6px;' +
      'border:1px solid #0f8a80;background:#fff;color:#0f8a80;cursor:pointer'
    return el
  }

  const prepare = cell => {
    const parts = partsOf(cell)
    if (!parts.code || !parts.outputs || !parts.end) return
    const codeNodes = following(parts.code)
    const pre = codeNodes.find(node => node.nodeType === 1)
    const code = pre && pre.querySelector('code')
    if (!code) return
    const block = parts.code.parentElement === parts.outputs.parentElement
      ? (() => {  // code above its output: one block around both
          const wrap = document.createElement('div')
          wrap.className = 'deckrun-live-cell'
          parts.code.before(wrap)
          for (let node = parts.code; node; ) {
            const next = node.nextSibling
            wrap.append(node)
            if (node === parts.end) break
            node = next
          }
          return wrap
        })()
      : parts.code.parentElement.parentElement  // side by side: the columns
    block.setAttribute('data-deckrun-cell', cell)
    const output = document.createElement('div')
    output.setAttribute('data-deckrun-output', '')
    following(parts.outputs, parts.end).forEach(node => output.append(node))
    parts.outputs.after(output)
    code.setAttribute('data-deckrun-code', '')
    code.contentEditable = 'true'  // (Marp's navigation leaves the keys of an editable element alone)
    code.spellcheck = false
    code.style.outline = '1px dashed rgba(15, 138, 128, .45)'
    code.addEventListener('keydown', event => {
      if (event.key === 'Enter' && event.shiftKey) {
        event.preventDefault()
        start(cell)
      }
    })
    code.addEventListener('paste', event => {  // text only
      event.preventDefault()
      document.execCommand('insertText', false, event.clipboardData.getData('text/plain'))
    })
    const bar = document.createElement('div')
    bar.style.cssText = 'margin:4px 0'
    const runButton = button('Run', 'data-deckrun-run', 'Run this cell again in the deck\'s kernel (Shift+Enter)')
    const resetButton = button('Reset', 'data-deckrun-reset', 'The code and output the deck was built with')
    const keepButton = button('Keep', 'data-deckrun-keep', 'Write this code back into its source file')
    runButton.addEventListener('click', () => start(cell))
    resetButton.addEventListener('click', () => reset(cell))
    keepButton.addEventListener('click', () => keepEdit(cell))
    bar.append(runButton, resetButton, keepButton)
    pre.after(bar)
    blocks.set(cell, { block, code, output, builtCode: code.innerHTML, builtOutput: output.innerHTML })
  }

  const post = (path, body) => fetch(path, {
    method: 'POST', headers: { [header]: token, 'Content-Type': 'application/json' }, body: JSON.stringify(body),
  })

  const start = async cell => {
    const live = blocks.get(cell)
    live.output.innerHTML = '<pre><code class="language-output"></code></pre>'
    live.output.dataset.deckrunState = 'running'
    const answer = await post(run, { deck, cell, code: live.code.textContent })
    if (!answer.ok) {
      live.output.innerHTML = `<pre><code class="language-error">${await answer.text()}</code></pre>`
      live.output.dataset.deckrunState = 'refused'
    }
  }

  const reset = cell => {
    const live = blocks.get(cell)
    live.code.innerHTML = live.builtCode
    live.output.innerHTML = live.builtOutput
    live.output.dataset.deckrunState = 'built'
  }

  const keepEdit = async cell => {
    const live = blocks.get(cell)
    const answer = await post(keep, { deck, cell, code: live.code.textContent })
    live.output.dataset.deckrunKept = answer.ok ? 'yes' : await answer.text()
  }

  // The kernel's state, in the presenter view (and small on the slides).
  const state = document.createElement('div')
  state.setAttribute('data-deckrun-kernel', 'connecting')
  state.style.cssText = 'position:fixed;z-index:99997;right:8px;top:8px;font:600 13px sans-serif;color:#fff;' +
    'background:#5b6470;border-radius:10px;padding:2px 10px;opacity:.8'
  state.textContent = 'kernel: connecting'

  const source = new EventSource(events)
  const mine = handler => event => {
    const data = JSON.parse(event.data)
    if (data.deck === deck) handler(data)
  }
  source.addEventListener('kernel', mine(({ state: now, done, total }) => {
    state.setAttribute('data-deckrun-kernel', now)
    state.textContent = now === 'warming' ? `kernel: warming ${done}/${total}` : `kernel: ${now}`
    state.style.background = now === 'ready' ? '#0f8a80' : now === 'warming' ? '#8a5300' : '#b3261e'
  }))
  source.addEventListener('stream', mine(({ cell, text }) => {
    const live = blocks.get(cell)
    const code = live && live.output.querySelector('code.language-output')
    if (code && live.output.dataset.deckrunState === 'running') {
      code.textContent = (code.textContent + text).split('\n').map(line => line.split('\r').pop()).join('\n')
    }
  }))
  source.addEventListener('result', mine(({ cell, html }) => {
    const live = blocks.get(cell)
    if (!live) return
    live.output.innerHTML = html
    live.output.dataset.deckrunState = 'done'
  }))

  // Every cell with its code on a slide; again for the slides a rebuild replaced.
  const prepareAll = () => {
    for (const [cell, live] of [...blocks]) if (!live.block.isConnected) blocks.delete(cell)
    const cells = new Set([...document.querySelectorAll('[data-deckrun-part="code"]')].map(m => m.dataset.deckrunCell))
    cells.forEach(cell => blocks.has(cell) || prepare(cell))
  }
  const setUp = () => {
    prepareAll()
    document.body.append(state)
  }
  document.addEventListener('deckrun:patched', prepareAll)
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', setUp)
  else setUp()
})()
