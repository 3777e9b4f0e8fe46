#!/usr/bin/env node
// Test-side view of the fake world (used by test/support/fake-toolchain.ts): reconciles, then prints JSON.
//   node inspect.mjs pods <cluster> <namespace>   -> pods with their docker container ids and published ports
//   node inspect.mjs cluster <cluster>            -> the raw cluster state (or null)
import {readCluster, withCluster} from './store.mjs'
import {publicView} from './resources.mjs'
import {runMain} from './util.mjs'
import {reconcile} from './world.mjs'

await runMain(async () => {
  const [what, cluster, namespace] = process.argv.slice(2)
  if (what === 'cluster') {
    process.stdout.write(JSON.stringify(readCluster(cluster) ?? null) + '\n')
    return 0
  }
  if (what === 'pods') {
    const pods = await withCluster(cluster, async (state) => {
      if (!state) return []
      await reconcile(state)
      return Object.values(state.objects)
        .filter((o) => o.kind === 'Pod' && (!namespace || o.metadata.namespace === namespace))
        .map((pod) => ({
          ...publicView(pod),
          containers: Object.fromEntries(
            Object.entries(pod.fake.containers).map(([name, rt]) => [name, {id: rt.id ?? null, previousId: rt.previousId ?? null, hostPorts: rt.hostPorts ?? {}, restartCount: rt.restartCount}]),
          ),
        }))
    })
    process.stdout.write(JSON.stringify(pods) + '\n')
    return 0
  }
  process.stderr.write('usage: inspect.mjs pods <cluster> [namespace] | cluster <cluster>\n')
  return 2
})
