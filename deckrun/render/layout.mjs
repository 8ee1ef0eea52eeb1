// What a rendered deck's slides are made of, measured in Chromium, for an editable
// PowerPoint file (pptx.py writes it): per slide its size, fill, pictures (images,
// figures, background images, math: taken as pictures), text boxes (paragraphs with
// their runs: font, size, weight, colour, link), tables and code, each where the slide
// has it, and the presenter notes.
//
// Fonts: each font stack is measured with the font a default Office or LibreOffice
// install has that fits it (Arial, Times New Roman, Courier New: Liberation's metric
// twins here), so text laid out here fits its box there.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

export const OFFICE_FONTS = { sans: 'Arial', serif: 'Times New Roman', mono: 'Courier New' }

// Runs in the page: every slide taken apart. Pictures are marked (data-deckrun-shot) for
// the screenshots taken after.
function takeApart(fonts) {
  const MONO = /mono|courier|consol|menlo|monaco|code|terminal/i
  const SERIF = /(^|[^-])serif|times|georgia|garamond|palatino|cambria|book/i
  const officeFont = stack => {
    const families = stack.split(',').map(f => f.trim().replace(/^["']|["']$/g, ''))
    const first = families.find(f => !/^(system-ui|-apple-system|emoji|math)$/i.test(f)) || 'sans-serif'
    if (families.some(f => /^monospace$/i.test(f)) || MONO.test(first)) return fonts.mono
    if (/sans/i.test(first) || families.some(f => /^sans-serif$/i.test(f))) return fonts.sans
    return SERIF.test(first) ? fonts.serif : fonts.sans
  }
  // Measured with the fonts the file will name.
  for (const el of document.querySelectorAll('section, section *')) {
    const family = getComputedStyle(el).fontFamily
    if (family) el.style.setProperty('font-family', officeFont(family), 'important')
  }

  const colour = value => {
    const m = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)/.exec(value || '')
    if (!m || m[4] === '0') return null
    const hex = m.slice(1, 4).map(n => Math.round(+n).toString(16).padStart(2, '0')).join('')
    return m[4] === undefined || +m[4] >= 0.995 ? hex : `${hex}/${Math.round(+m[4] * 100)}`
  }
  let shots = 0
  const painted = new Map() // an image or a slide's own background -> its picture: one for all alike
  const shoot = el => {
    const id = String(++shots)
    el.setAttribute('data-deckrun-shot', id)
    return id
  }
  const PICTURES = 'img, svg, canvas, video, iframe, object, embed, mjx-container, .katex-display, .katex, math'
  const isPicture = el => el.matches(PICTURES) && !el.closest('marp-pre, pre')
  const BLOCKS = /^(block|flex|grid|list-item|table|flow-root)/
  const isInline = el => getComputedStyle(el).display.startsWith('inline') && !isPicture(el) && !el.matches('br')

  const slides = []
  for (const section of document.querySelectorAll('section[id]')) {
    const layer = section.dataset.marpitAdvancedBackground
    if (layer === 'background' || layer === 'pseudo') continue
    const outer = section.getBoundingClientRect()
    const scale = outer.width / section.offsetWidth || 1
    const place = rect => ({ x: (rect.left - outer.left) / scale, y: (rect.top - outer.top) / scale,
                             w: rect.width / scale, h: rect.height / scale })
    const items = []
    const visible = el => { const r = el.getBoundingClientRect(); return r.width > 0.5 && r.height > 0.5 }

    const runStyle = (el, box) => {
      const s = getComputedStyle(el)
      const link = el.closest('a[href]')
      return {
        font: s.fontFamily.split(',')[0].replace(/["']/g, '').trim(),
        size: parseFloat(s.fontSize) * box.scale / scale,
        bold: +s.fontWeight >= 600, italic: s.fontStyle === 'italic',
        underline: s.textDecorationLine.includes('underline'), strike: s.textDecorationLine.includes('line-through'),
        colour: colour(s.color), link: link ? link.href : null,
        mark: el.closest('code') && !el.closest('pre, marp-pre') ? colour(s.backgroundColor) : null,
        upper: s.textTransform === 'uppercase',
        spacing: (parseFloat(s.letterSpacing) || 0) * box.scale / scale,
      }
    }
    const cased = (text, style) => ({ text: style.upper ? text.toUpperCase() : text, ...style })
    const textOf = (node, keep) => keep ? node.textContent : node.textContent.replace(/\s+/g, ' ')
    // The runs of a block's inline content; a <br> or a nested list ends a paragraph.
    const paragraphsOf = (block, box, keep, level = 0, base = {}) => {
      const paragraphs = []
      let current = null
      const open = () => { if (!current) { current = { ...base, level, runs: [] }; paragraphs.push(current) } return current }
      const walk = node => {
        if (node.nodeType === Node.TEXT_NODE) {
          let text = textOf(node, keep)
          if (!text) return
          const style = runStyle(node.parentElement, box)
          open().runs.push(cased(text, style))
          return
        }
        if (node.nodeType !== Node.ELEMENT_NODE || getComputedStyle(node).display === 'none') return
        if (node.matches('br')) { open().runs.push({ text: '\n' }); return }
        if (node.matches('ul, ol')) { current = null; paragraphs.push(...listParagraphs(node, box, level + 1)); return }
        if (isPicture(node)) { pictureOf(node); return }
        if (node.matches('[data-deckrun-shot]')) return
        for (const child of node.childNodes) walk(child)
      }
      for (const child of block.childNodes) walk(child)
      for (const p of paragraphs) tidy(p, keep)
      return paragraphs.filter(p => p.runs.length) // (an item with no words of its own gets its bullet below)
    }
    // Spaces at a line's ends are not shown (HTML collapses them; Office would not).
    const tidy = (p, keep) => {
      if (keep) return
      p.runs.forEach((run, i) => {
        if (run.text === '\n') return
        if (i === 0 || p.runs[i - 1].text === '\n') run.text = run.text.replace(/^ +/, '')
        if (i === p.runs.length - 1 || p.runs[i + 1].text === '\n') run.text = run.text.replace(/ +$/, '')
      })
      p.runs = p.runs.filter(r => r.text)
    }
    const listParagraphs = (list, box, level) => {
      const out = []
      const ordered = list.matches('ol')
      let number = +(list.getAttribute('start') || 1)
      for (const li of list.children) {
        if (!li.matches('li')) continue
        const s = getComputedStyle(li)
        const r = li.getBoundingClientRect()
        const base = {
          bullet: s.listStyleType === 'none' ? null
            : { ...(ordered ? { number: number++, type: s.listStyleType } : { char: markerOf(li, s) }),
                colour: colour(getComputedStyle(li, '::marker').color) },
          indent: (r.left - box.rect.left) / scale, top: (r.top - box.rect.top) / scale,
          align: s.textAlign, lineHeight: lineHeight(s, box),
        }
        const mine = paragraphsOf(li, box, false, level, base)
        if (!mine.length) mine.push({ ...base, level, runs: [] })
        out.push(...mine.map((p, i) => i === 0 || p.level !== level ? p : { ...p, bullet: null }))
      }
      return out
    }
    const markerOf = (li, s) => {
      const type = s.listStyleType
      const content = getComputedStyle(li, '::marker').content
      const text = /^"(.*)"$/.exec(content || '')
      if (text && text[1].trim()) return text[1].trim()
      return type === 'circle' ? '◦' : type === 'square' ? '▪' : '•'
    }
    const lineHeight = (s, box) => {
      const value = parseFloat(s.lineHeight)
      return (Number.isFinite(value) ? value : parseFloat(s.fontSize) * 1.2) * box.scale / scale
    }
    const boxOf = el => {
      const rect = el.getBoundingClientRect()
      return { rect, scale: el.offsetWidth ? rect.width / el.offsetWidth : 1 }
    }
    // The sides of a box that are drawn: [{side, width, colour, style}].
    const borders = (s, box) => ['top', 'right', 'bottom', 'left'].flatMap(side => {
      const width = parseFloat(s[`border-${side}-width`]) * box.scale / scale
      const style = s[`border-${side}-style`]
      const ink = colour(s[`border-${side}-color`])
      return width > 0 && ink && style !== 'none' && style !== 'hidden' ? [{ side, width, colour: ink, style }] : []
    })
    // How far in from the box's edges its text starts: border and padding.
    const padding = (s, box) => ['Left', 'Top', 'Right', 'Bottom'].map(side =>
      (parseFloat(s[`padding${side}`]) + (parseFloat(s[`border${side}Width`]) || 0)) * box.scale / scale)

    const pictureOf = el => {
      if (!visible(el)) return
      const where = place(el.getBoundingClientRect())
      // The same image at the same size (a logo on every slide) is taken once.
      const key = el.matches('img') && `${el.currentSrc}|${Math.round(where.w)}|${Math.round(where.h)}|${getComputedStyle(el).objectFit}`
      const shot = key ? painted.get(key) ?? painted.set(key, shoot(el)).get(key) : shoot(el)
      items.push({ kind: 'picture', shot, alt: el.getAttribute('alt') || el.getAttribute('aria-label') || '', ...where })
    }
    const textOfBlock = (el, kind) => {
      const s = getComputedStyle(el)
      const keep = kind === 'code'
      // Marp shrinks code that is too wide for its slide (marp-pre): its text's scale, not the box's.
      const inner = keep && el.querySelector('code')
      const box = inner && inner.offsetWidth ? { rect: el.getBoundingClientRect(), scale: inner.getBoundingClientRect().width / inner.offsetWidth } : boxOf(el)
      const base = { align: s.textAlign, lineHeight: lineHeight(s, box), top: 0, indent: 0 }
      const paragraphs = el.matches('ul, ol') ? listParagraphs(el, box, 0) : splitLines(paragraphsOf(el, box, keep, 0, base), keep)
      if (!paragraphs.length) return
      items.push({ kind, ...place(box.rect), fill: colour(s.backgroundColor), padding: padding(s, box), borders: borders(s, box),
                   paragraphs })
    }
    // Code keeps its lines: one paragraph each.
    const splitLines = (paragraphs, keep) => {
      if (!keep) return paragraphs
      const out = []
      for (const p of paragraphs) {
        let line = { ...p, runs: [] }
        out.push(line)
        for (const run of p.runs) {
          const parts = run.text.split('\n')
          parts.forEach((part, i) => {
            if (i > 0) { line = { ...p, runs: [] }; out.push(line) }
            if (part) line.runs.push({ ...run, text: part })
          })
        }
      }
      while (out.length > 1 && !out[out.length - 1].runs.length) out.pop()
      return out
    }
    const tableOf = el => {
      const rows = [...el.rows].map(row => ({
        h: row.getBoundingClientRect().height / scale,
        cells: [...row.cells].map(cell => {
          const s = getComputedStyle(cell)
          const box = boxOf(cell)
          return { span: cell.colSpan, fill: colour(s.backgroundColor),
                   bottom: parseFloat(s.borderBottomWidth) > 0 ? { width: parseFloat(s.borderBottomWidth), colour: colour(s.borderBottomColor) } : null,
                   padding: padding(s, box), valign: s.verticalAlign,
                   paragraphs: paragraphsOf(cell, box, false, 0, { align: s.textAlign, lineHeight: lineHeight(s, box), top: 0, indent: 0 }) }
        }),
      }))
      const first = [...el.rows].find(r => [...r.cells].every(c => c.colSpan === 1))
      const columns = first ? [...first.cells].map(c => c.getBoundingClientRect().width / scale) : []
      items.push({ kind: 'table', ...place(el.getBoundingClientRect()), columns, rows })
    }
    // Pseudo-elements with words (a label over an output, the page number) or a fill (a
    // bar): measured as a real element in their place, then taken away.
    // Where an absolutely placed pseudo-element is: from its containing block's padding box
    // (a stand-in inside `el` may be laid out elsewhere: marp-pre puts its children in a
    // shadow root of its own).
    const positioned = (el, s, rect) => {
      if (s.position !== 'absolute') return rect
      const block = getComputedStyle(el).position !== 'static' ? el : el.offsetParent || section
      const outer = block.getBoundingClientRect()
      const b = getComputedStyle(block)
      const k = outer.width / (block.offsetWidth || outer.width || 1)
      const inside = { left: outer.left + parseFloat(b.borderLeftWidth) * k, top: outer.top + parseFloat(b.borderTopWidth) * k,
                       right: outer.right - parseFloat(b.borderRightWidth) * k, bottom: outer.bottom - parseFloat(b.borderBottomWidth) * k }
      const left = s.left !== 'auto' ? inside.left + parseFloat(s.left) * k
        : s.right !== 'auto' ? inside.right - parseFloat(s.right) * k - rect.width : rect.left
      const top = s.top !== 'auto' ? inside.top + parseFloat(s.top) * k
        : s.bottom !== 'auto' ? inside.bottom - parseFloat(s.bottom) * k - rect.height : rect.top
      return { left, top, width: rect.width, height: rect.height }
    }
    const pseudo = (el, which) => {
      const s = getComputedStyle(el, which)
      if (!s.content || s.content === 'none' || s.content === 'normal' || s.display === 'none') return
      const text = [...s.content.matchAll(/"((?:[^"\\]|\\.)*)"|attr\(([\w-]+)\)/g)]
        .map(m => m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (el.getAttribute(m[2]) || '')).join('')
      const stand = document.createElement('span')
      for (const name of s) stand.style.setProperty(name, s.getPropertyValue(name))
      stand.style.setProperty('font-family', officeFont(s.fontFamily), 'important')
      stand.textContent = text
      which === '::before' ? el.prepend(stand) : el.append(stand)
      try {
        if (!visible(stand)) return
        const box = { ...boxOf(stand), rect: positioned(el, s, stand.getBoundingClientRect()) }
        const fill = colour(s.backgroundColor)
        if (text.trim()) {
          items.push({ kind: 'text', ...place(box.rect), fill, padding: padding(s, box), borders: borders(s, box),
                       paragraphs: [{ align: s.textAlign, lineHeight: lineHeight(s, box), top: 0, indent: 0, level: 0,
                                      runs: [cased(text.trim(), runStyle(stand, box))] }] })
        } else if (fill) {
          items.push({ kind: 'shape', ...place(box.rect), fill, borders: borders(s, box) })
        }
      } finally {
        stand.remove()
      }
    }

    // An element as one object (a picture, a table, code, text), else as a container
    // (its fill and borders, then its children); its ::before and ::after over it.
    const leaf = el => {
      if (isPicture(el)) return pictureOf
      if (el.matches('table')) return tableOf
      if (el.matches('pre, marp-pre')) return el => textOfBlock(el, 'code')
      // Math amid words (a paragraph, a list) is one picture: Office would flow the words
      // around pictures of the formulas differently.
      const math = el.querySelector('mjx-container, .katex, math')
      if (el.matches('ul, ol')) return math ? pictureOf : el => textOfBlock(el, 'text')
      const words = [...el.childNodes].some(n => n.nodeType === Node.TEXT_NODE && n.textContent.trim())
      if (words || [...el.children].some(isInline)) return math ? pictureOf : el => textOfBlock(el, 'text')
      return null
    }
    const visit = el => {
      if (!visible(el) && !el.matches('br')) return
      const s = getComputedStyle(el)
      if (s.visibility === 'hidden' || s.display === 'none') return
      const make = leaf(el)
      if (make) {
        make(el)
      } else {
        const fill = colour(s.backgroundColor)
        const sides = borders(s, boxOf(el))
        if ((fill || sides.length) && el !== section) items.push({ kind: 'shape', ...place(el.getBoundingClientRect()), fill, borders: sides })
      }
      pseudo(el, '::before')
      if (!make) for (const child of el.children) visit(child)
      pseudo(el, '::after')
    }
    for (const child of section.children) visit(child)
    pseudo(section, '::before')
    pseudo(section, '::after')

    // The slide's fill; Marp's background images (a layer of their own) and a veil over them.
    const backdrop = section.parentElement.parentElement.querySelector('section[data-marpit-advanced-background="background"]')
    const backgrounds = backdrop ? [...backdrop.querySelectorAll('figure')].filter(visible)
      .map(figure => {
        const where = place(figure.getBoundingClientRect())
        const look = getComputedStyle(figure)
        const key = [look.backgroundImage, look.backgroundSize, look.backgroundPosition, look.filter, where.w, where.h].join('|')
        const shot = painted.get(key) ?? painted.set(key, shoot(figure)).get(key)
        return { kind: 'picture', shot, alt: figure.querySelector('figcaption')?.textContent || '', ...where }
      }) : []
    const own = colour(getComputedStyle(section).backgroundColor)
    const fill = backdrop ? colour(getComputedStyle(backdrop).backgroundColor) : own
    const veil = backdrop && own ? [{ kind: 'shape', x: 0, y: 0, w: section.offsetWidth, h: section.offsetHeight, fill: own }] : []
    const look = getComputedStyle(section)
    const key = [look.backgroundImage, look.backgroundPosition, look.backgroundSize, look.backgroundRepeat,
                 look.backgroundColor, section.offsetWidth, section.offsetHeight].join('|')
    if (look.backgroundImage !== 'none' && !painted.has(key)) painted.set(key, shoot(section))
    const paint = look.backgroundImage !== 'none' ? [{ kind: 'picture', shot: painted.get(key), alt: '', x: 0, y: 0,
                                                       w: section.offsetWidth, h: section.offsetHeight, bare: true }] : []
    const edges = borders(getComputedStyle(section), { scale })
    const frame = edges.length ? [{ kind: 'shape', x: 0, y: 0, w: section.offsetWidth, h: section.offsetHeight, fill: null, borders: edges }] : []
    slides.push({ number: Number(section.id), width: section.offsetWidth, height: section.offsetHeight,
                  fill: fill && fill.includes('/') ? fill.split('/')[0] : fill,
                  items: [...paint, ...backgrounds, ...veil, ...frame, ...items] })
  }
  const notes = {}
  for (const note of document.querySelectorAll('.bespoke-marp-note[data-index]')) {
    notes[+note.dataset.index + 1] = note.innerText.trim()
  }
  const meta = name => document.querySelector(`meta[name="${name}"]`)?.content || ''
  return { slides, notes, title: document.title, author: meta('author'), lang: document.documentElement.lang }
}

// Each marked element alone: everything else hidden (one style for every picture), no
// page background unless the picture is a slide's own background.
const ALONE = `
  html[data-deckrun-shooting] :is(section, section *, section::before, section::after, section *::before,
    section *::after) { visibility: hidden !important }
  html[data-deckrun-shooting]:not([data-deckrun-bare]) section { background: transparent !important }
  html[data-deckrun-shooting] :is([data-deckrun-now], [data-deckrun-now] *) { visibility: visible !important }`

async function screenshot(page, id, bare, slide) {
  const clip = await page.evaluate((id, bare) => {
    document.querySelector('[data-deckrun-now]')?.removeAttribute('data-deckrun-now')
    document.documentElement.toggleAttribute('data-deckrun-bare', bare)
    const el = document.querySelector(`[data-deckrun-shot="${id}"]`)
    el.setAttribute('data-deckrun-now', '')
    el.closest('section').scrollIntoView() // (a picture within the viewport: no page-long capture)
    const r = el.getBoundingClientRect()
    return { x: r.left + scrollX, y: r.top + scrollY, width: Math.max(r.width, 1), height: Math.max(r.height, 1) }
  }, id, bare)
  // A picture the size of the slide (a background) at the slide's own resolution: a quarter
  // of the pixels to draw and encode; the others at twice it, sharp when projected.
  if (clip.width * clip.height >= slide.width * slide.height / 2) clip.scale = 0.5
  // (a slide's background is opaque: JPEG, much quicker to make than a PNG that size)
  return page.screenshot({ clip, omitBackground: !bare, ...(bare ? { type: 'jpeg', quality: 90 } : { type: 'png' }) })
}

// The deck at `file` taken apart: its pictures written to `folder` (shot-N.png), the
// whole as `folder`/deck.json (returned: its path).
export async function layoutDeck(browser, file, folder) {
  const page = await browser.newPage()
  try {
    await page.setViewport({ width: 1280, height: 720, deviceScaleFactor: 2 })
    await page.emulateMediaType('print') // every slide laid out, as in the PDF
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load', timeout: 30000 })
    const size = await page.evaluate(async () => {
      await document.fonts.ready
      const section = document.querySelector('section[id]')
      return { width: section?.offsetWidth || 1280, height: section?.offsetHeight || 720 }
    })
    if (size.width !== 1280 || size.height !== 720) await page.setViewport({ ...size, deviceScaleFactor: 2 })
    const deck = await page.evaluate(takeApart, OFFICE_FONTS)
    await page.addStyleTag({ content: ALONE })
    await page.evaluate(() => document.documentElement.setAttribute('data-deckrun-shooting', ''))
    const taken = new Set()
    for (const slide of deck.slides) {
      for (const item of slide.items) {
        if (item.kind !== 'picture') continue
        item.png = join(folder, `shot-${item.shot}.${item.bare ? 'jpg' : 'png'}`)
        if (!taken.has(item.shot)) await writeFile(item.png, await screenshot(page, item.shot, item.bare, slide))
        taken.add(item.shot)
      }
    }
    const json = join(folder, 'deck.json')
    await writeFile(json, JSON.stringify(deck))
    return json
  } finally {
    await page.close()
  }
}
