import { describe, expect, it } from 'vitest';
import { deleteModel } from '../../src/maintenance/delete.js';
import { installTemplate, installTemplates, OWNED_TEMPLATES, type OwnedTemplate } from '../../src/model/templates.js';
import { feeder } from '../support/cli.js';
import { startDaemon } from '../support/daemon.js';
import { captureLogger, newEs, randomModelFile, uniqueId } from '../support/es.js';

const owned = (name: string) => OWNED_TEMPLATES.find((t) => t.name === name)!;

async function storedTemplate(name: string) {
  return (await newEs().client.indices.getIndexTemplate({ name })).index_templates[0]!.index_template;
}

describe('the index templates this project owns', () => {
  // feeder-daemons, because only this branch's feeder installs it: an older feeder running beside
  // the test would rewrite any other template, which is the defect itself.
  it('leaves a template stored by a newer feeder as it is, through feeder upload and feeder serve', async () => {
    const es = newEs();
    await installTemplates(es);
    const { name, body } = owned('feeder-daemons');
    const newer = { ...body, version: 99, _meta: { ...body._meta, written_by: 'a newer feeder' } };
    await es.client.indices.putIndexTemplate({ name, ...newer });
    const modelId = uniqueId('newer-template');
    try {
      const upload = await feeder(['upload', (await randomModelFile(1000)).path, '--model-id', modelId]);
      expect(upload.exitCode, upload.stderr).toBe(0);
      const daemon = await startDaemon();
      expect((await daemon.stop()).exitCode).toBe(0);

      const stored = await storedTemplate(name);
      expect(stored.version).toBe(99);
      expect(stored._meta).toMatchObject({ written_by: 'a newer feeder' });
    } finally {
      await es.client.indices.putIndexTemplate({ name, ...body });
      await deleteModel(es, modelId, captureLogger().logger).catch(() => {});
    }
  });

  it('adds the fields of a newer template to an index the older one created, which then takes documents using them', async () => {
    const es = newEs();
    // The deployments template under a pattern of its own: the shared .feeder-deployments is every daemon test's.
    const index = `.feeder-test-${uniqueId('deployments')}`;
    const current: OwnedTemplate = { name: index.slice(1), body: { ...owned('feeder-deployments').body, index_patterns: [index] } };
    const { generations: _added, ...olderProperties } = current.body.template.mappings.properties;
    const older = {
      ...current.body,
      version: 1,
      template: { ...current.body.template, mappings: { ...current.body.template.mappings, properties: olderProperties } },
    };
    await es.client.indices.putIndexTemplate({ name: current.name, ...older });
    await es.client.indices.create({ index });
    const doc = { daemon: 'd', model_id: 'm', desired: 'started', requested_at: new Date().toISOString(), generations: [1] };
    try {
      await expect(es.client.index({ index, id: 'd/m', document: doc })).rejects.toThrow(/strict_dynamic_mapping_exception/);

      await installTemplate(es, current);

      const mapping = await es.client.indices.getMapping({ index });
      expect(mapping[index]!.mappings.properties!.generations).toEqual({ type: 'long' });
      await es.client.index({ index, id: 'd/m', document: doc, refresh: true });
      expect((await es.client.get({ index, id: 'd/m' }))._source).toEqual(doc);
      expect((await storedTemplate(current.name)).version).toBe(current.body.version);
    } finally {
      await es.client.indices.delete({ index }, { ignore: [404] });
      await es.client.indices.deleteIndexTemplate({ name: current.name }, { ignore: [404] });
    }
  });

  it('adds only the missing fields, so an index under the pattern that maps one of ours differently does not stop the upgrade', async () => {
    const es = newEs();
    const index = `.feeder-test-${uniqueId('handmade')}`;
    const current: OwnedTemplate = { name: index.slice(1), body: { ...owned('feeder-deployments').body, index_patterns: [index] } };
    // Made by hand, without the template: `daemon` as text, and no `generations`.
    await es.client.indices.create({ index, settings: { 'index.hidden': true }, mappings: { properties: { daemon: { type: 'text' } } } });
    try {
      await installTemplate(es, current);

      const { properties } = (await es.client.indices.getMapping({ index }))[index]!.mappings;
      expect(properties!.daemon).toEqual({ type: 'text' });
      expect(properties!.generations).toEqual({ type: 'long' });
    } finally {
      await es.client.indices.delete({ index }, { ignore: [404] });
      await es.client.indices.deleteIndexTemplate({ name: current.name }, { ignore: [404] });
    }
  });
});
