// The docs stay true: every `feeder` command they show exists and takes the flags shown, every
// relative link lands, every error code has its row, and the README stays short enough to read.
import { execa } from 'execa';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/config.js';
import { packageRoot } from '../../src/config/paths.js';
import { errorFromWire } from '../../src/errors.js';
import { CLI } from '../support/cli.js';
import { anchorsOf, inlineCode, linkTargets, readDocs, splitFences, type MarkdownFile } from '../support/markdown.js';

const ROOT = packageRoot();
const docs = readDocs();

interface Help {
  usage: string;
  subcommands: string[];
  flags: Set<string>;
}

const helps = new Map<string, Promise<Help>>();

/** The built command's own --help for `feeder <words>`: what it says it is, its subcommands and its flags. */
function helpOf(words: string[]): Promise<Help> {
  const key = words.join(' ');
  if (!helps.has(key)) {
    const run = execa('node', [CLI, ...words, '--help'], { reject: false }).then(({ stdout }) => {
      const text = String(stdout);
      const commands = text.split(/\n\s*\n/).find((block) => block.startsWith('Commands:')) ?? '';
      return {
        usage: text.split('\n')[0] ?? '',
        subcommands: [...commands.matchAll(new RegExp(`^\\s+feeder ${key} ([a-z][a-z-]*)`, 'gm'))].map((m) => m[1]!),
        flags: new Set([...text.matchAll(/^\s+(?:-\w, )?--([a-z][a-z0-9-]*)/gm)].map((m) => m[1]!)),
      };
    });
    helps.set(key, run);
  }
  return helps.get(key)!;
}

