/**
 * The part of Kubernetes' strategic merge patch a Pod template patch uses, for tests that must
 * run where kubectl is not installed: maps merge key by key, lists with a patch merge key
 * (containers, initContainers, ephemeralContainers and volumes by `name`, volumeMounts by
 * `mountPath`, env by `name`, ports by `containerPort`, as k8s.io/api declares them) merge item
 * by item, any other list is replaced whole. `null` deletes. Patch items come first, as kubectl
 * writes them; callers compare lists by key, not by position.
 */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  env: 'name',
  ports: 'containerPort',
};

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isMap(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function strategicMerge(original: Json, patch: Json, field = ''): Json {
  if (isMap(original) && isMap(patch)) {
    const out: Record<string, Json> = { ...original };
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete out[k];
      else out[k] = k in original ? strategicMerge(original[k]!, v, k) : v;
    }
    return out;
  }
  const key = MERGE_KEYS[field];
  if (key && Array.isArray(original) && Array.isArray(patch)) {
    const patched = patch.map((p) => {
      const match = original.find((o) => isMap(o) && isMap(p) && o[key] === p[key]);
      return match === undefined ? p : strategicMerge(match, p, '');
    });
    const rest = original.filter((o) => !patch.some((p) => isMap(o) && isMap(p) && o[key] === p[key]));
    return [...patched, ...rest];
  }
  return patch;
}

/** The merge key of a list field, for order-insensitive comparisons. */
export function mergeKeyOf(field: string): string | undefined {
  return MERGE_KEYS[field];
}
