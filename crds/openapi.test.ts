import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { BASES_DIR, drift, renderCrds } from './generate.ts';
import type { StructuralSchema } from './openapi.ts';
import { KINDS, toStructural } from './openapi.ts';
import { stringEnum } from './schema.ts';

const ALLOWED = new Set([
  'type',
  'description',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'enum',
  'default',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
  'pattern',
  'format',
  'minItems',
  'maxItems',
  'x-kubernetes-validations',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
]);

interface Crd {
  metadata: { name: string };
  spec: {
    group: string;
    scope: string;
    names: { kind: string; plural: string; shortNames: string[]; categories: string[] };
    versions: Array<{
      name: string;
      served: boolean;
      storage: boolean;
      subresources: { status: object };
      additionalPrinterColumns: Array<{ name: string; type: string; jsonPath: string }>;
      schema: { openAPIV3Schema: StructuralSchema };
    }>;
  };
}

/** Rules of a structural schema (k8s.io/apiextensions-apiserver/pkg/apiserver/schema), as failures. */
function structuralFailures(node: StructuralSchema, path: string, out: string[]): string[] {
  for (const key of Object.keys(node)) if (!ALLOWED.has(key)) out.push(`${path}: keyword ${key}`);
  if (!['object', 'array', 'string', 'number', 'integer', 'boolean'].includes(node.type)) {
    out.push(`${path}: type ${String(node.type)}`);
  }
  if (node.type === 'object') {
    const isMeta = path === '.metadata';
    if (node.properties !== undefined && node.additionalProperties !== undefined) {
      out.push(`${path}: properties beside additionalProperties`);
    }
    if (node.properties === undefined && node.additionalProperties === undefined && !isMeta) {
      out.push(`${path}: object without properties`);
    }
    for (const r of node.required ?? []) {
      if (node.properties?.[r] === undefined) out.push(`${path}: required ${r} is not a property`);
    }
  } else if (node.properties !== undefined || node.additionalProperties !== undefined || node.required) {
    out.push(`${path}: properties on a ${node.type}`);
  }
  if (node.type === 'array' && node.items === undefined) out.push(`${path}: array without items`);
  if (node.type !== 'array' && node.items !== undefined) out.push(`${path}: items on a ${node.type}`);
  if (node.enum !== undefined && !node.enum.every((e) => typeof e === 'string' && node.type === 'string')) {
    out.push(`${path}: enum values of the wrong type`);
  }
  if (node.default !== undefined) {
    const ok =
      (node.type === 'boolean' && typeof node.default === 'boolean') ||
      (node.type === 'string' &&
        typeof node.default === 'string' &&
        (node.enum?.includes(node.default) ?? true)) ||
      (node.type === 'integer' && Number.isInteger(node.default)) ||
      (node.type === 'number' && typeof node.default === 'number');
    if (!ok) out.push(`${path}: default ${JSON.stringify(node.default)} does not fit`);
  }
  const keys = node['x-kubernetes-list-map-keys'];
  if (keys !== undefined) {
    for (const k of keys) {
      if (!(node.items?.required ?? []).includes(k)) out.push(`${path}: list map key ${k} is not required`);
    }
  }
  for (const rule of node['x-kubernetes-validations'] ?? []) {
    if (rule.rule === '' || rule.message === '') out.push(`${path}: empty rule or message`);
  }
  for (const [name, child] of Object.entries(node.properties ?? {}))
    structuralFailures(child, `${path}.${name}`, out);
  if (node.items !== undefined) structuralFailures(node.items, `${path}[*]`, out);
  if (node.additionalProperties !== undefined)
    structuralFailures(node.additionalProperties, `${path}{*}`, out);
  return out;
}

function resolve(schema: StructuralSchema, jsonPath: string): StructuralSchema | undefined {
  let node: StructuralSchema | undefined = schema;
  for (const part of jsonPath.split('.').slice(1)) node = node?.properties?.[part];
  return node;
}

const crds = [...renderCrds()].map(([name, text]) => ({ name, text, crd: parse(text) as Crd }));

