import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import { parseAllDocuments } from 'yaml';

/**
 * Checks Kubernetes objects against a CustomResourceDefinition's openAPIV3Schema the way the API
 * server treats them: schema violations are errors, and fields the structural schema does not
 * declare are pruned (silently dropped), which for a manifest is as bad as an error.
 */
export interface CrdCheck {
  errors: string[];
  pruned: string[];
}

type Schema = {
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
};

export function readYamlDocuments(path: string): Record<string, any>[] {
  return parseAllDocuments(readFileSync(path, 'utf8'))
    .map((d) => d.toJS())
    .filter((d) => d && typeof d === 'object');
}

export function crdSchema(path: string, version: string): Schema {
  const crd = readYamlDocuments(path).find((d) => d.kind === 'CustomResourceDefinition');
  if (!crd) throw new Error(`${path} holds no CustomResourceDefinition`);
  const v = crd.spec.versions.find((x: { name: string }) => x.name === version);
  if (!v) throw new Error(`${path} has no version ${version}`);
  return v.schema.openAPIV3Schema as Schema;
}

const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });

export function checkAgainstCrd(object: unknown, schema: Schema): CrdCheck {
  const validate = ajv.compile(schema);
  const errors = validate(object) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`);
  const pruned: string[] = [];
  walk(object, schema, '', pruned);
  return { errors, pruned };
}

function walk(value: unknown, schema: Schema | undefined, path: string, pruned: string[]): void {
  if (!schema || schema['x-kubernetes-preserve-unknown-fields'] || value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    value.forEach((v, i) => walk(v, schema.items, `${path}/${i}`, pruned));
    return;
  }
  for (const [key, v] of Object.entries(value)) {
    if (path === '' && (key === 'apiVersion' || key === 'kind' || key === 'metadata')) continue;
    const child = schema.properties?.[key] ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
    if (!child && schema.additionalProperties !== true) {
      pruned.push(`${path}/${key}`);
      continue;
    }
    walk(v, child, `${path}/${key}`, pruned);
  }
}
