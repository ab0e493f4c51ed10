// Owns reading AIPolicy/AIBudget documents from YAML files and directories (multi-document files,
// directories walked recursively in name order, other kinds skipped) and validating them. Shared by
// `genops validate` and local mode (`genops local --policies <dir>`), so both accept the same files.
//
// Policy files are written by anyone allowed to edit the ConfigMap or directory, so each file is
// read on its own terms: a file that cannot be read, decoded or parsed (alias bombs, unresolved
// aliases, UTF-16 without a BOM, oversized files or values) is a problem named after that file and
// never stops the others; symlinked files are followed (a ConfigMap volume is made of them) but a
// directory is visited once (no loops); duplicate kind/namespace/name pairs are reported (the first
// is kept); and parsing yields to the event loop in slices so /healthz and ingest keep answering
// while a large directory (re)loads.

import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Composer, isMap, isScalar, isSeq, LineCounter, Parser, visit } from 'yaml';
import type { Document, Node } from 'yaml';
import type { GenOpsResource } from './index.ts';
import type { Problem } from './validate.ts';
import { checkResource } from './validate.ts';

/** A parsed document and where it came from; `index` counts documents in the file from 1. */
export interface SourceDocument {
  file: string;
  index: number;
  doc: unknown;
}

/** A problem found in one document (or in a whole file, when `index` is 0). */
export interface FileProblem extends Problem {
  file: string;
  index: number;
  /** 1-based line of the offending node (or of its document, or 1 for a whole file). */
  line: number;
  /** kind/name of the resource, when known. */
  resource?: string;
}

export interface LoadResult {
  /** Every AIPolicy/AIBudget that passed validation, defaulted, in file order. */
  resources: Array<{ file: string; index: number; line: number; resource: GenOpsResource }>;
  problems: FileProblem[];
  /** YAML files read. */
  files: number;
  /** AIPolicy/AIBudget documents seen (valid or not). */
  checked: number;
  /** Documents of other kinds, skipped. */
  skipped: number;
}

const YAML_FILE = /\.ya?ml$/i;

/** Largest policy file read (a 20,000-budget file is about 3 MiB). */
export const MAX_POLICY_FILE_BYTES = 16 * 1024 * 1024;
/** Longest scalar value in a policy document (no field of ours needs more than a few hundred). */
export const MAX_POLICY_VALUE_CHARS = 64 * 1024;
/** YAML alias expansions per document (billion laughs). */
export const MAX_ALIAS_COUNT = 100;
/** Longest line read: a value on one line cannot exceed the value limit by much. */
const MAX_LINE_CHARS = MAX_POLICY_VALUE_CHARS + 1024;
/** Parse work between two yields to the event loop. */
const SLICE_MS = 10;

/**
 * Expands paths into YAML files: a file given by name is read whatever its extension; directories are
 * walked recursively in name order (dot entries and node_modules skipped). Symbolic links are followed,
 * each directory visited once by its real path (no loops). Throws ENOENT for a path that does not exist.
 */
export async function findYamlFiles(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const seenDirs = new Set<string>();
  const visitDir = async (dir: string): Promise<void> => {
    const real = await realpath(dir);
    if (seenDirs.has(real)) return;
    seenDirs.add(real);
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.') || e.name === 'node_modules') continue;
      const p = join(dir, e.name);
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        // ConfigMap volumes: policy.yaml -> ..data/policy.yaml. A dangling link is skipped.
        const target = await stat(p).catch(() => undefined);
        isDir = target?.isDirectory() ?? false;
        isFile = target?.isFile() ?? false;
      }
      if (isDir) await visitDir(p);
      else if (isFile && YAML_FILE.test(e.name)) out.push(p);
    }
  };
  for (const p of paths) {
    if (p === '-') out.push(p);
    else if ((await stat(p)).isDirectory()) await visitDir(p);
    else out.push(p);
  }
  return out;
}

/**
 * The text of a policy file: UTF-8 (BOM stripped) or UTF-16 with a BOM, decoded; anything else
 * that is not valid UTF-8 (UTF-16 without a BOM, binary) is refused with the reason.
 */
export function decodePolicyText(bytes: Uint8Array): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes.subarray(2));
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder('utf-16be').decode(bytes.subarray(2));
  if (bytes.includes(0)) throw new Error('not UTF-8 text (NUL bytes: UTF-16 without a byte-order mark?)');
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new Error('not valid UTF-8 text');
  }
}

/**
 * The 1-based number of the first line longer than MAX_LINE_CHARS, or 0. Checked before parsing:
 * the YAML lexer holds a huge single-line token several times over (a 15 MiB quoted value took
 * about 600 MiB and 6 s to reject after parsing).
 */
