import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { deleteModel } from '../../src/maintenance/delete.js';
import { readChunks } from '../../src/chunks/chunk-reader.js';
import { META_INDEX } from '../../src/model/layout.js';
import { getMeta, requireReadyMeta } from '../../src/model/meta.js';
import { uploadModel } from '../../src/upload/upload.js';
import { startCluster, useClusterAlone, type TestCluster } from '../support/cluster.js';
import { captureLogger, newEs, randomModelFile, testConfig, uniqueId } from '../support/es.js';

interface Shard {
  index: string;
  prirep: 'p' | 'r';
  state: string;
  node: string | null;
}

async function shardsOf(url: string, index: string): Promise<Shard[]> {
  const response = await fetch(`${url}/_cat/shards/${encodeURIComponent(index)}?format=json&h=index,prirep,state,node`);
  expect(response.status).toBe(200);
  return (await response.json()) as Shard[];
}

async function nodeNames(url: string): Promise<string[]> {
  const response = await fetch(`${url}/_cat/nodes?format=json&h=name`);
  expect(response.status).toBe(200);
  return ((await response.json()) as Array<{ name: string }>).map((n) => n.name).sort();
}

const nodeNumber = (cluster: TestCluster, name: string) => [1, 2, 3].find((i) => cluster.nodeName(i) === name)!;

useClusterAlone();

describe('the 3-node test cluster of scripts/elasticsearch.sh --nodes 3', () => {
  it('has three nodes, each answering on its own port', async () => {
    const cluster = await startCluster();
    expect(cluster.urls).toHaveLength(3);
    expect(cluster.url).toBe(cluster.urls.join(','));
    const names = [1, 2, 3].map((i) => cluster.nodeName(i));
    expect(await nodeNames(cluster.urls[0]!)).toEqual(names);
    const localName = async (url: string) => {
      const { nodes } = (await (await fetch(`${url}/_nodes/_local?filter_path=nodes.*.name`)).json()) as {
        nodes: Record<string, { name: string }>;
      };
      return Object.values(nodes)[0]!.name;
    };
    const answering = await Promise.all(cluster.urls.map(localName));
    expect(answering).toEqual(names);
  });

  it('keeps a model readable when the node holding its primary chunks shard is killed, and takes that node back', async () => {
    const cluster = await startCluster();
    const config = testConfig((c) => {
      c.elasticsearch.url = cluster.urls[0]!;
      c.upload.chunkSize = 64 * 1024;
    });
    const { path, bytes } = await randomModelFile(2 * 1024 * 1024 + 11);
    const modelId = uniqueId('cluster');
    await uploadModel({ es: newEs(cluster.urls[0]), config, logger: captureLogger().logger }, { modelId, path });
    const meta = (await getMeta(newEs(cluster.urls[0]), modelId))!.meta;
    // A replica of a new index starts a moment after its primary.
    await newEs(cluster.urls[0]).client.cluster.health({
      index: [meta.chunks_index, META_INDEX],
      wait_for_status: 'green',
      timeout: '60s',
    });

    // Every index this project owns has a replica on another node (index.auto_expand_replicas 0-1).
    for (const index of [meta.chunks_index, META_INDEX]) {
      const copies = await shardsOf(cluster.urls[0]!, index);
      expect(copies.map((c) => c.prirep).sort(), index).toEqual(['p', 'r']);
      expect(
        copies.every((c) => c.state === 'STARTED'),
        JSON.stringify(copies),
      ).toBe(true);
      expect(new Set(copies.map((c) => c.node)).size, index).toBe(2);
    }

    const primary = (await shardsOf(cluster.urls[0]!, meta.chunks_index)).find((c) => c.prirep === 'p')!.node!;
    const lost = nodeNumber(cluster, primary);
    const survivor = cluster.urls[lost === 1 ? 1 : 0]!;
    await cluster.killNode(lost);
    try {
      expect(await nodeNames(survivor)).toEqual([1, 2, 3].filter((i) => i !== lost).map((i) => cluster.nodeName(i)));
      const es = newEs(survivor);
      const health = await es.client.cluster.health();
      expect(health.status).not.toBe('red');
      const read = requireReadyMeta((await getMeta(es, modelId))!.meta);
      const hash = createHash('sha256');
      for await (const chunk of readChunks(es, read, { prefetch: 4 })) hash.update(chunk);
      expect(hash.digest('hex')).toBe(createHash('sha256').update(bytes).digest('hex'));
      // The replica that was left became the primary.
      const copies = await shardsOf(survivor, meta.chunks_index);
      expect(copies.find((c) => c.prirep === 'p')!.node).not.toBe(primary);
    } finally {
      await cluster.startNode(lost);
    }
    try {
      expect(await nodeNames(cluster.urls[lost - 1]!)).toEqual([1, 2, 3].map((i) => cluster.nodeName(i)));
      const copies = await shardsOf(cluster.urls[0]!, meta.chunks_index);
      expect(copies.filter((c) => c.state === 'STARTED')).toHaveLength(2);
    } finally {
      await deleteModel(newEs(cluster.url), modelId, captureLogger().logger);
    }
  });
});
