// Owns the translation of the TypeBox schema (crds/schema.ts) into Kubernetes structural OpenAPI v3, and the
// CustomResourceDefinition objects built from it. The same structural schema feeds the offline validator,
// so what `genops validate` checks is exactly what the API server checks.

import type { TSchema } from '@sinclair/typebox';
import type { CelRule } from './schema.ts';
import {
  AIBudgetSpecSchema,
  AIBudgetStatusSchema,
  AIPolicySpecSchema,
  AIPolicyStatusSchema,
  GROUP,
  VERSION,
} from './schema.ts';

/** A node of a structural schema: only the keywords the API server accepts in CRDs. */
export interface StructuralSchema {
  type: 'object' | 'array' | 'string' | 'number' | 'integer' | 'boolean';
  description?: string;
  properties?: Record<string, StructuralSchema>;
  required?: string[];
  additionalProperties?: StructuralSchema;
  items?: StructuralSchema;
  enum?: string[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  minItems?: number;
  maxItems?: number;
  'x-kubernetes-validations'?: CelRule[];
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
}

/** Keys copied as they are; any other key in the TypeBox schema is an error (keeps the CRD structural). */
const PASS_THROUGH = [
  'description',
  'enum',
  'default',
  'minimum',
  'maximum',
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
] as const;
const HANDLED = new Set<string>([
  ...PASS_THROUGH,
  'type',
  'properties',
  'required',
  'patternProperties',
  'items',
  'exclusiveMinimum',
  'exclusiveMaximum',
]);
const TYPES = new Set(['object', 'array', 'string', 'number', 'integer', 'boolean']);

/** Converts one TypeBox schema node; throws on anything a structural schema cannot carry. */
export function toStructural(schema: TSchema, path = ''): StructuralSchema {
  const src = schema as Record<string, unknown>;
  for (const key of Object.keys(src)) {
    if (!HANDLED.has(key))
      throw new Error(`${path || '<root>'}: keyword "${key}" is not allowed in a CRD schema`);
  }
  const type = src['type'];
  if (typeof type !== 'string' || !TYPES.has(type)) {
    throw new Error(`${path || '<root>'}: every field needs a single type (got ${JSON.stringify(type)})`);
  }
  const out: StructuralSchema = { type: type as StructuralSchema['type'] };
  for (const key of PASS_THROUGH) {
    if (src[key] !== undefined) (out as unknown as Record<string, unknown>)[key] = structuredClone(src[key]);
  }
  // JSON Schema 2019 writes exclusive bounds as numbers; OpenAPI v3 (and the API server) wants booleans.
  if (typeof src['exclusiveMinimum'] === 'number') {
    out.minimum = src['exclusiveMinimum'];
    out.exclusiveMinimum = true;
  }
  if (typeof src['exclusiveMaximum'] === 'number') {
    out.maximum = src['exclusiveMaximum'];
    out.exclusiveMaximum = true;
  }
  if (type === 'object') {
    const props = src['properties'] as Record<string, TSchema> | undefined;
    const pattern = src['patternProperties'] as Record<string, TSchema> | undefined;
    if (props !== undefined && pattern !== undefined) {
      throw new Error(`${path}: an object has either properties or a map value type, not both`);
    }
    if (props !== undefined) {
      out.properties = {};
      for (const [name, child] of Object.entries(props)) {
        out.properties[name] = toStructural(child, `${path}.${name}`);
      }
      const required = src['required'] as string[] | undefined;
      if (required !== undefined && required.length > 0) out.required = [...required];
    } else if (pattern !== undefined) {
      const values = Object.values(pattern);
      if (values.length !== 1 || values[0] === undefined)
        throw new Error(`${path}: a map needs one value type`);
      out.additionalProperties = toStructural(values[0], `${path}[*]`);
    } else {
      throw new Error(`${path}: an object needs properties or a map value type`);
    }
  } else if (type === 'array') {
    const items = src['items'] as TSchema | undefined;
    if (items === undefined || Array.isArray(items))
      throw new Error(`${path}: an array needs one item schema`);
    out.items = toStructural(items, `${path}[*]`);
  }
  return out;
}

export interface PrinterColumn {
  name: string;
  type: 'string' | 'number' | 'integer' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  priority?: number;
  format?: string;
}

export interface KindInfo {
  kind: 'AIPolicy' | 'AIBudget';
  plural: string;
  singular: string;
  shortNames: string[];
  spec: TSchema;
  status: TSchema;
  description: string;
  columns: PrinterColumn[];
}

export const KINDS: readonly KindInfo[] = [
  {
    kind: 'AIPolicy',
    plural: 'aipolicies',
    singular: 'aipolicy',
    shortNames: ['aip'],
    spec: AIPolicySpecSchema,
    status: AIPolicyStatusSchema,
    description:
      'AIPolicy governs the AI workloads selected in its namespace: cost and rate limits, content safety, data classification and model governance.',
    columns: [
      {
        name: 'Cost',
        type: 'string',
        jsonPath: '.spec.costLimits.enforcement',
        description: 'Enforcement of cost limits',
      },
      {
        name: 'Rate',
        type: 'string',
        jsonPath: '.spec.rateLimits.enforcement',
        description: 'Enforcement of rate limits',
      },
      {
        name: 'Safety',
        type: 'string',
        jsonPath: '.spec.contentSafety.enforcement',
        description: 'Enforcement of content safety',
      },
      {
        name: 'Workloads',
        type: 'integer',
        jsonPath: '.status.matchedWorkloads',
        description: 'Matched workloads',
      },
      {
        name: 'Violations-24h',
        type: 'integer',
        jsonPath: '.status.violations.last24h.total',
        description: 'Violations in the last 24 hours',
      },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
  },
  {
    kind: 'AIBudget',
    plural: 'aibudgets',
    singular: 'aibudget',
    shortNames: ['aib'],
    spec: AIBudgetSpecSchema,
    status: AIBudgetStatusSchema,
    description:
      'AIBudget allocates AI spend per period to the workloads selected in its namespace, with alerts and enforcement.',
    columns: [
      {
        name: 'Spend',
        type: 'string',
        jsonPath: '.status.spend',
        description: 'Spend in the current period',
      },
      {
        name: 'Limit',
        type: 'number',
        jsonPath: '.spec.allocation.amount',
        description: 'Allocation per period',
      },
      {
        name: 'Utilization',
        type: 'number',
        jsonPath: '.status.utilizationPercent',
        description: 'Spend / allocation, percent',
      },
      { name: 'State', type: 'string', jsonPath: '.status.state', description: 'Budget state' },
      { name: 'Period', type: 'string', jsonPath: '.spec.allocation.period', priority: 1 },
      { name: 'Projected', type: 'string', jsonPath: '.status.projectedSpend', priority: 1 },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
  },
];

export function kindInfo(kind: string): KindInfo | undefined {
  return KINDS.find((k) => k.kind === kind);
}

/** The whole-object schema of a kind (apiVersion, kind, metadata, spec, status), as in the CRD. */
export function resourceSchema(info: KindInfo): StructuralSchema {
  return {
    type: 'object',
    description: info.description,
    properties: {
      apiVersion: { type: 'string', description: 'APIVersion of this representation: genops.ai/v1alpha1.' },
      kind: { type: 'string', description: `Kind: ${info.kind}.` },
      metadata: { type: 'object' },
      spec: toStructural(info.spec, '.spec'),
      status: toStructural(info.status, '.status'),
    },
    required: ['spec'],
  };
}

const schemaCache = new Map<string, StructuralSchema>();

/** Cached whole-object schema for a kind; callers must not mutate it. */
export function schemaFor(kind: 'AIPolicy' | 'AIBudget'): StructuralSchema {
  let s = schemaCache.get(kind);
  if (s === undefined) {
    const info = kindInfo(kind);
    if (info === undefined) throw new Error(`unknown kind ${kind}`);
    s = resourceSchema(info);
    schemaCache.set(kind, s);
  }
  return s;
}

/** The CustomResourceDefinition object for a kind. */
export function crdFor(info: KindInfo): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${info.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/name': 'genops-operator', 'app.kubernetes.io/part-of': 'genops' },
    },
    spec: {
      group: GROUP,
      names: {
        kind: info.kind,
        listKind: `${info.kind}List`,
        plural: info.plural,
        singular: info.singular,
        shortNames: info.shortNames,
        categories: ['genops'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: info.columns,
          schema: { openAPIV3Schema: resourceSchema(info) },
        },
      ],
    },
  };
}