function firstOverlongLine(text: string): number {
  let start = 0;
  let line = 1;
  for (;;) {
    const nl = text.indexOf('\n', start);
    const end = nl < 0 ? text.length : nl;
    if (end - start > MAX_LINE_CHARS) return line;
    if (nl < 0) return 0;
    start = nl + 1;
    line++;
  }
}

/** Keys of a problem path such as `spec.rules[0].match[app]`. */
function pathKeys(path: string): string[] {
  const keys: string[] = [];
  for (const m of path.matchAll(/([^.[\]]+)|\[([^\]]*)\]/g)) keys.push(m[1] ?? m[2] ?? '');
  return keys;
}

/** The node at `path` in a parsed document, or the deepest ancestor found. */
function nodeAt(doc: Document, path: string): Node | undefined {
  let node: unknown = doc.contents;
  let found = node as Node | undefined;
  for (const key of pathKeys(path)) {
    if (isMap(node)) node = node.get(key, true);
    else if (isSeq(node)) node = node.get(Number(key), true);
    else break;
    if (node === undefined || node === null) break;
    found = node as Node;
  }
  return found;
}

/** One parsed document, kept until validated so problems can name their line. */
interface ParsedDocument extends SourceDocument {
  readonly node: Document;
}

/**
 * Parses every document of a YAML text; syntax, alias and size errors become problems of that
 * document. Yields to the event loop every few milliseconds (`slice`).
 */
async function parseDocumentsSliced(
  file: string,
  text: string,
  slice: () => Promise<void>,
): Promise<{ documents: ParsedDocument[]; problems: FileProblem[]; lines: LineCounter }> {
  const documents: ParsedDocument[] = [];
  const problems: FileProblem[] = [];
  const lines = new LineCounter();
  const lineOf = (offset: number | undefined): number =>
    offset === undefined ? 1 : lines.linePos(offset).line;
  const parser = new Parser(lines.addNewLine);
  const composer = new Composer();
  let index = 0;
  const take = (d: Document.Parsed): void => {
    index++;
    const docLine = lineOf(d.range[0]);
    const error = d.errors[0];
    if (error !== undefined) {
      problems.push({
        file,
        index,
        line: lineOf(error.pos[0]),
        path: '',
        message: `YAML: ${error.message.split('\n')[0] ?? ''}`,
      });
      return;
    }
    let tooLong: { line: number; length: number } | undefined;
    visit(d, {
      Scalar(_, node) {
        if (typeof node.source === 'string' && node.source.length > MAX_POLICY_VALUE_CHARS) {
          tooLong = { line: lineOf(node.range?.[0]), length: node.source.length };
          return visit.BREAK;
        }
        return undefined;
      },
    });
    if (tooLong !== undefined) {
      problems.push({
        file,
        index,
        line: tooLong.line,
        path: '',
        message: `YAML: a value of ${tooLong.length} characters exceeds the limit of ${MAX_POLICY_VALUE_CHARS}`,
      });
      return;
    }
    try {
      documents.push({ file, index, doc: d.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown, node: d });
    } catch (err) {
      // Excessive alias count (billion laughs), an alias to nothing, and the like.
      problems.push({ file, index, line: docLine, path: '', message: `YAML: ${(err as Error).message}` });
    }
  };
  for (const token of parser.parse(text)) {
    for (const d of composer.next(token)) {
      take(d);
      await slice();
    }
  }
  for (const d of composer.end()) take(d);
  return { documents, problems, lines };
}

/** Parses every document of a YAML text; syntax errors become problems of that document. */
export async function parseYamlDocuments(
  file: string,
  text: string,
): Promise<{ documents: SourceDocument[]; problems: FileProblem[] }> {
  const { documents, problems } = await parseDocumentsSliced(file, text, () => Promise.resolve());
  return { documents: documents.map(({ file: f, index, doc }) => ({ file: f, index, doc })), problems };
}

/** Whether a document claims to be ours: a genops.ai apiVersion, or kind AIPolicy/AIBudget. */
export function isGenOpsCandidate(doc: unknown): boolean {
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return false;
  const { apiVersion, kind } = doc as Record<string, unknown>;
  return (
    (typeof apiVersion === 'string' && apiVersion.split('/')[0] === 'genops.ai') ||
    kind === 'AIPolicy' ||
    kind === 'AIBudget'
  );
}

/** `Kind/name` for messages. */
export function describeDocument(doc: unknown): string {
  const d = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
  const meta = (typeof d['metadata'] === 'object' && d['metadata'] !== null ? d['metadata'] : {}) as Record<
    string,
    unknown
  >;
  const kind = typeof d['kind'] === 'string' ? d['kind'] : '<no kind>';
  const name = typeof meta['name'] === 'string' ? meta['name'] : '<no name>';
  return `${kind}/${name}`;
}

