// Owns offline validation and defaulting of AIPolicy/AIBudget objects, with the same structural schema the
// CRD carries (crds/openapi.ts) and the same CEL rules, evaluated by a CEL interpreter. Used by
// `genops validate`, local mode and the admission webhook; it mirrors what the API server does:
// drop nulls, apply defaults, check the schema (unknown fields are errors, as kubectl's strict field
// validation makes them), then, unless a blocking schema error was found, evaluate every CEL rule.

import { Environment } from '@marcbachmann/cel-js';
import type { AIBudget, AIPolicy, GenOpsResource } from './index.ts';
import type { StructuralSchema } from './openapi.ts';
import { schemaFor } from './openapi.ts';
import type { CelRule } from './schema.ts';
import { API_VERSION } from './schema.ts';

/** One thing wrong with a document: where (e.g. `spec.alerts.thresholds[1].percentage`) and what. */
export interface Problem {
  path: string;
  message: string;
}

export type CheckResult<T> = { ok: true; value: T } | { ok: false; problems: Problem[] };

const KIND_NAMES = ['AIPolicy', 'AIBudget'] as const;
type KindName = (typeof KIND_NAMES)[number];

function isKind(kind: unknown): kind is KindName {
  return typeof kind === 'string' && (KIND_NAMES as readonly string[]).includes(kind);
}

/**
 * Validates an AIPolicy or AIBudget (any plain object, e.g. parsed YAML). Defaults are applied first, as
 * the API server does, so a missing defaulted field is never a problem. Returns [] when valid.
 */
export function validateResource(doc: unknown): Problem[] {
  const result = checkResource(doc);
  return result.ok ? [] : result.problems;
}

/** Validates and, when valid, returns the defaulted object, typed. */
export function checkResource(doc: unknown): CheckResult<GenOpsResource> {
  const problems: Problem[] = [];
  if (!isObject(doc)) return { ok: false, problems: [{ path: '', message: 'must be a YAML/JSON object' }] };
  if (doc['apiVersion'] !== API_VERSION) {
    problems.push({
      path: 'apiVersion',
      message: `must be ${JSON.stringify(API_VERSION)} (got ${show(doc['apiVersion'])})`,
    });
  }
  const kind = doc['kind'];
  if (!isKind(kind)) {
    problems.push({ path: 'kind', message: `must be AIPolicy or AIBudget (got ${show(kind)})` });
    return { ok: false, problems };
  }
  checkMetadata(doc['metadata'], problems);
  const defaulted = applyDefaults(doc);
  const schema = schemaFor(kind);
  // metadata was checked above; the CRD leaves it to the API server.
  const { metadata: _metadata, ...rest } = defaulted;
  const withoutMeta = { ...rest, metadata: {} };
  const found: SchemaProblems = { list: [], blocking: false };
  walk(schema, withoutMeta, '', found);
  problems.push(...found.list);
  if (!found.blocking) evaluateRules(schema, withoutMeta, '', problems);
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, value: defaulted as unknown as GenOpsResource };
}

/** Typed convenience for callers that know the kind. */
export function checkPolicy(doc: unknown): CheckResult<AIPolicy> {
  const r = checkResource(doc);
  if (r.ok && r.value.kind !== 'AIPolicy') {
    return { ok: false, problems: [{ path: 'kind', message: 'must be AIPolicy' }] };
  }
  return r as CheckResult<AIPolicy>;
}

export function checkBudget(doc: unknown): CheckResult<AIBudget> {
  const r = checkResource(doc);
  if (r.ok && r.value.kind !== 'AIBudget') {
    return { ok: false, problems: [{ path: 'kind', message: 'must be AIBudget' }] };
  }
  return r as CheckResult<AIBudget>;
}

/**
 * A deep copy of `doc` with nulls dropped and schema defaults filled in, the way the API server defaults
 * on write: a default applies only where its parent object is present (so `enabled: true` appears only in
 * sections the user wrote). Unknown kinds are returned copied but otherwise untouched.
 */
