/**
 * The files under templates/: loaded, `{{var}}` placeholders filled in, and YAML parsed back so a
 * template bug fails here instead of in kubectl or kind.
 */
import {readFileSync} from 'node:fs'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import {parseAllDocuments} from 'yaml'

export type TemplateValues = Record<string, string | number>

const PLACEHOLDER = /\{\{\s*([A-Za-z_]\w*)\s*\}\}/g

/** templates/ sits at the package root; this module is two levels below it in both src/ and dist/. */
export function templatesDir(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'templates')
}

export function loadTemplate(name: string): string {
  const file = path.join(templatesDir(), name)
  try {
    return readFileSync(file, 'utf8')
  } catch (error) {
    // Only a broken install gets here: the templates ship with the package.
    throw new Error(`devkube's template ${name} is missing (${file}): ${(error as NodeJS.ErrnoException).code ?? String(error)}. Reinstall devkube.`, {cause: error})
  }
}

/** Fills `{{var}}` placeholders. A placeholder without a value is an error, never a blank in the output. */
export function renderText(text: string, values: TemplateValues, name = 'template'): string {
  const missing = new Set<string>()
  const rendered = text.replaceAll(PLACEHOLDER, (_, key: string) => {
    const value = values[key]
    if (value === undefined) {
      missing.add(key)
      return ''
    }
    return String(value)
  })
  if (missing.size > 0) throw new Error(`Template ${name} needs a value for ${[...missing].map((key) => `{{${key}}}`).join(', ')}.`)
  return rendered
}

export function isYamlTemplate(name: string): boolean {
  return /\.ya?ml$/.test(name)
}

/** Checks that text is well-formed YAML (every document of it); throws naming the template if not. */
export function assertYaml(text: string, name: string): void {
  for (const document of parseAllDocuments(text)) {
    const problem = document.errors[0]
    if (problem) throw new Error(`Template ${name} rendered to invalid YAML: ${problem.message.split('\n')[0]}`)
  }
}

/** Loads, renders and (for .yaml) checks one template, by its path under templates/. */
export function renderTemplate(name: string, values: TemplateValues): string {
  const rendered = renderText(loadTemplate(name), values, name)
  if (isYamlTemplate(name)) assertYaml(rendered, name)
  return rendered
}
