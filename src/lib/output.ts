/** How devkube talks to the terminal: TTY or not, colour or not, prompts allowed or not. */
import chalk from 'chalk'

// NO_COLOR (https://no-color.org) wins over everything; chalk alone only honours FORCE_COLOR.
if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') chalk.level = 0

/** Prompts and live views need a person at a terminal: a TTY on both ends and not CI. */
export function isInteractive(): boolean {
  return Boolean(process.stdin.isTTY && process.stdout.isTTY) && !isCi()
}

export function isCi(): boolean {
  const ci = process.env.CI
  return ci !== undefined && ci !== '' && ci !== '0' && ci.toLowerCase() !== 'false'
}

export {default as chalk} from 'chalk'