export function applyDefaults<T>(doc: T): T {
  const copy = structuredClone(doc);
  if (!isObject(copy) || !isKind(copy['kind'])) return copy;
  defaultNode(schemaFor(copy['kind']), copy);
  return copy;
}

// -------------------------------------------------------------------------------------------------------
// Defaulting

function defaultNode(schema: StructuralSchema, value: unknown): void {
  if (schema.type === 'object' && isObject(value)) {
    for (const key of Object.keys(value)) {
      if (value[key] === null) delete value[key];
    }
    if (schema.properties !== undefined) {
      for (const [name, child] of Object.entries(schema.properties)) {
        if (value[name] === undefined && child.default !== undefined)
          value[name] = structuredClone(child.default);
        if (value[name] !== undefined) defaultNode(child, value[name]);
      }
    } else if (schema.additionalProperties !== undefined) {
      for (const v of Object.values(value)) defaultNode(schema.additionalProperties, v);
    }
  } else if (schema.type === 'array' && Array.isArray(value) && schema.items !== undefined) {
    for (const item of value) defaultNode(schema.items, item);
  }
}

// -------------------------------------------------------------------------------------------------------
// Metadata (the CRD schema leaves it to the API server; we check what it would)

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function checkMetadata(meta: unknown, problems: Problem[]): void {
  if (!isObject(meta)) {
    problems.push({ path: 'metadata', message: 'required object with at least a name' });
    return;
  }
  const name = meta['name'];
  if (name === undefined && typeof meta['generateName'] === 'string') return;
  if (typeof name !== 'string' || name === '') {
    problems.push({ path: 'metadata.name', message: 'required' });
  } else if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    problems.push({
      path: 'metadata.name',
      message: `${JSON.stringify(name)} is not a valid name: lower case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters`,
    });
  }
  const ns = meta['namespace'];
  if (ns !== undefined && (typeof ns !== 'string' || ns.length > 63 || !DNS_LABEL.test(ns))) {
    problems.push({
      path: 'metadata.namespace',
      message: `${show(ns)} is not a valid namespace: lower case letters, digits and '-', at most 63 characters`,
    });
  }
  for (const field of ['labels', 'annotations'] as const) {
    const m = meta[field];
    if (m === undefined) continue;
    if (!isObject(m)) {
      problems.push({ path: `metadata.${field}`, message: 'must be a map of strings' });
      continue;
    }
    for (const [k, v] of Object.entries(m)) {
      if (typeof v !== 'string') {
        problems.push({
          path: `metadata.${field}[${k}]`,
          message: `must be a string (got ${show(v)}); quote it`,
        });
      }
    }
  }
}

// -------------------------------------------------------------------------------------------------------
// Schema walk

/** Problems found by the schema walk; `blocking` ones stop CEL evaluation, as in the API server. */
interface SchemaProblems {
  list: Problem[];
  blocking: boolean;
}

/**
 * Walks `value` against `schema` (types, enums, bounds, patterns, lists, required and unknown fields).
 * Wrong types, enum misses, missing required fields, too long strings, too many items and unknown
 * fields are blocking: the API server then skips every CEL rule of the object (hasBlockingErr in
 * apiextensions-apiserver), and so do we.
 */
