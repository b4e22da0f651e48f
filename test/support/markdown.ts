import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/config/paths.js';

export interface MarkdownFile {
  /** Relative to the package root, as a link from the README would name it. */
  path: string;
  text: string;
}

/** The README and every page under docs/: what a reader is sent to. */
export function readDocs(): MarkdownFile[] {
  const root = packageRoot();
  const pages = readdirSync(join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`);
  return ['README.md', ...pages].map((path) => ({ path, text: readFileSync(join(root, path), 'utf8') }));
}

const FENCE = /^\s*```/;

/** The lines inside fenced code blocks, and the text outside them (where links and headings are). */
export function splitFences(text: string): { code: string[]; prose: string[] } {
  const code: string[] = [];
  const prose: string[] = [];
  let inFence = false;
  for (const line of text.split('\n')) {
    if (FENCE.test(line)) inFence = !inFence;
    else (inFence ? code : prose).push(line);
  }
  return { code, prose };
}

/** Inline code spans of prose lines: `feeder deploy <id>` in a sentence is a command a reader copies too. */
export function inlineCode(prose: string[]): string[] {
  return prose.flatMap((line) => [...line.matchAll(/`([^`]+)`/g)].map((match) => match[1]!));
}

/** Markdown links `[text](target)` outside code, with the target as written. */
export function linkTargets(prose: string[]): string[] {
  const text = prose.join('\n').replace(/`[^`\n]*`/g, '');
  return [...text.matchAll(/\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((match) => match[1]!);
}

/** The anchors GitHub gives a page: one per heading (repeats numbered -1, -2, ...), and explicit `<a id>`s. */
export function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of splitFences(text).prose) {
    const heading = /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line)?.[1];
    if (heading !== undefined) {
      const slug = slugOf(heading);
      const count = seen.get(slug) ?? 0;
      seen.set(slug, count + 1);
      anchors.add(count === 0 ? slug : `${slug}-${count}`);
    }
    for (const match of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(match[1]!);
  }
  return anchors;
}

/** GitHub's heading slug: lower case, punctuation dropped, each space a hyphen. */
function slugOf(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\p{M}\s_-]/gu, '')
    .replace(/ /g, '-');
}
