// Types for the validator scripts/compile-schemas.mjs generates.
import type { ErrorObject } from 'ajv';

export interface PayloadValidator {
  (value: unknown): boolean;
  errors?: ErrorObject[] | null;
}
export declare const validate: PayloadValidator;
export default validate;