function walk(schema: StructuralSchema, value: unknown, path: string, out: SchemaProblems): void {
  const add = (message: string, at = path, blocking = false): void => {
    out.list.push({ path: at, message });
    if (blocking) out.blocking = true;
  };
  if (!hasType(schema.type, value)) {
    add(`must be ${article(schema.type)} (got ${show(value)})`, path, true);
    return;
  }
  switch (schema.type) {
    case 'string': {
      const s = value as string;
      if (schema.enum !== undefined && !schema.enum.includes(s)) {
        add(
          `must be one of ${schema.enum.map((e) => JSON.stringify(e)).join(', ')} (got ${JSON.stringify(s)})`,
        );
      }
      if (schema.minLength !== undefined && [...s].length < schema.minLength) {
        add(schema.minLength === 1 ? 'must not be empty' : `must be at least ${schema.minLength} characters`);
      }
      if (schema.maxLength !== undefined && [...s].length > schema.maxLength) {
        add(`must be at most ${schema.maxLength} characters (got ${[...s].length})`, path, true);
      }
      if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(s)) {
        add(`${JSON.stringify(s)} does not match the pattern ${schema.pattern}`);
      }
      if (schema.format === 'date-time' && !RFC3339.test(s)) {
        add(`must be an RFC 3339 date-time such as 2025-01-31T00:00:00Z (got ${JSON.stringify(s)})`);
      }
      break;
    }
    case 'number':
    case 'integer': {
      const n = value as number;
      if (schema.minimum !== undefined) {
        if (schema.exclusiveMinimum === true ? !(n > schema.minimum) : !(n >= schema.minimum)) {
          add(
            `must be ${schema.exclusiveMinimum === true ? 'greater than' : 'at least'} ${schema.minimum} (got ${n})`,
          );
        }
      }
      if (schema.maximum !== undefined) {
        if (schema.exclusiveMaximum === true ? !(n < schema.maximum) : !(n <= schema.maximum)) {
          add(
            `must be ${schema.exclusiveMaximum === true ? 'less than' : 'at most'} ${schema.maximum} (got ${n})`,
          );
        }
      }
      break;
    }
    case 'boolean':
      break;
    case 'array': {
      const a = value as unknown[];
      if (schema.minItems !== undefined && a.length < schema.minItems) {
        add(schema.minItems === 1 ? 'must not be empty' : `must have at least ${schema.minItems} items`);
      }
      if (schema.maxItems !== undefined && a.length > schema.maxItems) {
        add(`must have at most ${schema.maxItems} items (got ${a.length})`, path, true);
      }
      a.forEach((item, i) => {
        if (schema.items !== undefined) walk(schema.items, item, `${path}[${i}]`, out);
      });
      if (schema['x-kubernetes-list-type'] === 'set') {
        const seen = new Set<string>();
        a.forEach((item, i) => {
          const key = JSON.stringify(item);
          if (seen.has(key)) add(`duplicate value ${key}`, `${path}[${i}]`);
          seen.add(key);
        });
      }
      const mapKeys = schema['x-kubernetes-list-map-keys'];
      if (schema['x-kubernetes-list-type'] === 'map' && mapKeys !== undefined) {
        const seen = new Set<string>();
        a.forEach((item, i) => {
          if (!isObject(item)) return;
          const key = JSON.stringify(mapKeys.map((k) => item[k]));
          if (seen.has(key)) add(`duplicate entry with ${mapKeys.join(', ')} ${key}`, `${path}[${i}]`);
          seen.add(key);
        });
      }
      break;
    }
    case 'object': {
      const o = value as Record<string, unknown>;
      if (schema.properties !== undefined) {
        for (const req of schema.required ?? []) {
          if (o[req] === undefined) add('required field is missing', join(path, req), true);
        }
        for (const [key, child] of Object.entries(o)) {
          const childSchema = schema.properties[key];
          if (childSchema === undefined) {
            add(unknownField(key, Object.keys(schema.properties)), join(path, key), true);
            continue;
          }
          walk(childSchema, child, join(path, key), out);
        }
      } else if (schema.additionalProperties !== undefined) {
        for (const [key, child] of Object.entries(o)) {
          walk(schema.additionalProperties, child, `${path}[${key}]`, out);
        }
      }
      break;
    }
  }
}

/** Evaluates every CEL rule in the tree, on a value whose types the schema walk already proved. */
function evaluateRules(schema: StructuralSchema, value: unknown, path: string, problems: Problem[]): void {
  if (value === undefined) return;
  if (schema.type === 'object' && isObject(value)) {
    for (const [key, child] of Object.entries(value)) {
      const childSchema =
        schema.properties !== undefined ? schema.properties[key] : schema.additionalProperties;
      const childPath = schema.properties !== undefined ? join(path, key) : `${path}[${key}]`;
      if (childSchema !== undefined) evaluateRules(childSchema, child, childPath, problems);
    }
  } else if (schema.type === 'array' && Array.isArray(value) && schema.items !== undefined) {
    const items = schema.items;
    value.forEach((item, i) => evaluateRules(items, item, `${path}[${i}]`, problems));
  }
  const rules = schema['x-kubernetes-validations'];
  if (rules === undefined) return;
  const self = toCel(schema, value);
  for (const rule of rules) {
    const verdict = evaluateRule(rule, self);
    if (verdict === true) continue;
    problems.push({
      path: rule.fieldPath === undefined ? path : path + rule.fieldPath,
      message: verdict === false ? rule.message : `${rule.message} (rule could not be evaluated: ${verdict})`,
    });
  }
}

