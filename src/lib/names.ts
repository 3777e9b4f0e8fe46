/** Kubernetes names (DNS-1123 labels): what devkube derives app, namespace and cluster names from. */

export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const MAX_LABEL_LENGTH = 63

export function isDns1123Label(value: string): boolean {
  return value.length <= MAX_LABEL_LENGTH && DNS1123_LABEL.test(value)
}

/**
 * Turns a folder name into a DNS-1123 label: "My App_2" -> "my-app-2". Returns "" when nothing
 * usable is left, so the caller can say so instead of inventing a name.
 */
export function toDns1123Label(raw: string): string {
  const label = raw
    .normalize('NFKD')
    .replaceAll(/[\u0300-\u036F]/g, '')
    .toLowerCase()
    .replaceAll(/[^a-z0-9]+/g, '-')
    .replaceAll(/^-+|-+$/g, '')
    .slice(0, MAX_LABEL_LENGTH)
    .replace(/-+$/, '')
  return label
}

/** kind's own rule for cluster names (pkg/cluster/internal/create). */
export const KIND_CLUSTER_NAME = /^[a-z0-9.-]+$/