export interface LoadOptions {
  /** Reads a path given as `-` (standard input). */
  readStdin?: () => Promise<Uint8Array>;
}

/** `kind namespace/name` identity of a resource, for duplicate detection. */
function identityOf(r: GenOpsResource): string {
  return `${r.kind} ${r.metadata.namespace ?? 'default'}/${r.metadata.name}`;
}

/** Reads, parses and validates every AIPolicy/AIBudget under `paths`. */
export async function loadResources(
  paths: readonly string[],
  options: LoadOptions = {},
): Promise<LoadResult> {
  const files = await findYamlFiles(paths);
  const result: LoadResult = { resources: [], problems: [], files: files.length, checked: 0, skipped: 0 };
  const firstSeen = new Map<string, string>();
  let sliceStart = performance.now();
  // Keeps the loop responsive: parse and validation work is cut into slices of about SLICE_MS.
  const slice = async (): Promise<void> => {
    if (performance.now() - sliceStart < SLICE_MS) return;
    await yieldToLoop();
    sliceStart = performance.now();
  };
  for (const file of files) {
    const display = file === '-' ? '<stdin>' : file;
    let text: string;
    try {
      let bytes: Uint8Array;
      if (file === '-') {
        if (!options.readStdin) throw new Error('standard input is not available');
        bytes = await options.readStdin();
      } else {
        const size = (await stat(file)).size;
        if (size > MAX_POLICY_FILE_BYTES)
          throw new Error(`file of ${size} bytes exceeds the limit of ${MAX_POLICY_FILE_BYTES}`);
        bytes = await readFile(file);
      }
      if (bytes.byteLength > MAX_POLICY_FILE_BYTES)
        throw new Error(`input of ${bytes.byteLength} bytes exceeds the limit of ${MAX_POLICY_FILE_BYTES}`);
      text = decodePolicyText(bytes);
    } catch (err) {
      result.problems.push({
        file: display,
        index: 0,
        line: 1,
        path: '',
        message: `unreadable: ${(err as Error).message}`,
      });
      continue;
    }
    const overlong = firstOverlongLine(text);
    if (overlong > 0) {
      result.problems.push({
        file: display,
        index: 0,
        line: overlong,
        path: '',
        message: `YAML: line longer than ${MAX_LINE_CHARS} characters (values are limited to ${MAX_POLICY_VALUE_CHARS})`,
      });
      continue;
    }
    let parsed: Awaited<ReturnType<typeof parseDocumentsSliced>>;
    try {
      parsed = await parseDocumentsSliced(display, text, slice);
    } catch (err) {
      result.problems.push({
        file: display,
        index: 0,
        line: 1,
        path: '',
        message: `YAML: ${(err as Error).message}`,
      });
      continue;
    }
    result.problems.push(...parsed.problems);
    const lineOf = (node: Node | undefined, fallback: Document): number => {
      const offset = node?.range?.[0] ?? fallback.range?.[0] ?? 0;
      return parsed.lines.linePos(offset).line;
    };
    for (const { index, doc, node } of parsed.documents) {
      await slice();
      if (doc === null || doc === undefined) continue;
      if (!isGenOpsCandidate(doc)) {
        result.skipped++;
        continue;
      }
      result.checked++;
      const checked = checkResource(doc);
      const docLine = lineOf(isScalar(node.contents) ? undefined : (node.contents ?? undefined), node);
      if (checked.ok) {
        const id = identityOf(checked.value);
        const where = `${display}:${docLine}`;
        const first = firstSeen.get(id);
        if (first !== undefined) {
          result.problems.push({
            file: display,
            index,
            line: lineOf(nodeAt(node, 'metadata.name'), node),
            resource: describeDocument(doc),
            path: 'metadata.name',
            message: `duplicate ${id} (first defined at ${first}); this one is ignored`,
          });
          continue;
        }
        firstSeen.set(id, where);
        result.resources.push({ file: display, index, line: docLine, resource: checked.value });
      } else {
        const resource = describeDocument(doc);
        for (const p of checked.problems)
          result.problems.push({
            file: display,
            index,
            line: lineOf(nodeAt(node, p.path), node),
            resource,
            ...p,
          });
      }
    }
  }
  return result;
}

/** One line per problem: `file:line Kind/name: path: message`. */
export function formatProblem(p: FileProblem): string {
  const where = `${p.file}:${p.line}`;
  const parts = [p.resource === undefined ? where : `${where} ${p.resource}`];
  if (p.path !== '') parts.push(p.path);
  parts.push(p.message);
  return parts.join(': ');
}
