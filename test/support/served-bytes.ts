import type { DeploymentStatus } from '../../src/api/wire-types.js';
import { META_INDEX } from '../../src/model/layout.js';
import type { RunningDaemon } from './daemon.js';
import { newEs } from './es.js';
import { call, deployPath } from './races.js';

// What a deployment may answer, given every generation a test uploaded: the stub answers token t
// with model[t mod size] / 255, so a few positions tell which generation's bytes a process holds.

/** One committed generation: its bytes, and the interval of the upload whose commit made it current. */
export interface Generation {
  generation: number;
  bytes: Buffer;
  from: number;
  to: number;
}

/** An inference answered during the run, judged once every generation is known. */
export interface Answered {
  i: number;
  modelId: string;
  tokens: number[];
  values: number[];
  from: number;
  to: number;
  /** The pid and generation a `started` status reported both before and after, or null if it changed. */
  confirmed: { pid: number; generation: number | null } | null;
}

/** Null if the answer matches what it could have served; else why not. */
export function judgeAnswer(answer: Answered, generations: Generation[]): string | null {
  const matching = generations.filter((g) => matches(g.bytes, answer.tokens, answer.values)).map((g) => g.generation);
  const known = `(it matches ${matching.length ? `generation ${matching.join(', ')}` : 'no generation ever uploaded'})`;
  if (!answer.confirmed) return matching.length ? null : `answered ${JSON.stringify(answer.values)} ${known}`;
  // A status that names no generation: the meta document's generation is the one a started
  // deployment must serve, that is any generation current at some moment around the inference.
  const expected =
    answer.confirmed.generation !== null ? [answer.confirmed.generation] : possiblyCurrent(generations, answer.from, answer.to);
  if (expected.some((g) => matching.includes(g))) return null;
  const what =
    answer.confirmed.generation !== null
      ? `generation ${answer.confirmed.generation} (its status)`
      : `generation ${expected.join(' or ')} (current in the meta document then; the status names no generation)`;
  return `pid ${answer.confirmed.pid}, started before and after, answered with bytes other than those of ${what} ${known}`;
}

/** Generations some moment of [from, to] may have seen as current: a commit happens somewhere within its upload. */
function possiblyCurrent(generations: Generation[], from: number, to: number): number[] {
  const ordered = [...generations].sort((a, b) => a.generation - b.generation);
  return ordered.filter((g, k) => g.from <= to && (k === ordered.length - 1 || ordered[k + 1]!.to >= from)).map((g) => g.generation);
}

const matches = (bytes: Buffer, tokens: number[], values: number[]) =>
  values.length === tokens.length && tokens.every((t, k) => values[k] === bytes[t % bytes.length]! / 255);

/** Asks each started deployment for a few positions and compares them with the generation it serves. */
export async function checkServedBytes(
  daemon: RunningDaemon,
  list: DeploymentStatus[],
  generations: Map<string, Generation[]>,
): Promise<string[]> {
  const problems: string[] = [];
  for (const status of list.filter((d) => d.state === 'started')) {
    const known = generations.get(status.model_id) ?? [];
    const meta = (await newEs().client.get<{ generation: number }>({ index: META_INDEX, id: status.model_id }))._source!;
    // The status names the generation it serves; where it names none, the meta document's current
    // generation is the one a started deployment must hold.
    const expected = status.generation ?? meta.generation;
    const generation = known.find((g) => g.generation === expected);
    if (!generation) {
      problems.push(`'${status.model_id}' serves generation ${expected}, which this test never uploaded`);
      continue;
    }
    const tokens = [0, 1, generation.bytes.length - 1, 65_536, 123_457, 2 ** 31 - 1];
    const answer = await call(daemon.listen, 'POST', `${deployPath(status.model_id)}/infer`, { tokens: [tokens] }, 15_000);
    const values = (answer.body?.result?.inference?.[0] as number[][] | undefined)?.map((cell) => cell[0]!);
    if (answer.status !== 200 || !values) {
      problems.push(`'${status.model_id}' is started but its inference answered ${answer.status}: ${JSON.stringify(answer.body)}`);
      continue;
    }
    if (matches(generation.bytes, tokens, values)) continue;
    const actual = known.filter((g) => matches(g.bytes, tokens, values)).map((g) => g.generation);
    const source = status.generation !== null ? 'its status' : `the meta document; the status names no generation`;
    problems.push(
      `'${status.model_id}' (pid ${status.pid}) should serve generation ${expected} (from ${source}) but answers with ${actual.length ? `generation ${actual.join(', ')}'s bytes` : 'bytes of no generation ever uploaded'}`,
    );
  }
  return problems;
}