/** The `feeder ...` invocations on one shell line: after pipes and `&&`, behind variable assignments, before a comment. */
function feederCommands(line: string): string[] {
  const shell = line.replaceAll('node build/src/cli/main.js', 'feeder').replace(/\s#.*$/, '');
  return shell
    .split(/\s(?:\|\||&&|\|)\s|;/)
    .map((segment) => segment.trim().replace(/^(?:[A-Za-z_]\w*=(?:"[^"]*"|'[^']*'|\S*)\s+)+/, ''))
    .filter((segment) => /^feeder\s/.test(segment))
    .map((segment) => segment.replace(/\s&$/, ''));
}

/** What is wrong with one documented command, checked against the built CLI; nothing when it is right. */
async function problemsOf(command: string): Promise<string[]> {
  // After `--` come the native process's own arguments (`feeder native check -- cmd --threads 2`).
  const ours = command.split(/\s--(?:\s|$)/)[0]!;
  const [, name, next] = ours.split(/\s+/);
  if (!name || !/^[a-z][a-z-]*$/.test(name)) return [`'${command}': no command name after feeder`];
  const words = [name];
  const top = await helpOf(words);
  if (top.usage.split(/\s+/)[1] !== name) return [`'${command}': feeder has no command '${name}'`];
  if (top.subcommands.length > 0) {
    if (!next || !top.subcommands.includes(next)) return [`'${command}': feeder ${name} has no subcommand '${next ?? ''}'`];
    words.push(next);
  }
  const help = await helpOf(words);
  const flags = [...ours.matchAll(/(?<![\w-])--([a-z][a-z0-9-]*)/g)].map((m) => m[1]!);
  return flags.filter((flag) => !help.flags.has(flag)).map((flag) => `'${command}': feeder ${words.join(' ')} has no --${flag}`);
}

function documentedCommands(file: MarkdownFile): string[] {
  const { code, prose } = splitFences(file.text);
  return [...code, ...inlineCode(prose)].flatMap(feederCommands);
}

/** Where a relative link fails to land: a missing file, or an anchor the target has no heading for. */
function brokenLink(file: MarkdownFile, target: string): string | undefined {
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return undefined;
  const [path = '', anchor] = target.split('#');
  const resolved = path === '' ? file.path : normalize(join(dirname(file.path), path));
  const absolute = join(ROOT, resolved);
  if (!existsSync(absolute)) return `${file.path}: ${target}: no file ${resolved}`;
  if (anchor === undefined || statSync(absolute).isDirectory() || !resolved.endsWith('.md')) return undefined;
  if (!anchorsOf(readFileSync(absolute, 'utf8')).has(anchor)) return `${file.path}: ${target}: ${resolved} has no heading #${anchor}`;
  return undefined;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sourceFiles(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

/** Every error code a string literal in src/ names. */
function codesInSources(): Set<string> {
  const text = sourceFiles(join(ROOT, 'src'))
    .map((file) => readFileSync(file, 'utf8'))
    .join('\n');
  return new Set([...text.matchAll(/['"`](FEEDER_ERR(?:_[A-Z_]+)?)['"`]/g)].map((m) => m[1]!));
}

/** docs/errors.md's rows: code → exit code. */
function errorTable(): Map<string, number> {
  const text = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8');
  return new Map([...text.matchAll(/^\|\s*`(FEEDER_ERR(?:_[A-Z_]+)?)`\s*\|\s*(\d+)\s*\|/gm)].map((m) => [m[1]!, Number(m[2])]));
}

/** Every setting's dotted name; `deploy.env` is one setting, its keys the operator's own. */
function settingNames(value: object, prefix = ''): string[] {
  return Object.entries(value).flatMap(([key, entry]) => {
    const name = `${prefix}${key}`;
    const nested = typeof entry === 'object' && entry !== null && !Array.isArray(entry) && name !== 'deploy.env';
    return nested ? settingNames(entry as object, `${name}.`) : [name];
  });
}

describe('the docs', () => {
  it('show only feeder commands and flags that the built CLI has', async () => {
    const commands = [...new Set(docs.flatMap(documentedCommands))];
    expect(commands.length).toBeGreaterThan(40);
    const problems = (await Promise.all(commands.map(problemsOf))).flat();
    expect(problems).toEqual([]);
  });

  it('link only to files and headings that exist', () => {
    const links = docs.flatMap((file) => linkTargets(splitFences(file.text).prose).map((target) => ({ file, target })));
    expect(links.length).toBeGreaterThan(50);
    expect(links.map(({ file, target }) => brokenLink(file, target)).filter(Boolean)).toEqual([]);
  });

  it('list every error code of the sources in docs/errors.md, with the exit code it is raised with', () => {
    const inSources = codesInSources();
    const table = errorTable();
    expect(inSources.size).toBeGreaterThan(30);
    expect([...inSources].filter((code) => !table.has(code))).toEqual([]);
    expect([...table.keys()].filter((code) => !inSources.has(code))).toEqual([]);
    const wrongExit = [...table].filter(([code, exit]) => errorFromWire(code, 'x').exitCode !== exit);
    expect(wrongExit).toEqual([]);
  });

  it('name every setting and every environment variable of src/config/config.ts in docs/configuration.md', () => {
    const reference = readFileSync(join(ROOT, 'docs', 'configuration.md'), 'utf8');
    const source = readFileSync(join(ROOT, 'src', 'config', 'config.ts'), 'utf8');
    const variables = [...new Set([...source.matchAll(/env\.([A-Z][A-Z0-9_]+)/g)].map((m) => m[1]!))];
    expect(variables.length).toBeGreaterThan(15);
    const names = [...settingNames(defaultConfig()), ...variables];
    expect(names.filter((name) => !reference.includes(`\`${name}`))).toEqual([]);
  });

  it("map every folder of src/ and every native folder in the README's source map, and no folder that is gone", () => {
    const readme = docs.find((file) => file.path === 'README.md')!.text;
    const map = readme.slice(readme.indexOf('## Source map'));
    const mapped = [...map.matchAll(/^\| `((?:src|native-[a-z]+)\/[a-z-]*\/?)`/gm)].map((m) => m[1]!.replace(/\/$/, ''));
    const folders = [
      ...readdirSync(join(ROOT, 'src'))
        .filter((name) => statSync(join(ROOT, 'src', name)).isDirectory())
        .map((name) => `src/${name}`),
      ...readdirSync(ROOT).filter((name) => name.startsWith('native-') && statSync(join(ROOT, name)).isDirectory()),
    ];
    expect(folders.length).toBeGreaterThan(10);
    expect(folders.filter((folder) => !mapped.includes(folder))).toEqual([]);
    expect(mapped.filter((folder) => folder.startsWith('src/') && !folders.includes(folder))).toEqual([]);
  });

  it('keep the README at most 300 lines', () => {
    const readme = docs.find((file) => file.path === 'README.md')!;
    expect(readme.text.trimEnd().split('\n').length).toBeLessThanOrEqual(300);
  });
});
