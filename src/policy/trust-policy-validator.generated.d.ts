// Types for the validator scripts/compile-schemas.mjs generates.
import type { ErrorObject } from 'ajv';

export interface PolicyValidator {
  (value: unknown): boolean;
  errors?: ErrorObject[] | null;
}
export declare const validate: PolicyValidator;
export default validate;