describe('generated CRDs', () => {
  it('one file per kind, named as kubebuilder names them', () => {
    expect(crds.map((c) => c.name).sort()).toEqual(['genops.ai_aibudgets.yaml', 'genops.ai_aipolicies.yaml']);
  });

  it.each(crds)('$name is a structural schema', ({ crd }) => {
    const version = crd.spec.versions[0]!;
    expect(structuralFailures(version.schema.openAPIV3Schema, '', [])).toEqual([]);
    expect(version.schema.openAPIV3Schema.properties?.['metadata']).toEqual({ type: 'object' });
    expect(version.schema.openAPIV3Schema.required).toEqual(['spec']);
  });

  it.each(crds)('$name: names, scope, status subresource, version', ({ crd }) => {
    expect(crd.metadata.name).toBe(`${crd.spec.names.plural}.genops.ai`);
    expect(crd.spec.group).toBe('genops.ai');
    expect(crd.spec.scope).toBe('Namespaced');
    expect(crd.spec.names.categories).toEqual(['genops']);
    expect(crd.spec.names.shortNames).toEqual([crd.spec.names.kind === 'AIPolicy' ? 'aip' : 'aib']);
    expect(crd.spec.versions).toHaveLength(1);
    const v = crd.spec.versions[0]!;
    expect([v.name, v.served, v.storage]).toEqual(['v1alpha1', true, true]);
    expect(v.subresources).toEqual({ status: {} });
  });

  it.each(crds)('$name: every printer column points at a field of the same type', ({ crd }) => {
    const v = crd.spec.versions[0]!;
    for (const col of v.additionalPrinterColumns) {
      if (col.jsonPath === '.metadata.creationTimestamp') {
        expect(col.type).toBe('date');
        continue;
      }
      const field = resolve(v.schema.openAPIV3Schema, col.jsonPath);
      expect(field, col.jsonPath).toBeDefined();
      expect(field?.type, col.jsonPath).toBe(col.type);
    }
  });

  it('aibudgets show spend, limit, utilization, state and age; aipolicies their enforcement', () => {
    const columns = (kind: string) =>
      crds
        .find((c) => c.crd.spec.names.kind === kind)!
        .crd.spec.versions[0]!.additionalPrinterColumns.map((c) => c.name);
    expect(columns('AIBudget')).toEqual(
      expect.arrayContaining(['Spend', 'Limit', 'Utilization', 'State', 'Age']),
    );
    expect(columns('AIPolicy')).toEqual(expect.arrayContaining(['Cost', 'Rate', 'Safety', 'Age']));
  });

  it('status carries observedGeneration and conditions on both kinds, money as strings', () => {
    for (const { crd } of crds) {
      const status = crd.spec.versions[0]!.schema.openAPIV3Schema.properties!['status']!;
      expect(status.properties?.['observedGeneration']?.type).toBe('integer');
      expect(status.properties?.['conditions']?.['x-kubernetes-list-map-keys']).toEqual(['type']);
    }
    const budget = crds.find((c) => c.crd.spec.names.kind === 'AIBudget')!.crd.spec.versions[0]!.schema
      .openAPIV3Schema.properties!['status']!;
    for (const f of ['spend', 'remaining', 'projectedSpend', 'limit']) {
      expect(budget.properties?.[f]?.type, f).toBe('string');
    }
  });

  it('rendering is deterministic and the committed files have no drift', () => {
    const again = renderCrds();
    for (const { name, text } of crds) expect(again.get(name)).toBe(text);
    expect(drift()).toEqual([]);
    for (const { name, text } of crds) expect(readFileSync(BASES_DIR + name, 'utf8')).toBe(text);
  });

  it('drift() names a file that differs or is missing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'genops-crd-'));
    try {
      const [first, second] = crds;
      writeFileSync(join(dir, first!.name), first!.text + '# edited by hand\n');
      expect(drift(dir + '/').sort()).toEqual([first!.name, second!.name].sort());
      writeFileSync(join(dir, first!.name), first!.text);
      writeFileSync(join(dir, second!.name), second!.text);
      expect(drift(dir + '/')).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('toStructural', () => {
  it('refuses what a structural schema cannot carry', () => {
    expect(() => toStructural(Type.Union([Type.String(), Type.Number()]))).toThrow(/anyOf/);
    expect(() => toStructural(Type.Object({ a: Type.Any() }))).toThrow(/single type/);
    expect(() => toStructural(Type.Object({}, { additionalProperties: false }))).toThrow(
      /additionalProperties/,
    );
  });

  it('maps TypeBox records to additionalProperties and numeric exclusive bounds to booleans', () => {
    expect(toStructural(Type.Record(Type.String(), Type.Integer()))).toEqual({
      type: 'object',
      additionalProperties: { type: 'integer' },
    });
    expect(toStructural(Type.Number({ exclusiveMinimum: 0 }))).toEqual({
      type: 'number',
      minimum: 0,
      exclusiveMinimum: true,
    });
    expect(toStructural(stringEnum(['a', 'b'] as const))).toEqual({ type: 'string', enum: ['a', 'b'] });
  });

  it('every kind converts', () => {
    for (const k of KINDS) expect(() => toStructural(k.spec)).not.toThrow();
  });
});
