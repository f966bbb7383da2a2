import { readFile, stat } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import { VerificationError } from '../errors.js';
import type { SchemaViolation } from './policy-schema.js';
import { MAX_POLICY_BYTES, policyCacheEntry, policyDigest, policyFromDocument, type PolicyCacheEntry, type TrustPolicy } from './policy-model.js';
import { positionOf } from './yaml-position.js';

/**
 * The trust policy file (SPEC section 4): YAML text to a TrustPolicy, with `source:line:col` in
 * every error. The model, its checks and its cache entry live in ./policy-model.ts (no YAML code,
 * for the plugin's cache hit); they are re-exported here, so callers import one module.
 */
export * from './policy-model.js';

/** Reads and parses a trust policy file; every failure is POLICY_INVALID naming the path. */
export async function loadTrustPolicy(path: string): Promise<TrustPolicy> {
  let text: string;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new VerificationError('POLICY_INVALID', `trust policy ${path} is not a regular file`);
    if (info.size > MAX_POLICY_BYTES) {
      throw new VerificationError('POLICY_INVALID', `trust policy ${path} is ${info.size} bytes, above the ${MAX_POLICY_BYTES} byte cap`);
    }
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (err instanceof VerificationError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${err instanceof Error ? err.message : String(err)})`;
    throw new VerificationError('POLICY_INVALID', `trust policy file ${path} ${why}`, { cause: err });
  }
  return parseTrustPolicy(text, path);
}

/**
 * Parses and validates a trust policy. YAML syntax errors, schema violations and semantic errors
 * all throw POLICY_INVALID with `source:line:col`, the JSON pointer and what is wrong.
 */
export function parseTrustPolicy(text: string, source = '<policy>'): TrustPolicy {
  return parseTrustPolicyWithDocument(text, source).policy;
}

/** parseTrustPolicy, also returning the YAML document as plain data (what the cache stores). */
function parseTrustPolicyWithDocument(text: string, source: string): { policy: TrustPolicy; document: unknown } {
  if (text.length > MAX_POLICY_BYTES) {
    throw new VerificationError('POLICY_INVALID', `trust policy ${source} is ${text.length} characters, above the ${MAX_POLICY_BYTES} cap`);
  }
  const lineCounter = new LineCounter();
  // YAML 1.2 core schema: timestamps stay strings, `<<` is not a merge key, duplicate keys fail.
  const doc = parseDocument(text, { lineCounter, version: '1.2', uniqueKeys: true, prettyErrors: true });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const at = yamlError.linePos?.[0] ?? { line: 1, col: 1 };
    const what = yamlError.message.split(' at line ')[0];
    throw new VerificationError('POLICY_INVALID', `trust policy ${source}:${at.line}:${at.col}: not valid YAML: ${what}`, { cause: yamlError });
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new VerificationError('POLICY_INVALID', `trust policy ${source}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }

  const report = (violations: SchemaViolation[]): never => {
    const located = violations
      .map((v) => ({ ...v, at: positionOf(doc, lineCounter, v.pointer, { key: v.key }) }))
      .sort((a, b) => a.at.line - b.at.line || a.at.col - b.at.col);
    const shown = located.slice(0, 5).map((v) => `${source}:${v.at.line}:${v.at.col}: ${v.pointer || '/'}: ${v.message}`);
    const more = located.length > shown.length ? `; and ${located.length - shown.length} more` : '';
    throw new VerificationError('POLICY_INVALID', `trust policy ${shown.join('; ')}${more}`);
  };
  return { policy: policyFromDocument(raw, source, policyDigest(text), report), document: raw };
}

/** Parses `text` (as parseTrustPolicy) and returns the cache entry to store beside the policy. */
export function parseTrustPolicyForCache(text: string, source = '<policy>'): { policy: TrustPolicy; entry?: PolicyCacheEntry } {
  const { policy, document } = parseTrustPolicyWithDocument(text, source);
  return { policy, entry: policyCacheEntry(document, policy.digest) };
}

