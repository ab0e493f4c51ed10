// Owns reading AIPolicy/AIBudget documents from YAML files and directories (multi-document files,
// directories walked recursively in name order, other kinds skipped) and validating them. Shared by
// `genops validate` and local mode (`genops local --policies <dir>`), so both accept the same files.

import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
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
  /** kind/name of the resource, when known. */
  resource?: string;
}

export interface LoadResult {
  /** Every AIPolicy/AIBudget that passed validation, defaulted, in file order. */
  resources: Array<{ file: string; index: number; resource: GenOpsResource }>;
  problems: FileProblem[];
  /** YAML files read. */
  files: number;
  /** AIPolicy/AIBudget documents seen (valid or not). */
  checked: number;
  /** Documents of other kinds, skipped. */
  skipped: number;
}

const YAML_FILE = /\.ya?ml$/i;

/**
 * Expands paths into YAML files: a file given by name is read whatever its extension; directories are
 * walked recursively in name order (dot entries and node_modules skipped). Throws ENOENT for a path that
 * does not exist.
 */
export async function findYamlFiles(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const visit = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.') || e.name === 'node_modules') continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) await visit(p);
      else if (e.isFile() && YAML_FILE.test(e.name)) out.push(p);
    }
  };
  for (const p of paths) {
    if ((await stat(p)).isDirectory()) await visit(p);
    else out.push(p);
  }
  return out;
}

/** Parses every document of a YAML text; syntax errors become problems of that document. */
export function parseYamlDocuments(
  file: string,
  text: string,
): { documents: SourceDocument[]; problems: FileProblem[] } {
  const documents: SourceDocument[] = [];
  const problems: FileProblem[] = [];
  parseAllDocuments(text).forEach((d, i) => {
    const index = i + 1;
    const error = d.errors[0];
    if (error !== undefined) {
      problems.push({ file, index, path: '', message: `YAML: ${error.message.split('\n')[0] ?? ''}` });
      return;
    }
    documents.push({ file, index, doc: d.toJS({ maxAliasCount: 100 }) as unknown });
  });
  return { documents, problems };
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

/** Reads, parses and validates every AIPolicy/AIBudget under `paths`. */
export async function loadResources(paths: readonly string[]): Promise<LoadResult> {
  const files = await findYamlFiles(paths);
  const result: LoadResult = { resources: [], problems: [], files: files.length, checked: 0, skipped: 0 };
  for (const file of files) {
    const parsed = parseYamlDocuments(file, await readFile(file, 'utf8'));
    result.problems.push(...parsed.problems);
    for (const { index, doc } of parsed.documents) {
      if (doc === null || doc === undefined) continue;
      if (!isGenOpsCandidate(doc)) {
        result.skipped++;
        continue;
      }
      result.checked++;
      const checked = checkResource(doc);
      if (checked.ok) {
        result.resources.push({ file, index, resource: checked.value });
      } else {
        const resource = describeDocument(doc);
        for (const p of checked.problems) result.problems.push({ file, index, resource, ...p });
      }
    }
  }
  return result;
}

/** One line per problem: `file:index Kind/name: path: message`. */
export function formatProblem(p: FileProblem): string {
  const where = `${p.file}:${p.index}`;
  const parts = [p.resource === undefined ? where : `${where} ${p.resource}`];
  if (p.path !== '') parts.push(p.path);
  parts.push(p.message);
  return parts.join(': ');
}