// -------------------------------------------------------------------------------------------------------
// CEL

let celEnv: Environment | undefined;
const compiled = new Map<string, (ctx: Record<string, unknown>) => unknown>();

/** The environment of the API server's CRD rules, as far as our rules use it (incl. the list library). */
function environment(): Environment {
  if (celEnv === undefined) {
    celEnv = new Environment({ unlistedVariablesAreDyn: true }).registerFunction(
      'list.isSorted(): bool',
      (list: unknown) => {
        const items = [...(list as Iterable<unknown>)] as Array<number | bigint | string>;
        for (let i = 1; i < items.length; i++) {
          if ((items[i - 1] as number) > (items[i] as number)) return false;
        }
        return true;
      },
    );
  }
  return celEnv;
}

/** The parsed form of a rule (parsed once); throws if the rule is not valid CEL. */
export function compileRule(rule: string): (ctx: Record<string, unknown>) => unknown {
  let fn = compiled.get(rule);
  if (fn === undefined) {
    const parsed = environment().parse(rule);
    fn = (ctx) => parsed(ctx) as unknown;
    compiled.set(rule, fn);
  }
  return fn;
}

/** true when the rule holds, false when it does not, or the evaluation error text. */
function evaluateRule(rule: CelRule, self: unknown): boolean | string {
  try {
    const result = compileRule(rule.rule)({ self });
    return result === true ? true : result === false ? false : `result ${show(result)} is not a bool`;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** Converts a schema-valid value into CEL values: integer fields become int (bigint), number fields double. */
function toCel(schema: StructuralSchema, value: unknown): unknown {
  switch (schema.type) {
    case 'integer':
      return Number.isSafeInteger(value) ? BigInt(value as number) : value;
    case 'array': {
      const items = schema.items;
      return Array.isArray(value) && items !== undefined ? value.map((v) => toCel(items, v)) : value;
    }
    case 'object': {
      if (!isObject(value)) return value;
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        const child = schema.properties !== undefined ? schema.properties[k] : schema.additionalProperties;
        out[k] = child === undefined ? v : toCel(child, v);
      }
      return out;
    }
    default:
      return value;
  }
}

// -------------------------------------------------------------------------------------------------------
// Helpers

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function hasType(type: StructuralSchema['type'], v: unknown): boolean {
  switch (type) {
    case 'object':
      return isObject(v);
    case 'array':
      return Array.isArray(v);
    case 'string':
      return typeof v === 'string';
    case 'boolean':
      return typeof v === 'boolean';
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'integer':
      return typeof v === 'number' && Number.isSafeInteger(v);
  }
}

function article(type: StructuralSchema['type']): string {
  switch (type) {
    case 'object':
      return 'an object';
    case 'array':
      return 'a list';
    case 'integer':
      return 'an integer';
    default:
      return `a ${type}`;
  }
}

function show(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'bigint') return v.toString();
  const text = JSON.stringify(v);
  return `${typeof v} ${text.length > 60 ? text.slice(0, 57) + '...' : text}`;
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function unknownField(key: string, known: readonly string[]): string {
  const close = known.filter((k) => distance(k.toLowerCase(), key.toLowerCase()) <= 2);
  const hint =
    close.length > 0 ? `; did you mean ${close.join(' or ')}?` : `; known fields: ${known.join(', ')}`;
  return `unknown field${hint}`;
}

/** Levenshtein distance, for "did you mean" hints on unknown fields. */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}
