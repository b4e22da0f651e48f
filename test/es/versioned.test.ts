import { afterAll, describe, expect, it } from 'vitest';
import { ElasticsearchError } from '../../src/errors.js';
import { ifVersion, nullOnConflict, versionedHit, versionedWrite } from '../../src/es/versioned.js';
import { newEs, uniqueId } from '../support/es.js';

describe('versioned documents against the real node', () => {
  const index = uniqueId('feeder-test-versioned');
  const es = newEs();
  afterAll(async () => {
    await es.client.indices.delete({ index }, { ignore: [404] });
  });

  it('fences a write by the version read: the second writer from the same read gets null, not an overwrite', async () => {
    const written = await es.call('writing', (c) => c.index({ index, id: 'a', document: { n: 1 }, refresh: true }));
    const read = versionedHit(await es.call('reading', (c) => c.get<{ n: number }>({ index, id: 'a' })));
    expect(read).toEqual(versionedWrite({ n: 1 }, written));

    const write = (n: number) =>
      es.call('writing', (c) => c.index({ index, id: 'a', document: { n }, ...ifVersion(read), refresh: true })).catch(nullOnConflict);
    expect(await write(2)).not.toBeNull();
    expect(await write(3)).toBeNull();
    expect((await es.client.get<{ n: number }>({ index, id: 'a' }))._source).toEqual({ n: 2 });
  });

  it('refuses a search hit that came without its version, naming the document', async () => {
    await es.call('writing', (c) => c.index({ index, id: 'b', document: { n: 1 }, refresh: true }));
    const search = (seq_no_primary_term: boolean) =>
      es.call('searching', (c) => c.search<{ n: number }>({ index, query: { ids: { values: ['b'] } }, seq_no_primary_term }));
    const [withVersion] = (await search(true)).hits.hits;
    expect(versionedHit(withVersion!)).toMatchObject({ id: 'b', doc: { n: 1 } });
    const [without] = (await search(false)).hits.hits;
    expect(() => versionedHit(without!)).toThrow(ElasticsearchError);
    expect(() => versionedHit(without!)).toThrow(/document 'b' without its _seq_no and _primary_term/);
  });
});
