/**
 * Gatekeeper's external data protocol (SPEC section 5; open-policy-agent/frameworks
 * constraint/pkg/externaldata): a ProviderRequest with keys in, a ProviderResponse with one item
 * per key out. Also the ATCR reference provider's simpler `{"keys": [...]}` request answered as
 * `{"responses": [...]}`, for people testing with curl. Translation only: no verification here.
 */

export const API_GROUP = 'externaldata.gatekeeper.sh';
export const API_VERSION = `${API_GROUP}/v1beta1`;
/** v1alpha1 has the same request and response types; Gatekeeper itself sends v1beta1. */
const ACCEPTED_API_VERSIONS = new Set([API_VERSION, `${API_GROUP}/v1alpha1`]);

export type RequestShape = 'gatekeeper' | 'simple';

export interface ProviderRequest {
  shape: RequestShape;
  /** The request's apiVersion, echoed in the response (Gatekeeper shape only). */
  apiVersion: string;
  keys: string[];
}

/** One answer: `value` always (our verdict and evidence), `error` when the key is not admitted. */
export interface ResponseItem {
  key: string;
  value?: unknown;
  error?: string;
}

/** A failure of the whole request: answered with `systemError`, and this HTTP status. */
export class ProtocolError extends Error {
  constructor(
    message: string,
    readonly status: number = 400,
    readonly shape: RequestShape = 'gatekeeper',
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function readKeys(value: unknown, where: string, maxKeys: number, shape: RequestShape): string[] {
  // Go's encoder omits an empty keys list (`omitempty`): absent means none.
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new ProtocolError(`${where} must be a list of image references`, 400, shape);
  if (value.length > maxKeys) throw new ProtocolError(`${where} has ${value.length} keys, above the limit of ${maxKeys}`, 400, shape);
  value.forEach((key, i) => {
    if (typeof key !== 'string') throw new ProtocolError(`${where}[${i}] is ${key === null ? 'null' : typeof key}, not a string`, 400, shape);
  });
  return value as string[];
}

/** Parses a request body; anything but a well-formed request of either shape is a ProtocolError. */
export function parseProviderRequest(body: string, opts: { maxKeys: number }): ProviderRequest {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (err) {
    throw new ProtocolError(`request body is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!isObject(doc)) throw new ProtocolError('request body must be a JSON object');

  const gatekeeperShaped = 'kind' in doc || 'apiVersion' in doc || 'request' in doc;
  if (!gatekeeperShaped && 'keys' in doc) {
    return { shape: 'simple', apiVersion: API_VERSION, keys: readKeys(doc.keys, 'keys', opts.maxKeys, 'simple') };
  }
  if (typeof doc.apiVersion !== 'string' || !ACCEPTED_API_VERSIONS.has(doc.apiVersion)) {
    throw new ProtocolError(`apiVersion must be ${API_VERSION}, got ${JSON.stringify(doc.apiVersion ?? null)}`);
  }
  if (doc.kind !== 'ProviderRequest') throw new ProtocolError(`kind must be ProviderRequest, got ${JSON.stringify(doc.kind ?? null)}`);
  if (doc.request !== undefined && !isObject(doc.request)) throw new ProtocolError('request must be an object with keys');
  return { shape: 'gatekeeper', apiVersion: doc.apiVersion, keys: readKeys(doc.request?.keys, 'request.keys', opts.maxKeys, 'gatekeeper') };
}

/**
 * The response for answered keys. `idempotent` is true: a key's answer depends only on the key,
 * the registry and the trust policy, and Gatekeeper requires it for mutation callers.
 */
export function providerResponse(request: Pick<ProviderRequest, 'shape' | 'apiVersion'>, items: ResponseItem[]): unknown {
  if (request.shape === 'simple') return { responses: items };
  return { apiVersion: request.apiVersion, kind: 'ProviderResponse', response: { idempotent: true, items } };
}

/** The response when the request as a whole could not be answered. */
export function systemErrorResponse(request: Pick<ProviderRequest, 'shape' | 'apiVersion'>, message: string): unknown {
  if (request.shape === 'simple') return { responses: [], systemError: message };
  return { apiVersion: request.apiVersion, kind: 'ProviderResponse', response: { idempotent: true, items: [], systemError: message } };
}
