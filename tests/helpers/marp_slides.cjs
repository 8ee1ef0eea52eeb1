// Marp's own view of a deck, for comparing with deckrun.slides: each slide's class
// attribute and its presenter notes. Usage: node marp_slides.cjs NODE_MODULES DECK.md
const { Marp } = require(process.argv[2] + '/@marp-team/marp-core')
const fs = require('fs')
const marp = new Marp({ html: true, looseYAML: true })
const { html, comments } = marp.render(fs.readFileSync(process.argv[3], 'utf8'))
const classes = [...html.matchAll(/<section([^>]*)>/g)].map(m => (m[1].match(/class="([^"]*)"/) || [, ''])[1])
console.log(JSON.stringify({ classes, comments }))
