// Keeps the Marp CLI loaded between conversions, for the watcher: a conversion then
// costs ~0.1 s instead of a Node start-up. One JSON array of CLI arguments per input
// line; after each conversion, one line "@@deckrun-done <exit code>" (Marp's own
// messages come before it on the same stream).
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'

const { marpCli } = await import(pathToFileURL(process.argv[2]).href)
for await (const line of createInterface({ input: process.stdin })) {
  let code = 1
  try {
    code = await marpCli(JSON.parse(line))
  } catch (error) {
    console.log(String(error))
  }
  console.log(`@@deckrun-done ${code}`)
}
